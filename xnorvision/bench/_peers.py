"""The runtimes ``bench model`` holds ours against, each checked to compute our outputs before it is timed.

A peer is a function ``(model, x, threads, workdir) -> Runner``: it builds the same graph in another
runtime and compares every graph output with ours, image by image, on ``x`` (the NHWC input our runtime
gets) and on more batches of its shape (:func:`verify`). It raises :class:`PeerUnavailable` with a one-line
reason when the runtime is not installed, cannot express the graph or computes something else: such a peer
gets a row with the reason, never a time.

Why image by image, and why a few images may differ: a binary network takes the signs of float layers'
results. Where one of those lies within float rounding of zero, a peer that sums in another order may
take the other sign, and that image's outputs move by far more than float tolerance. Over a batch that
happens to some images, so one such image in a batch of 8 once refused two of the float peers. A peer that
computes another network differs on nearly every image; one that computes ours, on few: up to a quarter
of the checked images may differ, and the report says how many did (docs/benchmarks.md).
"""

from __future__ import annotations

import importlib.util
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xnorvision.runtime import Model
from xnorvision.runtime.ops import unpack_signs


class PeerUnavailable(Exception):
    """Why a peer has no timing: not installed, graph not expressible, or outputs differ from ours."""


@dataclass
class Runner:
    """One inference call of a peer on the benchmark input, the bytes of the weights it holds, and how its
    outputs compared with ours (:func:`verify`: images checked, images whose outputs differed)."""

    call: Callable[[], Any]
    weight_bytes: int
    checked: tuple[int, int] = (0, 0)


Peer = Callable[[Model, np.ndarray, int, Path], Runner]
#: a peer's outputs for an input of the benchmark input's shape (NHWC, as ours), as the peer gives them
Compute = Callable[[np.ndarray], list[Any]]

#: float outputs agree to this (relative to the output's largest value); bits outputs exactly
RTOL = 1e-3
#: images a peer is checked on, at least (as many batches of the benchmark input's shape as that takes)
CHECK_IMAGES = 16
#: the share of them whose outputs may differ from ours (signs flipped near zero, see the module's doc)
MAY_DIFFER = 0.25


def _need(module: str, why: str = "not installed") -> None:
    if importlib.util.find_spec(module) is None:
        raise PeerUnavailable(why)


def differing_images(model: Model, ours: dict[str, np.ndarray], theirs: list[Any],
                     nchw: bool) -> tuple[np.ndarray, str]:
    """Per image of the batch, whether any of the peer's outputs differs from ours (bits exactly, floats
    by more than RTOL of the output's largest value over the batch), and the largest difference in words
    ("" if none); a shape that differs raises :class:`PeerUnavailable`. A peer's bits output holds ±1
    floats, ours packed words with bit 1 meaning -1.
    """
    differ, worst = np.zeros(len(next(iter(ours.values()))), bool), ""
    for name, got in zip(model.output_names, theirs, strict=True):
        want, got = ours[name], np.asarray(got)
        if nchw and got.ndim == 4:
            got = got.transpose(0, 2, 3, 1)
        if want.dtype == np.uint64:
            want = unpack_signs(want, model.file.types[name].channels or 0)
        if got.shape != want.shape:
            raise PeerUnavailable(f"error: output {name!r} has shape {got.shape}, ours {want.shape}")
        tol = 0.0 if ours[name].dtype == np.uint64 else RTOL * max(1.0, float(np.abs(want).max()))
        diff = np.abs(got.astype(np.float64) - want).reshape(len(want), -1).max(axis=1, initial=0.0)
        bad = ~(diff <= tol)  # NaN too
        if bad.any():
            differ |= bad
            largest = float(np.nan_to_num(diff[bad], nan=np.inf).max())
            worst = f"output {name!r} differs from ours by {largest:.3g} (tolerance {tol:.3g})"
    return differ, worst


