"""Float weights stored as int8 with per-output-channel scales: smaller files, same graph."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from xnorvision.errors import ModelFormatError
from xnorvision.runtime import Model, load_xnv, save_model
from xnorvision.runtime._format import parse_xnv
from xnorvision.runtime._reference import write_reference

from . import graphs


def _save(path: Path, storage: str, model: graphs.Model | None = None) -> Path:
    graph, tensors, spec = model or graphs.chain()
    return save_model(path, graph, tensors, spec, ["a", "b"], {"seed": 1}, float_storage=storage)


def test_int8_round_trip_is_within_half_a_step_and_leaves_the_rest_exact(tmp_path: Path) -> None:
    _, tensors, _ = graphs.chain()
    f32, i8 = load_xnv(_save(tmp_path / "a.xnv", "float32")), load_xnv(_save(tmp_path / "b.xnv", "int8"))
    assert f32.int8_tensors == () and i8.int8_tensors == ("conv.weight", "fc.weight")
    assert i8.nbytes < f32.nbytes and i8.weight_bytes < f32.weight_bytes
    for name, want in tensors.items():
        got = i8.tensors[name]
        assert got.dtype == want.dtype and got.shape == want.shape
        if name in i8.int8_tensors:
            step = np.abs(want.reshape(len(want), -1)).max(axis=1) / 127
            err = np.abs(got - want).reshape(len(want), -1).max(axis=1)
            assert np.all(err <= step * 0.5001) and np.any(got != want)
        else:
            assert np.array_equal(got, want)  # packed bits, biases, batch norm: untouched


def test_storing_again_gives_the_same_bytes(tmp_path: Path) -> None:
    first = _save(tmp_path / "a.xnv", "int8")
    f = load_xnv(first)
    again = save_model(tmp_path / "b.xnv", f.graph, f.tensors, f.input_spec, f.labels, f.metadata,
                       float_storage="int8")
    assert again.read_bytes() == first.read_bytes()


def test_int8_model_runs_close_to_the_float32_one(tmp_path: Path) -> None:
    image = np.random.default_rng(0).integers(0, 256, (13, 11, 3), dtype=np.uint8)
    a = Model.load(_save(tmp_path / "a.xnv", "float32", graphs.residual()), threads=1)(image)
    b = Model.load(_save(tmp_path / "b.xnv", "int8", graphs.residual()), threads=1)(image)
    assert a.shape == b.shape
    assert np.allclose(a, b, rtol=0.05, atol=0.05 * float(np.abs(a).max()))


def test_resnet18_file_is_20x_smaller_than_its_float32_twin(tmp_path: Path) -> None:
    path = write_reference("resnet18", tmp_path / "r18.xnv", float_storage="int8")
    info = Model.load(path, threads=1).info()
    assert info["weight_bytes"] * 20 <= info["float32_weight_bytes"]
    float_path = write_reference("resnet18", tmp_path / "r18f.xnv")
    assert Model.load(float_path, threads=1).info()["weight_bytes"] * 20 > info["float32_weight_bytes"]


def _rename(header: dict, old: str, new: str) -> None:
    header[new] = header.pop(old)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda h: _rename(h, "fc.weight@scale", "fc.bias@scale"), "scales no int8 tensor|needs 2\\+ dimensions"),
    (lambda h: _rename(h, "fc.weight@scale", "fc.weightx"), "needs 2\\+ dimensions and a"),
    (lambda h: h["fc.weight@scale"].update(shape=[1, *h["fc.weight@scale"]["shape"]]), "must be F32 \\["),
])
def test_malformed_int8_entries_are_rejected(tmp_path: Path, edit, message: str) -> None:
    with pytest.raises(ModelFormatError, match=message):
        parse_xnv(graphs.rewrite_header(_save(tmp_path / "m.xnv", "int8"), edit))


@pytest.mark.parametrize("bad", [0.0, float("nan"), -1.0])
def test_bad_scales_are_rejected(tmp_path: Path, bad: float) -> None:
    raw = bytearray(_save(tmp_path / "m.xnv", "int8").read_bytes())
    n = struct.unpack("<Q", raw[:8])[0]
    begin = 8 + n + json.loads(raw[8:8 + n])["fc.weight@scale"]["data_offsets"][0]
    raw[begin:begin + 4] = struct.pack("<f", bad)
    with pytest.raises(ModelFormatError, match="finite and positive"):
        parse_xnv(bytes(raw))


def test_int8_cannot_replace_packed_binary_weights(tmp_path: Path) -> None:
    graph, tensors, spec = graphs.chain()
    path = _save(tmp_path / "m.xnv", "int8")

    def binary_as_int8(h: dict) -> None:  # a U64 weight relabelled as I8 with a made-up scale
        e = h["b1.weight"]
        e["dtype"], e["shape"] = "I8", [e["shape"][0], 8 * int(np.prod(e["shape"][1:]))]

    with pytest.raises(ModelFormatError):
        parse_xnv(graphs.rewrite_header(path, binary_as_int8))
