"""``xnorvision eval faces`` on the command line: a run end to end on a labelled set made by the test, and
user errors as one line with exit code 2."""

from __future__ import annotations

import json
import time
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

from xnorvision.api import Detections, Option, PipelineSpec, hookimpl, timed
from xnorvision.cli import main
from xnorvision.plugins import _manager


@pytest.mark.parametrize("extra", [["--baselines-only"], ["--baselines-only", "--baseline", "ssd:x.onnx"],
                                   ["--iou", "0"], ["--baselines-only", "--profile"]])
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


class SkinStage:
    """Finds the synth source's drawn faces by their fill colour: a stand-in detector that is right."""

    name = "skin"

    def __call__(self, frame: np.ndarray, detections: Detections) -> Detections:
        mask = cv2.inRange(frame, (140, 170, 215), (160, 190, 235))
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        boxes = [[x, y, x + w, y + h] for x, y, w, h, area in stats[1:n] if area > 50]
        return Detections.from_boxes(np.array(boxes, np.float32).reshape(-1, 4), np.full(len(boxes), 0.9),
                                     "face")


class SlowSkinStage(SkinStage):
    """The skin detector after a wait it names: a plugin stage whose time is known."""

    name = "slow-skin"
    WAIT_S = 0.02

    def __call__(self, frame: np.ndarray, detections: Detections) -> Detections:
        with timed("wait"):
            time.sleep(self.WAIT_S)
        return super().__call__(frame, detections)


class BlindStage:
    """A detector that returns no boxes: what a broken one looks like."""

    name = "blind"

    def __call__(self, frame: np.ndarray, detections: Detections) -> Detections:
        return Detections.empty()


@hookimpl
def xnorvision_register_pipelines(register) -> None:  # noqa: ANN001
    register(PipelineSpec("skin", build=lambda options: [SkinStage()],  # swept: declared, like any option
                          options=(Option("long_side", int, 416, "ignored by this stand-in"),)))
    register(PipelineSpec("blind", build=lambda options: [BlindStage()]))
    register(PipelineSpec("slow-skin", build=lambda options: [SlowSkinStage()]))


