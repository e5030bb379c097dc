"""Issue 14 red team, after its fixes: inputs from an attack of every command that still broke the promise
(one ``error:`` line and exit 2, never a crash or a traceback).

Each case runs the real console entry point in a subprocess, so a segfault is a failed assertion.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import write_video


def xnorvision(*argv: str | bytes, cwd: Path | None = None) -> tuple[int, str]:
    """Run ``xnorvision ARGV`` in a fresh interpreter: (exit code, stderr); a hang fails the test."""
    cmd = [sys.executable, "-c", "from xnorvision.cli import main; main()", *argv]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=60, cwd=cwd)
    except subprocess.TimeoutExpired:
        pytest.fail(f"xnorvision {argv} hung")
    return proc.returncode, proc.stderr.decode("utf-8", "replace")


def only_error_line(code: int, err: str) -> str:
    """The whole stderr of a clean exit 2: one ``error:`` line and nothing else."""
    lines = err.splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error:"), (code, err)
    return lines[0]


NOT_UTF8 = b"caf\xe9"  # Latin-1 "cafe": a name a Python str holds only with surrogates, which crashed OpenCV


@pytest.mark.parametrize("case", ["video source", "image source", "image in a folder", "saved video"])
def test_a_name_that_is_not_utf8_is_one_line_not_a_segfault(tmp_path: Path, case: str) -> None:
    base = os.fsencode(tmp_path)
    video = write_video(tmp_path / "v.mp4")
    if case == "video source":
        os.rename(video, base + b"/" + NOT_UTF8 + b".mp4")
        argv = ["--source", base + b"/" + NOT_UTF8 + b".mp4"]
    elif case in ("image source", "image in a folder"):
        (tmp_path / "imgs").mkdir()
        (tmp_path / "imgs" / "a.png").write_bytes(b"")  # replaced below: only its name matters
        os.rename(tmp_path / "imgs" / "a.png", base + b"/imgs/" + NOT_UTF8 + b".png")
        folder = base + b"/imgs"
        argv = ["--source", folder if case == "image in a folder" else folder + b"/" + NOT_UTF8 + b".png"]
    else:
        argv = ["--source", str(video), "--save", base + b"/" + NOT_UTF8 + b".mp4"]
    code, err = xnorvision("run", "--headless", "--max-frames", "2", *argv)
    lines = [x for x in err.splitlines() if x.startswith("error:")]
    assert code == 2 and len(lines) == 1 and "UTF-8" in lines[0] and "Traceback" not in err, (code, err)


@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_opencv_and_ffmpeg_log_nothing_before_the_error_line(tmp_path: Path, damage: str) -> None:
    video = write_video(tmp_path / "v.mp4")
    data = video.read_bytes()
    video.write_bytes(b"" if damage == "empty" else data[: len(data) // 2])
    line = only_error_line(*xnorvision("run", "--headless", "--source", str(video)))
    assert "cannot decode video" in line
