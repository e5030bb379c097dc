from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from xnorvision.errors import SourceError
from xnorvision.pipeline import SynthSource, open_source, parse_size


def test_synth_frames_are_deterministic_and_faces_are_where_it_says() -> None:
    src = SynthSource(5, (160, 120))
    frames = [src.read() for _ in range(6)]
    assert frames[-1] is None and all(f.shape == (120, 160, 3) and f.dtype == np.uint8 for f in frames[:5])
    assert np.array_equal(frames[3], SynthSource(5, (160, 120)).frame(3))
    assert not np.array_equal(frames[0], frames[4])  # things move
    for x1, y1, x2, y2 in src.face_boxes(3).astype(int):
        assert 0 <= x1 < x2 <= 160 and 0 <= y1 < y2 <= 120
        centre = frames[3][(y1 + y2) // 2, (x1 + x2) // 2]
        assert tuple(centre) == (150, 180, 225)  # skin colour at the face centre (nose) in BGR


def test_image_folder_glob_and_single_file(tmp_path: Path) -> None:
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((8, 10, 3), i * 50, np.uint8))
    (tmp_path / "notes.txt").write_text("skip me")
    folder = open_source(str(tmp_path))
    assert [int(folder.read()[0, 0, 0]) for _ in range(3)] == [0, 50, 100] and folder.read() is None
    assert len(open_source(str(tmp_path / "*.png")).paths) == 3
    assert open_source(str(tmp_path / "1.png")).read()[0, 0, 0] == 50


def test_unreadable_image_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(SourceError, match="cannot read image .*bad.jpg"):
        open_source(str(tmp_path))  # the first image is decoded as the source opens
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((8, 8, 3), np.uint8))
    src = open_source(str(tmp_path))
    assert src.read().shape == (8, 8, 3)
    with pytest.raises(SourceError, match="cannot read image .*bad.jpg"):
        src.read()


def write_video(path: Path, frames: int) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24))
    for i in range(frames):
        writer.write(np.full((24, 32, 3), i * 30, np.uint8))
    writer.release()
    return path


def test_video_file_reads_every_frame(tmp_path: Path) -> None:
    src = open_source(str(write_video(tmp_path / "v.avi", 7)))
    frames = []
    while (f := src.read()) is not None:
        frames.append(f)
    assert not src.live and len(frames) == 7 and abs(int(frames[6].mean()) - 180) < 4


@pytest.mark.parametrize(
    ("spec", "message"),
    [("nowhere.mp4", "no such file"), ("synth:0", "synth:N"), ("synth:abc", "synth:N"), (None, "no input")],
)
def test_bad_sources(spec: str | None, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        open_source(spec)


def test_stream_url_that_does_not_open(tmp_path: Path) -> None:
    # (live streams and files behind URLs: tests/pipeline/test_streams.py)
    with pytest.raises(SourceError, match="cannot open stream file://"):
        open_source(f"file://{tmp_path}/missing.mp4")


def test_corrupt_video(tmp_path: Path) -> None:
    (tmp_path / "c.mp4").write_bytes(b"\x00" * 1000)
    with pytest.raises(SourceError, match="cannot decode video"):
        open_source(str(tmp_path / "c.mp4"))


def test_camera_that_does_not_open() -> None:
    with pytest.raises(SourceError, match="camera 97 does not open; .*xnorvision cameras"):
        open_source(camera=97)


@pytest.mark.parametrize("text", ["640", "axb", "0x480", "640x480x3", "99999x10", ""])
def test_bad_size(text: str) -> None:
    with pytest.raises(SourceError, match="WIDTHxHEIGHT"):
        parse_size(text)


def test_size() -> None:
    assert parse_size("640X480") == (640, 480)


def test_size_scales_file_frames_to_fit_keeping_their_shape(tmp_path: Path) -> None:
    video = str(write_video(tmp_path / "v.avi", 3))
    src = open_source(video, size=(16, 16))  # 32x24 frames fit inside 16x16 as 16x12
    assert src.read().shape == (12, 16, 3) and src.fps == pytest.approx(10, abs=0.5)
    images = tmp_path / "imgs"
    images.mkdir()
    cv2.imwrite(str(images / "a.png"), np.zeros((10, 40, 3), np.uint8))
    assert open_source(str(images), size=(80, 80)).read().shape == (20, 80, 3)  # scaled up too
    assert open_source(str(images), size=(40, 10)).read().shape == (10, 40, 3)  # already fits exactly
