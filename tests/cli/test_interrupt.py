"""Ctrl-C at any moment of a command: no traceback, and no wait on a stream that does not answer."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

# What the console script does, saying "ready" just before main (importing main is checked apart, below:
# timing a signal into a 2 ms import would make the test flaky on a loaded machine).
SCRIPT = "from xnorvision.cli import main; print('ready', flush=True); main()"


def _start(*argv: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    return proc


def test_importing_the_entry_point_loads_nothing_heavy() -> None:
    """The console script imports ``main`` before ``main`` can catch Ctrl-C: that import must be instant."""
    code = "import sys, xnorvision.cli; print(sorted({'typer', 'numpy', 'cv2', 'torch'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


# Not 0: a signal that lands while the test's own script is still inside print('ready') is Python's
# traceback before main exists (the same one-bytecode window as a console script's `sys.exit(main())`).
@pytest.mark.parametrize("delay", [0.01, 0.03, 0.06, 0.1, 0.15, 0.25])
def test_ctrl_c_while_the_command_starts_prints_no_traceback(delay: float) -> None:
    """main imports Typer, numpy, OpenCV and the plugins (~0.15 s): Ctrl-C during them is `interrupted`."""
    proc = _start("run", "--source", "synth:100000", "--size", "64x48", "--headless")
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert "Traceback" not in err and "internal error" not in err, err
    if proc.returncode == 130:  # stopped before the run began
        assert err.strip().splitlines()[-1] == "interrupted", err
    else:  # the run's own handler stopped it: summary, complete files
        assert proc.returncode == 0 and "interrupted" in out, (proc.returncode, out, err)


@pytest.fixture
def silent_server():
    """A TCP server on 127.0.0.1 that accepts connections and never answers; yields (url, connections)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(0.2)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/camera.mjpg", accepted
    stop.set()
    thread.join(2)
    for conn in accepted:
        conn.close()
    server.close()


def test_ctrl_c_interrupts_a_stream_that_is_still_opening(silent_server) -> None:
    url, accepted = silent_server
    proc = _start("run", "--source", url, "--headless")
    deadline = time.monotonic() + 30
    while not accepted and time.monotonic() < deadline:  # OpenCV is now waiting for an answer
        time.sleep(0.02)
    assert accepted, "the stream was never opened"
    time.sleep(0.3)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("Ctrl-C was ignored while the stream opened")
    assert time.monotonic() - sent < 3 and proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "interrupted" and "Traceback" not in err, err


def test_a_noted_ctrl_c_raised_where_python_cannot_raise_prints_nothing() -> None:
    """A Ctrl-C handled inside a ``__del__`` (or an import lock's weakref callback, as 0.1 s into ``run``)
    cannot raise there: Python printed it as "Exception ignored" with a traceback. It is noted for the run
    instead; other unraisable errors are still printed."""
    code = ("import signal\n"
            "from xnorvision.pipeline import _stop_signals as s\n"
            "s.remember_early_interrupts()\n"
            "class Interrupted:\n"
            "    def __del__(self):\n"
            "        signal.raise_signal(signal.SIGINT)\n"
            "        print('not reached')\n"
            "class Broken:\n"
            "    def __del__(self):\n"
            "        raise ValueError('still printed')\n"
            "Interrupted()\n"
            "print('noted', s._early_interrupt.is_set(), flush=True)\n"
            "Broken()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout == "noted True\n", done.stdout + done.stderr
    assert "KeyboardInterrupt" not in done.stderr and "ValueError: still printed" in done.stderr, done.stderr
