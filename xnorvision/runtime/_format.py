"""Read, write and validate .xnv model files (see docs/xnv-format.md).

The layout is safetensors' (any safetensors reader opens an .xnv file). Reader and writer are written here:
the reader so that every malformed byte becomes a :class:`ModelFormatError` naming the problem, with the
file checked completely (layout, metadata, graph, every tensor's dtype and shape) before any array reaches
the executor; the writer so that equal models give equal bytes. Tensors are little-endian on disk and read
as such, so a file moves between machines unchanged.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xnorvision._files import FileTooLarge, NotRegularFile, read_regular_file
from xnorvision._replace import replace_atomically
from xnorvision.errors import ModelFormatError
from xnorvision.runtime._graph import check_peak, infer, parse_nodes
from xnorvision.runtime._outputs import OutputKind, output_kinds
from xnorvision.runtime._schema import MAX_DIM, Node, ParamSpec, TensorType
from xnorvision.runtime.ops import OPS

FORMAT = "xnv"
FORMAT_VERSION = "1"
MAX_FILE_BYTES = 1 << 30
MAX_HEADER_BYTES = 100 << 20
DTYPES: dict[str, np.dtype] = {"F32": np.dtype("<f4"), "U64": np.dtype("<u8"), "I8": np.dtype("i1")}
_NUMPY_TO_DTYPE = {np.dtype("float32"): "F32", np.dtype("uint64"): "U64", np.dtype("int8"): "I8"}
FLOAT_STORAGES = ("float32", "int8")
SCALE_SUFFIX = "@scale"  # ``<tensor>@scale``: the per-output-channel scale of a tensor stored as int8


@dataclass
class XnvFile:
    """A validated model file: graph, typed tensors, parameters, input spec, labels and free metadata."""

    graph: dict[str, Any]
    nodes: list[Node]
    outputs: list[str]
    types: dict[str, TensorType]
    tensors: dict[str, np.ndarray]
    input_spec: dict[str, Any]
    labels: list[str]
    metadata: dict[str, Any]
    nbytes: int = 0
    weight_bytes: int = 0  # tensor bytes as stored (int8 tensors count one byte a value)
    int8_tensors: tuple[str, ...] = ()  # float tensors the file stores as int8 (dequantized at load)
    params: dict[str, dict[str, ParamSpec]] = field(default_factory=dict)
    output_kinds: dict[str, OutputKind] = field(default_factory=dict)  # output name -> logits/probabilities


def save_model(path: str | os.PathLike[str], graph: dict[str, Any], tensors: dict[str, np.ndarray],
               input_spec: dict[str, Any], labels: list[str], metadata: dict[str, Any],
               float_storage: str = "float32") -> Path:
    """Validate a model completely, then write it as .xnv (atomically: a half-written file never appears).

    Raises :class:`ModelFormatError` for anything :func:`load_xnv` would reject, so an exporter learns of
    a mistake when it writes, not when someone loads the file. ``float_storage="int8"`` stores every float
    weight of two or more dimensions as int8 with a per-output-channel scale (a quarter of the bytes; the
    loader dequantizes once), which is where a binary network's file size goes once its convs are bits.
    """
    check_float_storage(float_storage)
    try:
        meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "graph": _compact(graph),
                "input": _compact(input_spec), "labels": _compact(labels), "metadata": _compact(metadata)}
    except (TypeError, ValueError) as exc:
        raise ModelFormatError(f"graph, input spec, labels and metadata must be JSON: {exc}") from None
    arrays: dict[str, np.ndarray] = {}
    for name, arr in tensors.items():
        a = np.asarray(arr)
        if a.dtype.newbyteorder("=") not in (np.dtype("float32"), np.dtype("uint64")):
            raise ModelFormatError(f"tensor {name!r}: dtype {a.dtype} is not float32 or uint64")
        arrays[name] = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
    table = {k: (_NUMPY_TO_DTYPE[a.dtype.newbyteorder("=")], a.shape) for k, a in arrays.items()}
    model = _validate(meta, table)
    _check_values(model.nodes, {k: np.asarray(a) for k, a in tensors.items()})
    if float_storage == "int8":
        arrays = _to_int8(arrays)
    data = serialise(meta, arrays)
    if len(data) > MAX_FILE_BYTES:
        raise ModelFormatError(f"model is larger than {MAX_FILE_BYTES >> 20} MiB")
    path = Path(path)
    with replace_atomically(path) as file:
        file.write(data)
    return path


def check_float_storage(name: str) -> None:
    """A float storage this writer knows (``--float-storage``), else one clear error."""
    if name not in FLOAT_STORAGES:
        raise ModelFormatError(f"float storage {name!r}: choose one of {', '.join(FLOAT_STORAGES)}")


def serialise(meta: dict[str, str], arrays: dict[str, np.ndarray]) -> bytes:
    """The safetensors layout, byte-for-byte reproducible: sorted keys, uint64 data first (8-byte aligned).

    (The ``safetensors`` writer orders the metadata by a hash map, so equal models could differ in bytes.)
    """
    order = sorted(arrays, key=lambda k: (-arrays[k].dtype.itemsize, k))
    entries: dict[str, Any] = {"__metadata__": dict(sorted(meta.items()))}
    offset = 0
    for name in order:
        a = arrays[name]
        entries[name] = {"dtype": _NUMPY_TO_DTYPE[a.dtype.newbyteorder("=")], "shape": list(a.shape),
                         "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    header = json.dumps(entries, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)
    return b"".join([len(header).to_bytes(8, "little"), header, *(arrays[k].tobytes() for k in order)])


def load_xnv(path: str | os.PathLike[str]) -> XnvFile:
    """Read and fully validate an .xnv file; any problem raises :class:`ModelFormatError`."""
    try:
        data = read_regular_file(path, MAX_FILE_BYTES)
    except NotRegularFile:
        raise ModelFormatError(f"{path}: not a regular file (a device or a pipe); "
                               "a model is an .xnv file") from None
    except FileTooLarge as exc:
        raise ModelFormatError(f"{path}: {exc.size} bytes is over the "
                               f"{MAX_FILE_BYTES >> 20} MiB limit") from None
    except OSError as exc:
        raise ModelFormatError(f"{path}: cannot read model file: {exc.strerror or exc}") from None
    try:
        return parse_xnv(data)
    except ModelFormatError as exc:
        raise ModelFormatError(f"{path}: {exc}") from None


def parse_xnv(data: bytes) -> XnvFile:
    """Parse and validate the bytes of an .xnv file."""
    meta, entries, body = _parse_layout(data)
    table, int8 = _logical_table(entries)
    model = _validate(meta, table)
    raw: dict[str, np.ndarray] = {}
    for name, (dtype, shape, begin, _) in entries.items():
        arr = np.frombuffer(body, DTYPES[dtype], math.prod(shape), begin).reshape(shape)
        raw[name] = arr.astype(arr.dtype.newbyteorder("="))  # a native-order, aligned copy
    for name in int8:
        scale = raw.pop(name + SCALE_SUFFIX)
        if not (np.isfinite(scale).all() and (scale > 0).all()):
            raise ModelFormatError(f"tensor {name + SCALE_SUFFIX!r}: scales must be finite and positive")
        raw[name] = _dequantize(raw[name], scale)
    model.tensors = raw
    model.int8_tensors = tuple(sorted(int8))
    _check_values(model.nodes, model.tensors)
    model.nbytes, model.weight_bytes = len(data), len(body)
    return model


def _to_int8(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Float weights of 2+ dimensions as symmetric int8, one scale per output channel (the first axis).

    ``scale = max|w| / 127`` per channel, so the largest weight of each channel is exact; all-zero channels
    get scale 1. Deterministic: equal models still give equal bytes.
    """
    out: dict[str, np.ndarray] = {}
    for name, a in arrays.items():
        if a.dtype.kind != "f" or a.ndim < 2 or a.shape[0] == 0:
            out[name] = a
            continue
        w = a.astype(np.float32).reshape(a.shape[0], -1)
        peak = np.abs(w).max(axis=1) if w.shape[1] else np.zeros(a.shape[0], np.float32)
        scale = np.where(peak > 0, peak / np.float32(127), np.float32(1)).astype("<f4")
        q = np.clip(np.rint(w / scale[:, None]), -127, 127).astype(np.int8).reshape(a.shape)
        out[name], out[name + SCALE_SUFFIX] = q, scale
    return out


