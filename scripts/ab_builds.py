"""Two builds of xnorvision side by side, alternating, so that a noisy machine's drift falls on both alike.

The speed of the 2-core development VMs moves by up to 1.5x within minutes: only times taken in turns, in
the same minutes, compare two builds. This is how docs/benchmarks.md's before/after figures are made.

    git worktree add /tmp/old <commit> && (cd /tmp/old && python setup.py build_ext --inplace)
    python scripts/ab_builds.py layers --old /tmp/old            # binary convs, call by call, one process
    python scripts/ab_builds.py layers --old /tmp/old --layer resnet-stem  # a float stem likewise
    python scripts/ab_builds.py layers --old /tmp/old --layer vgg-32 --threads 2 --windows 40  # by windows
    python scripts/ab_builds.py models --old /tmp/old --threads 2  # whole native runs, process by process

``layers`` binds the same fused binary conv (residual, PReLU and signs, as a Bi-Real block runs it), or
ResNet-18's stem (a uint8 image through a model's table, the 7x7 conv, ReLU, the 3x3 pool and the signs),
the faces proposal net's (3x3 stride 2, ReLU, the 2x2 pool, the signs) and its BWN conv (16 -> 64, 3x3
stride 2, PReLU and signs; --layer faces-bwn), or one of ResNet-18's 1x1 shortcuts on the dense kernel,
once with each build's kernels and alternates the two calls;
``models`` alternates processes of each tree, each timing whole runs of a network (random weights for the
reference ones, the faces plugin's proposal net).
Both print each new/old ratio of medians (``models`` that of the means too, which images/s follows: a
heavy tail shows there); below 1 the new build is faster.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np

HERE = Path(__file__).resolve().parents[1]
#: (height, width, channels) of 3x3 stride-1 binary convs of the measured networks
LAYERS = {
    "faces-s8": (40, 52, 64), "resnet-56": (56, 56, 64), "faces-s16": (20, 26, 128),
    "resnet-28": (28, 28, 128), "resnet-14": (14, 14, 256), "resnet-7": (7, 7, 512),
    "vgg-32": (32, 32, 128), "vgg-16": (16, 16, 256), "vgg-8": (8, 8, 512),
}
#: float convs on the direct kernel: (height, width, channels, kernel, stride, padding, outputs, pool)
FLOAT_LAYERS = {"resnet-stem": (224, 224, 3, 7, 2, 3, 64, 3), "faces-stem": (320, 416, 3, 3, 2, 1, 16, 2)}
#: binary-weight convs on the sign-pattern tables, the faces proposal net's: (height, width, channels, kernel,
#: stride, outputs), with its PReLU and signs
BWN_LAYERS = {"faces-bwn": (80, 104, 16, 3, 2, 64)}
#: 1x1 convs on the dense kernel, ResNet-18's shortcuts from 128 and 256 channels: (pixels, channels, outputs)
DENSE_LAYERS = {"resnet-short-14": (196, 128, 256), "resnet-short-7": (49, 256, 512)}
MODELS = ("resnet18", "vgg-small", "faces-proposal")


def _extension(tree: Path, name: str) -> ModuleType:
    """The compiled module ``xnorvision.<name>`` of another tree, loaded beside this one's."""
    found = sorted((tree / "xnorvision").glob(f"{name}.*.so"))
    if not found:
        print(f"error: no built {name} in {tree}/xnorvision (run setup.py build_ext --inplace there)",
              file=sys.stderr)
        sys.exit(2)
    spec = importlib.util.spec_from_file_location(f"xnorvision.{name}", found[0])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _bound_layer(kernels: ModuleType, h: int, w: int, c: int, threads: int) -> tuple[object, ...]:
    """The layer bound with whatever ``kernels._bconv`` is now, and the arrays it reads and writes."""
    rng = np.random.default_rng(h * w + c)
    words = (c + 63) // 64
    x = rng.integers(0, 2**63, (1, h, w, words), dtype=np.uint64)
    weights = kernels.BinaryConvWeights(rng.integers(0, 2**63, (c, 3, 3, words), dtype=np.uint64), c)
    scale = (rng.random(c, dtype=np.float32) + 0.5) * 1e-3
    bias = rng.standard_normal(c).astype(np.float32) * 1e-3
    plan = kernels.BinaryConvPlan(weights, scale, bias, 1, "same_zero", "both",
                                  np.full(c, 0.25, np.float32), True)
    residual = rng.standard_normal((1, h, w, c)).astype(np.float32)
    out, packed = np.empty_like(residual), np.empty((1, h, w, words), np.uint64)
    with kernels.using_threads(threads):
        return plan.bind(x, residual, out, packed).call, x, residual, out, packed


