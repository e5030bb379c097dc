"""A video damaged in the middle: its lost frames are errors of the run, and the frames after them run."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from xnorvision.errors import FramesSkipped
from xnorvision.pipeline._sources import open_video

FRAMES = 60


def _video(path: Path, damage: bool) -> Path:
    """60 frames of noise (every frame a big one), with 4 KB of garbage written over the middle if asked."""
    rng = np.random.default_rng(0)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for _ in range(FRAMES):
        writer.write(rng.integers(0, 255, (48, 64, 3), np.uint8))
    writer.release()
    if damage:
        data = bytearray(path.read_bytes())
        middle = len(data) // 2
        data[middle:middle + 4000] = np.random.default_rng(1).integers(0, 255, 4000, np.uint8).tobytes()
        path.write_bytes(bytes(data))
    return path


def _read_all(path: Path) -> tuple[int, int, list[str]]:
    source, frames, lost, messages = open_video(path), 0, 0, []
    while True:
        try:
            frame = source.read()
        except FramesSkipped as exc:
            lost += exc.lost
            messages.append(str(exc))
            continue
        if frame is None:
            return frames, lost, messages
        frames += 1


def test_a_whole_video_reads_every_frame_without_errors(tmp_path: Path) -> None:
    assert _read_all(_video(tmp_path / "v.mp4", damage=False)) == (FRAMES, 0, [])


def test_frames_after_the_damage_are_read_and_the_lost_ones_counted(tmp_path: Path) -> None:
    frames, lost, messages = _read_all(_video(tmp_path / "v.mp4", damage=True))
    assert lost > 0 and frames + lost == FRAMES and frames > FRAMES // 2 + 5, (frames, lost)
    assert all("could not be decoded" in m for m in messages)


def test_run_reports_the_lost_frames_as_errors(cli, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    video, jsonl = _video(tmp_path / "v.mp4", damage=True), tmp_path / "o.jsonl"
    code, out, err = cli("run", "--source", str(video), "--headless", "--save-json", str(jsonl))
    frames, errors = int(out.split()[0]), int(out.split(", ")[1].split()[0])
    assert code == 0 and errors > 0 and frames + errors == FRAMES, out
    assert f"source: {errors} frames could not be decoded and were skipped" in out
    assert any("could not be decoded" in r.getMessage() for r in caplog.records)
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert len(records) == frames and records[-1]["index"] == FRAMES - 1  # indices count the lost frames
