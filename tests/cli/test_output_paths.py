"""An output that is an input (or another output) is refused before anything opens; the input is untouched."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest


def _run_cases(tmp: Path, video: Path, model: Path) -> dict[str, list[str]]:
    link = tmp / "link.mp4"
    link.symlink_to(video)
    hard = tmp / "hard.mp4"
    os.link(video, hard)
    run = ["run", "--headless", "--source", str(video)]
    return {
        "save-is-source": run + ["--save", str(video)],
        "save-via-dot": run + ["--save", os.path.join(str(tmp), ".", "v.mp4")],
        "save-via-symlink": run + ["--save", str(link)],
        "save-via-hard-link": run + ["--save", str(hard)],
        "json-is-source": run + ["--save-json", str(video)],
        "json-is-model": run + ["--plugin", "classify", "--model", str(model), "--save-json", str(model)],
        "save-is-json": ["run", "--headless", "--source", "synth:3", "--save", str(tmp / "o.mp4"),
                         "--save-json", str(tmp / "x" / ".." / "o.mp4")],
        "sink-is-source": run + ["--sink", f"lines:{video}"],
        "eval-json-is-model": ["eval", "classify", "--model", str(model), "--data", str(tmp / "d.npz"),
                               "--json", str(model)],
        "faces-plot-is-list": ["eval", "faces", "--data", str(tmp / "f.txt"), "--root", str(tmp),
                               "--baselines-only", "--baseline", "haar:no.xml", "--plot", str(tmp / "f.txt")],
        "convert-out-is-model": ["model", "convert", str(model), "--out", str(model)],
        "bench-json-is-model": ["bench", "model", str(model), "--json", str(model)],
        "export-out-is-checkpoint": ["export", str(tmp / "ckpt.pt"), "--out", str(tmp / "ckpt.pt")],
    }


CASES = ["save-is-source", "save-via-dot", "save-via-symlink", "save-via-hard-link", "json-is-source",
         "json-is-model", "save-is-json", "sink-is-source", "eval-json-is-model", "faces-plot-is-list",
         "convert-out-is-model", "bench-json-is-model", "export-out-is-checkpoint"]


@pytest.mark.parametrize("case", CASES)
def test_output_equal_to_an_input_is_refused(cli, plugins, make_video, tiny_model: Path, tmp_path: Path,
                                             case: str) -> None:
    video = make_video()
    (tmp_path / "ckpt.pt").write_bytes(b"checkpoint bytes")
    (tmp_path / "d.npz").write_bytes(b"data bytes")
    (tmp_path / "f.txt").write_text("a.jpg 1,2,3,4\n")
    (tmp_path / "x").mkdir()
    before = {p: p.read_bytes() for p in (video, tiny_model, tmp_path / "ckpt.pt", tmp_path / "d.npz",
                                   tmp_path / "f.txt")}
    code, _, err = cli(*_run_cases(tmp_path, video, tiny_model)[case])
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1 and "is the same file as" in err
    assert {p: p.read_bytes() for p in before} == before
    assert not (tmp_path / "o.mp4").exists()


def test_distinct_outputs_still_run(cli, plugins, make_video, tmp_path: Path) -> None:
    video = make_video()
    code, out, err = cli("run", "--headless", "--source", str(video), "--save", str(tmp_path / "o.mp4"),
                         "--save-json", str(tmp_path / "o.jsonl"))
    assert code == 0 and "4 frames" in out, err


def test_an_image_of_the_source_folder_is_an_input(cli, plugins, tmp_path: Path) -> None:
    (tmp_path / "imgs").mkdir()
    cv2.imwrite(str(tmp_path / "imgs" / "a.png"), np.zeros((8, 8, 3), np.uint8))
    before = (tmp_path / "imgs" / "a.png").read_bytes()
    code, _, err = cli("run", "--headless", "--source", str(tmp_path / "imgs"), "--save-json",
                       str(tmp_path / "imgs" / "a.png"))
    assert code == 2 and "is the same file as --source" in err
    assert (tmp_path / "imgs" / "a.png").read_bytes() == before
