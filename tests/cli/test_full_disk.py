"""A full disk stops ``run`` with one line naming the file and exit 2; every file keeps its whole frames.

Real full disks where the test may mount one (a tiny tmpfs, as root), else stand-ins that behave like one:
``/dev/full``, and ``os.write``/``shutil.disk_usage`` limited to a byte budget for the file under test.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest

from xnorvision.pipeline import _sinks as sinks


def _error(err: str) -> str:
    """The one error line, which is the last thing written (after the run's start line)."""
    assert "Traceback" not in err and err.count("error: ") == 1
    return err.splitlines()[-1]


def _frames_in(video: Path) -> int:
    cap = cv2.VideoCapture(str(video))
    assert cap.isOpened(), f"{video} does not play"
    count = 0
    while cap.read()[0]:
        count += 1
    return count


def _whole_lines(jsonl: Path) -> int:
    text = jsonl.read_text()
    assert text == "" or text.endswith("\n"), "the last line is cut"
    return len([json.loads(line) for line in text.splitlines()])


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[object]:
    """``small_disk(size)``: a folder on a tmpfs of ``size`` (needs the right to mount: root)."""
    mounts: list[Path] = []

    def mount(size: str) -> Path:
        where = tmp_path / f"disk{len(mounts)}"
        where.mkdir()
        try:
            done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                                  capture_output=True)
        except FileNotFoundError:  # no mount command
            pytest.skip("cannot mount a tmpfs here")
        if done.returncode != 0:
            pytest.skip("cannot mount a tmpfs here (not root)")
        mounts.append(where)
        return where

    yield mount
    for where in mounts:
        subprocess.run(["umount", str(where)], check=True)


def test_jsonl_on_dev_full_is_an_error_naming_it(cli, plugins) -> None:
    code, out, err = cli("run", "--source", "synth:5", "--headless", "--save-json", "/dev/full")
    assert code == 2
    error = _error(err)
    assert error.startswith("error: --save-json /dev/full: No space left on device; stopped after 0 frames")


def test_jsonl_full_mid_line_keeps_whole_lines(cli, plugins, tmp_path: Path, monkeypatch) -> None:
    """The disk fills in the middle of a line: the file is cut back to the last whole line."""
    jsonl = tmp_path / "o.jsonl"
    real_write, budget = os.write, [5000]

    def write(fd: int, data: bytes) -> int:
        if not jsonl.exists() or not os.path.samestat(os.fstat(fd), jsonl.stat()):
            return real_write(fd, data)
        if budget[0] <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = real_write(fd, bytes(data)[:budget[0]])
        budget[0] -= n
        return n

    monkeypatch.setattr(os, "write", write)
    code, _, err = cli("run", "--source", "synth:500", "--size", "32x24", "--headless",
                       "--save-json", str(jsonl))
    lines = _whole_lines(jsonl)
    assert code == 2 and f"--save-json {jsonl}: No space left on device; stopped after {lines} frames" in err
    assert 0 < lines < 500 and jsonl.stat().st_size < 5000


def test_video_stops_before_the_disk_fills(cli, plugins, tmp_path: Path, monkeypatch) -> None:
    """A disk of a fixed size (free space = size - what the run wrote): the video stops in time to play."""
    video, jsonl = tmp_path / "o.mp4", tmp_path / "o.jsonl"
    size = sinks.VIDEO_RESERVE_BYTES + 3 * 320 * 240 * 3 + 200_000
    real_usage = shutil.disk_usage

    def usage(path: str | os.PathLike[str]):
        used = sum(p.stat().st_size for p in (video, jsonl) if p.exists())
        return real_usage(path)._replace(free=size - used)

    monkeypatch.setattr(sinks.shutil, "disk_usage", usage)
    code, _, err = cli("run", "--source", "synth:2000", "--size", "320x240", "--headless",
                       "--save", str(video), "--save-json", str(jsonl))
    assert code == 2 and _error(err).startswith(f"error: --save {video}: the disk is nearly full")
    frames = _frames_in(video)
    assert 0 < frames < 2000 and f"stopped after {frames} frames" in err
    assert _whole_lines(jsonl) == frames


def test_real_full_disk_stops_video_and_jsonl(cli, plugins, small_disk, make_video) -> None:
    disk = small_disk("6m")
    video, jsonl = disk / "o.mp4", disk / "o.jsonl"
    code, _, err = cli("run", "--source", "synth:5000", "--size", "640x480", "--headless",
                       "--save", str(video), "--save-json", str(jsonl))
    assert code == 2 and f"error: --save {video}: the disk is nearly full" in err
    frames = _frames_in(video)
    assert 0 < frames < 5000 and _whole_lines(jsonl) == frames


def test_real_full_disk_under_jsonl(cli, plugins, small_disk) -> None:
    jsonl = small_disk("64k") / "o.jsonl"
    code, _, err = cli("run", "--source", "synth:100000", "--size", "16x16", "--headless",
                       "--save-json", str(jsonl))
    lines = _whole_lines(jsonl)
    assert code == 2 and f"--save-json {jsonl}: No space left on device; stopped after {lines} frames" in err
    assert lines > 0


@pytest.mark.skipif(not cv2.__version__.startswith("5"), reason="OpenCV 4 does not report failed writes")
def test_failed_video_write_is_reported(cli, plugins, small_disk, monkeypatch) -> None:
    """Without the reserve (the disk filled by someone else), OpenCV's failed write stops the run."""
    monkeypatch.setattr(sinks, "VIDEO_RESERVE_BYTES", -(1 << 40))
    video = small_disk("1m") / "o.mp4"
    code, _, err = cli("run", "--source", "synth:5000", "--size", "640x480", "--headless",
                       "--save", str(video))
    assert code == 2 and _error(err).startswith(f"error: --save {video}: writing frame")


def test_unplayable_video_is_reported_at_close(cli, plugins, small_disk, monkeypatch) -> None:
    """OpenCV 4 says nothing when a write fails: the finished file is checked and found unplayable."""

    real_writer = cv2.VideoWriter

    class SilentWriter:  # OpenCV 4's writer: write returns nothing
        def __init__(self, *args: object) -> None:
            self.writer = real_writer(*args)

        def isOpened(self) -> bool:  # noqa: N802 (OpenCV's name)
            return self.writer.isOpened()

        def write(self, image) -> None:
            self.writer.write(image)

        def release(self) -> None:
            self.writer.release()

    monkeypatch.setattr(sinks, "VIDEO_RESERVE_BYTES", -(1 << 40))
    monkeypatch.setattr(sinks.cv2, "VideoWriter", SilentWriter)
    video = small_disk("128k") / "o.mp4"
    code, _, err = cli("run", "--source", "synth:300", "--size", "640x480", "--headless",
                       "--save", str(video))
    assert code == 2 and _error(err) == (f"error: --save {video}: the finished video does not play: "
                                         "a write failed (disk full?)")
