"""Fuzz the loader: truncated, bit-flipped, header-edited, huge-size files only ever raise ModelFormatError.

A mutated file must also build into a Model (folding checks values too) without any other exception.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xnorvision.errors import ModelFormatError
from xnorvision.runtime import Model, load_xnv, save_model
from xnorvision.runtime._format import parse_xnv

from . import graphs


def _file_bytes(build: Callable[[], graphs.Model]) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        graph, tensors, spec = build()
        return save_model(Path(tmp) / "t.xnv", graph, tensors, spec, ["a", "b"], {"k": 1}).read_bytes()


VALID = _file_bytes(graphs.tiny)
# header edits also reach the attrs of every op in the two larger graphs
SOURCES = [VALID, _file_bytes(graphs.chain), _file_bytes(graphs.residual)]
# XNV_FUZZ_EXAMPLES=5000 for a longer hunt; the default keeps the suite fast.
FUZZ = settings(max_examples=int(os.environ.get("XNV_FUZZ_EXAMPLES", "150")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


def _check(data: bytes) -> None:
    try:
        Model(parse_xnv(data), threads=1)
    except ModelFormatError:
        pass


def test_the_unmutated_file_loads() -> None:
    assert parse_xnv(VALID).labels == ["a", "b"]


@FUZZ
@given(st.integers(0, len(VALID) - 1))
def test_truncated(n: int) -> None:
    _check(VALID[:n])


@FUZZ
@given(st.lists(st.integers(0, len(VALID) * 8 - 1), min_size=1, max_size=8))
def test_bit_flips(positions: list[int]) -> None:
    data = bytearray(VALID)
    for p in positions:
        data[p // 8] ^= 1 << (p % 8)
    _check(bytes(data))


@FUZZ
@given(st.integers(0, 2**64 - 1))
def test_huge_declared_header_length(n: int) -> None:
    _check(struct.pack("<Q", n) + VALID[8:])


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8)
    | st.sampled_from(["same", "valid", "bits", "float", "input", "F32", "U64", "rgb", "gray", "1", "xnv"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=8,
)


def _split(data: bytes) -> tuple[dict[str, Any], bytes]:
    """The header (JSON-in-string metadata values expanded, so edits reach inside them) and the body."""
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__")
    doc = {"tensors": header, "meta": {k: json.loads(v) if k not in ("format", "format_version") else v
                                       for k, v in meta.items()}}
    return doc, data[8 + n:]


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def _serialise(doc: dict[str, Any], body: bytes) -> bytes:
    tensors = doc["tensors"] if isinstance(doc["tensors"], dict) else {}
    meta = doc["meta"]
    if isinstance(meta, dict):
        meta = {k: v if isinstance(v, str) and k in ("format", "format_version") else json.dumps(v)
                for k, v in meta.items()}
    header = json.dumps({**tensors, "__metadata__": meta}).encode()
    return struct.pack("<Q", len(header)) + header + body


@FUZZ
@given(st.data())
def test_header_edits(data: st.DataObject) -> None:
    doc, body = _split(data.draw(st.sampled_from(SOURCES)))
    paths = [p for p in _paths(doc) if len(p) >= 2]
    edit = st.tuples(st.sampled_from(paths), JSON, st.booleans())
    edits = data.draw(st.lists(edit, min_size=1, max_size=3))
    for path, value, delete in edits:
        parent = doc
        try:
            for key in path[:-1]:
                parent = parent[key]
            if delete and isinstance(parent, dict):
                del parent[path[-1]]
            else:
                parent[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed or replaced this path
    _check(_serialise(doc, body))


def test_files_on_disk_go_through_the_same_checks(tmp_path: Path) -> None:
    path = tmp_path / "cut.xnv"
    path.write_bytes(VALID[: len(VALID) // 2])
    try:
        load_xnv(path)
    except ModelFormatError as exc:
        assert "cut.xnv" in str(exc)
    else:
        raise AssertionError("a truncated file loaded")
