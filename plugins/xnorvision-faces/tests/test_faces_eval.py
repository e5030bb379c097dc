"""The shipped faces pipeline through ``xnorvision eval faces``, end to end, on a labelled set of synth
frames made by the test: what a release is scored with must see a broken detector."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import xnorvision_faces as plugin

from xnorvision.cli import main
from xnorvision.plugins import _manager


@pytest.fixture
def faces_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Entry points as if only this plugin were installed (whatever else is in the environment)."""
    monkeypatch.setattr(_manager, "_entry_point_plugins", lambda: [("faces", "test", lambda: plugin)])
    monkeypatch.delenv("XNORVISION_DISABLE_PLUGINS", raising=False)


def test_eval_faces_scores_the_shipped_pipeline_at_each_size(tmp_path: Path, synth_face_list: Path,
                                                              faces_installed: None) -> None:
    out = tmp_path / "r.json"
    with pytest.raises(SystemExit) as exc:
        main(["eval", "faces", "--data", str(synth_face_list), "--root", str(synth_face_list.parent),
              "--sweep", "long_side=320,416", "--threads", "1", "--json", str(out)])
    assert exc.value.code == 0
    results = json.loads(out.read_text())["results"]
    assert [(r["name"], r["long_side"]) for r in results] == [("faces@320", 320), ("faces@416", 416)]
    for r in results:
        assert r["ap"] > 0.5 and r["max_recall"] > 0.5, r
