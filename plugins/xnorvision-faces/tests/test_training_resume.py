"""The proposal trainer stops and resumes exactly: a run cut after k steps ends where an uncut run ends."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # the train extra: absent in the arm64 root
from xnorvision_faces.training.data import Degrade, Sample, augment  # noqa: E402
from xnorvision_faces.training.models import ProposalNet  # noqa: E402
from xnorvision_faces.training.train_proposal import _load_state, _save_state, batch, loss_fn  # noqa: E402


def _samples(n: int = 4) -> list[Sample]:
    import cv2

    rng = np.random.default_rng(1)
    out = []
    for _ in range(n):
        image = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
        ok, jpeg = cv2.imencode(".jpg", image)
        assert ok
        out.append(Sample(jpeg.reshape(-1), np.array([[20, 20, 60, 70]], np.float32), np.ones(1, np.float32)))
    return out


def _train(steps: range, model, opt, sched, rng, samples) -> None:
    for _ in steps:
        x, targets = batch(samples, samples, rng, 2, 64, 0.1, Degrade(0.5, 0.5, 0.5, 0.5))
        loss = loss_fn(model(x), targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()


def _fresh(seed: int = 3):
    torch.manual_seed(seed)
    model = ProposalNet("xnor", 8)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=6)
    return model, opt, sched, np.random.default_rng(seed)


def test_resume_is_exact(tmp_path: Path) -> None:
    samples = _samples()
    model, opt, sched, rng = _fresh()
    _train(range(6), model, opt, sched, rng, samples)

    cut, opt2, sched2, rng2 = _fresh()
    _train(range(3), cut, opt2, sched2, rng2, samples)
    _save_state(tmp_path / "s.pt", cut, opt2, sched2, rng2, 4, 1.0, 0.5)
    resumed, opt3, sched3, rng3 = _fresh(seed=99)  # nothing carried over but the file
    assert _load_state(tmp_path / "s.pt", resumed, opt3, sched3, rng3) == (4, 1.0, 0.5)
    _train(range(3), resumed, opt3, sched3, rng3, samples)

    for key, value in model.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key


def test_degrade_changes_crops_only_when_asked() -> None:
    sample = _samples(1)[0]
    plain = augment(sample, np.random.default_rng(5), 64, (100.0, 140.0))[0]
    same = augment(sample, np.random.default_rng(5), 64, (100.0, 140.0), Degrade())[0]
    grey = augment(sample, np.random.default_rng(5), 64, (100.0, 140.0), Degrade(gray=1.0))[0]
    assert np.array_equal(plain, same)
    assert np.array_equal(grey[..., 0], grey[..., 1]) and not np.array_equal(grey, plain)


def test_the_data_hash_follows_the_training_data(tmp_path: Path) -> None:
    """The recipe's ``data_hash``: the same bytes give the same hash; any change to the cached samples a run
    reads (an image, a label) gives another."""
    from xnorvision_faces.training.data import _pack, cache_files, load_scenes, load_wider_train

    from xnorvision.train import data_hash

    samples = _samples()
    _pack(samples, tmp_path / "wider_train.npz")
    _pack(samples[:1], tmp_path / "scenes.npz")
    files = cache_files(tmp_path)
    assert len(load_wider_train(tmp_path, tmp_path)) == 4 and len(load_scenes(tmp_path, tmp_path)) == 1
    before = data_hash(files)
    assert data_hash(files) == before and len(before) == 64
    samples[2].boxes[0, 0] += 1  # one label moved by a pixel
    _pack(samples, tmp_path / "wider_train.npz")
    assert data_hash(files) != before
