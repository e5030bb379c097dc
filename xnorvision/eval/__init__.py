"""Accuracy measurement (``xnorvision eval ...``): plain numpy/OpenCV, no torch."""

from xnorvision.eval.classify import ClassifyReport, confusion_image, evaluate_classifier, read_jpeg_chunk

__all__ = ["ClassifyReport", "confusion_image", "evaluate_classifier", "read_jpeg_chunk"]
