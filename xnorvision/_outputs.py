"""The output-path guard every command calls before it opens anything, and the writability check.

An output that is the same file as an input (``run --source v.mp4 --save ./v.mp4``, ``export CKPT --out
CKPT``) would destroy the input while the run reports success; two outputs on one file would corrupt
each other. Files are compared by identity (device and inode, so symlinks and hard links count) where they
exist, and by resolved path where an output does not exist yet. :func:`check_writable` refuses an output
that cannot be written (a folder, a path under a file, a read-only place) before the work that fills it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from xnorvision.errors import XnorvisionError

PathLike = str | os.PathLike[str]
Named = tuple[str, PathLike | None]  # (what the user wrote it as, e.g. "--save", the path or None)


def _identity(path: Path) -> tuple[object, ...]:
    """The same value for two names of one file: (device, inode) if it exists, else the resolved path."""
    try:
        st = path.stat()
    except OSError:
        return ("path", str(path.expanduser().resolve()))
    return ("file", st.st_dev, st.st_ino)


def check_outputs(inputs: Iterable[Named], outputs: Iterable[Named]) -> None:
    """Raise :class:`XnorvisionError` if an output is an input, or two outputs are one file.

    ``None`` paths (options not given) are skipped, so callers can list every option they have.
    """
    seen: dict[tuple[object, ...], str] = {}
    for flag, path in inputs:
        if path is not None:
            seen.setdefault(_identity(Path(path)), f"{flag} {path}")
    for flag, path in outputs:
        if path is None:
            continue
        key = _identity(Path(path))
        if key in seen:
            raise XnorvisionError(f"{flag} {path} is the same file as {seen[key]}; writing it would destroy "
                                  "that; choose another path")
        seen[key] = f"{flag} {path}"


def check_writable(flag: str, path: PathLike | None, *, make_folders: bool = True,
                   error: type[XnorvisionError] = XnorvisionError) -> None:
    """Raise a one-line ``error`` naming ``flag`` unless ``path`` can be written, before the work that
    fills it (an evaluation of minutes, a run) starts.

    Missing parent folders are created when ``make_folders`` (as the eval and export writers do), else
    refused. An existing file is left untouched (checked with ``access``); for a new one a temporary file
    is created and removed in its folder, which also catches read-only file systems when run as root.
    ``None`` (an option not given) passes.
    """
    if path is None:
        return
    path = Path(path)
    if path.is_dir():
        raise error(f"{flag} {path}: is a folder; give a file name")
    ancestor = next(p for p in path.absolute().parents if p.exists())
    if not ancestor.is_dir():
        raise error(f"{flag} {path}: cannot write there ({ancestor} is a file, not a folder)")
    if not make_folders and not path.absolute().parent.is_dir():
        raise error(f"{flag} {path}: folder {path.parent} does not exist; create it first")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            if not os.access(path, os.W_OK):
                raise PermissionError(13, "permission denied")
        else:
            with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".probe"):
                pass
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise error(f"{flag} {path}: cannot write there ({reason})") from None
