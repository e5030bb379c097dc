"""The vocabulary of .xnv op schemas: tensor types, parameter specs, nodes, and the checks ops share.

Each op's own schema function lives with the rest of the op in :mod:`xnorvision.runtime.ops`; the graph
walk that applies them is :mod:`xnorvision.runtime._graph`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xnorvision.errors import ModelFormatError

MAX_DIM = 1 << 20
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


class Ctx:
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


def conv_padding(ctx: Ctx, kh: int, kw: int) -> tuple[int, int]:
    """Resolve ``padding`` ("valid" or "same") into (pad_h, pad_w)."""
    p = ctx.attrs.get("padding", "valid")
    if p == "valid":
        return 0, 0
    if p == "same":
        if kh % 2 == 0 or kw % 2 == 0:
            raise ctx.fail("padding 'same' needs an odd kernel")
        return (kh - 1) // 2, (kw - 1) // 2
    raise ctx.fail(f"attr 'padding' must be 'valid' or 'same', got {p!r}")


def out_size(ctx: Ctx, size: int | None, k: int, stride: int, pad: int) -> int | None:
    if size is None:
        return None
    n = (size + 2 * pad - k) // stride + 1
    if n < 1:
        raise ctx.fail(f"input size {size} is too small for kernel {k}, stride {stride}, padding {pad}")
    return n


def conv_geometry(ctx: Ctx, t: TensorType, any_stride: bool) -> tuple[int, int, int | None, int | None]:
    """(kh, kw, out_h, out_w) of a convolution; without ``any_stride`` the stride is 1 or 2 (what the binary
    kernels implement)."""
    kh, kw = ctx.pair("kernel")
    if any_stride:
        sh, sw = ctx.pair("stride", 1)
    else:
        sh = sw = ctx.choice("stride", (1, 2), 1)
    ph, pw = conv_padding(ctx, kh, kw)
    return kh, kw, out_size(ctx, t.h, kh, sh, ph), out_size(ctx, t.w, kw, sw, pw)


Result = tuple[TensorType, dict[str, ParamSpec]]


def scaled_params(weight_shape: tuple[int, ...], o: int) -> dict[str, ParamSpec]:
    """The parameters of a binary-weight layer: packed ``weight`` and per-output ``scale`` and ``bias``."""
    vec = ParamSpec(F32, (o,))
    return {"weight": ParamSpec(U64, weight_shape), "scale": vec, "bias": vec}


def known_channels(ctx: Ctx, t: TensorType) -> int:
    """The input's channel count, which must be known (not a flatten of an open-size input)."""
    if t.channels is None:
        raise ctx.fail("needs a known channel count (flatten of an open-size input)")
    return t.channels


def same_shape(ctx: Ctx, a: TensorType, b: TensorType, channels: bool = True) -> None:
    """Two inputs agree in height, width and (with ``channels``) channel count where those are known."""
    for x, y, what in ((a.h, b.h, "height"), (a.w, b.w, "width"), (a.channels, b.channels, "channels")):
        if (channels or what != "channels") and x is not None and y is not None and x != y:
            raise ctx.fail(f"inputs differ in {what}: {x} vs {y}")
