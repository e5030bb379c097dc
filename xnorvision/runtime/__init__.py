"""The .xnv model format and the inference runtime that runs it on the XNOR kernels."""

from xnorvision.runtime._executor import Model
from xnorvision.runtime._format import XnvFile, load_xnv, save_model
from xnorvision.runtime._outputs import to_probabilities

__all__ = ["Model", "XnvFile", "load_xnv", "save_model", "to_probabilities"]
