"""The runtimes ``bench model`` holds ours against, each checked to compute our outputs before it is timed.

A peer is a function ``(model, x, threads, workdir) -> Runner``: it builds the same graph in another
runtime, runs it once on ``x`` (the NHWC float32 input our runtime gets) and compares every graph output
with ours. It raises :class:`PeerUnavailable` with a one-line reason when the runtime is not installed,
cannot express the graph or computes something else: such a peer gets a row with the reason, never a time.
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
    """One inference call of a peer on the benchmark input, and the bytes of the weights it holds."""

    call: Callable[[], Any]
    weight_bytes: int


Peer = Callable[[Model, np.ndarray, int, Path], Runner]

#: float outputs agree to this (relative to the output's largest value); bits outputs exactly
RTOL = 1e-3


def _need(module: str, why: str = "not installed") -> None:
    if importlib.util.find_spec(module) is None:
        raise PeerUnavailable(why)


def check_outputs(model: Model, ours: dict[str, np.ndarray], theirs: list[np.ndarray], nchw: bool) -> None:
    """Raise :class:`PeerUnavailable` unless the peer's outputs equal ours (bits exactly, floats to RTOL).

    A peer's bits output holds ±1 floats, ours packed words with bit 1 meaning -1.
    """
    for name, got in zip(model.output_names, theirs, strict=True):
        want, got = ours[name], np.asarray(got)
        if nchw and got.ndim == 4:
            got = got.transpose(0, 2, 3, 1)
        if want.dtype == np.uint64:
            want, got = unpack_signs(want, model.file.types[name].channels or 0), got
        if got.shape != want.shape:
            raise PeerUnavailable(f"error: output {name!r} has shape {got.shape}, ours {want.shape}")
        tol = 0.0 if ours[name].dtype == np.uint64 else RTOL * max(1.0, float(np.abs(want).max()))
        diff = float(np.abs(got - want).max())
        if not diff <= tol:
            raise PeerUnavailable(f"error: output {name!r} differs from ours by {diff:.3g} "
                                  f"(tolerance {tol:.3g})")


def _nchw(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def torch_float32(model: Model, x: np.ndarray, threads: int, workdir: Path) -> Runner:
    """The float twin (:mod:`xnorvision.bench._torch_graph`) in torch eager mode."""
    _need("torch")
    import torch

    from xnorvision.bench._torch_graph import build_torch_module

    torch.set_num_threads(threads)
    module = build_torch_module(model.file)
    xt = torch.from_numpy(_nchw(x))

    def run() -> list[Any]:
        with torch.inference_mode():
            return module(xt)

    check_outputs(model, model.run(x), [t.numpy() for t in run()], nchw=True)
    return Runner(run, sum(p.numel() * p.element_size() for p in module.parameters()))


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
    feed = {"input": _nchw(x)}
    check_outputs(model, model.run(x), session.run(None, feed), nchw=True)
    return Runner(lambda: session.run(None, feed), path.stat().st_size)


def _openvino_runner(model: Model, x: np.ndarray, threads: int, ov_model: Any, weight_bytes: int) -> Runner:
    import openvino as ov

    config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32", "NUM_STREAMS": 1}
    request = ov.Core().compile_model(ov_model, "CPU", config).create_infer_request()
    request.set_input_tensor(ov.Tensor(_nchw(x)))
    request.infer()
    got = [request.get_output_tensor(i).data.copy() for i in range(len(model.output_names))]
    check_outputs(model, model.run(x), got, nchw=True)
    return Runner(request.infer, weight_bytes)


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
