"""``xnorvision run``: outputs on success, and one clear line with exit 2 for each kind of bad input."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest


def test_headless_run_writes_video_and_jsonl(cli, plugins, tmp_path: Path) -> None:
    video, jsonl = tmp_path / "o.mp4", tmp_path / "o.jsonl"
    code, out, err = cli("run", "--source", "synth:12", "--size", "96x64", "--plugin", "boxes", "--headless",
                         "--save", str(video), "--save-json", str(jsonl))
    assert code == 0, err
    assert "12 frames" in out and "boxes: p50" in out and "0 errors" in out
    lines = [json.loads(x) for x in jsonl.read_text().splitlines()]
    assert len(lines) == 12 and lines[3]["detections"] == [{"box": [5.0, 5.0, 30.0, 30.0], "score": 0.8,
                                                           "label": "thing"}]
    cap = cv2.VideoCapture(str(video))
    ok, frame = cap.read()
    assert ok and frame.shape == (64, 96, 3) and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 12


def test_images_of_different_sizes_all_reach_the_video(cli, plugins, tmp_path: Path) -> None:
    """Every frame is letterboxed to the first one's size; OpenCV would drop the others silently."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    sizes = [(64, 48), (32, 96), (64, 48), (100, 40), (32, 96)]  # (w, h): three sizes, five images
    for i, (w, h) in enumerate(sizes):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((h, w, 3), 200, np.uint8))
    video, jsonl = tmp_path / "o.mp4", tmp_path / "o.jsonl"
    code, out, err = cli("run", "--source", str(folder), "--headless", "--save", str(video),
                         "--save-json", str(jsonl))
    assert code == 0 and "5 frames" in out, err
    cap = cv2.VideoCapture(str(video))
    frames = []
    while (got := cap.read())[0]:
        frames.append(got[1])
    assert len(frames) == 5 == len(jsonl.read_text().splitlines())
    assert all(f.shape == (48, 64, 3) for f in frames)
    tall = frames[1]  # 32x96 into 64x48: 16x48 in the middle, black bars left and right
    assert tall[24, 32].mean() > 150 and tall[24, :10].mean() < 30 and tall[24, -10:].mean() < 30


def test_pipelines_chain_and_model_goes_to_the_last(cli, plugins, tiny_model: Path, tmp_path: Path) -> None:
    jsonl = tmp_path / "o.jsonl"
    code, _, err = cli("run", "--source", "synth:2", "--plugin", "boxes,classify", "--model", str(tiny_model),
                       "--headless", "--threshold", "0", "--save-json", str(jsonl))
    assert code == 0, err
    record = json.loads(jsonl.read_text().splitlines()[0])
    assert set(record["latency_ms"]) == {"boxes", "model"} and record["detections"][0]["box"] == [0, 0, 8, 8]
    code, _, err = cli("run", "--source", "synth:2", "--plugin", "boxes,nope", "--headless")
    assert code == 2 and "unknown pipeline 'nope'" in err


def test_threshold_and_max_frames(cli, plugins, tmp_path: Path) -> None:
    jsonl = tmp_path / "o.jsonl"
    code, out, _ = cli("run", "--source", "synth:50", "--plugin", "boxes", "--headless", "--max-frames", "4",
                       "--threshold", "0.9", "--save-json", str(jsonl))
    lines = jsonl.read_text().splitlines()
    assert code == 0 and len(lines) == 4 and all(json.loads(x)["detections"] == [] for x in lines)


def test_stage_error_is_counted_and_strict_stops(cli, plugins, caplog: pytest.LogCaptureFixture) -> None:
    code, out, err = cli("run", "--source", "synth:6", "--plugin", "flaky", "--headless")
    assert code == 0 and "5 frames" in out and "1 errors" in out
    assert "stage 'flaky' failed on frame 2: ValueError: bad luck" in caplog.text
    code, out, err = cli("run", "--source", "synth:6", "--plugin", "flaky", "--headless", "--strict")
    assert code == 2 and "error: stage 'flaky' failed on frame 2" in err


