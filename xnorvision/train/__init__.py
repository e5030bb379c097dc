"""Training binary networks with torch (the ``[train]`` extra): layers, binarize, recipes, export.

The only package of xnorvision that imports torch; the runtime never needs it.
"""

from xnorvision.train.binarize import binarize
from xnorvision.train.estimators import ESTIMATORS, hard_sign, sign
from xnorvision.train.export import ExportError, export_model
from xnorvision.train.layers import MODES, BinaryConv2d, BinaryLinear, SignActivation

__all__ = ["ESTIMATORS", "MODES", "BinaryConv2d", "BinaryLinear", "ExportError", "SignActivation", "binarize",
           "export_model", "hard_sign", "sign"]
