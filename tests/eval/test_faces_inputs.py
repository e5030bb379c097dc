"""``eval faces`` checks its inputs and every output path first: one ``error:`` line, exit 2, nothing run."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from xnorvision.testing import write_tiny_model


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def _eval(cli, tmp_path: Path, *extra: str, listing: str | bytes = "a.jpg 1,1,30,30\n"):
    data = tmp_path / "list.txt"
    data.write_bytes(listing if isinstance(listing, bytes) else listing.encode())
    return cli("eval", "faces", "--data", str(data), "--root", str(tmp_path), *extra)


def test_a_list_that_is_not_utf8(cli, tmp_path: Path) -> None:
    code, _, err = _eval(cli, tmp_path, listing=b"caf\xe9.jpg 1,1,30,30\n")
    assert code == 2 and "list.txt: not UTF-8 text (byte 3)" in _one_line(err)


@pytest.mark.parametrize("box", ["nan,1,30,30", "1,inf,30,30", "1,1,-30,30", "-1,1,30,30", "1,1,1e39,30",
                                 "1,1,30,-inf"])
def test_boxes_must_be_finite_pixel_coordinates(cli, tmp_path: Path, box: str) -> None:
    code, _, err = _eval(cli, tmp_path, listing=f"b.jpg 2,2,10,10\na.jpg {box}\n")
    assert code == 2 and "list.txt:2: box value" in _one_line(err)


@pytest.mark.parametrize(("value", "says"), [("0", "long_side must be whole pixels from 32 to 4096, got 0"),
                                             ("-416", "got -416"), ("abc", "'abc'")])
def test_bad_long_side_is_one_line(cli, tmp_path: Path, value: str, says: str) -> None:
    cv2.imwrite(str(tmp_path / "a.jpg"), np.full((64, 64, 3), 128, np.uint8))
    code, _, err = _eval(cli, tmp_path, "--set", f"long_side={value}", "--plot", str(tmp_path / "p.png"))
    assert code == 2 and says in _one_line(err)


@pytest.mark.parametrize("flag", ["--plot", "--json", "--markdown"])
def test_an_output_that_is_a_folder_is_refused_before_the_evaluation(cli, tmp_path: Path, flag: str) -> None:
    """The listed image does not exist: had the evaluation started, the error would be about it."""
    (tmp_path / "out").mkdir()
    code, _, err = _eval(cli, tmp_path, flag, str(tmp_path / "out"), "--plot", str(tmp_path / "p.png")
                         if flag != "--plot" else str(tmp_path / "out"))
    assert code == 2 and f"{flag} {tmp_path / 'out'}: is a folder" in _one_line(err)


def test_an_unwritable_json_is_refused_before_the_evaluation(cli, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    target = tmp_path / "file" / "r.json"  # under a regular file: no one, root included, can write there
    code, _, err = _eval(cli, tmp_path, "--json", str(target), "--plot", str(tmp_path / "p.png"))
    says = f"--json {target}: cannot write there ({tmp_path / 'file'} is a file, not a folder)"
    assert code == 2 and says in _one_line(err)
    assert not (tmp_path / "p.png").exists()


def test_missing_images_are_found_before_the_evaluation(cli, tmp_path: Path) -> None:
    """All of them, before a.jpg is evaluated (the evaluation would stop at b.jpg: "cannot read image")."""
    cv2.imwrite(str(tmp_path / "a.jpg"), np.full((64, 64, 3), 128, np.uint8))
    code, _, err = _eval(cli, tmp_path, "--set", "long_side=64",
                         listing="a.jpg 1,1,30,30\nb.jpg 1,1,30,30\nc.jpg 2,2,9,9\n")
    says = f"2 of 3 listed images are missing or not files, e.g. {tmp_path / 'b.jpg'}"
    assert code == 2 and says in _one_line(err)


def test_good_outputs_are_written(cli, tmp_path: Path) -> None:
    """The checks refuse nothing they should not: a real image, new nested folders for every output."""
    cv2.imwrite(str(tmp_path / "a.jpg"), np.full((64, 64, 3), 128, np.uint8))
    outs = [tmp_path / "new" / name for name in ("p.png", "r.json", "t.md")]
    code, out, err = _eval(cli, tmp_path, "--plot", str(outs[0]), "--json", str(outs[1]), "--markdown",
                           str(outs[2]), "--set", "long_side=64")
    assert code == 0, err
    assert all(p.is_file() for p in outs) and not list((tmp_path / "new").glob("*.probe"))


def test_eval_classify_checks_json_before_reading_the_data(cli, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    target = tmp_path / "file" / "r.json"
    code, _, err = cli("eval", "classify", "--model", str(write_tiny_model(tmp_path / "m.xnv")), "--data",
                       str(tmp_path / "missing.npz"), "--json", str(target))
    assert code == 2 and f"--json {target}: cannot write there" in _one_line(err)
