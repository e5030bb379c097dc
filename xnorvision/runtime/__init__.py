"""The .xnv model format and the inference runtime that runs it on the XNOR kernels."""

from xnorvision.runtime.format import XnvFile, load_xnv, save_model

__all__ = ["XnvFile", "load_xnv", "save_model"]
