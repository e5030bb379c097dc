"""The faces pipeline on aarch64 must find what x86 finds: per frame the same boxes, to float32 noise.

    python scripts/arm64/faces_check.py frames DIR             # the demo video's first frames, as PNGs
    python scripts/arm64/faces_check.py write OUT.jsonl [--frames DIR]
    python scripts/arm64/faces_check.py compare REF.jsonl GOT.jsonl

``write`` made ``faces_x86.jsonl`` (beside this file) on x86; rerun it when the faces models or the demo
video change (``tests/scripts/test_faces_check.py`` fails until then). ``make test-arm64`` has x86 decode
the frames (``frames``) and runs the same command line as ``write`` on them inside the arm64 root, the way
a Pi user would, then ``compare``s. The frames travel as PNGs because decoding the video is not the same on
both: OpenCV's FFmpeg turned 72% of the first frame's bytes 1-3 levels apart on aarch64 (its YUV to BGR
conversion and IDCT have their own SIMD code per CPU), and a binary net turns that into other boxes.
On equal frames the pipeline is the same computation on both: the frame's shrink (``area_shrink``), the
binary kernels and the float convolutions before each sign (fused multiply-adds, or the BWN tables' adds,
in one order) give the same bits, so the signs agree everywhere. Only the 1x1 heads and the classifier's
linear layer go through BLAS, whose sums differ in the last bit (boxes move by about 1e-5 px); once in a
while that moves a crop's sample across OpenCV's 1/32-pixel grid, which moved a box by 0.09 px and a score
by 0.001. Hence the tolerances.
Only the frame index and the detections are compared.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "assets" / "demo_faces.mp4"
REFERENCE = Path(__file__).with_name("faces_x86.jsonl")
# the command a user types, threads fixed so that nothing but the CPU differs between the two machines
THRESHOLD = 0.5
FRAMES = 24  # a quarter of the video: under qemu each frame takes seconds
RUN = ["run", "--plugin", "faces", "--headless", "--threads", "1", "--threshold", str(THRESHOLD),
       "--max-frames", str(FRAMES)]
BOX_TOL = 0.02  # of the reference box's long side, on every coordinate
SCORE_TOL = 0.01
NEAR_THRESHOLD = 0.01  # a face this close to the threshold may fall either side


def read_frames(path: Path) -> dict[int, list[dict[str, Any]]]:
    """Frame index -> its detections, from a ``--save-json`` file (other fields ignored)."""
    frames = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            record = json.loads(line)
            frames[int(record["index"])] = record["detections"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{n}: not a --save-json record ({exc})") from exc
    return frames


def _distance(a: dict[str, Any], b: dict[str, Any]) -> float:
    """The largest coordinate difference, in units of ``a``'s long side."""
    side = max(a["box"][2] - a["box"][0], a["box"][3] - a["box"][1], 1e-6)
    return max(abs(x - y) for x, y in zip(a["box"], b["box"], strict=True)) / side


def _frame_problems(want: list[dict[str, Any]], have: list[dict[str, Any]], box_tol: float,
                    score_tol: float, near: float) -> list[str]:
    have = list(have)
    problems = []
    for w in want:
        nearest = min(have, key=lambda g, w=w: _distance(w, g), default=None)
        if nearest is None or _distance(w, nearest) > box_tol or nearest["label"] != w["label"]:
            if w["score"] > THRESHOLD + near:  # near the threshold it may fall either side
                problems.append(f"{w['label']} {w['box']} (score {w['score']}) is missing")
            continue
        have.remove(nearest)
        if abs(w["score"] - nearest["score"]) > score_tol:
            problems.append(f"{w['label']} {w['box']}: score {nearest['score']}, want {w['score']}")
    problems += [f"{g['label']} {g['box']} (score {g['score']}) is not in the reference" for g in have
                 if g["score"] > THRESHOLD + near]
    return problems


def compare(reference: dict[int, list[dict[str, Any]]], got: dict[int, list[dict[str, Any]]],
            box_tol: float = BOX_TOL, score_tol: float = SCORE_TOL, near: float = NEAR_THRESHOLD
            ) -> list[str]:
    """Every difference beyond the tolerances, one line each (empty: the runs agree).

    Per frame, each reference detection pairs with the nearest one found (so two nearly equal scores that
    swapped order do not count); one left over is a difference, unless its score is within ``near``
    of the threshold, where the last bits decide which side it falls.
    """
    problems = [f"frame {i}: missing" for i in sorted(reference.keys() - got.keys())]
    problems += [f"frame {i}: not in the reference" for i in sorted(got.keys() - reference.keys())]
    for i in sorted(reference.keys() & got.keys()):
        found = _frame_problems(reference[i], got[i], box_tol, score_tol, near)
        problems += [f"frame {i}: {p}" for p in found]
    return problems


def frames(out_dir: Path) -> None:
    """The demo video's first ``FRAMES`` frames as decoded on this machine, losslessly: ``000.png``, ..."""
    import cv2  # only this command needs OpenCV in the interpreter that runs it

    out_dir.mkdir(parents=True, exist_ok=True)
    video = cv2.VideoCapture(str(DEMO))
    try:
        for i in range(FRAMES):
            ok, frame = video.read()
            if not ok:
                raise SystemExit(f"{DEMO}: has fewer than {FRAMES} frames")
            cv2.imwrite(str(out_dir / f"{i:03d}.png"), frame)
    finally:
        video.release()


def write(out: Path, frames_dir: Path | None = None) -> None:
    """Run the faces pipeline on the demo frames (``frames_dir``, else decoded here) with this machine's
    xnorvision, as a user types it; keep each frame's index and detections."""
    with tempfile.TemporaryDirectory() as tmp:
        if frames_dir is None:
            frames_dir = Path(tmp) / "frames"
            frames(frames_dir)
        raw = Path(tmp) / "faces.jsonl"
        # the console script beside this interpreter, as a user runs it
        subprocess.run([str(Path(sys.executable).with_name("xnorvision")), *RUN, "--source", str(frames_dir),
                        "--save-json", str(raw)], check=True)
        found = read_frames(raw)
    lines = [json.dumps({"index": i, "detections": d}) + "\n" for i, d in sorted(found.items())]
    out.write_text("".join(lines), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("frames").add_argument("dir", type=Path)
    write_cmd = commands.add_parser("write")
    write_cmd.add_argument("out", type=Path)
    write_cmd.add_argument("--frames", type=Path, help="the frames to run on (default: decode them here)")
    check = commands.add_parser("compare")
    check.add_argument("reference", type=Path)
    check.add_argument("got", type=Path)
    args = parser.parse_args(argv)
    if args.command == "frames":
        frames(args.dir)
        return 0
    if args.command == "write":
        write(args.out, args.frames)
        return 0
    problems = compare(read_frames(args.reference), read_frames(args.got))
    for line in problems[:20]:
        print(f"[arm64] {line}", file=sys.stderr)
    if problems:
        print(f"[arm64] faces: {len(problems)} differences from {args.reference}", file=sys.stderr)
        return 1
    print(f"[arm64] faces: {len(read_frames(args.got))} frames match {args.reference.name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