def _exit_code(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.fixture
def skin_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    plugin = types.SimpleNamespace(xnorvision_register_pipelines=xnorvision_register_pipelines)
    monkeypatch.setattr(_manager, "_entry_point_plugins", lambda: [("skin", "1.0", lambda: plugin)])
    monkeypatch.delenv("XNORVISION_DISABLE_PLUGINS", raising=False)


def test_end_to_end_on_a_labelled_set_scores_a_sweep(tmp_path: Path, synth_face_list: Path,
                                                     skin_plugin: None, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # nothing may be written where no option points
    args = ["eval", "faces", "--data", str(synth_face_list), "--root", str(synth_face_list.parent),
            "--threads", "1"]
    assert _exit_code([*args, "--pipeline", "skin", "--sweep", "long_side=320,416", "--json", "r.json",
                       "--plot", "p.png"]) == 0
    doc = json.loads((tmp_path / "r.json").read_text())
    assert [r["name"] for r in doc["results"]] == ["skin@320", "skin@416"]
    assert [r["long_side"] for r in doc["results"]] == [320, 416]
    for r in doc["results"]:
        assert {"name", "ap", "max_recall", "ms_per_image", "long_side"} <= set(r)
        assert r["ap"] > 0.95 and r["ms_per_image"] > 0
    assert (doc["images"], doc["floor"], doc["threads"]) == (8, 0.05, 1)
    assert cv2.imread(str(tmp_path / "p.png")) is not None
    assert _exit_code([*args, "--pipeline", "blind", "--json", "blind.json"]) == 0
    [blind] = json.loads((tmp_path / "blind.json").read_text())["results"]
    assert blind["ap"] == 0.0 and blind["max_recall"] == 0.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blind.json", "p.png", "r.json", "synth_faces"]
    assert "skin@416" in capsys.readouterr().out


def test_profile_puts_a_stage_s_known_wait_in_its_row(tmp_path: Path, synth_face_list: Path,
                                                      skin_plugin: None, capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    """``--profile``: the stage's named wait is its row, on the clean images only (not the grey copies),
    beside unchanged results; the table is printed too."""
    out = tmp_path / "r.json"
    args = ["eval", "faces", "--data", str(synth_face_list), "--root", str(synth_face_list.parent),
            "--threads", "1", "--pipeline", "slow-skin", "--corrupt", "gray", "--json", str(out)]
    assert _exit_code([*args, "--profile"]) == 0
    doc = json.loads(out.read_text())
    assert [(r["name"], r["corruption"]) for r in doc["results"]] == [("slow-skin", "none"),
                                                                      ("slow-skin", "gray")]
    [profile] = doc["profile"]
    assert profile["name"] == "slow-skin" and profile["frames"] == 8
    [stage] = profile["stages"]
    wait, other = stage["steps"]
    assert (stage["name"], wait["name"], other["name"]) == ("slow-skin", "wait", "other")
    wait_ms = 1e3 * SlowSkinStage.WAIT_S
    assert wait_ms <= wait["ms"] <= stage["ms"] and other["ms"] < wait_ms
    assert wait["frames"] == 8 and 0.5 < wait["share"] <= 1
    assert "| slow-skin | (all) |" in capsys.readouterr().out
    assert _exit_code(args) == 0 and "profile" not in json.loads(out.read_text())


@pytest.mark.parametrize("extra", [["--sweep", "long_side"], ["--sweep", "long_side=320,320"],
                                   ["--split", "tune"], ["--split", "val"], ["--floor", "1"],
                                   ["--baseline", "yunet@x:m.onnx"], ["--corrupt", "sepia"]])
def test_bad_sweep_split_floor_exit_2(synth_face_list: Path, skin_plugin: None, extra: list[str],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["eval", "faces", "--data", str(synth_face_list), "--root", str(synth_face_list.parent),
              "--pipeline", "skin", *extra])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err


def test_corruptions_are_scored_beside_the_clean_images(tmp_path: Path, synth_face_list: Path,
                                                        skin_plugin: None) -> None:
    """A detector of skin colour is perfect on the clean frames and blind on their grey copies."""
    out = tmp_path / "r.json"
    args = ["eval", "faces", "--data", str(synth_face_list), "--root", str(synth_face_list.parent)]
    assert _exit_code([*args, "--threads", "1", "--pipeline", "skin", "--corrupt", "gray,blur",
                       "--json", str(out)]) == 0
    ap = {r["corruption"]: r["ap"] for r in json.loads(out.read_text())["results"]}
    assert set(ap) == {"none", "gray", "blur"}
    assert ap["none"] > 0.95 and ap["gray"] == 0.0


def test_plots_show_the_clean_run_only(tmp_path: Path, synth_face_list: Path, skin_plugin: None,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from xnorvision.cli import _eval_faces

    drawn: list[list[str]] = []
    monkeypatch.setattr(_eval_faces, "plot_speed", lambda results, path: drawn.append(
        [r.corruption for r in results]))
    args = ["eval", "faces", "--data", str(synth_face_list), "--root", str(synth_face_list.parent)]
    assert _exit_code([*args, "--threads", "1", "--pipeline", "skin", "--sweep", "long_side=320,416",
                       "--corrupt", "gray", "--plot", str(tmp_path / "p.png")]) == 0
    assert drawn == [["none", "none"]]


def test_eval_scores_a_chain_as_run_shows_it(xnv_cli, synth_face_list: Path) -> None:
    """``eval faces`` runs the same Pipeline as ``run``: a labeler after faces changes no box and no score."""
    faces = pytest.importorskip("xnorvision_faces")
    objects = pytest.importorskip("xnorvision_objects")
    scored = {}
    for chain in ("faces", "faces,objects"):
        result = xnv_cli("eval", "faces", "--data", synth_face_list, "--root", synth_face_list.parent,
                         "--pipeline", chain, "--threads", "1", "--json", "r.json", plugins=[faces, objects])
        assert result.exit_code == 0, result.stderr
        (scored[chain],) = json.loads(result.files["r.json"].read_text())["results"]
    assert scored["faces"]["ap"] > 0.5  # the drawn faces are found
    assert scored["faces,objects"]["ap"] == scored["faces"]["ap"]
    assert scored["faces,objects"]["max_recall"] == scored["faces"]["max_recall"]
