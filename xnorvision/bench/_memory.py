"""Whether a batch fits this machine's memory, asked before each runtime of ``bench model`` allocates it.

``bench model --reference resnet18 --batch 1024`` once grew past 24 GB and the kernel's OOM killer ended
it (exit 137, a crash, on a machine other programs share): every peer holds its own float activations for
the whole batch (``/usr/bin/time -v`` of the same command at ``--batch 128``: 8.2 GB resident, at 1: 0.7).
A peer whose estimate does not fit in half of the memory still available (:mod:`xnorvision._ram`) is
skipped, and its row says so; our own runtime not fitting is the user's error. Estimates, not
measurements: the peers' own buffers are theirs to plan.
"""

from __future__ import annotations

from dataclasses import replace

from xnorvision.runtime import Model
from xnorvision.runtime._graph import infer, tensor_bytes
from xnorvision.runtime._schema import TensorType


def float_runtime_bytes(model: Model, height: int, width: int) -> int:
    """Per image, the input and every node's output as float32: what the torch twin keeps alive until its
    forward returns, and more than a runtime that reuses buffers takes (ResNet-18, vgg-small and the faces
    net at ``--batch`` 16 to 1024: the four peers together took 1.6 to 3.2 times this sum, by resident
    size)."""
    types, _ = infer(model.file.nodes, TensorType("float", 4, model.input_spec["channels"], height, width))
    return sum(tensor_bytes(replace(t, kind="float")) or 0 for t in types.values())  # bits as a float peer
