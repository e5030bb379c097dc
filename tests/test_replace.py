"""Model and checkpoint writers: unpredictable O_EXCL temporaries, regular-file targets only.

``model reference --out`` is the writer under test through the real entry point; the others (``save_model``,
checkpoints, data caches) share :func:`xnorvision._replace.replace_atomically`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from xnorvision._replace import replace_atomically
from xnorvision.cli import main
from xnorvision.errors import XnorvisionError
from xnorvision.runtime import Model


def _reference(capsys: pytest.CaptureFixture[str], out: Path) -> tuple[int, str]:
    try:
        main(["model", "reference", "vgg-small", "--out", str(out)])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def test_a_fifo_target_is_refused_and_stays_a_fifo(tmp_path: Path, capsys) -> None:
    fifo = tmp_path / "m.xnv"
    os.mkfifo(fifo)
    code, err = _reference(capsys, fifo)
    assert code == 2
    assert err == f"error: {fifo} is a FIFO, not a file; refusing to replace it; choose another path\n"
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and os.listdir(tmp_path) == ["m.xnv"]


def test_a_symlink_to_a_device_is_refused_and_kept(tmp_path: Path, capsys) -> None:
    link = tmp_path / "m.xnv"
    link.symlink_to("/dev/full")
    code, err = _reference(capsys, link)
    assert code == 2 and "is a character device, not a file; refusing to replace it" in err
    assert link.is_symlink() and os.readlink(link) == "/dev/full"
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_a_symlink_planted_at_the_old_temporary_name_is_not_followed(tmp_path: Path, capsys) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "m.xnv"
    (tmp_path / "m.xnv.tmp").symlink_to(victim)
    (tmp_path / "m.tmp").symlink_to(victim)  # the checkpoint writers' old name (with_suffix)
    code, err = _reference(capsys, out)
    assert code == 0, err
    assert victim.read_text() == "precious" and os.readlink(tmp_path / "m.xnv.tmp") == str(victim)
    assert Model.load(out).labels[0] == "airplane"
    assert sorted(os.listdir(tmp_path)) == ["m.tmp", "m.xnv", "m.xnv.tmp", "victim.txt"]


def test_new_file_gets_the_usual_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        with replace_atomically(tmp_path / "a.bin") as f:
            f.write(b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.bin").stat().st_mode) == 0o644


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), replace_atomically(target) as f:
        f.write(b"half")
        raise RuntimeError("writer failed")
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["a.bin"]
    with pytest.raises(XnorvisionError, match="is a folder"), replace_atomically(tmp_path):
        pass
