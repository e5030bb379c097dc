"""``bench model``: a network on our runtime vs its peers (:mod:`xnorvision.bench._peers`), one run.

Speed-ups are only meaningful within one run (the machine may be shared or throttled), so every runtime
is timed here, in alternating slices, on the same preprocessed batch; the JSON records all of them.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from xnorvision import _ram, kernels
from xnorvision.bench import _memory
from xnorvision.bench._peers import PEERS, PeerUnavailable, Runner, bench_input, openvino_binary_profile
from xnorvision.bench._profile import format_profile, profile_model
from xnorvision.bench._quiet import wait_until_quiet
from xnorvision.bench._signal_stack import signal_stack_kept
from xnorvision.errors import XnorvisionError
from xnorvision.pipeline._stop_signals import raise_if_stop_noted
from xnorvision.runtime import Model
from xnorvision.runtime._reference import write_reference


def time_calls(fn: Callable[[], Any], seconds: float, min_calls: int = 1) -> list[float]:
    """Latencies (s) of ``fn`` called repeatedly for about ``seconds`` (at least ``min_calls`` calls)."""
    times: list[float] = []
    end = time.perf_counter() + seconds
    while len(times) < min_calls or time.perf_counter() < end:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def time_interleaved(fns: dict[str, Callable[[], Any]], seconds: float, slice_s: float = 0.5,
                     warmup: int = 2,
                     waits: dict[str, list[float]] | None = None) -> dict[str, list[list[float]]]:
    """Time every function for about ``seconds`` each, in alternating slices of ``slice_s`` (a stop signal
    that native code swallowed ends it between slices): each one's latencies (s), a list per round; with
    ``waits``, each one's waits (s) for quiet threads before its slices too.

    Alternating means a change in machine load (a shared machine, thermal throttling) hits every runtime
    alike, so their ratio stays meaningful even when the absolute numbers drift; the rounds kept apart
    show how far it drifts (:func:`round_speedups`). Each slice starts once the threads of the one before
    have gone idle (:func:`~xnorvision.bench._quiet.wait_until_quiet`): a pool still spinning would take
    a core from the next runtime's first calls.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    rounds: dict[str, list[list[float]]] = {name: [] for name in fns}
    for _ in range(max(1, round(seconds / slice_s))):
        for name, fn in fns.items():
            waited = wait_until_quiet()
            if waits is not None:
                waits.setdefault(name, []).append(waited)
            rounds[name].append(time_calls(fn, min(slice_s, seconds)))
            raise_if_stop_noted()
    return rounds


def round_speedups(rounds: dict[str, list[list[float]]],
                   ours: str = "xnorvision") -> dict[str, dict[str, Any]]:
    """Per peer, our images/s over its own within each round: the lowest, median and highest of them.

    A round is one slice of each runtime, back to back, so its ratio sees one state of the machine; on a
    2-core VM whose cores slow down by turns, the spread of these ratios is the noise a single figure
    hides (the whole run's ratio pools the rounds).
    """
    mine = [len(t) / sum(t) for t in rounds[ours]]
    spread = {}
    for name, peer_rounds in rounds.items():
        if name == ours:
            continue
        ratios = np.array([m * sum(t) / len(t) for m, t in zip(mine, peer_rounds, strict=True)])
        spread[name] = {"low": round(float(ratios.min()), 2), "median": round(float(np.median(ratios)), 2),
                        "high": round(float(ratios.max()), 2), "rounds": len(ratios)}
    return spread


def summarize(name: str, times: list[float], batch: int, weight_bytes: int | None) -> dict[str, Any]:
    """One runtime's row of the report."""
    ms = np.asarray(times) * 1e3
    p50, p95 = (round(float(np.percentile(ms, q)), 3) for q in (50, 95))
    mb = None if weight_bytes is None else round(weight_bytes / 1e6, 3)
    return {"name": name, "images_per_s": round(batch * len(times) / sum(times), 2), "p50_ms": p50,
            "p95_ms": p95, "weights_mb": mb, "calls": len(times)}


