"""The window, offscreen: frames arrive from the worker thread and boxes are drawn where they belong."""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PyQt5.QtCore import QEvent, Qt
from PyQt5.QtGui import QColor, QKeyEvent
from PyQt5.QtWidgets import QApplication

from xnorvision.app import MainWindow, run_window
from xnorvision.app._window import BOX_COLOUR
from xnorvision.detect import Detections
from xnorvision.pipeline import JsonlSink, Runner, StageError, SynthSource, VideoSink

pytestmark = pytest.mark.qt
BOX = (100, 60, 220, 180)


class BoxStage:
    name = "boxer"

    def __call__(self, frame: np.ndarray, detections: Detections) -> Detections:
        return Detections(np.array([BOX], np.float32), np.array([0.87]), ("face",),
                          ((("face", 0.87), ("cat", 0.1), ("dog", 0.03)),))


class FailStage:
    name = "fails"

    def __call__(self, frame: np.ndarray, detections: Detections) -> Detections:
        raise ValueError("broken weights")


def wait_for(app: QApplication, condition, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out waiting for the window"
        app.processEvents()
        time.sleep(0.01)


def press(window: MainWindow, key: int) -> None:
    window.keyPressEvent(QKeyEvent(QEvent.KeyPress, key, Qt.NoModifier))


@pytest.fixture
def window(qapp, tmp_path: Path):
    runner = Runner(SynthSource(10**6, (320, 240)), [BoxStage()], threshold=0.5)
    win = MainWindow(runner, pipeline="test", model="tiny", snapshot_dir=tmp_path)
    win.resize(700, 560)
    win.show()
    win.start()
    wait_for(qapp, lambda: win.view.result is not None)
    yield win
    win.close()


def colour_at(image, x: float, y: float) -> QColor:
    return QColor(image.pixel(round(x), round(y)))


def test_box_and_overlay_are_drawn_where_the_box_is(window: MainWindow) -> None:
    image = window.view.grab().toImage()
    rect = window.view.frame_rect()
    scale = rect.width() / 320
    x1, y1, x2, y2 = (rect.x() + BOX[0] * scale, rect.y() + BOX[1] * scale,
                      rect.x() + BOX[2] * scale, rect.y() + BOX[3] * scale)
    for x, y in [((x1 + x2) / 2, y2), (x1, (y1 + y2) / 2), (x2, y1 + 30)]:
        assert colour_at(image, x, y) == BOX_COLOUR, (x, y)
    inside = colour_at(image, x1 + 8, y2 - 8)
    assert inside != BOX_COLOUR
    tag = colour_at(image, x1 + 2, y1 - 4)  # the label tag sits above the box: dark panel
    assert tag.lightness() < 90
    assert "pipeline: test (boxer)" in window.info.text() and "model: tiny" in window.info.text()
    assert window.panel.text() == "face 0.87\n    classes: face 0.87, cat 0.10, dog 0.03"  # box, then classes


def test_threshold_slider_pause_and_snapshot(qapp, window: MainWindow, tmp_path: Path) -> None:
    window.slider.setValue(90)  # above the stage's 0.87: the box disappears from new frames
    assert window.runner.threshold == pytest.approx(0.9)
    seen = window.runner.summary.frames  # frames after this one were filtered with the new threshold
    wait_for(qapp, lambda: window.view.result.index > seen + 1)
    assert len(window.view.result.detections) == 0
    press(window, Qt.Key_Space)
    assert window.runner.paused.is_set()
    press(window, Qt.Key_Space)
    assert not window.runner.paused.is_set()
    press(window, Qt.Key_S)
    (png,) = tmp_path.glob("*.png")
    assert png.stat().st_size > 1000


def test_q_closes_and_stops_the_worker(qapp, window: MainWindow) -> None:
    press(window, Qt.Key_Q)
    assert not window.isVisible() and window.worker.isFinished()
    assert window.runner.summary.frames > 0


def test_closing_the_window_leaves_complete_files(qapp, tmp_path: Path) -> None:
    video, jsonl = tmp_path / "o.mp4", tmp_path / "o.jsonl"
    runner = Runner(SynthSource(10**6, (96, 64)), [BoxStage()], [VideoSink(video), JsonlSink(jsonl)])
    win = MainWindow(runner)
    win.show()
    win.start()
    wait_for(qapp, lambda: runner.summary.frames >= 5)
    win.close()
    frames = runner.summary.frames
    assert [json.loads(line)["index"] for line in jsonl.read_text().splitlines()] == list(range(frames))
    cap = cv2.VideoCapture(str(video))
    count = 0
    while cap.read()[0]:
        count += 1
    assert count == frames


def test_run_window_returns_the_summary_and_reraises_errors(qapp) -> None:
    summary = run_window(Runner(SynthSource(5, (64, 48)), [BoxStage()]), pipeline="test")
    assert summary.frames == 5
    with pytest.raises(StageError, match="broken weights"):
        run_window(Runner(SynthSource(5, (64, 48)), [FailStage()], strict=True))


def test_keep_open_leaves_the_last_frame_up_when_the_source_ends(qapp) -> None:
    runner = Runner(SynthSource(3, (64, 48)), [BoxStage()])
    win = MainWindow(runner, keep_open=True)
    win.show()
    win.start()
    wait_for(qapp, lambda: win.worker.isFinished() and "end of" in win.statusBar().currentMessage())
    assert win.isVisible() and win.view.result is not None and runner.summary.frames == 3
    assert "3 frames" in win.statusBar().currentMessage()
    press(win, Qt.Key_Q)
    assert not win.isVisible()


def test_side_panel_keeps_the_detection_score_apart_from_the_labels_probabilities() -> None:
    from xnorvision.app._window import detections_text
    from xnorvision.pipeline import FrameResult

    det = Detections(np.array([[0, 0, 10, 10]], np.float32), np.array([0.81]), ("dog",),
                     top_k=((("dog", 0.55), ("cat", 0.37), ("deer", 0.01)),))
    text = detections_text(FrameResult(0, 0.0, np.zeros((4, 4, 3), np.uint8), det, {}))
    assert text.splitlines() == ["dog 0.81", "    classes: dog 0.55, cat 0.37, deer 0.01"]
