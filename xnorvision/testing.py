"""pytest fixtures for plugin authors (loaded through the ``pytest11`` entry point)."""
