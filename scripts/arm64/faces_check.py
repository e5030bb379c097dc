"""The faces pipeline on aarch64 must find what x86 finds: per frame the same boxes, within a pixel.

    python scripts/arm64/faces_check.py write OUT.jsonl        # the reference: the demo video on this machine
    python scripts/arm64/faces_check.py compare REF.jsonl GOT.jsonl

``write`` made ``faces_x86.jsonl`` (beside this file) on x86; rerun it when the faces models or the demo
video change (``tests/scripts/test_faces_check.py`` fails until then). ``make test-arm64`` runs the same
command line as ``write`` inside the arm64 root, the way a Pi user would, and ``compare``s. The binary
kernels are exact on every SIMD path; the float layers (BLAS, OpenCV resizing) may differ in the last bits
between NEON and AVX, hence the tolerances. Only the frame index and the detections are compared.
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
RUN = ["run", "--source", str(DEMO), "--plugin", "faces", "--headless", "--threads", "1", "--threshold",
       str(THRESHOLD), "--max-frames", str(FRAMES)]
# A binary net turns last-bit float differences (BLAS and FMA on NEON vs AVX) into a few flipped signs, so
# ARM's boxes move by a pixel or two and scores by a few hundredths: measured on the first qemu run, up to
# 0.06 of a box's size and 0.07 in score. A wrong kernel loses or moves faces far more.
BOX_TOL = 0.15  # of the reference box's long side, on every coordinate
SCORE_TOL = 0.1
NEAR_THRESHOLD = 0.1  # a face this close to the threshold may fall either side


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


def write(out: Path) -> None:
    """Run the faces pipeline on the demo video with this machine's xnorvision; keep index + detections."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "faces.jsonl"
        # the console script beside this interpreter, as a user runs it
        subprocess.run([str(Path(sys.executable).with_name("xnorvision")), *RUN, "--save-json", str(raw)],
                       check=True)
        frames = read_frames(raw)
    lines = [json.dumps({"index": i, "detections": d}) + "\n" for i, d in sorted(frames.items())]
    out.write_text("".join(lines), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("write").add_argument("out", type=Path)
    check = commands.add_parser("compare")
    check.add_argument("reference", type=Path)
    check.add_argument("got", type=Path)
    args = parser.parse_args(argv)
    if args.command == "write":
        write(args.out)
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
