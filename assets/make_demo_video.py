"""Make ``assets/demo_faces.mp4``: public-domain / CC0 pictures from scikit-image's sample data, moved about.

    pip download scikit-image --no-deps -d /tmp/sk
    unzip -o /tmp/sk/scikit_image-*.whl 'skimage/data/*' -d /tmp/sk
    python assets/make_demo_video.py --images /tmp/sk/skimage/data

scikit-image is needed only here, to get the pictures; it is not a dependency of xnorvision.
Faces: three copies of ``astronaut.png`` (Eileen Collins, NASA, public domain) at different sizes, panned
and zoomed over ``rocket.jpg`` (SpaceX, public domain), with ``chelsea.png`` (a cat, CC0) as a distractor.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

W, H, FPS, SECONDS = 640, 360, 12, 8
OUT_SIZE = (480, 270)  # drawn at 640x360, written smaller to keep the file under 2 MB


def paste(frame: np.ndarray, image: np.ndarray, cx: float, cy: float, side: float) -> None:
    """Draw ``image`` scaled to ``side`` pixels wide, centred on (cx, cy), clipped to the frame."""
    s = side / image.shape[1]
    m = np.array([[s, 0, cx - s * image.shape[1] / 2], [0, s, cy - s * image.shape[0] / 2]], np.float32)
    warped = cv2.warpAffine(image, m, (W, H), flags=cv2.INTER_AREA, borderValue=(0, 0, 0))
    mask = cv2.warpAffine(np.full(image.shape[:2], 255, np.uint8), m, (W, H), flags=cv2.INTER_NEAREST)
    frame[mask > 0] = warped[mask > 0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, required=True, help="scikit-image's skimage/data folder")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "demo_faces.mp4")
    args = ap.parse_args()
    astronaut = cv2.imread(str(args.images / "astronaut.png"))
    rocket = cv2.imread(str(args.images / "rocket.jpg"))
    cat = cv2.imread(str(args.images / "chelsea.png"))
    writer = cv2.VideoWriter(str(args.out), cv2.VideoWriter_fourcc(*"mp4v"), FPS, OUT_SIZE)
    n = FPS * SECONDS
    for i in range(n):
        t = i / (n - 1)
        # Background: a slow pan over the rocket launch picture.
        bg_scale = W / rocket.shape[1] * 1.25
        m = np.array([[bg_scale, 0, -t * (rocket.shape[1] * bg_scale - W)], [0, bg_scale, -20]], np.float32)
        frame = cv2.warpAffine(rocket, m, (W, H), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)
        paste(frame, cat, 560 - 80 * t, 290, 150)
        paste(frame, astronaut, 140 + 300 * t, 170, 180 + 170 * np.sin(np.pi * t))   # zooms in and out
        a = 4 * np.pi * t
        paste(frame, astronaut[:, ::-1], 520 + 60 * np.cos(a), 90 + 40 * np.sin(a), 110)
        paste(frame, astronaut, 60 + 40 * t, 300, 70)
        writer.write(cv2.resize(frame, OUT_SIZE, interpolation=cv2.INTER_AREA))
    writer.release()
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB, {n} frames)")


if __name__ == "__main__":
    main()
