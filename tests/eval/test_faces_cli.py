"""``xnorvision eval faces`` on the command line: user errors are one line and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from xnorvision.cli import main


@pytest.mark.parametrize("extra", [["--baselines-only"], ["--baselines-only", "--baseline", "ssd:x.onnx"],
                                   ["--iou", "0"]])
def test_bad_arguments_exit_2(tmp_path: Path, extra: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "list.txt").write_text("a.jpg 1,1,30,30\n")
    with pytest.raises(SystemExit) as exc:
        main(["eval", "faces", "--data", str(tmp_path / "list.txt"), "--root", str(tmp_path), *extra])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err


def test_missing_list_exits_2(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["eval", "faces", "--data", str(tmp_path / "none.txt"), "--root", str(tmp_path)])
    assert exc.value.code == 2


def test_eval_scores_a_chain_as_run_shows_it(xnv_cli, tmp_path: Path) -> None:
    """``eval faces`` runs the same Pipeline as ``run``: a labeler after faces changes no box and no score."""
    import json

    import cv2

    from xnorvision.pipeline import SynthSource

    faces = pytest.importorskip("xnorvision_faces")
    objects = pytest.importorskip("xnorvision_objects")
    synth, lines = SynthSource(6, (320, 240)), []
    for i in range(6):
        cv2.imwrite(str(tmp_path / f"{i}.jpg"), synth.frame(i))
        xywh = [f"{x1},{y1},{x2 - x1},{y2 - y1}" for x1, y1, x2, y2 in synth.face_boxes(i).tolist()]
        lines.append(f"{i}.jpg " + " ".join(xywh))
    (tmp_path / "list.txt").write_text("\n".join(lines) + "\n")
    scored = {}
    for chain in ("faces", "faces,objects"):
        result = xnv_cli("eval", "faces", "--data", tmp_path / "list.txt", "--root", tmp_path,
                         "--pipeline", chain, "--threads", "1", "--json", "r.json", "--plot", "pr.png",
                         plugins=[faces, objects])
        assert result.exit_code == 0, result.stderr
        (scored[chain],) = json.loads(result.files["r.json"].read_text())["results"]
    assert scored["faces"]["ap"] > 0.5  # the drawn faces are found
    assert scored["faces,objects"]["ap"] == scored["faces"]["ap"]
    assert scored["faces,objects"]["max_recall"] == scored["faces"]["max_recall"]
