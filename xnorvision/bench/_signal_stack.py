"""Keep this thread's signal stack across OpenVINO calls, so a later Ctrl-C is an interrupt, not a crash.

OpenVINO's CPU plugin (2025.x, measured with gdb on ``bench model``) points the calling thread's
alternate signal stack (``sigaltstack``) at a buffer of its own when it compiles a model, and when a
compiled model is destroyed it puts back the stack it found, which after two models destroyed in
creation order is a buffer already freed. Python installs its signal handlers with ``SA_ONSTACK``, so
the next Ctrl-C, SIGTERM or SIGHUP that thread receives cannot be delivered: the process dies of SIGSEGV
(``bench model`` followed by a Ctrl-C in the same process did). Linux only: elsewhere this does nothing.
"""

from __future__ import annotations

import ctypes
import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager


class _StackT(ctypes.Structure):
    """Linux's ``stack_t`` (x86-64 and aarch64 alike)."""

    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]


def _sigaltstack() -> ctypes._CFuncPtr | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).sigaltstack
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = [ctypes.POINTER(_StackT), ctypes.POINTER(_StackT)], ctypes.c_int
    return fn


_SIGALTSTACK = _sigaltstack()


def current() -> tuple[int, int, int] | None:
    """This thread's signal stack as (address, flags, size), or None where it cannot be read."""
    if _SIGALTSTACK is None:
        return None
    stack = _StackT()
    if _SIGALTSTACK(None, ctypes.byref(stack)) != 0:
        return None
    return stack.ss_sp or 0, stack.ss_flags, stack.ss_size


@contextmanager
def signal_stack_kept() -> Iterator[None]:
    """Inside the block, let OpenVINO do as it likes; after it, this thread's signal stack is the one it
    had before. The block must drop its OpenVINO objects before it ends (their destructors move the stack
    again): what is left is collected here first."""
    saved = current()
    try:
        yield
    finally:
        gc.collect()
        if saved is not None and current() != saved:
            address, flags, size = saved
            stack = _StackT(address or None, flags, size)
            _SIGALTSTACK(ctypes.byref(stack), None)
