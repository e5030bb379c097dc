"""``bench model --profile``: where our runtime's time goes, per step, per op kind, in the popcount kernels.

The executor's step hook times every step of the folded graph (what actually runs: a binary conv here
includes its fused batch norm, sign and packing); the popcount share is then held against the time the
same binary MACs would take at this CPU's measured ceiling (the kernel bench's register-only loop).

Each step's figure is its median over the runs, not its mean: on a shared machine a run preempted in
one step added its whole wait to that step's mean (ResNet-18's binary convs read 6.0 ms by mean, 2.6 ms
by median and 2.4 ms at best in one run of 60, load 5 on 2 cores), which made the popcount kernels look
half as fast inside the network as ``bench kernels`` (which takes the best time) measures them alone.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from xnorvision.bench._kernels import peak_bmacs
from xnorvision.runtime import Model
from xnorvision.runtime.ops import OPS

#: op kinds, by op name after folding (each op's ``work``); binary conv is what runs in the popcount kernels
KINDS = {name: op.work for name, op in OPS.items()}
POPCOUNT = "binary conv"


def profile_model(model: Model, x: np.ndarray, seconds: float, ceiling_repeats: int = 25) -> dict[str, Any]:
    """Median time per step over about ``seconds`` of runs (at least 3), by kind, against the ceiling.

    The total is the steps' medians plus the median of the executor's own time between them.
    """
    steps = model.steps
    runs: list[np.ndarray] = []

    def on_step(i: int, dt: float) -> None:
        runs[-1][i] = dt

    model.run(x)  # warm: buffers planned, pages touched
    totals: list[float] = []
    end = time.perf_counter() + seconds
    while len(totals) < 3 or time.perf_counter() < end:
        runs.append(np.zeros(len(steps)))
        start = time.perf_counter()
        model.run(x, on_step)
        totals.append(time.perf_counter() - start)
    n = len(totals)
    spent = np.median(np.array(runs), axis=0)
    total_ms = 1e3 * (spent.sum() + np.median(np.array(totals) - np.array(runs).sum(axis=1)))
    macs = _binary_macs(model, x)
    layers = [{"name": name, "op": op, "kind": KINDS.get(op, "other"), "ms": round(1e3 * t, 4),
               "share": round(1e3 * t / total_ms, 4), "binary_macs": macs.get(name, 0)}
              for (name, op, _), t in zip(steps, spent, strict=True)]
    kinds: dict[str, float] = {}
    for layer in layers:
        kinds[layer["kind"]] = kinds.get(layer["kind"], 0.0) + layer["ms"]
    ceiling = peak_bmacs(model.threads, 100_000, ceiling_repeats)
    binary_macs = sum(macs.values()) * x.shape[0]
    popcount_ms = kinds.get(POPCOUNT, 0.0)
    return {
        "runs": n, "threads": model.threads, "total_ms": round(float(total_ms), 4),
        "steps_ms": round(sum(lay["ms"] for lay in layers), 4), "layers": layers,
        "kinds": {k: {"ms": round(v, 4), "share": round(v / total_ms, 4)}
                  for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])},
        "popcount_ms": round(popcount_ms, 4), "popcount_share": round(popcount_ms / total_ms, 4),
        "binary_macs": binary_macs, "ceiling_bmacs_per_s": round(ceiling),
        "ceiling_ms": round(1e3 * binary_macs / ceiling, 4),
        # the run with every binary conv (epilogue included) at the ceiling and the rest as measured: the
        # fastest this graph can get from faster popcount kernels alone
        "bound_ms": round(float(total_ms) - popcount_ms + 1e3 * binary_macs / ceiling, 4),
    }


def _binary_macs(model: Model, x: np.ndarray) -> dict[str, int]:
    """Binary MACs per image of each binary step, by name (a folded step keeps its first node's name)."""
    info = model.info(x.shape[1], x.shape[2])
    return {lay["name"]: lay["macs"] or 0 for lay in info["layers"] if KINDS.get(lay["op"]) == POPCOUNT}


def format_profile(p: dict[str, Any]) -> str:
    """The profile as two Markdown tables (per step, per kind) and the popcount line."""
    lines = [f"profile: {p['runs']} runs on {p['threads']} thread(s), {p['total_ms']:.3f} ms per run "
             f"(medians; steps sum to {p['steps_ms']:.3f} ms)", "",
             "| step | op | kind | ms | share | binary MACs |", "|---|---|---|---:|---:|---:|"]
    for lay in p["layers"]:
        macs = f"{lay['binary_macs'] / 1e6:.1f}M" if lay["binary_macs"] else ""
        lines.append(f"| {lay['name']} | {lay['op']} | {lay['kind']} | {lay['ms']:.3f} "
                     f"| {100 * lay['share']:.1f}% | {macs} |")
    peer = p.get("openvino_binary")
    if peer is not None and "error" in peer:
        lines += ["", f"(openvino-binary's per-node times: {peer['error']})"]
        peer = None
    if peer is None:
        lines += ["", "| kind | ms | share |", "|---|---:|---:|"]
        lines += [f"| {k} | {v['ms']:.3f} | {100 * v['share']:.1f}% |" for k, v in p["kinds"].items()]
    else:  # beside openvino-binary's own per-node times, by the same kinds
        lines += ["", "| kind | ms | share | openvino-binary ms |", "|---|---:|---:|---:|"]
        lines += [f"| {k} | {v['ms']:.3f} | {100 * v['share']:.1f}% | {peer['kinds'].get(k, 0.0):.3f} |"
                  for k, v in p["kinds"].items()]
        lines += [f"| {k} | - | - | {ms:.3f} |" for k, ms in peer["kinds"].items() if k not in p["kinds"]]
        lines += [f"| (all) | {p['total_ms']:.3f} | 100% | {peer['total_ms']:.3f} |"]
    lines += ["", f"popcount kernels (binary convs with their fused epilogue): {p['popcount_ms']:.3f} ms, "
                  f"{100 * p['popcount_share']:.1f}% of the run; their {p['binary_macs'] / 1e6:.0f}M binary "
                  f"MACs "
                  f"take {p['ceiling_ms']:.3f} ms at the measured ceiling "
                  f"({p['ceiling_bmacs_per_s'] / 1e9:.0f} G binary MAC/s); with them there, a run would take "
                  f"{p['bound_ms']:.3f} ms (the rest as measured)"]
    return "\n".join(lines)
