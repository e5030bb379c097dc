"""Reading a whole input file safely: a device or a FIFO named as a file must never hang or fill memory."""

from __future__ import annotations

import os
import stat


class NotRegularFile(ValueError):
    """The path is a device, a FIFO or a folder, not a file to read."""


class FileTooLarge(ValueError):
    """The file is over the caller's limit; ``size`` says how large it is."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


def read_regular_file(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes, read in one bounded read.

    A device (``/dev/zero``) never ends, and opening a FIFO blocks until a writer comes: the file is opened
    without blocking, checked with ``fstat`` (the very file opened, not the path again), and read for exactly
    its size. ``OSError`` (missing, permission) passes through for the caller to word.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(path)
        if st.st_size > limit:
            raise FileTooLarge(st.st_size)
        return f.read(st.st_size)
