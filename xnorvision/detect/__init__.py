"""Detection results and the box arithmetic every stage shares (imported on first use: NMS is a kernel)."""

from typing import TYPE_CHECKING

from xnorvision._lazy import lazy_exports

if TYPE_CHECKING:
    from xnorvision.detect._boxes import box_iou, drop_nested, nms
    from xnorvision.detect._crops import crop_square, crop_squares
    from xnorvision.detect._detections import Detections

__all__ = ["Detections", "box_iou", "crop_square", "crop_squares", "drop_nested", "nms"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "Detections": "xnorvision.detect._detections",
    "box_iou": "xnorvision.detect._boxes",
    "nms": "xnorvision.detect._boxes",
    "drop_nested": "xnorvision.detect._boxes",
    "crop_square": "xnorvision.detect._crops",
    "crop_squares": "xnorvision.detect._crops",
})
