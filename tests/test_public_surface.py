"""The public surface stays small: private modules behind a few public ones, and plugins that use only those.

First-party plugins and the ``new-plugin`` template are written the way a third party would write them:
``xnorvision.api`` everywhere, ``xnorvision.train`` in training code and tests, ``xnorvision.testing`` in
tests. Anything else (a private module, the CLI, a subpackage) would break when the core moves it.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

import pytest

import xnorvision
from xnorvision.plugins._scaffold import write_plugin

ROOT = Path(__file__).resolve().parents[1]
#: the modules a user or plugin author is told to import; every other module is ``_private``
PUBLIC_MODULES = {"xnorvision.api", "xnorvision.errors", "xnorvision.kernels", "xnorvision.testing"}
SUBPACKAGES = ["app", "bench", "detect", "eval", "pipeline", "plugins", "runtime", "train"]


def allowed_imports(path: Path) -> set[str]:
    """What a plugin file may import from xnorvision: the API, plus training and test helpers where due."""
    parts = set(path.parts)
    allowed = {"xnorvision", "xnorvision.api"}
    if "tests" in parts or "training" in parts:
        allowed.add("xnorvision.train")
    if "tests" in parts:
        allowed.add("xnorvision.testing")
    return allowed


def xnorvision_imports(source: str) -> list[tuple[int, str]]:
    """(line, full dotted name) of every absolute import of xnorvision, ``from M import N`` as ``M.N``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return [(line, name) for line, name in found if name == "xnorvision" or name.startswith("xnorvision.")]


def violation(name: str, allowed: set[str]) -> bool:
    """An import outside ``allowed``, or of anything ``_private`` (a module or a name)."""
    if name == "xnorvision":
        return False
    parts = name.split(".")
    if any(p.startswith("_") and not (p.startswith("__") and p.endswith("__")) for p in parts):
        return True
    # ``from xnorvision.api import Model`` is xnorvision.api.Model: allowed if a prefix is an allowed module
    # other than the bare root, or if it is a name of the root itself (xnorvision.Model)
    prefixes = {".".join(parts[:i]) for i in range(2, len(parts) + 1)}
    if prefixes & (allowed - {"xnorvision"}):
        return False
    return not (len(parts) == 2 and importlib.util.find_spec(name) is None)


def plugin_sources(tmp_path: Path) -> list[Path]:
    template = write_plugin("surface-check", tmp_path)
    skip = {"build", "dist", ".venv"}
    first_party = [p for p in (ROOT / "plugins").rglob("*.py") if not skip & set(p.parts)]
    return sorted(first_party) + sorted(template.rglob("*.py"))


def test_first_party_plugins_and_the_template_import_only_the_public_api(tmp_path: Path) -> None:
    sources = plugin_sources(tmp_path)
    assert any("xnorvision_faces" in str(p) for p in sources)
    assert any("surface_check" in str(p) for p in sources)
    bad = [f"{path}:{line}: {name}" for path in sources
           for line, name in xnorvision_imports(path.read_text())
           if violation(name, allowed_imports(path))]
    assert not bad, "plugins must import only xnorvision.api (train, testing):\n" + "\n".join(bad)


@pytest.mark.parametrize(("source", "path", "bad"), [
    ("from xnorvision.api import Model, hookimpl", "p/x/__init__.py", False),
    ("import xnorvision.api as api", "p/x/__init__.py", False),
    ("import xnorvision", "p/x/__init__.py", False),
    ("from xnorvision import api, __version__, Detections", "p/x/__init__.py", False),
    ("from xnorvision.train import export_model", "p/x/training/export.py", False),
    ("from xnorvision.testing import CliResult", "p/tests/test_x.py", False),
    ("from xnorvision.runtime._executor import Model", "p/x/__init__.py", True),
    ("from xnorvision.plugins import _manager", "p/tests/test_x.py", True),
    ("from xnorvision import _replace", "p/x/__init__.py", True),
    ("from xnorvision.api import _lazy", "p/x/__init__.py", True),
    ("import xnorvision.pipeline", "p/x/__init__.py", True),
    ("from xnorvision.cli import main", "p/tests/test_x.py", True),
    ("from xnorvision.eval import evaluate_classifier", "p/tests/test_x.py", True),
    ("from xnorvision.train import binarize", "p/x/__init__.py", True),
    ("from xnorvision.testing import CliResult", "p/x/__init__.py", True),
])
def test_the_import_check_tells_public_from_private(source: str, path: str, bad: bool) -> None:
    assert any(violation(name, allowed_imports(Path(path))) for _, name in xnorvision_imports(source)) is bad


def test_implementation_modules_are_private() -> None:
    """Subpackages (``cli``, ``pipeline``, ...) are public through their ``__init__``, their modules not."""
    package = Path(xnorvision.__file__).parent
    modules = [".".join(("xnorvision", *p.relative_to(package).with_suffix("").parts))
               for p in package.rglob("*.py")]
    public = {m for m in modules if not any(part.startswith("_") for part in m.split("."))}
    assert public == PUBLIC_MODULES


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_every_name_a_subpackage_exports_resolves(name: str) -> None:
    if name == "train":
        pytest.importorskip("torch")
    if name == "app":
        pytest.importorskip("PyQt5.QtWidgets")
    package = importlib.import_module(f"xnorvision.{name}")
    assert package.__all__, f"xnorvision.{name} exports nothing"
    for export in package.__all__:
        assert getattr(package, export) is not None, export
