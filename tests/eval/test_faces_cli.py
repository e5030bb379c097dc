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
