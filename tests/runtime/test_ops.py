"""The op registry: one complete record per op, the same op list as docs/xnv-format.md, no import cycles."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from xnorvision.runtime.ops import OPS

ROOT = Path(__file__).resolve().parents[2]


def documented_ops() -> list[str]:
    """The op names in the first column of the op table of docs/xnv-format.md (a row may name several)."""
    lines = (ROOT / "docs" / "xnv-format.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"\|\s*op\s*\|", line))
    ops = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        ops += re.findall(r"`(\w+)`", line.split("|")[1])
    return ops


def test_the_registry_holds_exactly_the_documented_ops() -> None:
    ops = documented_ops()
    assert len(ops) == len(set(ops)) > 10
    assert sorted(OPS) == sorted(ops)


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_has_every_part(name: str) -> None:
    op = OPS[name]
    assert op.name == name
    for part in (op.schema, op.layer, op.macs, op.to_torch):
        assert callable(part)
    # an OpenVINO lowering, or the reason there is none
    assert callable(op.to_openvino) or (isinstance(op.to_openvino, str) and op.to_openvino.strip())
    assert op.kind in ("float", "binary", "bwn")
    assert op.work in ("binary conv", "float conv", "pack", "pool", "elementwise", "copy")


def test_the_registry_imports_neither_torch_nor_openvino() -> None:
    code = "import sys, xnorvision.runtime.ops; print(sorted({'torch', 'openvino'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}


def test_the_export_modules_do_not_import_each_other() -> None:
    train = ROOT / "xnorvision" / "train"
    lower, ops = _imports(train / "_fx_lower.py"), _imports(train / "_fx_ops.py")
    assert "xnorvision.train._fx_ops" in lower
    assert "xnorvision.train._fx_lower" not in ops
