"""After OpenVINO's peers have run, a Ctrl-C in the same process is an interrupt, not a SIGSEGV."""

from __future__ import annotations

import ctypes
import subprocess
import sys
from importlib.util import find_spec

import pytest

from xnorvision.bench import _signal_stack

pytestmark = pytest.mark.skipif(_signal_stack.current() is None, reason="no sigaltstack here (Linux only)")


def test_the_signal_stack_comes_back_after_a_library_moved_it_to_memory_it_freed() -> None:
    """What OpenVINO's CPU plugin does, done by hand: point the stack at a buffer, then free the buffer."""
    before = _signal_stack.current()
    with _signal_stack.signal_stack_kept():
        buffer = ctypes.create_string_buffer(1 << 16)
        stack = _signal_stack._StackT(ctypes.addressof(buffer), 0, len(buffer))
        assert _signal_stack._SIGALTSTACK(ctypes.byref(stack), None) == 0
        assert _signal_stack.current() == (ctypes.addressof(buffer), 0, len(buffer))
        del buffer
    assert _signal_stack.current() == before


_CTRL_C_AFTER_BENCH = """
import os, signal, sys, time
from xnorvision.bench._model import bench_model
bench_model(reference="vgg-small", threads=1, seconds=0.05)
try:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(1)
except KeyboardInterrupt:
    sys.exit(42)
"""


@pytest.mark.skipif(find_spec("openvino") is None, reason="openvino (the [bench] extra) is not installed")
def test_ctrl_c_after_bench_model_is_a_keyboard_interrupt() -> None:
    """``bench model`` builds two OpenVINO models and drops them; the Ctrl-C that follows killed the
    process with SIGSEGV (exit -11) before the signal stack was kept."""
    done = subprocess.run([sys.executable, "-c", _CTRL_C_AFTER_BENCH], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 42, done.stderr[-2000:]
