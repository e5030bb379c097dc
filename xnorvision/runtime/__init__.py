"""The .xnv model format and the inference runtime that runs it on the XNOR kernels."""

from xnorvision.runtime.executor import Model
from xnorvision.runtime.format import XnvFile, load_xnv, save_model

__all__ = ["Model", "XnvFile", "load_xnv", "save_model"]
