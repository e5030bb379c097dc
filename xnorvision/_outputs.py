"""The output-path guard every command calls before it opens anything.

An output that is the same file as an input (``run --source v.mp4 --save ./v.mp4``, ``export CKPT --out
CKPT``) would destroy the input while the run reports success; two outputs on one file would corrupt
each other. Files are compared by identity (device and inode, so symlinks and hard links count) where they
exist, and by resolved path where an output does not exist yet.
"""

from __future__ import annotations

import os
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