def _missing(name: str, why: str) -> dict[str, Any]:
    return {"name": name, "images_per_s": None, "p50_ms": None, "p95_ms": None, "weights_mb": None,
            "note": why}


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def _build_peers(model: Model, x: np.ndarray, threads: int, workdir: Path, need: int,
                 ) -> tuple[dict[str, Runner], dict[str, str]]:
    """Every peer that is installed, fits in memory (``need``: a peer's estimated bytes for the batch) and
    computes our outputs, and why each other one is not timed."""
    runners: dict[str, Runner] = {}
    notes: dict[str, str] = {}
    for name, peer in PEERS.items():
        if (available := _ram.short_of(need)) is not None:  # after the peers built before it took theirs
            notes[name] = (f"skipped: would need about {_ram.gigabytes(need)} for this batch, "
                           f"{_ram.over_half(available)}")
            continue
        try:
            runners[name] = peer(model, x, threads, workdir)
        except PeerUnavailable as exc:
            notes[name] = str(exc)
        except Exception as exc:  # a peer's own failure is its row's note, not the end of the benchmark
            last_line = (str(exc).strip().splitlines() or [""])[-1]
            notes[name] = f"error: {type(exc).__name__}: {last_line}"
        raise_if_stop_noted()  # ... unless that failure was a stop signal its native code swallowed
    return runners, notes


def _peer_profile(model: Model, x: np.ndarray, threads: int, seconds: float) -> dict[str, Any]:
    """openvino-binary's per-kind times, or why there are none (its failure is a note, not the end)."""
    try:
        return openvino_binary_profile(model, x, threads, seconds)
    except Exception as exc:
        last_line = (str(exc).strip().splitlines() or [""])[-1]
        return {"error": f"{type(exc).__name__}: {last_line}"}


def bench_model(path: Path | None = None, reference: str | None = None, threads: int = 1, batch: int = 1,
                seconds: float = 5.0, seed: int = 0, float_storage: str = "float32", profile: bool = False,
                size: tuple[int, int] | None = None) -> dict[str, Any]:
    """Time the model (a file, or a reference network written to a temporary file) on every runtime.

    ``float_storage`` is how a reference network's float weights are written (what its file size counts);
    ``profile`` adds where our runtime's time goes (:func:`xnorvision.bench._profile.profile_model`);
    ``size`` (height, width) sizes the input of a model that leaves it open (default 224x224).
    """
    with tempfile.TemporaryDirectory() as tmp:
        if path is None:
            path = write_reference(reference or "resnet18", Path(tmp) / "reference.xnv",
                                   float_storage=float_storage)
        model = Model.load(path, threads=threads)
        spec = model.input_spec
        fixed = None if spec["height"] is None else (spec["height"], spec["width"])
        if fixed is not None and size is not None and size != fixed:
            raise XnorvisionError(f"this model takes {fixed[0]}x{fixed[1]} images only, "
                                  f"not {size[0]}x{size[1]}")
        h, w = fixed or size or (224, 224)
        model.info(h, w)  # a size the model cannot take is the user's error, before the images are made
        x = bench_input(model, batch, h, w, seed)
        model.run(x)  # ... and a batch our runtime cannot hold in memory, before any peer is built
        weight_bytes = model.file.weight_bytes
        with signal_stack_kept():  # OpenVINO's peers move it; their objects die inside the block
            runners = {"xnorvision": Runner(lambda: model.run(x), weight_bytes)}
            peers, notes = _build_peers(model, x, threads, Path(tmp),
                                        batch * _memory.float_runtime_bytes(model, h, w))
            runners.update(peers)
            waits: dict[str, list[float]] = {}
            rounds = time_interleaved({name: r.call for name, r in runners.items()}, seconds, waits=waits)
            times = {name: [t for r in per_round for t in r] for name, per_round in rounds.items()}
            sizes = {name: r.weight_bytes for name, r in runners.items()}
            checks = {name: r.checked for name, r in peers.items()}
            # the peer's own per-node times, to set beside ours; only a peer that computed our outputs
            peer_profile = (_peer_profile(model, x, threads, seconds)
                            if profile and "openvino-binary" in runners else None)
            del runners, peers
    rows = [summarize(name, times[name], batch, sizes[name]) if name in sizes
            else _missing(name, notes[name]) for name in ["xnorvision", *PEERS]]
    for row in rows:  # how each timed peer's outputs compared with ours (``_peers.verify``)
        if row["name"] in checks:
            row["checked_images"], row["differing_images"] = checks[row["name"]]
    ours = rows[0]
    report: dict[str, Any] = {
        "model": reference if reference else str(path), "input": list(x.shape), "threads": threads,
        "runtimes": rows, "machine": _cpu_name(), "kernels": kernels.simd_path(),
        "float_kernels": kernels.float_path(),
        "cpus": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2),
        "speedup": {r["name"]: round(ours["images_per_s"] / r["images_per_s"], 2) for r in rows[1:]
                    if r["images_per_s"]},
        "speedup_rounds": round_speedups(rounds),
        # how long each runtime's slices waited for the threads of the runtime before them to go idle
        "quiet_wait_ms": {name: round(float(np.median(w)) * 1e3, 1) for name, w in waits.items()},
    }
    base = rows[1]
    if base["images_per_s"]:
        report["speedup_vs_torch_float32"] = report["speedup"][base["name"]]
        report["weights_smaller_than_torch_float32"] = round(base["weights_mb"] / ours["weights_mb"], 1)
    if profile:
        report["profile"] = profile_model(model, x, seconds)
        if peer_profile is not None:
            report["profile"]["openvino_binary"] = peer_profile
    return report


