from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from xnorvision.detect import Detections
from xnorvision.errors import SinkError
from xnorvision.pipeline import JsonlSink, Runner, StageError, SynthSource, VideoSink
from xnorvision.pipeline._capture import CaptureThread
from xnorvision.pipeline._sinks import ProgressSink


class SlowSource(SynthSource):
    """A live source whose frames come faster than a slow pipeline takes them."""

    live = True


def test_every_frame_in_order(collect, fake_stage) -> None:
    summary = Runner(SynthSource(25, (32, 24)), [fake_stage("a"), fake_stage("b")], [collect]).run()
    assert [r.index for r in collect.results] == list(range(25)) and collect.closed
    assert summary.frames == 25 and summary.errors == 0 and summary.dropped == 0
    assert set(collect.results[0].latency_ms) == {"a", "b"} and set(summary.stage_ms) == {"a", "b"}
    p50, p95 = summary.stage_ms["a"]
    assert 0 < p50 <= p95


def test_live_source_keeps_only_the_newest_frame() -> None:
    source = SlowSource(200, (16, 12))
    capture = CaptureThread(source, drop_frames=True).start()
    deadline = time.monotonic() + 10
    while source._next < 200 and time.monotonic() < deadline:  # the consumer is "busy": the source runs ahead
        time.sleep(0.01)
    first = capture.next(timeout=1.0)
    assert capture.next(timeout=1.0) is None and capture.finished
    capture.stop()
    assert first is not None and first.index == 199 and capture.dropped == 199


def test_drop_frames_default_follows_the_source() -> None:
    assert Runner(SlowSource(1), []).drop_frames and not Runner(SynthSource(1), []).drop_frames
    assert not Runner(SlowSource(1), [], drop_frames=False).drop_frames


def test_failing_stage_skips_the_frame_and_is_counted(collect, caplog, fake_stage) -> None:
    summary = Runner(SynthSource(10, (32, 24)), [fake_stage("det", fail_on=(2, 5))], [collect]).run()
    assert summary.frames == 8 and summary.errors == 2 and summary.stage_errors == {"det": 2}
    assert [r.index for r in collect.results] == [0, 1, 3, 4, 6, 7, 8, 9]
    assert "stage 'det' failed on frame 2: RuntimeError: bad frame" in caplog.text


def test_stage_returning_the_wrong_type_is_a_stage_error(collect, caplog) -> None:
    class Sloppy:
        name = "sloppy"

        def __call__(self, frame, detections):
            return None

    summary = Runner(SynthSource(3, (32, 24)), [Sloppy()], [collect]).run()
    assert summary.errors == 3 and collect.results == []
    assert "TypeError: returned NoneType, not Detections" in caplog.text


def test_strict_stops_on_the_first_error_and_closes_sinks(collect, fake_stage) -> None:
    with pytest.raises(StageError, match="stage 'det' failed on frame 3"):
        Runner(SynthSource(10, (32, 24)), [fake_stage("det", fail_on=(3,))], [collect], strict=True).run()
    assert len(collect.results) == 3 and collect.closed


def test_threshold_and_max_frames(collect, fake_stage) -> None:
    Runner(SynthSource(50, (32, 24)), [fake_stage()], [collect], threshold=0.5, max_frames=4).run()
    assert len(collect.results) == 4 and all(r.detections.labels == ("thing",) for r in collect.results)


def test_stop_from_another_thread(collect, fake_stage) -> None:
    runner = Runner(SynthSource(10**9, (32, 24)), [fake_stage()], [collect])
    threading.Timer(0.2, runner.stop).start()
    summary = runner.run()
    assert summary.frames > 0 and collect.closed and not summary.interrupted


def test_ctrl_c_leaves_complete_video_and_jsonl(tmp_path: Path, fake_stage) -> None:
    video, jsonl = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    stage = fake_stage(fail_on=(6,), exc=KeyboardInterrupt())
    summary = Runner(SynthSource(100, (64, 48)), [stage], [VideoSink(video), JsonlSink(jsonl)]).run()
    assert summary.interrupted and summary.frames == 6
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [rec["index"] for rec in lines] == list(range(6))
    assert lines[0]["detections"][0] == {"box": [10.0, 10.0, 40.0, 30.0], "score": 0.9, "label": "thing"}
    assert set(lines[0]["latency_ms"]) == {"fake"}
    cap = cv2.VideoCapture(str(video))
    frames = 0
    while cap.read()[0]:
        frames += 1
    assert frames == 6


def test_video_has_boxes_drawn(tmp_path: Path, fake_stage) -> None:
    video = tmp_path / "out.avi"
    Runner(SynthSource(2, (64, 48)), [fake_stage()], [VideoSink(video)]).run()
    ok, frame = cv2.VideoCapture(str(video)).read()
    plain = SynthSource(2, (64, 48)).frame(0)
    assert ok and np.abs(frame[10, 20:30].astype(int) - plain[10, 20:30]).mean() > 40  # top edge of the box


def test_progress_lines(fake_stage) -> None:
    stream = io.StringIO()
    Runner(SynthSource(3, (32, 24)), [fake_stage("det")], [ProgressSink(stream, every=0.0)]).run()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and lines[2].startswith("frame 2: 3 processed, ") and " FPS | det " in lines[2]


@pytest.mark.parametrize("name", ["missing_dir/out.mp4", "out.xyz", "."])
def test_bad_save_paths(tmp_path: Path, name: str) -> None:
    with pytest.raises(SinkError, match="--save"):
        VideoSink(tmp_path / name)


def test_unwritable_json_path(tmp_path: Path) -> None:
    with pytest.raises(SinkError, match="--save-json .*does not exist"):
        JsonlSink(tmp_path / "no" / "x.jsonl")


def test_source_error_still_closes_sinks(tmp_path: Path, collect, fake_stage) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "b.png").write_bytes(b"junk")
    from xnorvision.errors import SourceError
    from xnorvision.pipeline import open_source

    with pytest.raises(SourceError, match="b.png"):
        Runner(open_source(str(tmp_path)), [fake_stage()], [collect]).run()
    assert len(collect.results) == 1 and collect.closed


class EveryOther:
    """A detector whose one box scores 0.9 on even frames and 0.1 on odd ones."""

    name = "every-other"

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, frame, detections):
        self.calls += 1
        score = 0.9 if self.calls % 2 else 0.1
        return Detections(np.array([[0, 0, 8, 8]], np.float32), np.array([score]), ("thing",))


class Tag:
    name, role = "tag", "labeler"

    def __call__(self, frame, detections):
        return Detections(detections.boxes, detections.scores, ("tagged",) * len(detections))


def test_summary_says_on_how_many_frames_a_skipped_labeler_ran(collect) -> None:
    """A labeler runs only on frames with boxes above the threshold; its line must not claim all of them."""
    summary = Runner(SynthSource(10, (32, 24)), [EveryOther(), Tag()], [collect], threshold=0.5).run()
    assert summary.frames == 10 and summary.stage_frames == {"every-other": 10, "tag": 5}
    lines = summary.format().splitlines()
    assert lines[1].startswith("  every-other: p50 ") and " on " not in lines[1]
    assert lines[2].startswith("  tag: p50 ") and lines[2].endswith(" on 5 of 10 frames, 0 errors")
    never = Runner(SynthSource(4, (32, 24)), [EveryOther(), Tag()], threshold=0.95).run()
    assert never.format().splitlines()[2] == "  tag: ran on no frame, 0 errors"
