"""A Ctrl-C that C code swallowed during start-up (an import inside OpenCV or numpy) still stops the run."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

from xnorvision.pipeline import Runner, SynthSource
from xnorvision.pipeline._stop_signals import remember_early_interrupts


@pytest.fixture
def python_sigint() -> Iterator[None]:
    yield
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _swallowed_ctrl_c() -> None:
    """What a C extension does when it checks for signals and then clears the error it got."""
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
    except KeyboardInterrupt:
        pass


def test_a_swallowed_ctrl_c_stops_the_run_before_its_first_frame(python_sigint: None) -> None:
    remember_early_interrupts()
    _swallowed_ctrl_c()
    summary = Runner(SynthSource(50, (16, 12)), []).run()
    assert summary.interrupted and summary.frames == 0


def test_the_note_is_delivered_once(python_sigint: None) -> None:
    remember_early_interrupts()
    _swallowed_ctrl_c()
    Runner(SynthSource(5, (16, 12)), []).run()
    summary = Runner(SynthSource(5, (16, 12)), []).run()
    assert not summary.interrupted and summary.frames == 5


def test_without_a_ctrl_c_nothing_changes(python_sigint: None) -> None:
    remember_early_interrupts()
    summary = Runner(SynthSource(5, (16, 12)), []).run()
    assert not summary.interrupted and summary.frames == 5