def _dequantize(arr: np.ndarray, scale: np.ndarray) -> np.ndarray:
    shape = (arr.shape[0],) + (1,) * (arr.ndim - 1)
    return (arr.astype(np.float32) * scale.reshape(shape)).astype(np.float32)


def _logical_table(entries: dict[str, Entry]) -> tuple[dict[str, tuple[str, tuple[int, ...]]], set[str]]:
    """The tensors as the graph sees them: an int8 tensor and its ``@scale`` become one float32 tensor."""
    table: dict[str, tuple[str, tuple[int, ...]]] = {}
    int8: set[str] = set()
    for name, (dtype, shape, _, _) in entries.items():
        if name.endswith(SCALE_SUFFIX):
            base = name[: -len(SCALE_SUFFIX)]
            if base not in entries or entries[base][0] != "I8":
                raise ModelFormatError(f"tensor {name!r} scales no int8 tensor")
            if dtype != "F32" or shape != entries[base][1][:1]:
                raise ModelFormatError(f"tensor {name!r}: must be F32 [{entries[base][1][0]}], the first "
                                       f"dimension of {base!r}")
            continue
        if dtype == "I8":
            if len(shape) < 2 or name + SCALE_SUFFIX not in entries:
                raise ModelFormatError(f"int8 tensor {name!r} needs 2+ dimensions and a "
                                       f"{name + SCALE_SUFFIX!r} scale")
            int8.add(name)
            dtype = "F32"
        table[name] = (dtype, shape)
    return table, int8


