"""The shipped faces pipeline through ``xnorvision eval faces``, end to end, on a labelled set of synth
frames made by the test: what a release is scored with must see a broken detector."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import xnorvision_faces as plugin

from xnorvision.testing import CliResult


def test_eval_faces_scores_the_shipped_pipeline_at_each_size(synth_face_list: Path,
                                                              xnv_cli: Callable[..., CliResult]) -> None:
    ran = xnv_cli("eval", "faces", "--data", synth_face_list, "--root", synth_face_list.parent,
                  "--sweep", "long_side=320,416", "--threads", "1", "--json", "r.json", plugins=[plugin])
    assert ran.exit_code == 0, ran.stderr
    results = json.loads(ran.files["r.json"].read_text())["results"]
    assert [(r["name"], r["long_side"]) for r in results] == [("faces@320", 320), ("faces@416", 416)]
    for r in results:
        assert r["ap"] > 0.5 and r["max_recall"] > 0.5, r
