"""The PyQt5 window. Imported only by the CLI (the core never imports Qt)."""

from xnorvision.app._launch import run_window
from xnorvision.app._window import FrameView, MainWindow

__all__ = ["FrameView", "MainWindow", "run_window"]
