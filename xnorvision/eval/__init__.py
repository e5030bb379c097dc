"""Accuracy measurement (``xnorvision eval ...``): plain numpy/OpenCV, no torch."""

from xnorvision.eval._classify import (
    ClassifyReport,
    confusion_image,
    evaluate_classifier,
    read_jpeg_chunk,
    read_labelled,
)
from xnorvision.eval._image_folder import read_image_folder

__all__ = ["ClassifyReport", "confusion_image", "evaluate_classifier", "read_image_folder", "read_jpeg_chunk",
           "read_labelled"]