def _paths(report: dict[str, Any]) -> str:
    """The popcount path, and the float kernels' where it differs ("avx512, float avx2" on Zen 4)."""
    float_path = report.get("float_kernels", report["kernels"])  # JSON from before it had its own
    popcount = report["kernels"]
    return popcount if float_path == popcount else f"{popcount}, float {float_path}"


def format_report(report: dict[str, Any]) -> str:
    """A Markdown table of the report (what the README shows)."""
    lines = [f"model {report['model']}, input {report['input']}, {report['threads']} thread(s); "
             f"{report['machine']} ({report['cpus']} CPUs, kernels: {_paths(report)}), "
             f"load average {report['load_average_1m']} at the end", "",
             "| runtime | images/s | p50 ms | p95 ms | weights MB |", "|---|---:|---:|---:|---:|"]
    for r in report["runtimes"]:
        if r["images_per_s"] is None:
            lines.append(f"| {r['name']} | - | - | - | - ({r['note']}) |")
        else:
            lines.append(f"| {r['name']} | {r['images_per_s']:.1f} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | "
                         f"{r['weights_mb']:.2f} |")
    if report["speedup"]:
        ratios = ", ".join(f"{v}x vs {k}" for k, v in report["speedup"].items())
        lines += ["", f"xnorvision's speed-up: {ratios}"]
        spread = report.get("speedup_rounds") or {}
        if spread:
            n = next(iter(spread.values()))["rounds"]
            ranges = ", ".join(f"{v['low']:.2f}-{v['high']:.2f}x vs {k}" for k, v in spread.items())
            lines += [f"round by round ({n} rounds, each runtime in turn): {ranges}"]
    differing = [f"{r['name']} {r['differing_images']} of {r['checked_images']}" for r in report["runtimes"]
                 if r.get("differing_images")]
    if differing:
        lines += [f"checked images whose outputs differed from ours (why a few may: docs/benchmarks.md): "
                  f"{', '.join(differing)}"]
    if "speedup_vs_torch_float32" in report:
        lines += [f"weights {report['weights_smaller_than_torch_float32']}x smaller than torch float32"]
    if "profile" in report:
        lines += ["", format_profile(report["profile"])]
    return "\n".join(lines)
