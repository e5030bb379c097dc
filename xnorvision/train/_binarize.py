"""``binarize(model)``: turn any torch CNN's conv/linear layers into binary ones, in place.

XNOR-Net needs each binary block in the order BN -> sign -> binary conv -> pool: pooling must see real
values (a max over ±1 loses everything) and nothing may sit between the batch norm and the sign (a ReLU
there would make every sign +1). Inside every ``nn.Sequential`` the usual float order
``conv, bn, relu, pool`` is rewritten to ``conv, pool, bn`` when an ``"xnor"`` layer comes next, and a
ReLU right before an ``"xnor"`` layer is dropped (the sign is the activation). Blocks written in a custom
``forward`` are not reordered: write them in the paper's order yourself.
"""

from __future__ import annotations

from torch import nn

from xnorvision.train._layers import MODES, BinaryConv2d, BinaryLinear

__all__ = ["binarize"]

_POOLS = (nn.MaxPool2d, nn.AvgPool2d)
_NORMS = (nn.BatchNorm2d, nn.BatchNorm1d)
_RELUS = (nn.ReLU, nn.ReLU6)
_WEIGHTED = (nn.Conv2d, nn.Linear)


def _binary_twin(layer: nn.Module, mode: str, estimator: str) -> nn.Module:
    """A binary layer with the same shape and the float layer's weights as its latent weights."""
    if isinstance(layer, nn.Conv2d):
        if layer.groups != 1 or layer.dilation != (1, 1) or isinstance(layer.padding, str):
            return layer  # depthwise/dilated convs stay float: the runtime has no binary version
        new: nn.Module = BinaryConv2d(layer.in_channels, layer.out_channels, layer.kernel_size,  # type: ignore[arg-type]
                                      stride=layer.stride, padding=layer.padding,  # type: ignore[arg-type]
                                      bias=layer.bias is not None, mode=mode, estimator=estimator)
    else:
        assert isinstance(layer, nn.Linear)
        new = BinaryLinear(layer.in_features, layer.out_features, bias=layer.bias is not None,
                           mode=mode, estimator=estimator)
    new.load_state_dict(layer.state_dict(), strict=False)
    return new.to(layer.weight.device)


def _replace_layers(model: nn.Module, mode: str, estimator: str, keep: set[int]) -> None:
    for name, child in list(model.named_children()):
        if isinstance(child, (BinaryConv2d, BinaryLinear)):
            continue
        if isinstance(child, _WEIGHTED) and id(child) not in keep:
            setattr(model, name, _binary_twin(child, mode, estimator))
        else:
            _replace_layers(child, mode, estimator, keep)


def _is_xnor(m: nn.Module) -> bool:
    return isinstance(m, (BinaryConv2d, BinaryLinear)) and m.mode == "xnor"


def _reorder(seq: nn.Sequential) -> None:
    """Rewrite ``conv, bn, [relu], pool, ..., xnor`` to ``conv, pool, bn, xnor`` inside one Sequential."""
    mods = list(seq)
    out: list[nn.Module] = []
    i = 0
    while i < len(mods):
        m = mods[i]
        nxt = next((x for x in mods[i + 1:] if isinstance(x, _WEIGHTED)), None)
        if isinstance(m, _WEIGHTED) and nxt is not None and _is_xnor(nxt):
            j = i + 1
            block = []
            while j < len(mods) and not isinstance(mods[j], _WEIGHTED):
                block.append(mods[j])
                j += 1
            pools = [b for b in block if isinstance(b, _POOLS)]
            rest = [b for b in block if not isinstance(b, _POOLS) and not isinstance(b, _RELUS)]
            out += [m, *pools, *rest]
            i = j
        else:
            out.append(m)
            i += 1
    if out != mods:
        for k in list(seq._modules):
            del seq._modules[k]
        for k, m in enumerate(out):
            seq.add_module(str(k), m)


def _reorder_all(model: nn.Module) -> None:
    for child in model.children():
        _reorder_all(child)
    if isinstance(model, nn.Sequential):
        _reorder(model)


def binarize(model: nn.Module, mode: str = "xnor", keep_first_last: bool = True,
             estimator: str = "ste") -> nn.Module:
    """Replace conv/linear layers by binary ones (in place; returns ``model``).

    ``keep_first_last`` keeps the first and the last weighted layer (in registration order) float, as
    XNOR-Net does: the first sees the image, the last produces the scores. Batch norms stay; in
    ``"xnor"`` mode Sequential blocks are reordered as the module docstring explains.
    """
    if mode not in MODES:
        raise ValueError(f"unknown binary mode {mode!r}; known: {', '.join(MODES)}")
    weighted = [m for m in model.modules() if isinstance(m, _WEIGHTED)]
    keep = {id(weighted[0]), id(weighted[-1])} if keep_first_last and weighted else set()
    if isinstance(model, _WEIGHTED):
        return model if id(model) in keep else _binary_twin(model, mode, estimator)
    _replace_layers(model, mode, estimator, keep)
    if mode == "xnor":
        _reorder_all(model)
    return model
