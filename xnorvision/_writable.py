"""Check that an output can be written before the work that fills it starts.

An evaluation that runs for minutes and then cannot write its ``--json`` (a folder of that name, a
read-only place, a path under a regular file) has wasted those minutes. Every command checks its output
paths first with :func:`check_writable`; missing parent folders are created, as the writers would.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from xnorvision.errors import XnorvisionError

__all__ = ["check_writable"]


def check_writable(flag: str, path: str | os.PathLike[str] | None) -> None:
    """Raise a one-line :class:`XnorvisionError` naming ``flag`` unless ``path`` can be written.

    An existing file is left untouched (checked with ``access``); for a new one a temporary file is
    created and removed in its folder, which also catches read-only file systems when run as root.
    ``None`` (an option not given) passes.
    """
    if path is None:
        return
    path = Path(path)
    if path.is_dir():
        raise XnorvisionError(f"{flag} {path}: is a folder; give a file name")
    ancestor = next(p for p in path.absolute().parents if p.exists())
    if not ancestor.is_dir():
        raise XnorvisionError(f"{flag} {path}: cannot write there ({ancestor} is a file, not a folder)")
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
        raise XnorvisionError(f"{flag} {path}: cannot write there ({reason})") from None
