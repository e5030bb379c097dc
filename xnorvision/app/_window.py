"""The live window: a worker thread runs the pipeline, Qt draws each result it signals.

Frames cross threads only through a queued signal, and the worker sends a new one only after the GUI took
the previous one, so a slow display never builds a backlog (other sinks still get every frame).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
from PyQt5.QtCore import QRectF, Qt, QThread, pyqtSignal
from PyQt5.QtGui import QColor, QFont, QImage, QKeyEvent, QPainter, QPaintEvent, QPen
from PyQt5.QtWidgets import QDockWidget, QLabel, QMainWindow, QSlider, QStatusBar, QWidget

from xnorvision.pipeline._draw import label_text, overlay_text
from xnorvision.pipeline._result import FrameResult
from xnorvision.pipeline._runner import Runner

BOX_COLOUR = QColor(60, 220, 60)
TEXT_COLOUR = QColor(255, 255, 255)
PANEL_COLOUR = QColor(0, 0, 0, 160)


def to_qimage(frame: np.ndarray) -> QImage:
    """A QImage that owns a copy of the BGR uint8 frame's pixels."""
    frame = np.ascontiguousarray(frame)
    h, w = frame.shape[:2]
    return QImage(frame.data, w, h, frame.strides[0], QImage.Format_BGR888).copy()


