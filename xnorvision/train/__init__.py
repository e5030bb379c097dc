"""Training binary networks with torch (the ``[train]`` extra): layers, binarize, data, export.

The public training API: a plugin's training code (``xnorvision_faces.training``, the example in
docs/plugins.md) imports only these names. The only package of xnorvision that imports torch; the runtime
never needs it.
"""

from xnorvision.eval import read_image_folder
from xnorvision.train._binarize import binarize
from xnorvision.train._data import data_hash, input_spec, to_tensor
from xnorvision.train._estimators import ESTIMATORS, hard_sign, sign
from xnorvision.train._export import ExportError, export_model
from xnorvision.train._layers import MODES, BinaryConv2d, BinaryLinear, SignActivation

__all__ = ["ESTIMATORS", "MODES", "BinaryConv2d", "BinaryLinear", "ExportError", "SignActivation", "binarize",
           "data_hash", "export_model", "hard_sign", "input_spec", "read_image_folder", "sign", "to_tensor"]
