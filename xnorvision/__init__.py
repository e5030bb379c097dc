"""xnorvision: real-time computer vision on ordinary CPUs with binary (XNOR) neural networks.

The package root stays light (no Qt, no torch, no kernels imported at start-up); the public API that
plugins use lives in :mod:`xnorvision.api`.
"""

from __future__ import annotations

__version__ = "0.1.0"
#: Version of the plugin API (hooks and spec types). A plugin built for a newer one gets a warning.
API_VERSION = 1

__all__ = ["API_VERSION", "Detections", "Model", "__version__"]


def __getattr__(name: str) -> object:
    """``xnorvision.Model`` and ``xnorvision.Detections``, imported on first use to keep start-up light."""
    if name == "Model":
        from xnorvision.runtime import Model

        return Model
    if name == "Detections":
        from xnorvision.detect import Detections

        return Detections
    raise AttributeError(f"module 'xnorvision' has no attribute {name!r}")
