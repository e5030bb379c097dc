"""Errors a user can act on. The CLI prints them as one line and exits 2; anything else is a bug."""

from __future__ import annotations

# What plugin code may raise that must cost only that plugin, build or frame: any exception, and
# SystemExit too (a ``sys.exit`` in a plugin must not end the app). KeyboardInterrupt still stops the app.
PLUGIN_FAILURES: tuple[type[BaseException], ...] = (Exception, SystemExit)


class XnorvisionError(Exception):
    """A problem with the user's input or environment (file, camera, plugin, argument)."""


class ModelFormatError(XnorvisionError, ValueError):
    """A model file is not a valid .xnv file; the message names what is wrong."""


class PluginError(XnorvisionError):
    """A plugin is unknown, failed to load, or registered something invalid."""


class SourceError(XnorvisionError):
    """A frame source (camera, video, image folder) cannot be opened or read."""


class FramesSkipped(SourceError):
    """Frames of a file could not be decoded and were skipped; the source goes on (or ends) after them.

    Raised by a source's ``read()`` in place of a frame; the capture thread counts ``lost`` as errors,
    reports them, and reads on.
    """

    def __init__(self, message: str, lost: int) -> None:
        super().__init__(message)
        self.lost = lost


class SinkError(XnorvisionError):
    """An output (video file, JSONL, window) cannot be written."""