def test_model_from_path(cli, plugins, tiny_model: Path, tmp_path: Path) -> None:
    jsonl = tmp_path / "o.jsonl"
    code, _, err = cli("run", "--source", "synth:3", "--plugin", "classify", "--model", str(tiny_model),
                       "--headless", "--threshold", "0", "--save-json", str(jsonl))
    assert code == 0, err
    labels = {d["label"] for line in jsonl.read_text().splitlines() for d in json.loads(line)["detections"]}
    assert labels and labels <= {"cat", "dog", "face"}


def test_plugin_source_and_sink(cli, plugins, tmp_path: Path) -> None:
    out = tmp_path / "lines.txt"
    code, _, err = cli("run", "--source", "count://4", "--sink", f"lines:{out}", "--headless")
    assert code == 0, err
    assert out.read_text().splitlines() == ["0 0", "1 1", "2 2", "3 3"]


def _bad_inputs(tmp: Path) -> dict[str, tuple[list[str], str]]:
    (tmp / "corrupt.mp4").write_bytes(b"\x00" * 512)
    (tmp / "imgs").mkdir()
    cv2.imwrite(str(tmp / "imgs" / "a.png"), np.zeros((16, 16, 3), np.uint8))
    (tmp / "imgs" / "b.jpg").write_bytes(b"truncated")
    (tmp / "bad.xnv").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    synth = ["--source", "synth:3"]
    return {
        "camera": (["--camera", "7"], "camera 7 does not open"),
        "missing video": (["--source", str(tmp / "nope.mp4")], "no such file"),
        "corrupt video": (["--source", str(tmp / "corrupt.mp4")], "cannot decode video"),
        "unreadable image": (["--source", str(tmp / "imgs")], "cannot read image .*b.jpg"),
        "unknown plugin": ([*synth, "--plugin", "nosuch"], r"unknown pipeline 'nosuch' \(available: boxes"),
        "broken plugin": ([*synth, "--plugin", "broken"], "plugin 'broken' failed to load: ImportError"),
        "bad model file": ([*synth, "--plugin", "classify", "--model", str(tmp / "bad.xnv")],
                           "bad.xnv: not an .xnv file"),
        "missing model": ([*synth, "--plugin", "classify", "--model", "ghost.xnv"], "model file not found"),
        "size": ([*synth, "--size", "big"], "WIDTHxHEIGHT"),
        "save path": ([*synth, "--save", str(tmp / "no" / "x.mp4")], "--save .*does not exist"),
        "save type": ([*synth, "--save", str(tmp / "x.gif")], "unknown video type"),
        "threshold": ([*synth, "--threshold", "3"], "between 0 and 1"),
        "plugin source fails": (["--source", "count://many"], "source 'count' of plugin 'testing' cannot open count://many"),
        "unknown sink": ([*synth, "--sink", "nope:x"], r"unknown sink 'nope' \(available: lines\)"),
        "sink syntax": ([*synth, "--sink", "lines"], "NAME:TARGET"),
    }


@pytest.mark.parametrize("case", [
    "camera", "missing video", "corrupt video", "unreadable image", "unknown plugin", "broken plugin",
    "bad model file", "missing model", "size", "save path", "save type", "threshold", "plugin source fails",
    "unknown sink", "sink syntax"])
