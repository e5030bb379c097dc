"""No process-wide side effects: importing the library sets no environment variable, and each model keeps
its own thread count (the kernels' process default, other models and numpy's BLAS stay as they were).

GOMP_SPINCOUNT is the app's choice: the CLI sets it before the kernels (and OpenMP with them) load.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from xnorvision import kernels
from xnorvision.runtime import Model, _blas, _threads, save_model

from . import graphs

ENV = {**{k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")},
       "PYTHONPATH": os.pathsep.join(sys.path)}


def python(code: str, **env: str) -> str:
    return subprocess.run([sys.executable, "-c", code], env={**ENV, **env}, capture_output=True, text=True,
                          check=True, timeout=120).stdout.strip()


def test_importing_the_library_leaves_the_environment_alone() -> None:
    # cv2's own __init__ extends LD_LIBRARY_PATH (any program importing it does), so it comes first
    code = ("import os, cv2, numpy; before = dict(os.environ)\n"
            "import xnorvision.api, xnorvision.kernels, xnorvision.runtime\n"
            "print(sorted(set(os.environ.items()) ^ set(before.items())))")
    assert python(code) == "[]"


# Records GOMP_SPINCOUNT at the moment the compiled kernels are imported, i.e. when libgomp reads it.
SPY = """
import importlib.abc, os, sys
seen = []
class Spy(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "xnorvision._bconv":
            seen.append(os.environ.get("GOMP_SPINCOUNT"))
sys.meta_path.insert(0, Spy())
import xnorvision.cli._commands  # the package alone loads nothing heavy; its commands load the kernels
print(seen, os.environ.get("GOMP_SPINCOUNT"))
"""


def test_the_cli_sets_a_short_openmp_spin_before_the_kernels_load_unless_the_user_chose() -> None:
    assert python(SPY) == "['30000'] 30000"
    assert python(SPY, OMP_WAIT_POLICY="PASSIVE") == "[None] None"


def test_each_model_keeps_its_own_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    graph, tensors, spec = graphs.chain()
    path = save_model(tmp_path / "m.xnv", graph, tensors, spec, [], {})
    default, blas_before = kernels.get_num_threads(), _blas._library()[1]()
    n = min(3, _threads.cpu_count())  # thread counts are capped at the CPUs
    if n < 2:
        pytest.skip("needs 2 CPUs")
    one, three = Model.load(path, threads=1), Model.load(path, threads=n)
    # what every kernel call and float layer was allowed while each model ran (the largest call's threads)
    seen: list[tuple[int, int]] = []
    original = kernels._threads_for

    def spy(work: int, parallel_from: int) -> int:
        seen.append((original(1 << 60, 1), _threads.threads()))
        return original(work, parallel_from)

    monkeypatch.setattr(kernels, "_threads_for", spy)
    x = np.random.default_rng(0).standard_normal((1, 13, 11, 3)).astype(np.float32)
    for model, threads in [(one, 1), (three, n), (one, 1)]:
        seen.clear()
        model.run(x)
        assert seen and set(seen) == {(threads, threads)}
    assert one.threads == 1 and three.threads == n
    assert kernels.get_num_threads() == default and _threads.threads() == 1
    assert _blas._library()[1]() == blas_before  # numpy's own BLAS setting is back after the runs
