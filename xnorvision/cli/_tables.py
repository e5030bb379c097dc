"""``xnorvision tables``: rebuild the generated tables of Markdown files from the JSON reports they name."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xnorvision.cli._apps import app
from xnorvision.errors import XnorvisionError


@app.command("tables")
def tables_cmd(
    files: Annotated[list[Path], typer.Argument(help="Markdown files with table blocks.")],
) -> None:
    """Regenerate every `<!-- table ... -->` block (README, docs, model cards) from its JSON reports."""
    from xnorvision._tables import regenerate

    for path in files:
        if not path.is_file():
            raise XnorvisionError(f"{path}: no such Markdown file")
        typer.echo(f"{path}: {regenerate(path)} table(s) rebuilt")
