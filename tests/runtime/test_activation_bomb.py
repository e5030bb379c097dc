"""An "activation bomb": every tensor under the per-tensor limit, but so many alive at once that running
the graph needs gigabytes. Refused at load (fixed size) or at the first input size (any-size model)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from xnorvision.errors import ModelFormatError, XnorvisionError
from xnorvision.runtime import Model, load_xnv, save_model
from xnorvision.runtime._format import FORMAT, FORMAT_VERSION, serialise

SIDE = 4096  # one 3-channel float32 activation: 192 MiB per image, well under the 1 GiB per-tensor limit


def _bomb(height: int | None, copies: int = 8) -> tuple[dict, dict]:
    """``copies`` ReLUs of the input, all graph outputs, so all stay alive: copies x 192 MiB at once."""
    nodes = [{"name": f"r{i}", "op": "relu", "inputs": ["input"]} for i in range(copies)]
    graph = {"inputs": ["input"], "outputs": [n["name"] for n in nodes], "nodes": nodes}
    spec = {"height": height, "width": height, "channels": 3, "channel_order": "bgr"}
    return graph, spec


def test_save_refuses_a_graph_whose_live_tensors_exceed_the_limit(tmp_path: Path) -> None:
    graph, spec = _bomb(SIDE)
    with pytest.raises(ModelFormatError, match=r"1\.7 GiB of activations at once per image \(limit 1 GiB\)"):
        save_model(tmp_path / "bomb.xnv", graph, {}, spec, [], {})
    graph, spec = _bomb(SIDE, copies=4)  # 5 x 192 MiB = 0.94 GiB: within the limit
    saved = save_model(tmp_path / "ok.xnv", graph, {}, spec, [], {})
    assert load_xnv(saved).outputs == ["r0", "r1", "r2", "r3"]


def test_load_refuses_a_bomb_written_by_another_tool(tmp_path: Path) -> None:
    graph, spec = _bomb(SIDE)
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "graph": json.dumps(graph),
            "input": json.dumps(spec), "labels": "[]", "metadata": "{}"}
    path = tmp_path / "bomb.xnv"
    path.write_bytes(serialise(meta, {}))
    assert path.stat().st_size < 4096
    with pytest.raises(ModelFormatError, match="bomb.xnv: running the graph would hold 1.7 GiB"):
        Model.load(path)


def test_any_size_model_is_checked_at_its_input_size(tmp_path: Path) -> None:
    graph, spec = _bomb(None)
    model = Model.load(save_model(tmp_path / "any.xnv", graph, {}, spec, [], {}), threads=1)
    assert len(model.run(np.zeros((1, 64, 64, 3), np.float32))) == 8
    with pytest.raises(XnorvisionError, match="size 4096x4096 does not fit this model: running the graph"):
        model.run(np.zeros((1, SIDE, SIDE, 3), np.float32))
