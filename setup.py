"""Builds the Cython kernels in cython_kernels/ into the xnorvision package.

Each ``cython_kernels/<name>.pyx`` becomes the extension module ``xnorvision._<name>``. No
``-march=native``: the wheel must run on any x86-64 or aarch64; SIMD paths are chosen at run time.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = Path(__file__).parent
openmp = ["-fopenmp"] if sys.platform.startswith("linux") else []

extensions = [
    Extension(
        f"xnorvision._{pyx.stem}",
        [str(pyx.relative_to(HERE))],
        include_dirs=[np.get_include(), "cython_kernels"],
        # No FMA contraction: the fused kernel's float32 ``scale * acc + bias`` must round like numpy's.
        extra_compile_args=["-O3", "-ffp-contract=off", *openmp],
        extra_link_args=openmp,
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )
    for pyx in sorted((HERE / "cython_kernels").glob("*.pyx"))
]

setup(ext_modules=cythonize(extensions, language_level=3, compiler_directives={"boundscheck": False,
                                                                                "wraparound": False}))
