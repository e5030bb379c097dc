"""Open the window on a prepared runner and block until the run ends or the window closes."""

from __future__ import annotations

import signal
import sys

from PyQt5.QtCore import QTimer
from PyQt5.QtWidgets import QApplication

from xnorvision.app.window import MainWindow
from xnorvision.pipeline.runner import Runner, Summary


def run_window(runner: Runner, pipeline: str | None = None, model: str | None = None,
               keep_open: bool = False) -> Summary:
    """Show ``runner``'s frames live; Ctrl-C in the terminal closes the window cleanly like q does.

    ``keep_open`` leaves the last frame on screen when the source ends, until the user closes the window.
    """
    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = MainWindow(runner, pipeline, model, keep_open=keep_open)
    previous = signal.signal(signal.SIGINT, lambda *_: _interrupt(window))
    tick = QTimer()  # Qt's loop is C++: wake Python regularly so the SIGINT handler can run
    tick.timeout.connect(lambda: None)
    tick.start(200)
    try:
        window.show()
        window.start()
        app.exec_()
    finally:
        tick.stop()
        signal.signal(signal.SIGINT, previous)
        window.close()
    if window.worker.error is not None:
        raise window.worker.error
    return runner.summary


def _interrupt(window: MainWindow) -> None:
    window.runner.summary.interrupted = True
    window.close()
