"""SIGINT, SIGTERM and SIGHUP stop a real ``xnorvision run`` like the first Ctrl-C, headless and in a window:
summary printed, exit 0, the MP4 playable (it has its index) with exactly the frames the JSONL has."""

from __future__ import annotations

import contextlib
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]


def _stop_mid_run(args: list[str], jsonl: Path, sig: int, env: dict[str, str]) -> tuple[int, str, str]:
    cmd = [sys.executable, "-c", "from xnorvision.cli import main; main()", "run", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while (not jsonl.exists() or len(jsonl.read_text().splitlines()) < 10) and time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def _video_frames(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened(), f"{path} does not open"
    count = 0
    while cap.read()[0]:
        count += 1
    return count


def _check_stopped_cleanly(code: int, out: str, err: str, video: Path, jsonl: Path) -> None:
    assert code == 0 and "interrupted" in out, err
    frames = int(out.split()[0])
    assert len(jsonl.read_text().splitlines()) == frames >= 10
    assert _video_frames(video) == frames


@pytest.mark.parametrize("sig", SIGNALS, ids=[s.name for s in SIGNALS])
def test_signal_stops_a_headless_run(make_video, tmp_path: Path, sig: signal.Signals) -> None:
    source = make_video("in.mp4", frames=900, size=(160, 120))
    video, jsonl = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    # scaled up so that encoding keeps the run going well after the signal is sent
    args = ["--source", str(source), "--size", "1280x960", "--headless", "--save", str(video),
            "--save-json", str(jsonl)]
    _check_stopped_cleanly(*_stop_mid_run(args, jsonl, sig, dict(os.environ)), video, jsonl)


@pytest.mark.parametrize("sig", SIGNALS, ids=[s.name for s in SIGNALS])
def test_signal_closes_the_window(make_video, tmp_path: Path, sig: signal.Signals) -> None:
    source = make_video("in.mp4", frames=900, size=(160, 120))  # 30 s at its own frame rate
    video, jsonl = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", DISPLAY=os.environ.get("DISPLAY", ":0"))
    args = ["--source", str(source), "--save", str(video), "--save-json", str(jsonl)]
    code, out, err = _stop_mid_run(args, jsonl, sig, env)
    assert "--headless" not in args and "Traceback" not in err
    _check_stopped_cleanly(code, out, err, video, jsonl)


def test_closing_the_terminal_stops_like_ctrl_c(make_video, tmp_path: Path) -> None:
    """A real terminal (a pty) closes under a headless run: the kernel's SIGHUP stops it, files complete,
    and the summary nobody can read any more is no error (exit 0, like Ctrl-C)."""
    source = make_video("in.mp4", frames=900, size=(160, 120))
    video, jsonl = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    pid, terminal = pty.fork()
    if pid == 0:  # the child: its controlling terminal is the pty
        os.execv(sys.executable, [sys.executable, "-c", "from xnorvision.cli import main; main()", "run",
                                  "--source", str(source), "--size", "1280x960", "--headless",
                                  "--save", str(video), "--save-json", str(jsonl)])
    deadline = time.monotonic() + 60
    while (not jsonl.exists() or len(jsonl.read_text().splitlines()) < 10) and time.monotonic() < deadline:
        if select.select([terminal], [], [], 0.02)[0]:
            with contextlib.suppress(OSError):
                os.read(terminal, 65536)  # what the run prints on its terminal
    os.close(terminal)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    frames = len(jsonl.read_text().splitlines())
    assert frames >= 10 and _video_frames(video) == frames
