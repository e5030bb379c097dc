"""Suite-wide skips for optional dependencies.

torch (the ``train`` extra) and PyQt5 (no aarch64 wheel) are absent in the arm64 emulation root, so
tests that need them must skip there instead of failing at import. Mark a test ``@pytest.mark.torch``
or ``@pytest.mark.qt``; whole folders that import them at module level are not collected at all.
"""

from __future__ import annotations

import struct
import zlib
from importlib.util import find_spec

import pytest
from hypothesis import HealthCheck, settings

from xnorvision.cli import main

_MISSING = {name: find_spec(module) is None for name, module in (("torch", "torch"), ("qt", "PyQt5"))}
_FOLDERS = {"torch": ["train/*"], "qt": ["app/*"]}

collect_ignore_glob = [glob for name, missing in _MISSING.items() if missing for glob in _FOLDERS[name]]

# Under qemu (scripts/arm64/test.sh) each example runs many times slower: no timing limits there.
settings.register_profile("arm64-emulated", deadline=None, suppress_health_check=[HealthCheck.too_slow])


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "torch: needs torch (the train extra)")
    config.addinivalue_line("markers", "qt: needs PyQt5")


def pytest_report_header() -> list[str]:
    return [f"{name} missing: not collecting tests/{', tests/'.join(_FOLDERS[name])}"
            for name, missing in _MISSING.items() if missing]


def pytest_runtest_setup(item: pytest.Item) -> None:
    for name, missing in _MISSING.items():
        if missing and item.get_closest_marker(name):
            pytest.skip(f"{name} is not installed")


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """Run the console entry point in-process: returns (exit code, stdout, stderr)."""

    def run(*argv: str) -> tuple[int, str, str]:
        try:
            main(list(argv))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header says ``width`` x ``height`` and whose data is one empty row: a few dozen bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00"))
            + chunk(b"IEND", b""))


@pytest.fixture
def oversized_png() -> bytes:
    """A decompression bomb's header: 40000 x 30000 pixels (over OpenCV's 2**30) in under 100 bytes, which
    ``cv2.imread`` refuses by raising rather than by returning None."""
    return _png_claiming(40000, 30000)
