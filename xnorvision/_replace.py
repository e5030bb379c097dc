"""Replace a file atomically and safely: the one way models, checkpoints and caches are written.

A fixed temporary name (``<out>.tmp``) lets anyone who can write the folder plant a symlink there and have
the writer overwrite the file it points to; replacing whatever sits at the target turned
``--out /dev/full`` into a regular file. So the temporary is created new (``O_EXCL``) under an
unpredictable name in the target's folder (the rename stays on one file system), and a target that exists
but is not a regular file (a device, a FIFO, a folder, or a symlink to one) is refused.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from xnorvision.errors import XnorvisionError

_KINDS = {stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device", stat.S_IFIFO: "a FIFO",
          stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a folder"}


def check_regular_target(path: str | os.PathLike[str]) -> None:
    """Raise :class:`XnorvisionError` if ``path`` exists (following symlinks) and is not a regular file."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise XnorvisionError(f"{path}: {exc.strerror}; choose another path") from None
    if not stat.S_ISREG(mode):
        kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
        raise XnorvisionError(f"{path} is {kind}, not a file; refusing to replace it; choose another path")


@contextlib.contextmanager
def replace_atomically(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """Yield a new private file beside ``path``; when the block succeeds it becomes ``path`` in one rename.

    On any error the temporary is removed and ``path`` is as it was. The new file gets the permissions a
    plain ``open()`` would give it (``mkstemp`` alone would make it owner-only).
    """
    path = Path(path)
    check_regular_target(path)
    folder = path.parent if str(path.parent) else Path(".")
    with _cannot_write(path):  # a read-only folder, a missing one, a file system that refuses new files
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            yield file
            with _cannot_write(path):
                file.flush()
                os.fsync(file.fileno())
        with _cannot_write(path):
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_file(path: str | os.PathLike[str], data: bytes) -> None:
    """Write a whole output file (a JSON report, a table, a plot) through :func:`replace_atomically`: a full
    disk or a failed write leaves the old file as it was, never a half-written one, and is one error line."""
    with replace_atomically(path) as file, _cannot_write(path):
        file.write(data)


@contextlib.contextmanager
def _cannot_write(path: str | os.PathLike[str]) -> Iterator[None]:
    """A failed write of ``path`` as :class:`XnorvisionError` naming it (disk full, read-only, no folder)."""
    try:
        yield
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise XnorvisionError(f"{path}: cannot write there ({reason})") from None


def _umask() -> int:
    """The process umask, read without changing it (Linux's /proc), else by setting and restoring it."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        with open("/proc/self/status", encoding="ascii") as status:
            return int(next(line for line in status if line.startswith("Umask:")).split()[1], 8)
    mask = os.umask(0o22)
    os.umask(mask)
    return mask
