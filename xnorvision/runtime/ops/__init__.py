"""The .xnv ops, one record each (:class:`OpDef`): schema, runtime layer, MAC count, torch twin, OpenVINO.

Each op lives in one private module (convolutions, dense layers, pooling, elementwise ops, reshapes);
:data:`OPS` maps every op name to its record. Everything that used to switch on op names (graph checks,
the executor, ``model.info``, the torch and OpenVINO peers) looks the op up here instead.
"""

from xnorvision.runtime.ops import _conv, _dense, _eltwise, _pool, _shape
from xnorvision.runtime.ops._def import OpDef
from xnorvision.runtime.ops._eltwise import bn_affine
from xnorvision.runtime.ops._lowering import unpack_signs
from xnorvision.runtime.ops._openvino import Unsupported, signs

#: every op, by the name files use
OPS: dict[str, OpDef] = {d.name: d for m in (_conv, _dense, _pool, _eltwise, _shape) for d in m.DEFS}

__all__ = ["OPS", "OpDef", "Unsupported", "bn_affine", "signs", "unpack_signs"]
