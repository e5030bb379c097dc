"""``make test-arm64``'s faces check: the committed x86 reference is today's x86 answer, and the comparison
catches a moved box, a lost or extra face and a lost frame while forgiving float noise and the threshold;
the frames it hands the arm64 root are the video's, losslessly."""

from __future__ import annotations

import copy
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("faces_check", ROOT / "scripts" / "arm64" / "faces_check.py")
faces_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(faces_check)


@pytest.fixture(scope="module")
def reference() -> dict:
    return faces_check.read_frames(faces_check.REFERENCE)


def test_the_reference_is_what_x86_finds_today(tmp_path: Path, reference: dict) -> None:
    if not Path(sys.executable).with_name("xnorvision").exists():
        pytest.skip("no xnorvision console script beside this python")
    faces_check.write(tmp_path / "now.jsonl")
    now = faces_check.read_frames(tmp_path / "now.jsonl")
    problems = faces_check.compare(reference, now, box_tol=0.0, score_tol=0.0, near=0.0)
    rerun = f"python scripts/arm64/faces_check.py write {faces_check.REFERENCE}"
    assert not problems, f"rerun: {rerun}\n{problems}"
    n = faces_check.FRAMES
    assert len(now) == n and sum(map(len, now.values())) > n  # the demo video's faces, found


def _frames_with_clear_faces(reference: dict) -> list[int]:
    """Frames (not the first) whose every face scores clear of the threshold's band of doubt (a face
    inside it may fall either side, so losing it is no difference)."""
    clear = faces_check.THRESHOLD + faces_check.NEAR_THRESHOLD
    return [i for i, d in reference.items() if i and d and min(x["score"] for x in d) > clear]


def test_cross_architecture_noise_passes(reference: dict) -> None:
    """What qemu runs showed on equal frames: boxes moved by up to 0.09 px, scores by 0.001."""
    got = copy.deepcopy(reference)
    for detections in got.values():
        for d in detections:
            side = max(d["box"][2] - d["box"][0], d["box"][3] - d["box"][1])
            d["box"] = [v + 0.015 * side for v in d["box"]]
            d["score"] -= 0.008
        detections.reverse()  # order does not matter
    assert faces_check.compare(reference, got) == []


def test_a_moved_box_a_lost_face_an_extra_face_and_a_lost_frame_are_caught(reference: dict) -> None:
    got = copy.deepcopy(reference)
    i, j, k = _frames_with_clear_faces(reference)[:3]
    box = got[i][0]["box"]
    box[2] += 0.05 * max(box[2] - box[0], box[3] - box[1])
    lost = got[j].pop()
    got[k].append({"box": [1.0, 1.0, 20.0, 20.0], "score": 0.9, "label": "face"})
    del got[0]
    problems = faces_check.compare(reference, got)
    assert problems[0] == "frame 0: missing"
    moved = [p for p in problems if p.startswith(f"frame {i}: ")]  # a moved face: lost here, new there
    assert len(moved) == 2 and "is missing" in moved[0] and "is not in the reference" in moved[1]
    assert f"frame {j}: face {lost['box']} (score {lost['score']}) is missing" in problems
    assert f"frame {k}: face [1.0, 1.0, 20.0, 20.0] (score 0.9) is not in the reference" in problems


def test_a_face_at_the_threshold_may_fall_either_side(reference: dict) -> None:
    got = copy.deepcopy(reference)
    got[0].append({"box": [1.0, 1.0, 20.0, 20.0], "score": 0.505, "label": "face"})
    assert faces_check.compare(reference, got) == []
    got[0][-1]["score"] = 0.52
    assert faces_check.compare(reference, got) == [
        "frame 0: face [1.0, 1.0, 20.0, 20.0] (score 0.52) is not in the reference"]


def test_compare_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref = faces_check.REFERENCE
    assert faces_check.main(["compare", str(ref), str(ref)]) == 0
    short = tmp_path / "short.jsonl"
    short.write_text("".join(ref.read_text().splitlines(keepends=True)[:-1]))
    assert faces_check.main(["compare", str(ref), str(short)]) == 1
    assert f"frame {faces_check.FRAMES - 1}: missing" in capsys.readouterr().err


def test_frames_are_the_videos_first_frames_losslessly(tmp_path: Path) -> None:
    """What x86 hands the arm64 root: PNGs, which decode to the very bytes the video decoded to here."""
    import cv2
    import numpy as np

    assert faces_check.main(["frames", str(tmp_path)]) == 0
    files = sorted(tmp_path.glob("*.png"))
    assert [f.name for f in files] == [f"{i:03d}.png" for i in range(faces_check.FRAMES)]
    video = cv2.VideoCapture(str(faces_check.DEMO))
    for f in files[:3]:
        ok, frame = video.read()
        assert ok
        np.testing.assert_array_equal(cv2.imread(str(f)), frame)
