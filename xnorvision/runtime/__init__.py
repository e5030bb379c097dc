"""The .xnv model format and the inference runtime that runs it on the XNOR kernels."""

from xnorvision.runtime.executor import Model
from xnorvision.runtime.format import XnvFile, load_xnv, save_model
from xnorvision.runtime.outputs import to_probabilities

__all__ = ["Model", "XnvFile", "load_xnv", "save_model", "to_probabilities"]
