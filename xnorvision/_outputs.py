"""The output-path guard every command calls before it opens anything, and the writability check.

An output that is the same file as an input (``run --source v.mp4 --save ./v.mp4``, ``export CKPT --out
CKPT``) would destroy the input while the run reports success; two outputs on one file would corrupt
each other. Files are compared by identity (device and inode, so symlinks and hard links count) where they
exist, and by resolved path where an output does not exist yet. :func:`check_writable` refuses an output
that cannot be written (a folder, a path under a file, a read-only place) before the work that fills it.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from xnorvision._replace import check_regular_target
from xnorvision.errors import XnorvisionError

PathLike = str | os.PathLike[str]
Named = tuple[str, PathLike | None]  # (what the user wrote it as, e.g. "--save", the path or None)


def _identity(path: Path) -> tuple[object, ...]:
    """The same value for two names of one file: (device, inode) if it exists, else the resolved path."""
    try:
        st = path.stat()
    except OSError:  # realpath, unlike Path.resolve, does not raise on a symlink loop (that fails later)
        return ("path", os.path.realpath(path.expanduser()))
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


def check_writable(flag: str, path: PathLike | None, *, make_folders: bool = True, stream: bool = False,
                   error: type[XnorvisionError] = XnorvisionError) -> None:
    """Raise a one-line ``error`` naming ``flag`` unless ``path`` can be written, before the work that
    fills it (an evaluation of minutes, a run) starts.

    Missing parent folders are created when ``make_folders`` (as the eval and export writers do), else
    refused. An existing file is left untouched (checked with ``access``); for a new one a temporary file
    is created and removed in its folder, which also catches read-only file systems when run as root.
    ``None`` (an option not given) passes. Only a ``stream`` output (JSON lines, written front to back) may
    be a FIFO or a device: any other writer would block on a FIFO without a reader, or cannot seek in one.
    """
    if path is None:
        return
    path = Path(path)
    try:
        mode: int | None = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None
    except OSError as exc:  # a symlink loop, a name too long, a folder we may not search
        raise error(f"{flag} {path}: cannot write there ({(exc.strerror or str(exc)).lower()})") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise error(f"{flag} {path}: is a folder; give a file name")
    if mode is not None and not stream:
        try:
            check_regular_target(path)
        except XnorvisionError as exc:
            raise error(f"{flag} {exc}") from None
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
