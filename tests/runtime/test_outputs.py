"""Output kinds: the graph says logits, probabilities or raw; ``Model.probabilities`` converts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xnorvision.errors import ModelFormatError, XnorvisionError
from xnorvision.runtime import Model, load_xnv, save_model, to_probabilities
from xnorvision.testing import write_tiny_model

from . import graphs

IMAGES = np.random.default_rng(0).integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)


def test_declared_logits_become_a_softmax(tmp_path: Path) -> None:
    model = Model.load(write_tiny_model(tmp_path / "t.xnv"), threads=1)
    assert model.output_kinds == {"logits": "logits"}
    logits = model.run(IMAGES)["logits"]
    assert (logits.min() < 0) or (logits.max() > 1)  # real logits: a stage must not report them as scores
    probs = model.probabilities(IMAGES)
    z = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(probs, z / z.sum(1, keepdims=True), rtol=1e-6)
    assert np.allclose(probs.sum(1), 1) and probs.min() >= 0


def test_files_without_output_kinds_are_read_by_their_last_op(tmp_path: Path) -> None:
    graph, tensors, spec = graphs.chain()  # outputs "prob" (a softmax) and "ht" (an NHWC map)
    assert "output_kinds" not in graph
    m = load_xnv(save_model(tmp_path / "old.xnv", graph, tensors, spec, [], {}))
    assert m.output_kinds == {"prob": "probabilities", "ht": "raw"}
    model = Model.load(tmp_path / "old.xnv", threads=1)
    images = np.random.default_rng(1).integers(0, 256, (2, 13, 11, 3), dtype=np.uint8)
    np.testing.assert_array_equal(model.probabilities(images), model.run(images)["prob"])  # no second softmax
    with pytest.raises(XnorvisionError, match="output 'ht' is raw"):
        model.probabilities(images, "ht")
    fc_graph = dict(graph, outputs=["fc"])  # a linear head: a classifier's logits
    tiny = save_model(tmp_path / "fc.xnv", fc_graph, tensors, spec, [], {})
    assert load_xnv(tiny).output_kinds == {"fc": "logits"}


@pytest.mark.parametrize(("kinds", "problem"), [
    ({"prob": "scores"}, "output_kinds['prob'] is 'scores'"),
    ({"nope": "logits"}, "names 'nope', which is not a graph output"),
    (["logits"], "output_kinds must be an object"),
])
def test_bad_output_kinds_are_refused_when_written(tmp_path: Path, kinds, problem: str) -> None:
    graph, tensors, spec = graphs.chain()
    with pytest.raises(ModelFormatError, match=problem.replace("[", r"\[")):
        save_model(tmp_path / "bad.xnv", dict(graph, output_kinds=kinds), tensors, spec, [], {})


def test_to_probabilities() -> None:
    np.testing.assert_allclose(to_probabilities(np.array([[0.0, 0.0]]), "logits"), [[0.5, 0.5]])
    np.testing.assert_allclose(to_probabilities(np.array([[0.0], [np.log(3)]]), "logits"), [[0.5], [0.75]])
    p = np.array([[0.2, 0.8]], np.float32)
    np.testing.assert_array_equal(to_probabilities(p, "probabilities"), p)
    with pytest.raises(ValueError, match="'raw' output has no probabilities"):
        to_probabilities(np.zeros((1, 2)), "raw")
