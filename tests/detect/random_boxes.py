"""Random box sets that reach the corners of box arithmetic, for the compiled NMS and nested-box kernels."""

import numpy as np


def clustered_boxes(rng: np.random.Generator, n: int, per_cluster: int = 10, spread: float = 3.0,
                    min_side: float = 2.0) -> np.ndarray:
    """``n`` float32 boxes around a few centres (overlaps and covers near any threshold): an eighth of them
    zero-width, an eighth inverted, a quarter exact copies of others, a sixth touching another's edge."""
    centres = rng.uniform(0, 200, (max(1, n // per_cluster), 2))
    c = centres[rng.integers(0, len(centres), n)] + rng.normal(0, spread, (n, 2))
    wh = rng.uniform(min_side, 40, (n, 2))
    boxes = np.concatenate([c - wh / 2, c + wh / 2], 1).astype(np.float32)
    if n > 1:
        k = rng.integers(0, n, n // 8)
        boxes[k, 2] = boxes[k, 0]  # zero width
        k = rng.integers(0, n, n // 8)
        boxes[k] = boxes[k][:, [2, 3, 0, 1]]  # inverted
        k = rng.integers(0, n, n // 4)
        boxes[k] = boxes[rng.integers(0, n, len(k))]  # identical boxes
        k, j = rng.integers(0, n, n // 6), rng.integers(0, n, n // 6)
        width = boxes[k, 2] - boxes[k, 0]
        boxes[k, 0] = boxes[j, 2]  # touching: its left edge on another box's right edge
        boxes[k, 2] = boxes[k, 0] + width
    return boxes
