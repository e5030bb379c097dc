"""A file or folder we may not read says "permission denied", not "corrupt" (tested unprivileged).

Tests run as root, for whom permission bits do not apply; the CLI runs in a subprocess whose capability
bounding set lacks CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, so the kernel enforces the bits on it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from xnorvision.testing import write_tiny_model

CLI = [sys.executable, "-c", "from xnorvision.cli import main; main()"]


def _unprivileged() -> list[str]:
    """A command prefix under which chmod 000 really denies reading; skip if none can be had."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: permission bits cannot be enforced")
    prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--"]
    probe = subprocess.run([*prefix, "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"setpriv cannot drop capabilities here: {probe.stderr.decode().strip()}")
    return prefix


def _run(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run([*_unprivileged(), *CLI, *argv], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "XNORVISION_DISABLE_PLUGINS": "1"})
    finally:
        for p in tmp_path.rglob("*"):  # let pytest clean up
            p.chmod(0o755)


def _image(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((24, 32, 3), 90, np.uint8))
    return path


def _video(path: Path) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24))
    for _ in range(3):
        writer.write(np.full((24, 32, 3), 90, np.uint8))
    writer.release()
    return path


def _error(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [x for x in proc.stderr.splitlines() if x.startswith(("error:", "internal error:", "[ WARN"))]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    return lines[0]


def test_a_folder_we_may_not_list(tmp_path: Path) -> None:
    _image(tmp_path / "closed" / "a.png")
    (tmp_path / "closed").chmod(0)
    proc = _run(tmp_path, "run", "--headless", "--source", str(tmp_path / "closed"))
    assert _error(proc) == f"error: --source {tmp_path / 'closed'}: permission denied ({tmp_path / 'closed'})"


def test_an_unreadable_image_in_a_folder(tmp_path: Path) -> None:
    _image(tmp_path / "imgs" / "a.png")
    _image(tmp_path / "imgs" / "b.png").chmod(0)
    proc = _run(tmp_path, "run", "--headless", "--source", str(tmp_path / "imgs"))
    assert _error(proc) == f"error: cannot read image {tmp_path / 'imgs' / 'b.png'}: permission denied"


def test_an_unreadable_video(tmp_path: Path) -> None:
    video = _video(tmp_path / "v.avi")
    video.chmod(0)
    proc = _run(tmp_path, "run", "--headless", "--source", str(video))
    assert _error(proc) == f"error: --source {video}: permission denied ({video})"


def test_an_unreadable_model(tmp_path: Path) -> None:
    model = write_tiny_model(tmp_path / "m.xnv")
    model.chmod(0)
    proc = _run(tmp_path, "eval", "classify", "--model", str(model), "--data", str(tmp_path / "c.npz"))
    assert _error(proc) == f"error: {model}: cannot read model file: Permission denied"


def test_an_unreadable_face_list(tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("a.jpg 1,1,30,30\n")
    listing.chmod(0)
    proc = _run(tmp_path, "eval", "faces", "--data", str(listing), "--root", str(tmp_path), "--iou", "0.5")
    assert _error(proc) == f"error: Invalid value for '--data': path '{listing}' is not readable."  # Typer's
    listing.chmod(0)
    code = "import sys; from xnorvision.eval._faces import load_face_list; load_face_list(*sys.argv[1:])"
    proc = subprocess.run([*_unprivileged(), sys.executable, "-c", code, str(listing), str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    listing.chmod(0o644)
    assert f"XnorvisionError: {listing}: permission denied" in proc.stderr


@pytest.mark.parametrize("closed", ["class folder", "image"])
def test_an_image_folder_data_set_we_may_not_read(tmp_path: Path, closed: str) -> None:
    model = write_tiny_model(tmp_path / "m.xnv", labels=("cat", "dog"))
    data = tmp_path / "data"
    for label in ("cat", "dog"):
        _image(data / label / "a.png")
    (data / "dog" if closed == "class folder" else data / "dog" / "a.png").chmod(0)
    proc = _run(tmp_path, "eval", "classify", "--model", str(model), "--data", str(data))
    assert _error(proc).endswith("permission denied" if closed == "class folder" else "(permission denied)")


def test_train_into_a_folder_we_may_not_write(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    for label in ("cat", "dog"):
        _image(tmp_path / "data" / label / "a.png")
    (tmp_path / "closed").mkdir()
    (tmp_path / "closed").chmod(0o555)
    out = tmp_path / "closed" / "run"
    proc = _run(tmp_path, "train", "--data", str(tmp_path / "data"), "--out", str(out))
    assert _error(proc).endswith("cannot write there (permission denied)")
