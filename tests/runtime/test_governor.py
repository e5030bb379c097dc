"""ThreadGovernor: runs the faster thread policy, probes the other, and follows a machine that changes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xnorvision import kernels
from xnorvision.runtime import Model, save_model
from xnorvision.runtime._governor import ThreadGovernor

from . import graphs


def _drive(gov: ThreadGovernor, cost: dict[bool, float], runs: int) -> list[bool]:
    """Run ``runs`` times with per-pixel costs ``cost[eager]``; return the policy of each run."""
    chosen = []
    for _ in range(runs):
        eager = gov.choose()
        gov.record(eager, cost[eager] * 1000, 1000)
        chosen.append(eager)
    return chosen


def test_keeps_the_faster_policy_and_probes_ever_more_rarely() -> None:
    gov = ThreadGovernor(interval=8, max_interval=64)
    chosen = _drive(gov, {True: 1.0, False: 1.2}, 400)
    probes = [i for i, eager in enumerate(chosen) if not eager]
    assert chosen[:2] == [True, True] and probes[0] == 2  # the other policy is measured early
    gaps = np.diff(probes)
    assert list(gaps[:3]) == [17, 33, 65] and set(gaps[3:]) == {65}  # 16, 32, then 64 runs apart
    assert gov.eager


def test_switches_when_the_other_policy_is_faster_and_back_when_it_changes() -> None:
    gov = ThreadGovernor(interval=8, max_interval=64)
    busy = _drive(gov, {True: 5.0, False: 1.0}, 200)  # another process holds the second core
    assert not gov.eager and busy[:3] == [True, True, False]  # cautious from the first probe on
    probes = [i for i, eager in enumerate(busy) if eager and i > 2]
    assert probes == [11, 28, 61, 126, 191]  # eager again only as probes, ever more rarely
    idle = _drive(gov, {True: 0.8, False: 1.0}, 200)  # the machine is idle again
    assert gov.eager and sum(idle[-100:]) >= 95


def test_a_sudden_slowdown_brings_the_next_probe_forward() -> None:
    gov = ThreadGovernor(interval=8, max_interval=256)
    _drive(gov, {True: 1.0, False: 1.2}, 1000)  # probes now 256 runs apart
    assert gov.interval == 256
    after = _drive(gov, {True: 10.0, False: 1.2}, 3)
    assert after == [True, False, False] and not gov.eager  # probed on the next run, then switched


def test_model_runs_restore_the_cautious_policy(tmp_path: Path) -> None:
    graph, tensors, spec = graphs.chain()
    model = Model.load(save_model(tmp_path / "m.xnv", graph, tensors, spec, [], {}), threads=2)
    x = np.random.default_rng(0).standard_normal((1, 13, 11, 3)).astype(np.float32)
    runs = [model.run(x)["prob"] for _ in range(12)]
    assert not kernels.eager_threads()
    assert model._governor.cost[True] is not None and model._governor.cost[False] is not None
    for out in runs[1:]:
        np.testing.assert_allclose(out, runs[0], rtol=1e-5)  # either policy computes the same
