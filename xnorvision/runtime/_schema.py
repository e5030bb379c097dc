"""The graph schema of .xnv files: which ops exist, their attrs and parameter tensors, and type inference.

One function per op checks its attrs and inputs and says what it produces and which parameter tensors it
needs. The same code validates a file (spatial sizes possibly unknown) and plans an executor (sizes known),
so a graph that validates is a graph the executor can run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from xnorvision.errors import ModelFormatError

MAX_DIM = 1 << 20
MAX_ACTIVATION_BYTES = 1 << 30
F32 = "F32"
U64 = "U64"


@dataclass(frozen=True)
class TensorType:
    """What flows along an edge: float or packed bits, NHWC (rank 4) or NC (rank 2), channels, H, W.

    ``channels``, ``h`` and ``w`` are ``None`` when they depend on an input size the file leaves open.
    """

    kind: str
    rank: int
    channels: int | None
    h: int | None = None
    w: int | None = None

    def describe(self) -> str:
        dims = [self.h, self.w, self.channels] if self.rank == 4 else [self.channels]
        return f"{self.kind}[N,{','.join('?' if d is None else str(d) for d in dims)}]"


@dataclass(frozen=True)
class ParamSpec:
    """A parameter tensor a node needs: dtype, shape, and whether it may be absent."""

    dtype: str
    shape: tuple[int, ...]
    optional: bool = False


@dataclass(frozen=True)
class Node:
    """One validated graph node."""

    name: str
    op: str
    inputs: tuple[str, ...]
    attrs: dict[str, Any]


def words(channels: int) -> int:
    """Number of uint64 words that hold ``channels`` bits."""
    return (channels + 63) // 64


class _Ctx:
    """Attribute access for one node that turns every problem into a ModelFormatError naming the node."""

    def __init__(self, node: Node, ins: list[TensorType]) -> None:
        self.node, self.ins, self.attrs = node, ins, node.attrs

    def fail(self, msg: str) -> ModelFormatError:
        return ModelFormatError(f"node {self.node.name!r} ({self.node.op}): {msg}")

    def int_(self, key: str, default: int | None = None, lo: int = 1, hi: int = MAX_DIM) -> int:
        v = self.attrs.get(key, default)
        if not _is_int(v) or not lo <= v <= hi:
            raise self.fail(f"attr {key!r} must be an integer in [{lo}, {hi}], got {v!r}")
        return v

    def pair(self, key: str, default: int | None = None, lo: int = 1) -> tuple[int, int]:
        """An int or a two-int list (height, width)."""
        v = self.attrs.get(key, default)
        if _is_int(v):
            v = [v, v]
        if not (isinstance(v, list) and len(v) == 2 and all(_is_int(x) and lo <= x <= MAX_DIM for x in v)):
            raise self.fail(f"attr {key!r} must be an integer >= {lo} or a list of two, got {v!r}")
        return v[0], v[1]

    def choice(self, key: str, options: tuple[Any, ...], default: Any = None) -> Any:
        v = self.attrs.get(key, default)
        if not any(v == o and type(v) is type(o) for o in options):
            raise self.fail(f"attr {key!r} must be one of {list(options)}, got {v!r}")
        return v

    def number(self, key: str, default: float) -> float:
        v = self.attrs.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int | float) or v != v or abs(v) > 1e30:
            raise self.fail(f"attr {key!r} must be a finite number, got {v!r}")
        return float(v)

    def input(self, i: int, kind: str | None, rank: int | None = 4) -> TensorType:
        t = self.ins[i]
        if (kind is not None and t.kind != kind) or (rank is not None and t.rank != rank):
            want = f"{kind or 'any'} rank-{rank or 'any'}"
            raise self.fail(f"input {self.node.inputs[i]!r} is {t.describe()}, expected {want}")
        return t

    def channels(self, t: TensorType, key: str) -> int:
        c = self.int_(key)
        if t.channels is not None and t.channels != c:
            raise self.fail(f"attr {key!r} = {c} but the input has {t.channels} channels")
        return c


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def conv_padding(ctx: _Ctx, kh: int, kw: int) -> tuple[int, int]:
    """Resolve ``padding`` ("valid" or "same") into (pad_h, pad_w)."""
    p = ctx.attrs.get("padding", "valid")
    if p == "valid":
        return 0, 0
    if p == "same":
        if kh % 2 == 0 or kw % 2 == 0:
            raise ctx.fail("padding 'same' needs an odd kernel")
        return (kh - 1) // 2, (kw - 1) // 2
    raise ctx.fail(f"attr 'padding' must be 'valid' or 'same', got {p!r}")


def out_size(ctx: _Ctx, size: int | None, k: int, stride: int, pad: int) -> int | None:
    if size is None:
        return None
    n = (size + 2 * pad - k) // stride + 1
    if n < 1:
        raise ctx.fail(f"input size {size} is too small for kernel {k}, stride {stride}, padding {pad}")
    return n


def _conv_geometry(ctx: _Ctx, t: TensorType) -> tuple[int, int, int | None, int | None]:
    kh, kw = ctx.pair("kernel")
    if ctx.node.op == "conv2d":
        sh, sw = ctx.pair("stride", 1)
    else:  # what the binary kernels implement
        sh = sw = ctx.choice("stride", (1, 2), 1)
    ph, pw = conv_padding(ctx, kh, kw)
    return kh, kw, out_size(ctx, t.h, kh, sh, ph), out_size(ctx, t.w, kw, sw, pw)


Result = tuple[TensorType, dict[str, ParamSpec]]


def _conv2d(ctx: _Ctx) -> Result:
    t = ctx.input(0, "float")
    c = ctx.channels(t, "in_channels")
    o = ctx.int_("out_channels")
    g = ctx.int_("groups", 1)
    if c % g or o % g:
        raise ctx.fail(f"groups {g} must divide in_channels {c} and out_channels {o}")
    kh, kw, h, w = _conv_geometry(ctx, t)
    return TensorType("float", 4, o, h, w), {"weight": ParamSpec(F32, (o, kh, kw, c // g)),
                                             "bias": ParamSpec(F32, (o,), optional=True)}


def _binary_conv2d(ctx: _Ctx) -> Result:
    t = ctx.input(0, "bits")
    c = ctx.channels(t, "in_channels")
    o = ctx.int_("out_channels")
    ctx.choice("pad_value", (0, 1), 0)
    kind = ctx.choice("output", ("float", "bits"), "float")
    kh, kw, h, w = _conv_geometry(ctx, t)
    return TensorType(kind, 4, o, h, w), _scaled((o, kh, kw, words(c)), o)


def _bwn_conv2d(ctx: _Ctx) -> Result:
    t = ctx.input(0, "float")
    c = ctx.channels(t, "in_channels")
    o = ctx.int_("out_channels")
    kh, kw, h, w = _conv_geometry(ctx, t)
    return TensorType("float", 4, o, h, w), _scaled((o, kh, kw, words(c)), o)


def _scaled(weight_shape: tuple[int, ...], o: int) -> dict[str, ParamSpec]:
    vec = ParamSpec(F32, (o,))
    return {"weight": ParamSpec(U64, weight_shape), "scale": vec, "bias": vec}


def _sign(ctx: _Ctx) -> Result:
    t = ctx.input(0, "float", None)
    return TensorType("bits", t.rank, t.channels, t.h, t.w), {}


def _batch_norm(ctx: _Ctx) -> Result:
    t = ctx.input(0, "float", None)
    ctx.number("eps", 1e-5)
    c = _known_channels(ctx, t)
    return t, {k: ParamSpec(F32, (c,)) for k in ("weight", "bias", "running_mean", "running_var")}


def _known_channels(ctx: _Ctx, t: TensorType) -> int:
    if t.channels is None:
        raise ctx.fail("needs a known channel count (flatten of an open-size input)")
    return t.channels


def _pool(kind: str | None) -> Callable[[_Ctx], Result]:
    def check(ctx: _Ctx) -> Result:
        t = ctx.input(0, kind)
        kh, kw = ctx.pair("kernel")
        sh, sw = ctx.pair("stride", [kh, kw])
        ph, pw = ctx.pair("padding", 0, lo=0)
        if ph > kh // 2 or pw > kw // 2:
            raise ctx.fail("padding must be at most half the kernel")
        h, w = out_size(ctx, t.h, kh, sh, ph), out_size(ctx, t.w, kw, sw, pw)
        return TensorType(t.kind, 4, t.channels, h, w), {}

    return check


def _global_avgpool(ctx: _Ctx) -> Result:
    t = ctx.input(0, "float")
    return TensorType("float", 2, t.channels), {}


def _same_shape(ctx: _Ctx, a: TensorType, b: TensorType, channels: bool = True) -> None:
    for x, y, what in ((a.h, b.h, "height"), (a.w, b.w, "width"), (a.channels, b.channels, "channels")):
        if (channels or what != "channels") and x is not None and y is not None and x != y:
            raise ctx.fail(f"inputs differ in {what}: {x} vs {y}")


def _add(ctx: _Ctx) -> Result:
    if len(ctx.ins) != 2:
        raise ctx.fail("needs exactly two inputs")
    a, b = ctx.input(0, "float", None), ctx.input(1, "float", None)
    if a.rank != b.rank:
        raise ctx.fail("inputs differ in rank")
    _same_shape(ctx, a, b)
    return a, {}


def _concat(ctx: _Ctx) -> Result:
    first = ctx.input(0, "float", None)
    ctx.choice("axis", (-1, first.rank - 1), -1)  # channels only
    total: int | None = 0
    for i in range(len(ctx.ins)):
        t = ctx.input(i, "float", first.rank)
        _same_shape(ctx, first, t, channels=False)
        total = None if total is None or t.channels is None else total + t.channels
    return TensorType("float", first.rank, total, first.h, first.w), {}


def _elementwise(ctx: _Ctx) -> Result:
    if ctx.node.op == "hardtanh":
        lo, hi = ctx.number("min_val", -1.0), ctx.number("max_val", 1.0)
        if lo > hi:
            raise ctx.fail("min_val must not exceed max_val")
    return ctx.input(0, "float", None), {}


def _prelu(ctx: _Ctx) -> Result:
    t = ctx.input(0, "float", None)
    n = ctx.int_("num_parameters", _known_channels(ctx, t))
    if n not in (1, t.channels):
        raise ctx.fail(f"num_parameters must be 1 or the channel count {t.channels}, got {n}")
    return t, {"weight": ParamSpec(F32, (n,))}


def _upsample(ctx: _Ctx) -> Result:
    t = ctx.input(0, "float")
    s = ctx.int_("scale", hi=64)
    h, w = (None if v is None else v * s for v in (t.h, t.w))
    return TensorType("float", 4, t.channels, h, w), {}


def _flatten(ctx: _Ctx) -> Result:
    t = ctx.input(0, "float")
    known = None not in (t.h, t.w, t.channels)
    return TensorType("float", 2, t.h * t.w * t.channels if known else None), {}  # type: ignore[operator]


def _linear(ctx: _Ctx) -> Result:
    t = ctx.input(0, "float", 2)
    k = ctx.channels(t, "in_features")
    o = ctx.int_("out_features")
    return TensorType("float", 2, o), {"weight": ParamSpec(F32, (o, k)), "bias": ParamSpec(F32, (o,), True)}


def _binary_linear(ctx: _Ctx) -> Result:
    t = ctx.input(0, "bits", 2)
    k = ctx.channels(t, "in_features")
    o = ctx.int_("out_features")
    return TensorType("float", 2, o), _scaled((o, words(k)), o)


def _softmax(ctx: _Ctx) -> Result:
    t = ctx.input(0, "float", None)
    ctx.choice("axis", (-1, t.rank - 1), -1)
    return t, {}


OPS: dict[str, Callable[[_Ctx], Result]] = {
    "conv2d": _conv2d, "binary_conv2d": _binary_conv2d, "bwn_conv2d": _bwn_conv2d, "sign": _sign,
    "batch_norm": _batch_norm, "maxpool2d": _pool(None), "avgpool2d": _pool("float"),
    "global_avgpool": _global_avgpool, "add": _add, "concat": _concat, "relu": _elementwise,
    "sigmoid": _elementwise, "hardtanh": _elementwise, "prelu": _prelu, "upsample_nearest": _upsample,
    "flatten": _flatten, "linear": _linear, "binary_linear": _binary_linear, "softmax": _softmax,
}


def parse_nodes(graph: Any) -> tuple[list[Node], list[str]]:
    """Check the graph's JSON structure (not yet the types); return its nodes and output names."""
    if not isinstance(graph, dict):
        raise ModelFormatError("graph must be a JSON object")
    if graph.get("inputs") != ["input"]:
        raise ModelFormatError(f"graph inputs must be [\"input\"], got {graph.get('inputs')!r}")
    outputs, raw = graph.get("outputs"), graph.get("nodes")
    if not (isinstance(outputs, list) and outputs and all(isinstance(o, str) for o in outputs)):
        raise ModelFormatError("graph outputs must be a non-empty list of names")
    if not isinstance(raw, list) or not raw:
        raise ModelFormatError("graph nodes must be a non-empty list")
    nodes, seen = [], {"input"}
    for i, n in enumerate(raw):
        if not isinstance(n, dict):
            raise ModelFormatError(f"graph node #{i} is not an object")
        name, op, inputs, attrs = n.get("name"), n.get("op"), n.get("inputs"), n.get("attrs", {})
        if not isinstance(name, str) or not name or "." in name:
            raise ModelFormatError(f"graph node #{i}: name must be a non-empty string without '.': {name!r}")
        if name in seen:
            raise ModelFormatError(f"node {name!r}: duplicate name")
        if not isinstance(op, str) or op not in OPS:
            raise ModelFormatError(f"node {name!r}: unknown op {op!r}")
        if not (isinstance(inputs, list) and inputs and all(isinstance(x, str) for x in inputs)):
            raise ModelFormatError(f"node {name!r}: inputs must be a non-empty list of names")
        if len(inputs) > 1 and op not in ("add", "concat"):
            raise ModelFormatError(f"node {name!r} ({op}): takes one input, got {len(inputs)}")
        missing = [x for x in inputs if x not in seen]
        if missing:
            raise ModelFormatError(f"node {name!r}: input {missing[0]!r} is not defined before it")
        if not isinstance(attrs, dict):
            raise ModelFormatError(f"node {name!r}: attrs must be an object")
        seen.add(name)
        nodes.append(Node(name, op, tuple(inputs), attrs))
    for o in outputs:
        if o not in seen or o == "input":
            raise ModelFormatError(f"graph output {o!r} is not a node")
    return nodes, outputs


