"""Issue 14, "crashes and hangs": hostile input that once segfaulted, hung or aborted the process.

Each case runs the real console entry point in a subprocess under a timeout, so a crash is a failed
assertion (exit code -11 or a timeout), not a dead test session.
"""

from __future__ import annotations

import subprocess
import sys

import pytest


def xnorvision(*argv: str, timeout: float = 60, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run ``xnorvision ARGV`` in a fresh interpreter: (exit code, stdout, stderr); a hang fails the test."""
    cmd = [sys.executable, "-c", "from xnorvision.cli import main; main()", *argv]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"xnorvision {' '.join(argv)} hung for {timeout} s")
    return proc.returncode, proc.stdout, proc.stderr


def one_error_line(code: int, err: str) -> str:
    """The single ``error:`` line of a clean exit 2."""
    lines = [x for x in err.splitlines() if x.startswith("error:")]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, (code, err)
    return lines[0]


@pytest.mark.parametrize("index", ["-1", "-7", "100", "999999"])
def test_camera_index_out_of_range_is_an_error_not_a_segfault(index: str) -> None:
    line = one_error_line(*xnorvision("run", "--camera", index, "--headless")[::2])
    assert f"--camera {index}: a camera index is 0..99" in line


@pytest.mark.parametrize("n", ["-5", "0", "101"])
def test_cameras_max_index_is_checked(n: str) -> None:
    line = one_error_line(*xnorvision("cameras", "--max-index", n)[::2])
    assert f"--max-index {n}: must be 1..100" in line
