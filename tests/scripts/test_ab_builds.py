"""``scripts/ab_builds.py``, the before/after timing of docs/benchmarks.md: a tree against itself gives the
same results and a ratio near 1 in both modes; an unbuilt tree is one line and exit code 2."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "ab_builds.py"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300)


def test_layers_of_a_build_against_itself() -> None:
    done = _run("layers", "--old", str(ROOT), "--layer", "vgg-8", "--layer", "faces-s8", "--calls", "20")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["vgg-8", "faces-s8"]
    for line in lines:
        assert line.endswith("same results: True")
        ratio = float(re.search(r"of the medians ([0-9.]+)", line).group(1))
        assert 0.5 < ratio < 2


def test_the_float_layers_of_a_build_against_itself() -> None:
    done = _run("layers", "--old", str(ROOT), "--layer", "resnet-stem", "--layer", "resnet-short-7",
                "--layer", "faces-stem", "--layer", "faces-bwn", "--calls", "5")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["resnet-stem", "resnet-short-7", "faces-stem", "faces-bwn"]
    assert all(line.endswith("same results: True") for line in lines)


def test_models_of_a_tree_against_itself() -> None:
    done = _run("models", "--old", str(ROOT), "--model", "vgg-small", "--rounds", "1", "--seconds", "0.2")
    assert done.returncode == 0, done.stderr
    found = re.fullmatch(r"round 1: vgg-small ([0-9.]+) -> ([0-9.]+) ms \(([0-9.]+)\), mean ([0-9.]+) -> "
                         r"([0-9.]+) ms \(([0-9.]+)\)\n", done.stdout)
    assert found and all(float(v) > 0 for v in found.groups())


def test_an_unbuilt_tree_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "xnorvision").mkdir()
    done = _run("layers", "--old", str(tmp_path), "--layer", "vgg-8")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "no built _bconv" in done.stderr
    done = _run("models", "--old", str(tmp_path), "--model", "vgg-small", "--rounds", "1", "--seconds", "0.1")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "has no xnorvision package" in done.stderr


def test_windows_of_a_layer_against_itself() -> None:
    done = _run("layers", "--old", str(ROOT), "--layer", "vgg-8", "--threads", "2", "--windows", "2")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    for k, line in enumerate(lines, 1):
        found = re.fullmatch(rf"vgg-8 window {k}: one thread ([0-9.]+) ms, 2 threads old ([0-9.]+) ms new "
                             r"([0-9.]+) ms \(new/old ([0-9.]+)\)", line)
        assert found and all(float(v) > 0 for v in found.groups())
