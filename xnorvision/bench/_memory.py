"""Whether a batch fits this machine's memory, asked before each runtime of ``bench model`` allocates it.

``bench model --reference resnet18 --batch 1024`` once grew past 24 GB and the kernel's OOM killer ended
it (exit 137, a crash, on a machine other programs share): every peer holds its own float activations for
the whole batch (``/usr/bin/time -v`` of the same command at ``--batch 128``: 8.2 GB resident, at 1: 0.7).
A peer whose estimate does not fit in half of the memory still available (:mod:`xnorvision._ram`) is
skipped, and its row says so; our own runtime not fitting is the user's error. Estimates, not
measurements: the peers' own buffers are theirs to plan.
"""

from __future__ import annotations

import re

from xnorvision.runtime import Model


def float_runtime_bytes(model: Model, height: int, width: int) -> int:
    """Per image, the input and every node's output as float32: what the torch twin keeps alive until its
    forward returns, and more than a runtime that reuses buffers takes (ResNet-18, vgg-small and the faces
    net at ``--batch`` 16 to 1024: the four peers together took 1.6 to 3.2 times this sum, by resident
    size)."""
    info = model.info(height, width)
    spec = info["input"]
    total = 4 * height * width * int(spec["channels"])
    for layer in info["layers"]:
        shape = layer["output"].split("[", 1)[1]  # "float[N,112,112,64]" or "bits[N,56,56,64]"
        size = 4
        for dim in re.findall(r"\d+", shape):
            size *= int(dim)
        total += size
    return total
