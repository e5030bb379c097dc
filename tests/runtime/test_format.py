"""save_model / load_xnv: round trips, the on-disk layout, and every validation rule naming its problem."""

from __future__ import annotations

import copy
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

from xnorvision.errors import ModelFormatError
from xnorvision.runtime import load_xnv, save_model
from xnorvision.runtime._format import parse_xnv

from . import graphs


def _save(tmp_path: Path, model=None, **changes) -> Path:
    graph, tensors, spec = model or graphs.chain()
    args = {"graph": graph, "tensors": tensors, "input_spec": spec, "labels": ["a", "b"],
            "metadata": {"recipe": {"seed": 3}}, **changes}
    return save_model(tmp_path / "m.xnv", **args)


def test_round_trip_keeps_everything(tmp_path: Path) -> None:
    graph, tensors, spec = graphs.chain()
    m = load_xnv(_save(tmp_path))
    assert m.graph == graph and m.labels == ["a", "b"] and m.metadata == {"recipe": {"seed": 3}}
    assert m.input_spec == spec
    assert set(m.tensors) == set(tensors)
    for k, v in tensors.items():
        assert m.tensors[k].dtype == v.dtype and np.array_equal(m.tensors[k], v)
    assert m.types["b2"].kind == "bits" and m.types["prob"].channels == 5


def test_file_is_plain_little_endian_safetensors(tmp_path: Path) -> None:
    """Any safetensors reader opens it, and the bytes are little-endian whatever the writing machine."""
    path = _save(tmp_path)
    _, tensors, _ = graphs.chain()
    loaded = safetensors.numpy.load_file(str(path))
    assert np.array_equal(loaded["b1.weight"], tensors["b1.weight"])
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    entry = json.loads(raw[8:8 + n])["conv.bias"]
    begin = 8 + n + entry["data_offsets"][0]
    assert entry["dtype"] == "F32"
    assert struct.unpack("<f", raw[begin:begin + 4])[0] == tensors["conv.bias"][0]


def test_bytes_do_not_depend_on_the_writers_byte_order(tmp_path: Path) -> None:
    """Big-endian arrays (as on a big-endian machine) give the very same file: no platform layout."""
    graph, tensors, spec = graphs.chain()
    native = save_model(tmp_path / "a.xnv", graph, tensors, spec, [], {}).read_bytes()
    swapped = {k: v.astype(v.dtype.newbyteorder(">")) for k, v in tensors.items()}
    assert save_model(tmp_path / "b.xnv", graph, swapped, spec, [], {}).read_bytes() == native


def _node(graph: dict, name: str) -> dict:
    return next(n for n in graph["nodes"] if n["name"] == name)


def _broken(what: str):
    graph, tensors, spec = copy.deepcopy(graphs.chain())
    if what == "missing":
        del tensors["b1.scale"]
    elif what == "stray":
        tensors["extra.weight"] = np.zeros(3, np.float32)
    elif what == "shape":
        tensors["b2.weight"] = tensors["b2.weight"][:, :, :, :1].copy()
    elif what == "dtype":
        tensors["b1.scale"] = tensors["b1.scale"].astype(np.float64)
    elif what == "op":
        _node(graph, "act")["op"] = "gelu"
    elif what == "order":
        graph["nodes"][0], graph["nodes"][1] = graph["nodes"][1], graph["nodes"][0]
    elif what == "channels":
        _node(graph, "b1")["attrs"]["in_channels"] = 9
    elif what == "kind":
        _node(graph, "s2")["inputs"] = ["s1"]
    elif what == "duplicate":
        _node(graph, "act")["name"] = "conv"
    elif what == "output":
        graph["outputs"] = ["nope"]
    elif what == "padding_bits":
        tensors["b2.weight"][..., -1] |= np.uint64(1 << 63)
    elif what == "spec":
        spec = {**spec, "std": [1.0, 0.0, 1.0]}
    elif what == "even_same":
        _node(graph, "conv")["attrs"]["kernel"] = [2, 2]
    elif what == "nan":
        tensors["fc.weight"][0, 0] = np.nan
    elif what == "variance":
        tensors["bn1.running_var"][3] = -1.0
    elif what == "huge":
        spec = {**spec, "height": 1 << 15, "width": 1 << 15}
    elif what == "too_small":
        spec = {**spec, "height": 2, "width": 2}
        _node(graph, "conv")["attrs"]["padding"] = "valid"
    return graph, tensors, spec


@pytest.mark.parametrize(("what", "message"), [
    ("missing", "'b1.scale' is missing"), ("stray", "'extra.weight' is used by no node"),
    ("shape", "'b2.weight' is U64 [65, 1, 1, 1], expected U64 [65, 1, 1, 2]"),
    ("dtype", "float64 is not float32"),
    ("op", "unknown op 'gelu'"), ("order", "not defined before it"), ("channels", "the input has 8 channels"),
    ("kind", "expected float"), ("duplicate", "duplicate name"), ("output", "'nope' is not a node"),
    ("padding_bits", "bits set beyond channel 70"), ("spec", "std must be positive"),
    ("even_same", "odd kernel"), ("too_small", "too small"),
    ("huge", "input: the tensor would take 12.0 GiB"), ("nan", "'fc.weight' holds NaN"),
    ("variance", "'bn1': running_var \\+ eps must be positive"),
])
def test_save_rejects_invalid_models(tmp_path: Path, what: str, message: str) -> None:
    with pytest.raises(ModelFormatError, match=message.replace("[", r"\[").replace("]", r"\]")):
        _save(tmp_path, _broken(what))
    assert not list(tmp_path.iterdir()), "a rejected model must not leave a file behind"


@pytest.mark.parametrize(("edit", "message"), [
    (lambda h: h["__metadata__"].update(format_version="2"), "unsupported format version '2'"),
    (lambda h: h["__metadata__"].update(format="gguf"), "format is 'gguf'"),
    (lambda h: h["__metadata__"].pop("graph"), "no 'graph'"),
    (lambda h: h["__metadata__"].update(labels="[1, 2]"), "labels must be a list of strings"),
    (lambda h: h["__metadata__"].update(graph="{"), "'graph' is not valid JSON"),
    (lambda h: h["conv.bias"].update(shape=[1 << 40]), "bad shape"),
    (lambda h: h["conv.bias"].update(data_offsets=[0, 1 << 62]), "outside the file"),
    (lambda h: h["conv.bias"].update(dtype="F64"), "not F32, U64 or I8"),
    (lambda h: h.pop("__metadata__"), "no string-to-string __metadata__"),
])
def test_load_rejects_edited_headers(tmp_path: Path, edit, message: str) -> None:
    with pytest.raises(ModelFormatError, match=message):
        parse_xnv(graphs.rewrite_header(_save(tmp_path), edit))


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xnv"
    bad.write_bytes(b"\xff" * 8 + b"{}")
    with pytest.raises(ModelFormatError, match="bad.xnv: not an .xnv file"):
        load_xnv(bad)
    with pytest.raises(ModelFormatError, match="cannot read"):
        load_xnv(tmp_path / "absent.xnv")


def test_truncated_file_is_rejected(tmp_path: Path) -> None:
    raw = _save(tmp_path).read_bytes()
    with pytest.raises(ModelFormatError, match="beyond the last tensor|outside the file"):
        parse_xnv(raw[:-8])
