"""The JPEG chunk schema: each malformed file is one ``error:`` line, exit 2; no allocation from its sizes."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from xnorvision.errors import XnorvisionError
from xnorvision.eval._chunks import MAX_CLASSES, load_chunk, read_jpeg_chunk
from xnorvision.testing import write_tiny_model


def _jpegs(n: int) -> tuple[np.ndarray, np.ndarray]:
    images = [np.full((16, 16, 3), 40 * i, np.uint8) for i in range(n)]
    files = [np.frombuffer(cv2.imencode(".jpg", img)[1].tobytes(), np.uint8) for img in images]
    return np.concatenate(files), np.cumsum([0] + [len(f) for f in files]).astype(np.int64)


def _good() -> dict[str, np.ndarray]:
    jpeg, offsets = _jpegs(3)
    return {"jpeg": jpeg, "offsets": offsets, "y": np.array([0, 1, 2], np.uint8)}


def _with(**arrays: object) -> dict[str, object]:
    return _good() | arrays


def _npy(header_shape: tuple[int, ...], payload: bytes) -> bytes:
    """An .npy member whose header declares ``header_shape`` of uint8 but holds ``payload``."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|u1", "fortran_order": False, "shape": header_shape})
    return buf.getvalue() + payload


def _lying_header(path: Path) -> None:
    """``jpeg`` claims 2**60 bytes (an exabyte) and stores 10."""
    good = _good()
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("jpeg.npy", _npy((2**60,), bytes(10)))
        for name in ("offsets", "y"):
            buf = io.BytesIO()
            np.save(buf, good[name])
            z.writestr(f"{name}.npy", buf.getvalue())


BAD: dict[str, object] = {
    "float offsets": _with(offsets=_good()["offsets"].astype(np.float64)),
    "scalar offsets": _with(offsets=np.int64(5)),
    "offsets past the end": _with(offsets=_good()["offsets"] + 10**9),
    "decreasing offsets": _with(offsets=_good()["offsets"][::-1].copy()),
    "negative offsets": _with(offsets=_good()["offsets"] - 5),
    "2-D offsets": _with(offsets=_good()["offsets"][None]),
    "string labels": _with(y=np.array(["cat", "dog", "cow"])),
    "NaN labels": _with(y=np.array([0.0, np.nan, 1.0])),
    "2-D labels": _with(y=np.zeros((3, 2), np.int64)),
    "huge labels": _with(y=np.array([0, 1, 2**62], np.int64)),
    "label 10^6": _with(y=np.array([0, 1, 10**6], np.int64)),
    "negative labels": _with(y=np.array([0, -1, 2], np.int64)),
    "fewer labels": _with(y=np.array([0, 1], np.uint8)),
    "no offsets": {"jpeg": _good()["jpeg"], "y": _good()["y"]},
    "pickled labels": _with(y=np.array([0, 1, {"x": 2}], dtype=object)),
    "float jpeg": _with(jpeg=_good()["jpeg"].astype(np.float32)),
    "zero-byte file": b"",
    "text file": b"jpeg,offsets,y\n1,2,3\n",
    "lying header": _lying_header,
}


def _write(path: Path, case: object) -> Path:
    if isinstance(case, bytes):
        path.write_bytes(case)
    elif callable(case):
        case(path)
    else:
        with open(path, "wb") as f:  # np.savez would append .npz to a str path
            np.savez(f, **case)
    return path


def test_good_chunk_reads(tmp_path: Path) -> None:
    jpeg, offsets, labels = load_chunk(_write(tmp_path / "c.npz", _good()))
    assert labels.tolist() == [0, 1, 2] and offsets[-1] == len(jpeg)


@pytest.mark.parametrize("case", list(BAD))
def test_malformed_chunk_is_refused(tmp_path: Path, case: str) -> None:
    path = _write(tmp_path / "c.npz", BAD[case])
    with pytest.raises(XnorvisionError, match=r"c\.npz: "):
        read_jpeg_chunk(path)


@pytest.mark.parametrize("case", list(BAD))
def test_eval_classify_says_one_line_exit_2(cli, tmp_path: Path, case: str) -> None:
    path = _write(tmp_path / "c.npz", BAD[case])
    model = write_tiny_model(tmp_path / "m.xnv")
    code, out, err = cli("eval", "classify", "--model", str(model), "--data", str(path))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith(f"error: {path}: "), err


@pytest.mark.parametrize("kind", ["missing", "folder", "fifo"])
def test_only_a_regular_file_is_opened(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "c.npz"
    if kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)  # opening it to read would block until a writer came
    with pytest.raises(XnorvisionError, match=r"c\.npz: not a JPEG chunk file \(no such regular file\)"):
        load_chunk(path)


def test_labels_bounded_by_the_classes_asked_for(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.npz", _good())
    assert read_jpeg_chunk(path, classes=3)[1].tolist() == [0, 1, 2]
    with pytest.raises(XnorvisionError, match=r"labels must lie in 0\.\.1, found 0\.\.2"):
        read_jpeg_chunk(path, classes=2)
    assert MAX_CLASSES >= 1000


def test_unreadable_chunk_says_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "c.npz", _good())

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(zipfile.ZipFile, "__init__", denied)
    with pytest.raises(XnorvisionError, match="c.npz: permission denied"):
        load_chunk(path)


def test_an_image_over_opencvs_size_limit_in_a_chunk_is_named(cli, tmp_path: Path,
                                                               oversized_png: bytes) -> None:
    """OpenCV raises (not returns None) for such a header: that was 'internal error', exit 1."""
    jpeg, offsets = _jpegs(1)
    bomb = np.frombuffer(oversized_png, np.uint8)
    case = {"jpeg": np.concatenate([jpeg, bomb]), "offsets": np.append(offsets, offsets[-1] + len(bomb)),
            "y": np.array([0, 1], np.uint8)}
    path = _write(tmp_path / "c.npz", case)
    with pytest.raises(XnorvisionError, match=r"c\.npz: image 1: larger than OpenCV decodes"):
        read_jpeg_chunk(path)
    code, _, err = cli("eval", "classify", "--model", str(write_tiny_model(tmp_path / "m.xnv")),
                       "--data", str(path))
    assert code == 2 and err.count("\n") == 1 and "image 1: larger than OpenCV decodes" in err, err


def test_a_chunk_whose_images_would_not_fit_in_memory_is_refused_at_its_first(tmp_path: Path,
                                                                             monkeypatch) -> None:
    """A small JPEG of one colour can decode to 36 MB: ten thousand of them are 360 GB."""
    from xnorvision import _ram
    from xnorvision.eval import _chunks

    path = _write(tmp_path / "c.npz", _good())  # three 16x16 images
    decoded = []
    real = _chunks.decode_image
    monkeypatch.setattr(_chunks, "decode_image", lambda *a: decoded.append(1) or real(*a))
    monkeypatch.setattr(_ram, "available_bytes", lambda: 2 * 2 * 3 * 16 * 16 * 3 - 1)  # just short
    with pytest.raises(XnorvisionError, match=r"c\.npz: 3 images of 16x16 would take about"):
        read_jpeg_chunk(path)
    assert len(decoded) == 1  # refused at the first image, before the others were decoded
    monkeypatch.setattr(_ram, "available_bytes", lambda: 2 * 2 * 3 * 16 * 16 * 3)
    assert read_jpeg_chunk(path)[0].shape == (3, 16, 16, 3)