def test_bad_input_is_one_line_exit_2(cli, plugins, tmp_path: Path, case: str) -> None:
    args, pattern = _bad_inputs(tmp_path)[case]
    code, _, err = cli("run", *args, "--headless")
    assert code == 2, err
    lines = [x for x in err.splitlines() if x.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert re.search(pattern, lines[0]), lines[0]


def test_window_that_cannot_open_is_a_clear_error(cli, plugins, monkeypatch: pytest.MonkeyPatch) -> None:
    from xnorvision.pipeline import _doctor as doctor

    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.setattr(doctor, "_missing_libraries", lambda lib: ["libxcb-icccm.so.4"])
    code, _, err = cli("run", "--source", "synth:2")
    assert code == 2 and "error: cannot open a window: the X11 platform plugin lacks libxcb-icccm.so.4" in err
    assert "--headless" in err


def test_debug_shows_the_traceback(cli, plugins) -> None:
    code, _, err = cli("run", "--source", "synth:2", "--plugin", "nosuch", "--headless", "--debug")
    assert code == 2 and "Traceback" in err and "unknown pipeline" in err


def test_ctrl_c_stops_cleanly_with_complete_files(tmp_path: Path) -> None:
    """A real SIGINT to a real process: summary printed, exit 0, video and JSONL whole."""
    video, jsonl = tmp_path / "o.mp4", tmp_path / "o.jsonl"
    cmd = [sys.executable, "-c", "from xnorvision.cli import main; main()", "run", "--source", "synth:999999",
           "--size", "64x48", "--headless", "--save", str(video), "--save-json", str(jsonl)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while (not jsonl.exists() or len(jsonl.read_text().splitlines()) < 20) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "interrupted" in out, err
    frames = int(out.split()[0])
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert len(records) == frames >= 20
    cap = cv2.VideoCapture(str(video))
    count = 0
    while cap.read()[0]:
        count += 1
    assert count == frames


def test_profile_prints_where_each_stage_s_time_went(cli, plugins, tiny_model: Path) -> None:
    code, out, err = cli("run", "--source", "synth:6", "--plugin", "boxes,classify", "--model",
                         str(tiny_model), "--headless", "--threshold", "0", "--profile")
    assert code == 0, err
    assert "profile: 6 frames" in out and "| boxes | (all) |" in out and "| model | (all) |" in out
    assert "| | tiny.xnv: binary conv |" in out and "| | tiny.xnv: executor |" in out
    code, out, err = cli("run", "--source", "synth:5", "--plugin", "flaky", "--headless", "--profile")
    assert code == 0 and "profile: 4 frames" in out, err  # the failed frame is not in it
    code, out, _ = cli("run", "--source", "synth:2", "--plugin", "boxes", "--headless")
    assert code == 0 and "profile" not in out
    code, _, err = cli("run", "--source", "synth:2", "--headless", "--profile")
    assert code == 2 and err.strip().startswith("error: --profile needs --plugin") and "\n" not in err.strip()


@pytest.mark.parametrize("first", [True, False])
def test_an_image_over_opencvs_size_limit_is_one_line_exit_2_and_earlier_frames_stay(
        cli, plugins, tmp_path: Path, oversized_png: bytes, first: bool) -> None:
    """A few bytes of PNG claiming 40000x30000 pixels made OpenCV assert: 'internal error', exit 1."""
    (tmp_path / "imgs").mkdir()
    cv2.imwrite(str(tmp_path / "imgs" / "b.png"), np.zeros((16, 16, 3), np.uint8))
    (tmp_path / "imgs" / ("a.png" if first else "c.png")).write_bytes(oversized_png)
    out = tmp_path / "out.jsonl"
    code, _, err = cli("run", "--source", str(tmp_path / "imgs"), "--plugin", "boxes", "--headless",
                       "--save-json", str(out))
    lines = [x for x in err.splitlines() if x.startswith("error:")]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert re.search(r"cannot read image .*\.png: larger than OpenCV decodes", lines[0]), lines[0]
    if not first:  # the frame before it was written whole
        assert [json.loads(line)["index"] for line in out.read_text().splitlines()] == [0]


def test_a_frame_size_the_video_codec_refuses_is_named_not_blamed_on_the_type(cli, plugins,
                                                                              tmp_path: Path) -> None:
    """MPEG-4 takes no 10000x1 frame: the error said '.mp4 cannot be written here', which it can."""
    probe = cv2.VideoWriter(str(tmp_path / "probe.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 30, (10000, 1))
    refused = not probe.isOpened()
    probe.release()
    if not refused:
        pytest.skip("this OpenCV's MPEG-4 writer takes 10000x1 frames")
    cv2.imwrite(str(tmp_path / "thin.png"), np.zeros((1, 10000, 3), np.uint8))
    code, _, err = cli("run", "--source", str(tmp_path / "thin.png"), "--plugin", "boxes", "--headless",
                       "--save", str(tmp_path / "o.mp4"))
    assert code == 2 and "cannot write a 10000x1 .mp4 video here; try .avi" in err, err
    code, _, err = cli("run", "--source", str(tmp_path / "thin.png"), "--plugin", "boxes", "--headless",
                       "--save", str(tmp_path / "o.avi"))
    assert code == 0 and cv2.VideoCapture(str(tmp_path / "o.avi")).grab(), err
