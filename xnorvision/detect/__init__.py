"""Detection results and the box arithmetic every stage shares."""

from xnorvision.detect.boxes import box_iou, nms
from xnorvision.detect.crops import crop_square, crop_squares
from xnorvision.detect.detections import Detections

__all__ = ["Detections", "box_iou", "crop_square", "crop_squares", "nms"]