def _check_values(nodes: list[Node], tensors: dict[str, np.ndarray]) -> None:
    """Values a model can never sensibly hold: non-finite floats, a variance below -eps, and set bits in
    the unused high end of a packed weight's last word (they would corrupt every dot product)."""
    for name, arr in tensors.items():
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise ModelFormatError(f"tensor {name!r} holds NaN or infinite values")
    by_node: dict[str, dict[str, np.ndarray]] = {}
    for key, arr in tensors.items():
        node_name, param = key.split(".", 1)
        by_node.setdefault(node_name, {})[param] = arr
    for node in nodes:
        check = OPS[node.op].check_values
        if check is not None:
            check(node, by_node.get(node.name, {}))


Entry = tuple[str, tuple[int, ...], int, int]  # dtype, shape, begin, end


def _parse_layout(data: bytes) -> tuple[dict[str, str], dict[str, Entry], bytes]:
    """Split the safetensors layout: 8-byte length, JSON header, body; check every entry's byte range."""
    if len(data) < 8:
        raise ModelFormatError("not an .xnv file: shorter than its 8-byte header length")
    n = int.from_bytes(data[:8], "little")
    if n > MAX_HEADER_BYTES or n > len(data) - 8:
        raise ModelFormatError(f"not an .xnv file: header length {n} exceeds the file ({len(data)} bytes)")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise ModelFormatError(f"not an .xnv file: header is not valid JSON ({exc})") from None
    if not isinstance(header, dict):
        raise ModelFormatError("not an .xnv file: header is not a JSON object")
    meta = header.pop("__metadata__", None)
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise ModelFormatError("not an .xnv file: header has no string-to-string __metadata__")
    body = data[8 + n:]
    entries: dict[str, Entry] = {}
    for name, e in header.items():
        entries[name] = _parse_entry(name, e, len(body))
    spans = sorted((b, e) for _, _, b, e in entries.values())
    cursor = 0
    for begin, end in spans:
        if begin != cursor:
            raise ModelFormatError("tensor data overlaps or leaves a gap")
        cursor = end
    if cursor != len(body):
        raise ModelFormatError(f"file has {len(body) - cursor} bytes beyond the last tensor")
    return meta, entries, body


