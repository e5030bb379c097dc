"""`xnorvision bench kernels` end to end on one small layer: table printed, JSON with the issue's keys."""

from __future__ import annotations

import json
from importlib.util import find_spec
from pathlib import Path

import pytest

from xnorvision.bench import _kernels as bench
from xnorvision.cli import main

LAYER_KEYS = {"name", "shape", "bmacs_1t", "pct_peak_1t", "speedup_vs_sgemm_1t", "speedup_vs_sgemm_mt",
              "speedup_vs_torch_1t", "speedup_vs_openvino_1t"}


def test_bench_kernels_quick_writes_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(bench, "LAYERS", [("conv3x3_8x8x64", 8, 64)])
    out = tmp_path / "k.json"
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "kernels", "--quick", "--json", str(out)])  # --threads left out: all cores
    assert exit_info.value.code in (0, None)
    assert "| conv3x3_8x8x64 |" in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert set(report) == {"peak_bmacs_1t", "layers"} and report["peak_bmacs_1t"] > 0
    (layer,) = report["layers"]
    assert set(layer) == LAYER_KEYS
    assert layer["shape"] == [8, 8, 64, 64, 3]
    assert 0 < layer["pct_peak_1t"] and layer["bmacs_1t"] > 0 and layer["speedup_vs_sgemm_1t"] > 0
    # measured exactly where OpenVINO is installed (the [bench] extra)
    assert (layer["speedup_vs_openvino_1t"] is None) == (find_spec("openvino") is None)


def test_bench_kernels_rejects_bad_threads(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "kernels", "--threads", "0"])
    assert exit_info.value.code == 2
    assert "error: --threads 0: must be at least 1" in capsys.readouterr().err


def test_emulation_is_detected_from_a_foreign_cpuinfo(monkeypatch, tmp_path):
    from xnorvision.bench import _kernels as bench

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("vendor_id\t: GenuineIntel\n")
    real_path = bench.Path
    monkeypatch.setattr(bench, "Path", lambda p: cpuinfo if p == "/proc/cpuinfo" else real_path(p))
    monkeypatch.setattr(bench.platform, "machine", lambda: "aarch64")
    assert bench.emulated_cpu()
    cpuinfo.write_text("CPU implementer\t: 0x41\nFeatures\t: fp asimd\n")
    assert not bench.emulated_cpu()
    monkeypatch.setattr(bench.platform, "machine", lambda: "x86_64")
    assert not bench.emulated_cpu()


def test_the_ceiling_is_the_best_measured_beside_any_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    """A host that slows down for a minute must not leave layers timed faster than their ceiling."""
    monkeypatch.setattr(bench, "LAYERS", [("a", 4, 64), ("b", 4, 64), ("c", 4, 64)])
    ceilings = iter([2e9, 1e9, 9e9, 1e9, 3e9, 1e9])  # 1 thread, all threads, beside each layer in turn
    monkeypatch.setattr(bench, "peak_bmacs", lambda threads, iters, repeats: next(ceilings))
    report, rows = bench.run(threads=2, quick=True)
    assert report["peak_bmacs_1t"] == 9e9
    for layer in report["layers"]:
        assert layer["pct_peak_1t"] == pytest.approx(100 * layer["bmacs_1t"] / 9e9)