def tensor_bytes(t: TensorType, batch: int = 1) -> int | None:
    """Bytes of one activation (float32, or packed uint64 words for bits); None when its size is open."""
    dims = [t.h, t.w, t.channels] if t.rank == 4 else [t.channels]
    if None in dims:
        return None
    *spatial, c = dims
    return batch * math.prod(spatial) * (words(c) * 8 if t.kind == "bits" else c * 4)  # type: ignore[arg-type]


def infer(nodes: list[Node], input_type: TensorType) -> tuple[dict[str, TensorType], dict[str, dict]]:
    """Type every tensor; return the types and, per node, the parameter tensors it needs.

    A tensor over :data:`MAX_ACTIVATION_BYTES` per image is an error: no real network needs one, and a
    file declaring one would otherwise exhaust memory when it runs.
    """
    _check_size("input", input_type)
    types = {"input": input_type}
    params: dict[str, dict[str, ParamSpec]] = {}
    for node in nodes:
        out, params[node.name] = OPS[node.op](_Ctx(node, [types[x] for x in node.inputs]))
        _check_size(f"node {node.name!r} ({node.op})", out)
        types[node.name] = out
    return types, params


def peak_activation_bytes(nodes: list[Node], outputs: list[str], types: dict[str, TensorType]) -> int | None:
    """Largest sum of live activations per image while running the graph in order (before load-time
    fusion, which only lowers it); None when a size is open (an any-size model before its input size).

    The input counts throughout: the runtime keeps its preprocessing buffer for the next call.
    """
    sizes = {k: tensor_bytes(t) for k, t in types.items()}
    if None in sizes.values():
        return None
    last = {k: i for i, n in enumerate(nodes) for k in n.inputs}
    live = {"input": sizes["input"]}
    total = peak = sizes["input"] or 0
    for i, node in enumerate(nodes):
        live[node.name] = sizes[node.name]
        total += sizes[node.name] or 0
        peak = max(peak, total)
        for k in set(node.inputs):
            if last.get(k) == i and k not in outputs and k != "input":
                total -= live.pop(k, None) or 0
    return peak


def check_peak(nodes: list[Node], outputs: list[str], types: dict[str, TensorType]) -> None:
    """The live tensors together stay within :data:`MAX_ACTIVATION_BYTES` per image, the limit each one has.

    Each tensor under the limit is not enough: a few kilobytes of graph that keeps many of them alive at
    once (an "activation bomb") would pass, then fail with MemoryError on every frame.
    """
    peak = peak_activation_bytes(nodes, outputs, types)
    if peak is not None and peak > MAX_ACTIVATION_BYTES:
        raise ModelFormatError(f"running the graph would hold {peak / 2**30:.1f} GiB of activations at once "
                               f"per image (limit {MAX_ACTIVATION_BYTES >> 30} GiB)")


def _check_size(what: str, t: TensorType) -> None:
    size = tensor_bytes(t)
    if size is not None and size > MAX_ACTIVATION_BYTES:
        raise ModelFormatError(f"{what}: the tensor would take {size / 2**30:.1f} GiB per image "
                               f"(limit {MAX_ACTIVATION_BYTES >> 30} GiB)")