def _parse_entry(name: str, e: Any, body_len: int) -> Entry:
    if not isinstance(e, dict) or set(e) != {"dtype", "shape", "data_offsets"}:
        raise ModelFormatError(f"tensor {name!r}: malformed header entry")
    dtype, shape, offsets = e["dtype"], e["shape"], e["data_offsets"]
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise ModelFormatError(f"tensor {name!r}: dtype {dtype!r} is not F32, U64 or I8")
    if not (isinstance(shape, list) and len(shape) <= 8 and all(_nonneg(d, MAX_DIM) for d in shape)):
        raise ModelFormatError(f"tensor {name!r}: bad shape {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_nonneg(o, body_len) for o in offsets)):
        raise ModelFormatError(f"tensor {name!r}: data offsets {offsets!r} outside the file")
    begin, end = offsets
    if end - begin != math.prod(shape) * DTYPES[dtype].itemsize:
        raise ModelFormatError(f"tensor {name!r}: {end - begin} bytes do not hold {dtype} {shape}")
    return dtype, tuple(shape), begin, end


def _nonneg(v: Any, hi: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= hi


def _json(meta: dict[str, str], key: str) -> Any:
    if key not in meta:
        raise ModelFormatError(f"metadata has no {key!r}")
    try:
        return json.loads(meta[key])
    except (ValueError, RecursionError) as exc:
        raise ModelFormatError(f"metadata {key!r} is not valid JSON ({exc})") from None


def _validate(meta: dict[str, str], tensors: dict[str, tuple[str, tuple[int, ...]]]) -> XnvFile:
    """Check metadata, graph and tensor table against each other; return the model without arrays."""
    if meta.get("format") != FORMAT:
        raise ModelFormatError(f"not an .xnv file: format is {meta.get('format')!r}, expected {FORMAT!r}")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelFormatError(f"unsupported format version {meta.get('format_version')!r} "
                               f"(this xnorvision reads version {FORMAT_VERSION})")
    graph, spec, labels, free = (_json(meta, k) for k in ("graph", "input", "labels", "metadata"))
    spec = validate_input_spec(spec)
    if not (isinstance(labels, list) and all(isinstance(x, str) for x in labels)):
        raise ModelFormatError("labels must be a list of strings")
    if not isinstance(free, dict):
        raise ModelFormatError("metadata must be a JSON object")
    nodes, outputs = parse_nodes(graph)
    types, params = infer(nodes, TensorType("float", 4, spec["channels"], spec["height"], spec["width"]))
    check_peak(nodes, outputs, types)
    kinds = output_kinds(graph, outputs, types)
    _check_tensors(params, tensors)
    return XnvFile(graph, nodes, outputs, types, {}, spec, labels, free, params=params, output_kinds=kinds)


def describe_outputs(graph: dict[str, Any], input_spec: dict[str, Any]) -> dict[str, OutputKind]:
    """Each output's kind as a file with this graph would be read (what an exporter writes explicitly)."""
    spec = validate_input_spec(input_spec)
    nodes, outputs = parse_nodes(graph)
    types, _ = infer(nodes, TensorType("float", 4, spec["channels"], spec["height"], spec["width"]))
    return output_kinds(graph, outputs, types)


def _check_tensors(params: dict[str, dict[str, ParamSpec]],
                   tensors: dict[str, tuple[str, tuple[int, ...]]]) -> None:
    expected: set[str] = set()
    for node, specs in params.items():
        for pname, p in specs.items():
            key = f"{node}.{pname}"
            if key not in tensors:
                if p.optional:
                    continue
                raise ModelFormatError(f"node {node!r}: tensor {key!r} is missing")
            expected.add(key)
            dtype, shape = tensors[key]
            if dtype != p.dtype or tuple(shape) != p.shape:
                raise ModelFormatError(f"node {node!r}: tensor {key!r} is {dtype} {list(shape)}, "
                                       f"expected {p.dtype} {list(p.shape)}")
    stray = sorted(set(tensors) - expected)
    if stray:
        raise ModelFormatError(f"tensor {stray[0]!r} is used by no node")


def validate_input_spec(spec: Any) -> dict[str, Any]:
    """Check the input spec (size, channel order, mean/std); return it with defaults filled in."""
    if not isinstance(spec, dict):
        raise ModelFormatError("input spec must be a JSON object")
    h, w, c = spec.get("height"), spec.get("width"), spec.get("channels", 3)
    if (h is None) != (w is None) or not all(v is None or _nonneg(v, MAX_DIM) and v > 0 for v in (h, w)):
        raise ModelFormatError(f"input spec: height/width must be positive integers or both null: {h}, {w}")
    if not _nonneg(c, 3) or c not in (1, 3):
        raise ModelFormatError(f"input spec: channels must be 1 or 3, got {c!r}")
    order = spec.get("channel_order", "rgb" if c == 3 else "gray")
    if order not in (("rgb", "bgr") if c == 3 else ("gray",)):
        raise ModelFormatError(f"input spec: channel_order {order!r} does not fit {c} channels")
    mean, std = spec.get("mean", [0.0] * c), spec.get("std", [1.0] * c)
    for key, vals in (("mean", mean), ("std", std)):
        if not (isinstance(vals, list) and len(vals) == c and all(_finite(v) for v in vals)):
            raise ModelFormatError(f"input spec: {key} must be {c} finite numbers, got {vals!r}")
    if not all(1e-6 <= s <= 1e6 for s in std) or not all(abs(m) <= 1e6 for m in mean):
        raise ModelFormatError("input spec: std must be positive and mean and std within [-1e6, 1e6]")
    return {**spec, "height": h, "width": w, "channels": c, "channel_order": order,
            "mean": [float(m) for m in mean], "std": [float(s) for s in std]}


def _finite(v: Any) -> bool:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return False
    try:
        return math.isfinite(float(v))
    except OverflowError:  # an integer too large for a float
        return False


def _compact(value: Any) -> str:
    """JSON without spaces: the header is part of the file size a detector budget counts."""
    return json.dumps(value, separators=(",", ":"))
