"""Open the window on a prepared runner and block until the run ends or the window closes."""

from __future__ import annotations

import sys

from PyQt5.QtCore import QTimer
from PyQt5.QtWidgets import QApplication

from xnorvision.app._window import MainWindow
from xnorvision.pipeline._runner import Runner, Summary
from xnorvision.pipeline._stop_signals import handle_stop_signals


def run_window(runner: Runner, pipeline: str | None = None, model: str | None = None,
               keep_open: bool = False) -> Summary:
    """Show ``runner``'s frames live; Ctrl-C, SIGTERM or SIGHUP close the window cleanly like q does.

    ``keep_open`` leaves the last frame on screen when the source ends, until the user closes the window.
    """
    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = MainWindow(runner, pipeline, model, keep_open=keep_open)
    tick = QTimer()  # Qt's loop is C++: wake Python regularly so a signal handler can run
    tick.timeout.connect(lambda: None)
    tick.start(200)
    try:
        with handle_stop_signals(lambda *_: _interrupt(window)):
            window.show()
            window.start()
            app.exec_()
    finally:
        tick.stop()
        window.close()
    if window.worker.error is not None:
        raise window.worker.error
    return runner.summary


def _interrupt(window: MainWindow) -> None:
    window.runner.summary.interrupted = True
    window.close()