def _bound_float_layer(kernels: ModuleType, h: int, w: int, c: int, k: int, stride: int, pad: int, o: int,
                       pool: int, threads: int) -> tuple[object, ...]:
    """The stem bound with whatever ``kernels._fconv`` is now, and the arrays it reads and writes."""
    from xnorvision.runtime._executor import _normalising_lut

    rng = np.random.default_rng(h * w + c)
    x = rng.integers(0, 256, (1, h, w, c), dtype=np.uint8)
    lut = _normalising_lut({"mean": [0.485, 0.456, 0.406][:c], "std": [0.229, 0.224, 0.225][:c]})  # a model's
    weights = (rng.standard_normal((k, k, c, o)) * 0.1).astype(np.float32)
    plan = kernels.DirectConvPlan(weights, rng.standard_normal(o).astype(np.float32), stride, pad, True,
                                  lut=lut, pool=pool, output="both")
    ho, wo = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    ho, wo = ((ho + 1) // 2, (wo + 1) // 2) if pool == 3 else (ho // 2, wo // 2)  # 3x3 with padding 1, or 2x2
    out, packed = np.empty((1, ho, wo, o), np.float32), np.empty((1, ho, wo, (o + 63) // 64), np.uint64)
    with kernels.using_threads(threads):
        return plan.bind(x, out, packed).call, x, None, out, packed


def _bound_bwn_layer(kernels: ModuleType, h: int, w: int, c: int, k: int, stride: int, o: int,
                     threads: int) -> tuple[object, ...]:
    """The BWN conv bound with whatever ``kernels._bwn`` is now, and the arrays it reads and writes."""
    rng = np.random.default_rng(h * w + c)
    x = np.maximum(rng.standard_normal((1, h, w, c)), 0).astype(np.float32)  # after a ReLU and a max pool
    weights = kernels.pack_bits(rng.standard_normal((o, k, k, c)).astype(np.float32))
    plan = kernels.BwnConvPlan(weights, c, (rng.random(o) + 0.5).astype(np.float32),
                               rng.standard_normal(o).astype(np.float32), stride, "same",
                               np.full(o, 0.25, np.float32), "both")
    ho, wo = (h - 1) // stride + 1, (w - 1) // stride + 1
    out, packed = np.empty((1, ho, wo, o), np.float32), np.empty((1, ho, wo, (o + 63) // 64), np.uint64)
    with kernels.using_threads(threads):
        return plan.bind(x, out, packed).call, x, None, out, packed


def _bound_dense_layer(kernels: ModuleType, rows: int, k: int, o: int, threads: int) -> tuple[object, ...]:
    """The 1x1 conv bound with whatever ``kernels._fconv`` is now (its dense kernel), and its arrays."""
    rng = np.random.default_rng(rows * k + o)
    plan = kernels.DensePlan(rng.standard_normal((o, k)).astype(np.float32),
                             rng.standard_normal(o).astype(np.float32))
    x, out = rng.standard_normal((rows, k)).astype(np.float32), np.empty((rows, o), np.float32)
    with kernels.using_threads(threads):
        return plan.bind(x, out).call, x, None, out


def _bound(kernels: ModuleType, name: str, threads: int) -> tuple[object, ...]:
    """Layer ``name`` bound: (its call, its input, the residual or None, then the arrays it writes)."""
    if name in FLOAT_LAYERS:
        return _bound_float_layer(kernels, *FLOAT_LAYERS[name], threads)
    if name in DENSE_LAYERS:
        return _bound_dense_layer(kernels, *DENSE_LAYERS[name], threads)
    if name in BWN_LAYERS:
        return _bound_bwn_layer(kernels, *BWN_LAYERS[name], threads)
    return _bound_layer(kernels, *LAYERS[name], threads)


def _bound_builds(old: Path, name: str, threads: int) -> dict[str, tuple[object, ...]]:
    """Layer ``name`` bound with the old build's kernels and with this tree's: {"old": ..., "new": ...}."""
    from xnorvision import kernels

    which_module = "_bconv" if name in LAYERS else "_bwn" if name in BWN_LAYERS else "_fconv"
    builds = {"old": _extension(old, which_module), "new": getattr(kernels, which_module)}
    bound = {}
    for which, module in builds.items():
        setattr(kernels, which_module, module)
        bound[which] = _bound(kernels, name, threads)
    setattr(kernels, which_module, builds["new"])
    return bound


def _call_each(runs: dict[str, Callable[[], object]], times: dict[str, list[float]]) -> None:
    """Call every run once, in turn, adding each one's seconds to its list in ``times``."""
    for which, run in runs.items():
        start = time.perf_counter()
        run()
        times[which].append(time.perf_counter() - start)


def layers(old: Path, names: list[str], calls: int, threads: int) -> None:
    """Each layer bound once with each build's kernels, the two calls alternating. A float layer's results
    may differ (another algorithm): the line gives their largest difference over the largest value."""
    for name in names:
        bound = _bound_builds(old, name, threads)
        runs = {which: b[0].run for which, b in bound.items()}
        for run in runs.values():
            run()
        same = str(all(np.array_equal(a, b) for a, b in zip(bound["old"][3:], bound["new"][3:], strict=True)))
        if same == "False" and name in FLOAT_LAYERS:
            want, got = bound["old"][3], bound["new"][3]
            worst = np.abs(got - want).max() / np.abs(want).max()
            same += f" (largest difference {worst:.1e} of the largest value)"
        times: dict[str, list[float]] = {"old": [], "new": []}
        for _ in range(calls):
            _call_each(runs, times)
        old_t, new_t = np.array(times["old"]), np.array(times["new"])
        print(f"{name:10s} old {np.median(old_t) * 1e3:.3f} ms  new {np.median(new_t) * 1e3:.3f} ms  "
              f"new/old: of the medians {np.median(new_t) / np.median(old_t):.3f}, median of the pairs' "
              f"{np.median(new_t / old_t):.3f}, of the means {new_t.mean() / old_t.mean():.3f}  "
              f"same results: {same}")


def windows(old: Path, name: str, count: int, threads: int, seconds: float = 0.5) -> None:
    """``count`` windows of ``seconds``, calls alternating among the old build, the new one and the new one
    on one thread; a line per window with each one's median ms and new/old. How two builds share work
    between threads shows where one thread's core is slower (shared) in some windows and not in others:
    there a split that waits for the slower thread runs about as slowly as one thread."""
    from xnorvision import kernels

    runs = {which: b[0].run for which, b in _bound_builds(old, name, threads).items()}
    runs["one"] = _bound(kernels, name, 1)[0].run
    for run in runs.values():
        run()
    for k in range(count):
        times: dict[str, list[float]] = {which: [] for which in runs}
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            _call_each(runs, times)
        ms = {which: float(np.median(t)) * 1e3 for which, t in times.items()}
        print(f"{name} window {k + 1}: one thread {ms['one']:.3f} ms, {threads} threads old "
              f"{ms['old']:.3f} ms new {ms['new']:.3f} ms (new/old {ms['new'] / ms['old']:.3f})")


def _time_model(tree: Path, name: str, threads: int, seconds: float) -> None:
    """(Run in a child with ``tree`` on its path.) Median and mean ms of whole native runs of ``name``."""
    import xnorvision

    where = getattr(xnorvision, "__file__", None)  # None: a namespace package, no tree of ours
    if where is None or Path(where).resolve().parents[1] != tree.resolve():
        print(f"error: {tree} has no xnorvision package to import", file=sys.stderr)
        sys.exit(2)
    from xnorvision import kernels
    from xnorvision.runtime import Model
    from xnorvision.runtime._reference import write_reference

    if name == "faces-proposal":
        path, shape = HERE / "plugins/xnorvision-faces/xnorvision_faces/models/proposal.xnv", (1, 320, 416, 3)
    else:
        path = Path(tempfile.mkdtemp()) / "m.xnv"
        write_reference(name, path)
        shape = (1, 224, 224, 3) if name == "resnet18" else (1, 32, 32, 3)
    kernels.set_eager_threads(threads > 1)
    model = Model.load(path, threads=threads)
    model._governor.choose = lambda: threads > 1  # the eager policy throughout: no probes of the other
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    for _ in range(10):
        model.run(x)
    times, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds:
        t = time.perf_counter()
        model.run(x)
        times.append(time.perf_counter() - t)
    print(f"{np.median(times) * 1e3:.4f} {np.mean(times) * 1e3:.4f}")


def models(old: Path, new: Path, names: list[str], threads: int, rounds: int, seconds: float) -> None:
    env = {**os.environ, "GOMP_SPINCOUNT": os.environ.get("GOMP_SPINCOUNT", "30000")}
    for r in range(rounds):
        cells = []
        for name in names:
            ms = {}
            for which, tree in (("old", old), ("new", new)):
                argv = [sys.executable, __file__, "_time", str(tree), name, str(threads), str(seconds)]
                child = subprocess.run(argv, env={**env, "PYTHONPATH": str(tree)}, capture_output=True,
                                       text=True)
                if child.returncode:
                    last = (child.stderr.strip().splitlines() or ["(no message)"])[-1]
                    print(last if last.startswith("error: ") else f"error: {name} in {tree} failed: {last}",
                          file=sys.stderr)
                    sys.exit(2)
                ms[which] = [float(v) for v in child.stdout.split()[-2:]]
            (old_p50, old_mean), (new_p50, new_mean) = ms["old"], ms["new"]
            cells.append(f"{name} {old_p50:.3f} -> {new_p50:.3f} ms ({new_p50 / old_p50:.3f}), mean "
                         f"{old_mean:.3f} -> {new_mean:.3f} ms ({new_mean / old_mean:.3f})")
        print(f"round {r + 1}: " + "; ".join(cells))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_time":
        _time_model(Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    lay = sub.add_parser("layers", help="binary convs, the two builds' kernels call by call in one process")
    lay.add_argument("--old", type=Path, required=True, help="the other tree, its extensions built in place")
    lay.add_argument("--layer", action="append", choices=[*LAYERS, *FLOAT_LAYERS, *BWN_LAYERS, *DENSE_LAYERS],
                     help="(repeatable) default: the binary convs")
    lay.add_argument("--calls", type=int, default=400)
    lay.add_argument("--threads", type=int, default=1)
    lay.add_argument("--windows", type=int, default=0,
                     help="instead: this many 0.5 s windows of each --layer (old, new, new on one thread)")
    mod = sub.add_parser("models", help="whole native runs, the two trees' processes in turns")
    mod.add_argument("--old", type=Path, required=True, help="the other tree, its extensions built in place")
    mod.add_argument("--new", type=Path, default=HERE, help="default: this tree")
    mod.add_argument("--model", action="append", choices=MODELS, help="(repeatable) default: all")
    mod.add_argument("--threads", type=int, default=1)
    mod.add_argument("--rounds", type=int, default=3)
    mod.add_argument("--seconds", type=float, default=2.0, help="timed seconds per process")
    args = parser.parse_args()
    if args.what == "layers" and args.windows > 0:
        for name in args.layer or list(LAYERS):
            windows(args.old, name, args.windows, args.threads)
    elif args.what == "layers":
        layers(args.old, args.layer or list(LAYERS), args.calls, args.threads)
    else:
        models(args.old, args.new, args.model or list(MODELS), args.threads, args.rounds, args.seconds)


if __name__ == "__main__":
    main()
