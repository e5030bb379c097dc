import json

import numpy as np
import pytest

from xnorvision.detect import Detections


def test_empty_has_no_boxes_and_serialises_to_empty_list():
    d = Detections.empty()
    assert len(d) == 0 and d.boxes.shape == (0, 4) and d.to_json() == []


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError, match="2 boxes but 1 scores"):
        Detections(np.zeros((2, 4)), np.zeros(1), ("a", "b"))


def test_select_by_mask_and_index_keeps_all_fields_aligned():
    d = Detections(
        np.arange(12, dtype=np.float32).reshape(3, 4),
        [0.1, 0.2, 0.3],
        ("a", "b", "c"),
        ((("x", 0.9),), (("y", 0.8),), (("z", 0.7),)),
    )
    m = d.select(np.array([True, False, True]))
    assert m.labels == ("a", "c") and m.top_k[1] == (("z", 0.7),)
    np.testing.assert_array_equal(m.boxes[1], [8, 9, 10, 11])
    assert d.select([1]).scores.tolist() == pytest.approx([0.2])


def test_to_json_is_json_serialisable_and_rounded():
    d = Detections.from_boxes(np.array([[1.234567, 2, 3, 4]]), np.array([0.123456]), "face")
    rec = json.loads(json.dumps(d.to_json()))[0]
    assert rec == {"box": [1.23, 2.0, 3.0, 4.0], "score": 0.1235, "label": "face"}
