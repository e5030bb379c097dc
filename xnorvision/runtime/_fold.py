"""Load-time graph rewrites: fold batch norms into the layer before them, fuse ``sign`` into binary convs,
``relu`` into float convs, a 2x2 stride-2 or ResNet's 3x3 stride-2 padding-1 ``maxpool2d`` into a
direct-kernel float conv (the stem's conv -> relu -> pool becomes one step that never writes the full-size
conv output), a residual ``add`` into the ``prelu`` after it, and float pools of one input that only a
channel ``concat`` reads into one step that writes them side by side (no concat copy).

After folding, a binary conv followed by batch norm and sign emits packed bits straight from its integer
accumulators (the Larq Compute Engine "output transform"), so chains of binary layers never touch floats.
Where the real value is needed too (Bi-Real blocks: ``sign(prelu(bn(conv) + shortcut))`` whose float result
is the next block's shortcut), the residual ``add``, the ``prelu`` and the ``sign`` go into the conv's float
epilogue instead: one pass over its accumulators writes the float tensor and, as the sign node's tensor,
its packed bits (``bits_output``). A binary-weight conv (``bwn_conv2d``, real input) takes the ``prelu``
and ``sign`` after it the same way (``fused_prelu``, ``bits_output``; it has no integer threshold and no
residual add), and so does a direct-kernel float conv the ``sign`` after it (or after its fused pool: the
stem of an XNOR network). A conv whose ``add`` reads a shortcut computed after it moves down to the
add's place (nothing else reads the conv, so the order stays valid).
A rewrite applies only when the intermediate tensor has no other reader and is not a graph output, and
nothing fuses into a conv after its pool (a batch norm or ReLU after the pool is not one before it).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

import numpy as np

from xnorvision import kernels
from xnorvision.errors import ModelFormatError
from xnorvision.runtime._format import XnvFile
from xnorvision.runtime._layers import Conv2d
from xnorvision.runtime._schema import Node, TensorType
from xnorvision.runtime.ops import bn_affine

_SCALED = ("binary_conv2d", "bwn_conv2d", "binary_linear")


@dataclass
class Step:
    """A node to execute, with its (possibly folded) parameters."""

    node: Node
    params: dict[str, np.ndarray]


def fold(model: XnvFile) -> tuple[list[Step], list[str], dict[str, TensorType]]:
    """Return the steps to run, the (renamed) graph outputs and the tensor types after the rewrites."""
    types = dict(model.types)
    readers = Counter(x for n in model.nodes for x in n.inputs) + Counter(model.outputs)
    alias: dict[str, str] = {}
    steps: dict[str, Step] = {}
    for node in model.nodes:
        node = replace(node, inputs=tuple(alias.get(x, x) for x in node.inputs))
        params = {p: model.tensors[f"{node.name}.{p}"] for p in model.params[node.name]
                  if f"{node.name}.{p}" in model.tensors}
        conv = _fuse_add(steps, node, readers, types, model.outputs) if node.op == "add" else None
        if conv is not None:
            alias[node.name] = conv
            readers[conv] = readers[node.name]
            continue
        pools = _fuse_pools(steps, node, readers, model.outputs) if node.op == "concat" else None
        if pools is not None:
            alias[node.name] = pools
            readers[pools] = readers[node.name]
            types[pools] = types[node.name]  # the first pool's step now makes the concat's tensor
            continue
        prev = steps.get(node.inputs[0])
        if node.op == "sign" and _bits_beside(prev, readers, model.outputs):
            prev.node = replace(prev.node, attrs={**prev.node.attrs, "bits_output": node.name})
            continue
        single = (prev is not None and readers[prev.node.name] == 1 and prev.node.name not in model.outputs
                  and not prev.node.attrs.get("fused_maxpool"))
        if single and node.op == "batch_norm" and _fold_bn(prev, params, node.attrs.get("eps", 1e-5)):
            alias[node.name] = prev.node.name
        elif single and node.op == "sign" and _epilogue_free(prev.node):
            prev.node = replace(prev.node, attrs={**prev.node.attrs, "output": "bits"})
            types[prev.node.name] = types[node.name]
            alias[node.name] = prev.node.name
        elif single and node.op == "relu" and prev.node.op == "conv2d":
            prev.node = replace(prev.node, attrs={**prev.node.attrs, "fused_relu": True})
            alias[node.name] = prev.node.name
        elif single and node.op == "maxpool2d" and (pool := _fused_pool(prev, node)):
            prev.node = replace(prev.node, attrs={**prev.node.attrs, "fused_maxpool": pool})
            types[prev.node.name] = types[node.name]  # the conv's output is now the pooled tensor
            alias[node.name] = prev.node.name
        elif single and node.op == "prelu" and prev.node.op == "add":  # prelu(a + b): one kernel pass
            prev.node, prev.params = replace(prev.node, op="prelu"), params
            alias[node.name] = prev.node.name
        elif single and node.op == "prelu" and _fuses_prelu(prev):
            prev.node = replace(prev.node, attrs={**prev.node.attrs, "fused_prelu": True})
            prev.params["slope"] = params["weight"]
            alias[node.name] = prev.node.name
        else:
            if node.op == "batch_norm":  # no neighbour to fold into: a per-channel affine
                a, b = _f32(*bn_affine(params, node.attrs.get("eps", 1e-5)))
                params = {"a": a, "b": b}
            steps[node.name] = Step(node, params)
            continue
        readers[prev.node.name] = readers[node.name]
    for step in steps.values():
        _check_finite(step)
    return list(steps.values()), [alias.get(o, o) for o in model.outputs], types


def _direct_conv(step: Step) -> bool:
    """A float conv that runs on the direct kernel (which can pool and pack signs in its epilogue)."""
    return step.node.op == "conv2d" and Conv2d.takes_direct(step.params["weight"].shape,
                                                            step.node.attrs.get("groups", 1))


def _fused_pool(conv: Step, pool: Node) -> int:
    """The direct kernel's fused pool for this max pool after ``conv``: 2 (2x2, stride 2, no padding), 3
    (3x3, stride 2, padding 1), else 0."""
    if not _direct_conv(conv):
        return 0
    kernel = _pair(pool.attrs["kernel"])
    stride, padding = _pair(pool.attrs.get("stride", kernel)), _pair(pool.attrs.get("padding", 0))
    if kernel == stride == (2, 2) and padding == (0, 0):
        return 2
    return 3 if (kernel, stride, padding) == ((3, 3), (2, 2), (1, 1)) else 0


def _pair(v: int | list[int] | tuple[int, ...]) -> tuple[int, ...]:
    return (v, v) if isinstance(v, int) else tuple(v)


def _takes_epilogue(node: Node) -> bool:
    """A binary or binary-weight conv with float output whose value may still change (bits not taken yet)."""
    return (node.op in ("binary_conv2d", "bwn_conv2d") and node.attrs.get("output", "float") == "float"
            and "bits_output" not in node.attrs)


def _affine_alone(node: Node) -> bool:
    """Such a conv computing ``scale * conv + bias`` alone: a batch norm after it still folds into it."""
    return _takes_epilogue(node) and not node.attrs.get("fused_add") and not node.attrs.get("fused_prelu")


def _epilogue_free(node: Node) -> bool:
    """A binary conv computing ``scale * acc + bias`` alone: a threshold can make it bits, an add join it."""
    return node.op == "binary_conv2d" and _affine_alone(node)


def _fuses_prelu(prev: Step) -> bool:
    """A PReLU after the float epilogue of a binary conv (plain or with a residual add) or a BWN conv joins
    it."""
    return _takes_epilogue(prev.node) and not prev.node.attrs.get("fused_prelu")


def _bits_beside(prev: Step | None, readers: Counter[str], outputs: list[str]) -> bool:
    """Whether a sign of ``prev`` comes out of its float epilogue, beside the float result it still writes.

    So it does when that float has other readers, or when the epilogue adds or applies PReLU (an integer
    threshold cannot see those); a binary conv's lone ``scale * acc + bias`` becomes bits by threshold
    instead (a binary-weight conv has no threshold: its sign always comes out beside its float, and so does
    a direct-kernel float conv's).
    """
    if prev is not None and _direct_conv(prev) and "bits_output" not in prev.node.attrs:
        return True
    if prev is None or not _takes_epilogue(prev.node):
        return False
    name = prev.node.name
    return readers[name] > 1 or name in outputs or not _epilogue_free(prev.node)


def _fuse_add(steps: dict[str, Step], add: Node, readers: Counter[str], types: dict[str, TensorType],
              outputs: list[str]) -> str | None:
    """Fuse ``add(conv, shortcut)`` (either order) into a binary conv's epilogue; return the conv's name.

    The conv then reads the shortcut as its second input and runs where the add did (the last step).
    """
    if len(add.inputs) != 2 or add.inputs[0] == add.inputs[1]:
        return None
    for name, shortcut in (add.inputs, add.inputs[::-1]):
        conv = steps.get(name)
        if (conv is not None and _epilogue_free(conv.node) and readers[name] == 1 and name not in outputs
                and types[name] == types[shortcut]):
            conv.node = replace(conv.node, inputs=(*conv.node.inputs, shortcut),
                                attrs={**conv.node.attrs, "fused_add": True})
            steps[name] = steps.pop(name)
            return name
    return None


def _fuse_pools(steps: dict[str, Step], concat: Node, readers: Counter[str],
                outputs: list[str]) -> str | None:
    """Float pools of one input with one window, read only by a channel ``concat`` of them (a downsampling
    shortcut's average and max): the first pool's step computes them all side by side, into the concat's
    tensor (``side_by_side``: the other pools' ops, in the concat's order), and the concat's copy goes.
    Returns that step's name."""
    pools = [steps[name] for name in concat.inputs if name in steps]
    if (len(pools) != len(concat.inputs) or not 2 <= len(pools) <= kernels.MAX_POOLS_SIDE_BY_SIDE
            or len(set(concat.inputs)) < len(pools)):
        return None

    def window(node: Node) -> tuple[object, ...]:
        kernel = _pair(node.attrs["kernel"])
        stride, padding = _pair(node.attrs.get("stride", kernel)), _pair(node.attrs.get("padding", 0))
        return node.inputs, kernel, stride, padding

    first = pools[0]
    for pool in pools:  # (a concat reads floats only: no max pool of bits gets here)
        if (pool.node.op not in ("avgpool2d", "maxpool2d") or readers[pool.node.name] != 1
                or pool.node.name in outputs or "side_by_side" in pool.node.attrs
                or window(pool.node) != window(first.node)):
            return None
    beside = [pool.node.op for pool in pools[1:]]
    first.node = replace(first.node, attrs={**first.node.attrs, "side_by_side": beside})
    for pool in pools[1:]:
        del steps[pool.node.name]
    return first.node.name


def _fold_bn(prev: Step, bn: dict[str, np.ndarray], eps: float) -> bool:
    """Fold a batch norm into ``prev`` when its op allows; return whether it did."""
    op, p = prev.node.op, prev.params
    float_out = prev.node.attrs.get("output", "float") == "float"
    if op not in ("conv2d", "linear") and not (op in _SCALED and float_out):
        return False
    if op in ("binary_conv2d", "bwn_conv2d") and not _affine_alone(prev.node):
        return False
    a, b = bn_affine(bn, eps)
    if op in _SCALED:
        p["scale"], p["bias"] = _f32(p["scale"] * a, p["bias"] * a + b)
    else:
        w = p["weight"]
        p["weight"], p["bias"] = _f32(w * a.reshape(-1, *[1] * (w.ndim - 1)), p.get("bias", 0.0) * a + b)
    return True


def _f32(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Cast to float32; an overflow becomes inf, which the finite check after folding reports."""
    with np.errstate(over="ignore", invalid="ignore"):
        return tuple(np.asarray(x).astype(np.float32) for x in arrays)


def _check_finite(step: Step) -> None:
    for name, arr in step.params.items():
        if arr.dtype == np.float32 and not np.isfinite(arr).all():
            raise ModelFormatError(f"node {step.node.name!r}: {name} is not finite after batch norm folding")
