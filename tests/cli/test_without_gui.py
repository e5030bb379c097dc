"""Without PyQt5 (the ``gui`` extra: no aarch64 wheel) the CLI runs headless and says how to get a window.

PyQt5 is hidden the way an absent package looks to Python: ``sys.modules['PyQt5'] = None`` in a fresh
interpreter, so ``import PyQt5`` raises ImportError and ``find_spec`` finds nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HIDE_QT = "import sys; sys.modules['PyQt5'] = None; from xnorvision.cli import main; main()"


def xnorvision_without_qt(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # a display is there, so a window is wanted: only the missing PyQt5 stands in the way
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "DISPLAY": ":99"}
    env.pop("QT_QPA_PLATFORM", None)
    return subprocess.run([sys.executable, "-c", HIDE_QT, *args], capture_output=True, text=True, timeout=120,
                          env=env, cwd=cwd)


def test_run_wanting_a_window_goes_headless_and_says_how_to_get_one(tmp_path: Path) -> None:
    jsonl = tmp_path / "o.jsonl"
    proc = xnorvision_without_qt("run", "--source", "synth:3", "--save-json", str(jsonl), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "PyQt5" in line]
    assert warnings == ["warning: no window without PyQt5, running headless; for the window: pip install "
                        "'xnorvision[gui]' (or the distribution's PyQt5, e.g. apt install python3-pyqt5)"]
    assert "3 frames" in proc.stdout and len([json.loads(x) for x in jsonl.read_text().splitlines()]) == 3


def test_doctor_warns_rather_than_fails_without_qt(tmp_path: Path) -> None:
    proc = xnorvision_without_qt("doctor", cwd=tmp_path)
    qt = [line for line in proc.stdout.splitlines() if "] qt:" in line]
    assert qt == ["[WARN] qt: PyQt5 is not installed: `run` goes headless; for the window: pip install "
                  "'xnorvision[gui]' (or the distribution's PyQt5, e.g. apt install python3-pyqt5)"]
    assert "FAIL" not in proc.stdout, proc.stdout


def test_pyqt5_is_the_gui_extra_not_a_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not [d for d in project["dependencies"] if d.lower().startswith("pyqt5")]
    assert project["optional-dependencies"]["gui"] == ["pyqt5>=5.15"]
