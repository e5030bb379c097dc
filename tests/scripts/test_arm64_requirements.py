"""The arm64 root's requirement list follows pyproject.toml, minus what cannot or need not exist there."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _requirements(pyproject: Path) -> list[str]:
    script = ROOT / "scripts" / "arm64" / "requirements.py"
    out = subprocess.run([sys.executable, str(script), str(pyproject)], check=True, capture_output=True,
                         text=True).stdout
    return out.splitlines()


def test_project_requirements_leave_out_qt_torch_and_ruff() -> None:
    reqs = _requirements(ROOT / "pyproject.toml")
    names = {r.split(">")[0].split("=")[0].split("<")[0].lower() for r in reqs}
    assert {"numpy", "cython", "pytest", "hypothesis", "opencv-python-headless"} <= names
    assert not names & {"pyqt5", "torch", "ruff"}


def test_follows_pyproject_names_case_insensitively(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=68"]\n'
        '[project]\ndependencies = ["pluggy[x]>=1.3; python_version>\'3\'"]\n'
        '[project.optional-dependencies]\ndev = ["pytest>=8", "Ruff>=0.5"]\ngui = ["PyQt5>=5.15"]\n')
    assert _requirements(tmp_path / "pyproject.toml") == [
        "pluggy[x]>=1.3; python_version>'3'", "pytest>=8", "setuptools>=68"]
