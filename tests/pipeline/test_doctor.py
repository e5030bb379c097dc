"""Install checks: each names the problem and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from xnorvision.pipeline import _doctor as doctor


def test_kernels_found_here_and_missing_elsewhere(tmp_path: Path) -> None:
    here = doctor.check_kernels()
    assert here.status == "ok" and here.detail.startswith("compiled: _")
    (tmp_path / "_fake.py").write_text("")  # Python source is not a compiled kernel
    missing = doctor.check_kernels(tmp_path)
    assert missing.status == "FAIL" and "pip install --no-build-isolation -e ." in missing.detail


def test_cpu_flags_come_from_the_kernels_run_time_detection() -> None:
    from xnorvision import kernels

    assert doctor.cpu_flags() == {k for k, v in kernels.cpu_features().items() if v}


def test_cpu_flags_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "cpu_flags", lambda: {"fpu", "popcnt", "avx2"})
    monkeypatch.setattr(doctor, "kernel_paths", lambda: "")
    check = doctor.check_cpu()
    assert check.status == "ok" and check.detail.endswith(": popcnt avx2")
    monkeypatch.setattr(doctor, "cpu_flags", lambda: set())
    assert doctor.check_cpu().status == "WARN"


def test_the_kernels_paths_are_reported() -> None:
    """The popcount path, and the float kernels' where it differs (AVX2 beside AVX-512 on Zen 4)."""
    from xnorvision import kernels

    detail = doctor.check_cpu().detail
    try:
        kernels._force_path("portable")
        assert doctor.kernel_paths() == "portable"
        if "avx2" in kernels.cpu_features() and kernels.cpu_features()["avx2"]:
            kernels._force_path(None, "avx2")
            if kernels.simd_path() != "avx2":
                assert doctor.kernel_paths() == f"{kernels.simd_path()}, float kernels avx2"
    finally:
        kernels._force_path(None)
    assert detail.endswith(f"(kernels: {doctor.kernel_paths()})")


@pytest.mark.qt
def test_window_problem_only_for_the_x11_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "_missing_libraries", lambda lib: ["libxcb-keysyms.so.1"])
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    assert "lacks libxcb-keysyms.so.1" in doctor.window_problem()
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert doctor.window_problem() is None
    monkeypatch.setattr(doctor, "_missing_libraries", lambda lib: [])
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    assert doctor.window_problem() is None
