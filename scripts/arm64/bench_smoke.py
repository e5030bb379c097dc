"""Runs ``xnorvision bench kernels --quick`` inside the arm64 root on one small layer.

Under qemu, speed means nothing: this proves that the command works on aarch64 (CLI, the NEON peak loop,
timing, the table). The full ResNet-18 layer set took over 20 minutes under qemu on the shared 2-core
host, so the layers and repeats are cut here; the bench itself is unchanged.
"""

from __future__ import annotations

import dataclasses

from xnorvision.bench import _kernels as bench
from xnorvision.cli import main

bench.LAYERS = [("conv3x3_7x7x64", 7, 64)]
_settings = bench.settings
bench.settings = lambda threads, quick: dataclasses.replace(_settings(threads, quick), repeats=1,
                                                            peak_iters=4000)
main(["bench", "kernels", "--quick", "--threads", "1"])