class FrameView(QWidget):
    """Paints the latest frame scaled to fit, with boxes, labels, scores and the speed overlay."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result: FrameResult | None = None
        self._image: QImage | None = None
        self.setMinimumSize(320, 240)

    def show_result(self, result: FrameResult) -> None:
        self.result = result
        self._image = to_qimage(result.frame)
        self.update()

    def frame_rect(self) -> QRectF:
        """Where the frame lands in the widget (aspect kept, centred)."""
        if self._image is None:
            return QRectF(0, 0, 0, 0)
        scale = min(self.width() / self._image.width(), self.height() / self._image.height())
        w, h = self._image.width() * scale, self._image.height() * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        painter.fillRect(self.rect(), Qt.black)
        if self._image is None or self.result is None:
            painter.setPen(TEXT_COLOUR)
            painter.drawText(self.rect(), Qt.AlignCenter, "waiting for frames...")
            return
        target = self.frame_rect()
        painter.drawImage(target, self._image)
        scale = target.width() / self._image.width()
        painter.setFont(QFont("Sans", 9))
        det = self.result.detections
        for (x1, y1, x2, y2), label, score in zip(det.boxes, det.labels, det.scores, strict=True):
            box = QRectF(target.x() + x1 * scale, target.y() + y1 * scale,
                         (x2 - x1) * scale, (y2 - y1) * scale)
            painter.setPen(QPen(BOX_COLOUR, 2))
            painter.drawRect(box)
            self._draw_tag(painter, box.x(), box.y(), label_text(label, float(score)))
        self._draw_tag(painter, target.x() + 4, target.bottom() - 4, overlay_text(self.result), above=True)

    def _draw_tag(self, painter: QPainter, x: float, y: float, text: str, above: bool = True) -> None:
        if not text:
            return
        metrics = painter.fontMetrics()
        w, h = metrics.horizontalAdvance(text) + 6, metrics.height() + 2
        rect = QRectF(x, max(0.0, y - h) if above else y, w, h)
        painter.fillRect(rect, PANEL_COLOUR)
        painter.setPen(TEXT_COLOUR)
        painter.drawText(rect, Qt.AlignCenter, text)


def detections_text(result: FrameResult) -> str:
    """The side panel: per box the line drawn on it (label, detection score), then the labeler's best
    classes with their own probabilities, so a label's confidence is never read as the detection's."""
    det = result.detections
    if not len(det):
        return "no detections"
    lines = []
    for i, (label, score) in enumerate(zip(det.labels, det.scores, strict=True)):
        lines.append(label_text(label, float(score)))
        if det.top_k:
            lines.append("    classes: " + ", ".join(f"{name} {p:.2f}" for name, p in det.top_k[i]))
    return "\n".join(lines)


class PipelineWorker(QThread):
    """Runs the runner off the GUI thread; an error it raises is kept for the caller to re-raise."""

    frame_ready = pyqtSignal(object)

    def __init__(self, runner: Runner) -> None:
        super().__init__()
        self.runner = runner
        self.error: BaseException | None = None
        self._gui_free = threading.Event()
        self._gui_free.set()
        runner.sinks.append(self)

    def write(self, result: FrameResult) -> None:
        """Sink interface: hand the frame to the GUI unless it is still drawing the last one."""
        if self._gui_free.is_set():
            self._gui_free.clear()
            self.frame_ready.emit(result)

    def taken(self) -> None:
        self._gui_free.set()

    def close(self) -> None:
        pass

    def run(self) -> None:
        try:
            self.runner.run()
        except BaseException as exc:  # re-raised in the main thread by run_window
            self.error = exc


class MainWindow(QMainWindow):
    """Frame view, a detections panel, a threshold slider and a status bar.

    Keys: space pause, s snapshot, q/Esc quit.
    """

    def __init__(self, runner: Runner, pipeline: str | None = None, model: str | None = None,
                 snapshot_dir: Path = Path("."), keep_open: bool = False) -> None:
        super().__init__()
        self.runner = runner
        self.keep_open = keep_open
        self.snapshot_dir = snapshot_dir
        self.setWindowTitle(f"xnorvision - {pipeline or 'no pipeline'}")
        self.view = FrameView(self)
        self.setCentralWidget(self.view)
        self.panel = QLabel("no detections")
        self.panel.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        self.panel.setMinimumWidth(150)
        dock = QDockWidget("Detections", self)
        dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetClosable)
        dock.setWidget(self.panel)
        self.addDockWidget(Qt.RightDockWidgetArea, dock)
        self.worker = PipelineWorker(runner)
        self.worker.frame_ready.connect(self._on_frame)
        self.worker.finished.connect(self._on_worker_finished)
        self._build_status_bar(pipeline, model)
        self.resize(960, 600)

    def _build_status_bar(self, pipeline: str | None, model: str | None) -> None:
        bar = QStatusBar(self)
        self.setStatusBar(bar)
        self.info = QLabel(f"pipeline: {self.runner_names(pipeline)} | model: {model or 'default'} | "
                           f"source: {self.runner.source.name}")
        bar.addWidget(self.info, 1)
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setRange(0, 100)
        self.slider.setValue(round(self.runner.threshold * 100))
        self.slider.setFixedWidth(160)
        self.slider.setFocusPolicy(Qt.NoFocus)  # keys belong to the window
        self.threshold_label = QLabel()
        self.slider.valueChanged.connect(self.set_threshold)
        self.set_threshold(self.slider.value())
        bar.addPermanentWidget(self.threshold_label)
        bar.addPermanentWidget(self.slider)

    def runner_names(self, pipeline: str | None) -> str:
        stages = ", ".join(s.name for s in self.runner.stages)
        return f"{pipeline} ({stages})" if pipeline else "none"

    def set_threshold(self, value: int) -> None:
        self.runner.threshold = value / 100
        self.threshold_label.setText(f"threshold {value / 100:.2f}")

    def start(self) -> None:
        self.worker.start()

    def _on_frame(self, result: FrameResult) -> None:
        self.view.show_result(result)
        text = detections_text(result)
        if text != self.panel.text():
            self.panel.setText(text)
        self.worker.taken()

    def _on_worker_finished(self) -> None:
        """The source ended: close, or (``keep_open``) leave the last frame up until the user closes it."""
        if not self.keep_open or self.worker.error is not None or not self.isVisible():
            self.close()
            return
        self.statusBar().showMessage(f"end of {self.runner.source.name}: {self.runner.summary.frames} frames "
                                     "(q closes)")

    def snapshot(self) -> Path:
        index = self.view.result.index if self.view.result else 0
        path = self.snapshot_dir / f"xnorvision-{time.strftime('%Y%m%d-%H%M%S')}-{index}.png"
        self.view.grab().save(str(path))
        self.statusBar().showMessage(f"saved {path}", 3000)
        return path

    def toggle_pause(self) -> None:
        if self.runner.paused.is_set():
            self.runner.paused.clear()
            self.statusBar().clearMessage()
        else:
            self.runner.paused.set()
            self.statusBar().showMessage("paused (space resumes)")

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt's name)
        key = event.key()
        if key == Qt.Key_Space:
            self.toggle_pause()
        elif key == Qt.Key_S:
            self.snapshot()
        elif key in (Qt.Key_Q, Qt.Key_Escape):
            self.close()
        else:
            super().keyPressEvent(event)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self.runner.stop()
        self.runner.paused.clear()
        self.worker.wait()
        super().closeEvent(event)
