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


def test_profile_names_every_step_of_the_faces_pipeline(synth_face_list: Path,
                                                        xnv_cli: Callable[..., CliResult]) -> None:
    """``eval faces --profile``: each stage's rows are its model's op kinds and the steps it names, each
    run on every frame, and the scores are those of a run without the profile."""
    args = ["eval", "faces", "--data", synth_face_list, "--root", synth_face_list.parent, "--threads", "1"]
    plain = xnv_cli(*args, "--json", "r.json", plugins=[plugin])
    ran = xnv_cli(*args, "--json", "r.json", "--profile", plugins=[plugin])
    assert ran.exit_code == 0 == plain.exit_code, ran.stderr
    doc, before = (json.loads(r.files["r.json"].read_text()) for r in (ran, plain))
    assert "profile" not in before and before["results"][0]["ap"] == doc["results"][0]["ap"]
    [profile] = doc["profile"]
    assert profile["name"] == "faces" and profile["frames"] == doc["images"] == 8
    proposal, classifier = profile["stages"]
    steps = {s["name"]: s for s in proposal["steps"] if "model" not in s}
    assert list(steps) == ["shrink", "decode", "NMS", "other"]
    assert {s["name"] for s in proposal["steps"] if s.get("model") == "proposal.xnv"} >= {
        "float conv", "binary conv", "executor"}
    assert [s["name"] for s in classifier["steps"] if "model" not in s] == ["crops", "NMS", "nested boxes",
                                                                             "other"]
    for stage in (proposal, classifier):
        assert all(s["frames"] == 8 and s["ms"] >= 0 for s in stage["steps"] if s["name"] != "other")
    assert "| faces-proposal | (all) |" in ran.stdout and "| | proposal.xnv: binary conv |" in ran.stdout
