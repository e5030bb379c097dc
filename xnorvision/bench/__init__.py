"""``xnorvision bench ...``: a network on our runtime timed against its peers, and where its time goes.

Names are imported on first use: the peers (torch, onnxruntime, OpenVINO) load only when a bench runs.
"""

from typing import TYPE_CHECKING

from xnorvision._lazy import lazy_exports

if TYPE_CHECKING:
    from xnorvision.bench._model import bench_model, format_report
    from xnorvision.bench._peers import PEERS
    from xnorvision.bench._profile import format_profile, profile_model

__all__ = ["PEERS", "bench_model", "format_profile", "format_report", "profile_model"]
__getattr__, __dir__ = lazy_exports(__name__, {
    **dict.fromkeys(["bench_model", "format_report"], "xnorvision.bench._model"),
    "PEERS": "xnorvision.bench._peers",
    **dict.fromkeys(["format_profile", "profile_model"], "xnorvision.bench._profile"),
})
