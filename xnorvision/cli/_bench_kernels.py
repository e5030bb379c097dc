"""Commands of this module are attached to the apps in ``_apps`` (filled in by the owning issue)."""

from xnorvision.cli._apps import app  # noqa: F401
