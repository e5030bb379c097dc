"""``xnorvision new-plugin``: write a ready-to-install plugin package from the templates beside this file."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from string import Template

from xnorvision import __version__
from xnorvision.errors import XnorvisionError

NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")  # used with fullmatch: "$" would let "birds\n" in
#: template file -> path in the new package (``{module}`` filled in)
FILES = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "plugin.py.tmpl": "{module}/__init__.py",
    "test_plugin.py.tmpl": "tests/test_plugin.py",
}


def write_plugin(name: str, directory: Path) -> Path:
    """Create ``directory/xnorvision-<name>/`` and return it; refuses to overwrite anything."""
    if not NAME.fullmatch(name):
        raise XnorvisionError(f"plugin name {name!r}: use lower case letters, digits and single dashes, "
                              "starting with a letter (e.g. 'birds' or 'traffic-signs')")
    module = "xnorvision_" + name.replace("-", "_")
    root = Path(directory) / f"xnorvision-{name}"
    if root.exists():
        raise XnorvisionError(f"{root} already exists; choose another --dir or remove it")
    if not Path(directory).is_dir():
        raise XnorvisionError(f"--dir {directory}: no such folder")
    values = {"name": name, "module": module, "dist": f"xnorvision-{name}",
              "xnorvision_version": __version__}
    templates = resources.files("xnorvision.plugins") / "template"
    for template, target in FILES.items():
        path = root / target.format(module=module)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(templates.joinpath(template).read_text()).substitute(values))
    (root / module / "models").mkdir()
    return root
