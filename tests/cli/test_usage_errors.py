"""Every bad argument, whoever spots it (Click while parsing, or our checks): one ``error:`` line, exit 2."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from xnorvision.errors import XnorvisionError
from xnorvision.pipeline._launch import RunConfig, prepare
from xnorvision.plugins import Registry


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.mark.parametrize(("argv", "says"), [
    (["run", "--threshold", "abc"], "'--threshold'"),
    (["run", "--source", "synth:1", "--threshold", "nan"], "--threshold nan: must be between 0 and 1"),
    (["run", "--source", "synth:1", "--threshold", "inf"], "--threshold inf: must be between 0 and 1"),
    (["run", "--max-frames", "0"], "'--max-frames'"),
    (["run", "--camera", "abc"], "'--camera'"),
    (["run", "--no-such-option"], "--no-such-option"),
    (["eval", "classify", "--model", "m", "--data", "d", "--batch", "0"], "'--batch'"),
    (["eval", "faces", "--data", "d", "--root", "r", "--floor", "nan"], "--floor must be in [0, 1), got nan"),
    (["bench", "model", "--seconds", "inf"], "'--seconds'"),
    (["nosuch"], "No such command 'nosuch'"),
    (["export"], "Missing argument 'checkpoint'"),
    (["eval", "classify", "--data", "d"], "Missing option '--model'"),
])
def test_click_usage_errors_are_one_line_exit_2(cli, argv: list[str], says: str) -> None:
    code, out, err = cli(*argv)
    assert code == 2 and out == ""
    assert says in _one_error_line(err)
    assert "╭" not in err and "Usage:" not in err


def test_help_still_works(cli) -> None:
    code, out, _ = cli("run", "--help")
    assert code == 0 and "--threshold" in out


def test_debug_shows_the_traceback_of_a_usage_error(cli) -> None:
    code, _, err = cli("--debug", "run", "--camera", "abc")
    assert code == 2 and "Traceback" in err and err.strip().splitlines()[-1].startswith("error: ")


@pytest.mark.parametrize("threshold", [float("nan"), float("inf"), -0.1, 1.5])
def test_prepare_refuses_a_threshold_outside_0_1_nan_included(threshold: float) -> None:
    with pytest.raises(XnorvisionError, match="--threshold"):
        prepare(Registry(), RunConfig(source="synth:1", threshold=threshold))


@pytest.mark.parametrize("spec", ["", "  "])
def test_an_empty_source_is_refused_not_the_current_folder(cli, tmp_path: Path, monkeypatch,
                                                           spec: str) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((8, 8, 3), np.uint8))  # what "" would have run on
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("run", "--source", spec, "--headless")
    assert code == 2 and out == ""
    says = f"error: --source {spec!r} is empty: give a video, image, folder, glob or synth:N"
    if spec == "":  # refused with every other empty option value, before the command runs
        says = "error: --source is empty (give a value, e.g. a path)"
    assert _one_error_line(err) == says


@pytest.mark.parametrize("args", [("eval", "classify", "--model", "m.xnv", "--data", ""),
                                  ("train", "--data", "d", "--out", ""),
                                  ("eval", "faces", "--data=", "--root", "r"),
                                  ("model", "info", "--json", "x.xnv", "--height", "")])
def test_an_empty_option_value_is_refused_not_the_current_folder(cli, tmp_path: Path, monkeypatch,
                                                                 args: tuple[str, ...]) -> None:
    """Click turns ``--data ''`` into the current folder: a command read its files as data or wrote there."""
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(*args)
    assert code == 2 and out == "" and list(tmp_path.iterdir()) == []
    assert _one_error_line(err).endswith("is empty (give a value, e.g. a path)")


@pytest.mark.parametrize("name", ["birds\n", "birds\nx", "\nbirds", "birds ", "Birds", "bird_s", "birds-",
                                  "../birds", "bi/rds", ""])
def test_new_plugin_refuses_names_but_lower_letters_digits_dashes(cli, tmp_path: Path, name: str) -> None:
    code, _, err = cli("new-plugin", name, "--dir", str(tmp_path))
    assert code == 2 and "lower case letters" in _one_error_line(err)
    assert list(tmp_path.iterdir()) == []


def test_version_prints_the_package_version_and_runs_no_command(cli) -> None:
    from xnorvision import __version__

    code, out, err = cli("--version", "run", "--source", "no-such-file.mp4")
    assert (code, out.strip(), err) == (0, f"xnorvision {__version__}", "")


def test_camera_and_source_together_are_refused_not_one_silently_dropped(cli, plugins) -> None:
    code, out, err = cli("run", "--camera", "0", "--source", "synth:3", "--plugin", "boxes", "--headless")
    assert code == 2 and out == ""
    assert "--camera 0 and --source 'synth:3' both given" in _one_error_line(err)