def bench_input(model: Model, n: int, h: int, w: int, seed: int) -> np.ndarray:
    """``n`` random h x w BGR images, preprocessed for ``model``: what ``bench model`` times (seed 0) and
    what :func:`verify` checks a peer on besides."""
    return model.preprocess(np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8))


def verify(model: Model, x: np.ndarray, compute: Compute, nchw: bool) -> tuple[int, int]:
    """Compare the peer's outputs with ours on ``x`` and on more batches of its shape (:func:`bench_input`),
    at least :data:`CHECK_IMAGES` images in all: (images checked, images that differed). Raises
    :class:`PeerUnavailable` when more than :data:`MAY_DIFFER` of them differ."""
    n, h, w = x.shape[:3]
    batches = max(1, -(-CHECK_IMAGES // n))
    checked = differing = 0
    worst = ""
    for seed in range(batches):
        xb = x if seed == 0 else bench_input(model, n, h, w, 1000 + seed)
        theirs = compute(xb)  # before ours: our run's outputs are valid until our next run
        differ, words = differing_images(model, model.run(xb), theirs, nchw)
        differing, checked, worst = differing + int(differ.sum()), checked + n, words or worst
    if differing > MAY_DIFFER * checked:
        raise PeerUnavailable(f"error: {worst}, on {differing} of {checked} images")
    return checked, differing


def _nchw(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def torch_float32(model: Model, x: np.ndarray, threads: int, workdir: Path) -> Runner:
    """The float twin (:mod:`xnorvision.bench._torch_graph`) in torch eager mode."""
    _need("torch")
    import torch

    from xnorvision.bench._torch_graph import build_torch_module

    torch.set_num_threads(threads)
    module = build_torch_module(model.file)

    def compute(xb: np.ndarray) -> list[Any]:
        with torch.inference_mode():
            return [t.numpy() for t in module(torch.from_numpy(_nchw(xb)))]

    checked = verify(model, x, compute, nchw=True)
    xt = torch.from_numpy(_nchw(x))

    def run() -> list[Any]:
        with torch.inference_mode():
            return module(xt)

    return Runner(run, sum(p.numel() * p.element_size() for p in module.parameters()), checked)


def export_onnx(model: Model, x: np.ndarray, path: Path) -> Path:
    """The float twin exported with torch.onnx (the TorchScript exporter: one call, no extra packages)."""
    _need("torch", "not installed: torch (the [train] extra) exports the float twin to ONNX")
    import torch

    from xnorvision.bench._torch_graph import build_torch_module

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(build_torch_module(model.file), (torch.from_numpy(_nchw(x)),), str(path),
                          input_names=["input"], output_names=list(model.output_names), dynamo=False)
    return path


def _onnx_file(model: Model, x: np.ndarray, workdir: Path) -> Path:
    path = workdir / "float_twin.onnx"
    return path if path.exists() else export_onnx(model, x, path)


def onnxruntime_float32(model: Model, x: np.ndarray, threads: int, workdir: Path) -> Runner:
    """The float twin as ONNX on onnxruntime's CPU provider, ``threads`` intra-op threads, one inter-op."""
    _need("onnxruntime")
    import onnxruntime as ort

    path = _onnx_file(model, x, workdir)
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    checked = verify(model, x, lambda xb: session.run(None, {"input": _nchw(xb)}), nchw=True)
    feed = {"input": _nchw(x)}
    return Runner(lambda: session.run(None, feed), path.stat().st_size, checked)


def _openvino_runner(model: Model, x: np.ndarray, threads: int, ov_model: Any, weight_bytes: int) -> Runner:
    import openvino as ov

    config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32", "NUM_STREAMS": 1}
    request = ov.Core().compile_model(ov_model, "CPU", config).create_infer_request()

    def compute(xb: np.ndarray) -> list[Any]:
        request.set_input_tensor(ov.Tensor(_nchw(xb)))
        request.infer()
        return [request.get_output_tensor(i).data.copy() for i in range(len(model.output_names))]

    checked = verify(model, x, compute, nchw=True)
    request.set_input_tensor(ov.Tensor(_nchw(x)))  # the input it is timed on
    return Runner(request.infer, weight_bytes, checked)


def openvino_binary(model: Model, x: np.ndarray, threads: int, workdir: Path) -> Runner:
    """The graph built for OpenVINO with its binary convolution (:mod:`xnorvision.bench._openvino_graph`)."""
    _need("openvino")
    import openvino as ov

    from xnorvision.bench._openvino_graph import Unsupported, build_openvino_model

    try:
        ov_model = build_openvino_model(model.file, *x.shape[:3])
    except Unsupported as exc:
        raise PeerUnavailable(f"unsupported: {exc}") from None
    path = workdir / "openvino_binary.xml"
    ov.save_model(ov_model, str(path), compress_to_fp16=False)
    return _openvino_runner(model, x, threads, ov_model, path.with_suffix(".bin").stat().st_size)


#: OpenVINO's executed node types by the op kind of ours that does their work (``bench model --profile``);
#: any other type counts as "other". A FakeQuantize turns floats into the next binary conv's bits, as our
#: ``sign`` does; a Reorder converts a tensor's memory layout (we have none: NHWC throughout).
OPENVINO_KINDS = {
    "BinaryConvolution": "binary conv", "Convolution": "float conv", "GroupConvolution": "float conv",
    "FullyConnected": "float conv", "MatMul": "float conv", "FakeQuantize": "pack", "MaxPool": "pool",
    "AvgPool": "pool", "ReduceMean": "pool", "Reorder": "layout", "Concat": "copy", "Reshape": "copy",
    "Eltwise": "elementwise", "Multiply": "elementwise", "Add": "elementwise", "PRelu": "elementwise",
}


def openvino_binary_profile(model: Model, x: np.ndarray, threads: int, seconds: float) -> dict[str, Any]:
    """Where openvino-binary's time goes: its own per-node timer (``PERF_COUNT``), each node's median over
    about ``seconds`` of runs (at least 3), summed by our op kinds (:data:`OPENVINO_KINDS`).

    A separate compiled model, after the timed runs: the per-node timer costs OpenVINO time of its own. The
    graph is the one ``openvino_binary`` checked against our outputs.
    """
    import openvino as ov

    from xnorvision.bench._openvino_graph import build_openvino_model

    config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32", "NUM_STREAMS": 1,
              "PERF_COUNT": True}
    request = ov.Core().compile_model(build_openvino_model(model.file, *x.shape[:3]), "CPU",
                                      config).create_infer_request()
    request.set_input_tensor(ov.Tensor(_nchw(x)))
    request.infer()  # warm
    nodes: dict[tuple[str, str], list[float]] = {}
    runs, end = 0, time.perf_counter() + seconds
    while runs < 3 or time.perf_counter() < end:
        request.infer()
        runs += 1
        for info in request.profiling_info:
            if info.status == info.Status.EXECUTED:
                nodes.setdefault((info.node_name, info.node_type), []).append(
                    1e3 * info.real_time.total_seconds())
    kinds: dict[str, float] = {}
    for (_, node_type), times in nodes.items():
        kind = OPENVINO_KINDS.get(node_type, "other")
        kinds[kind] = kinds.get(kind, 0.0) + float(np.median(times))
    return {"runs": runs, "total_ms": round(sum(kinds.values()), 4),
            "kinds": {k: round(v, 4) for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])}}


def openvino_float32(model: Model, x: np.ndarray, threads: int, workdir: Path) -> Runner:
    """The float twin's ONNX file on OpenVINO (its float kernels: what OpenVINO does without u1)."""
    _need("openvino")
    import openvino as ov

    path = _onnx_file(model, x, workdir)
    return _openvino_runner(model, x, threads, ov.Core().read_model(str(path)), path.stat().st_size)


PEERS: dict[str, Peer] = {
    "torch-float32": torch_float32, "onnxruntime-float32": onnxruntime_float32,
    "openvino-float32": openvino_float32, "openvino-binary": openvino_binary,
}
