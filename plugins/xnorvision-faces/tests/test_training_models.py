"""The face networks: shapes, and an exported .xnv that the runtime runs like torch does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # the train extra: absent in the arm64 root
from xnorvision_faces.training.export import CLASSIFIER_SPEC, PROPOSAL_SPEC, export_faces  # noqa: E402
from xnorvision_faces.training.models import BiRealBlock, FaceClassifier, ProposalNet  # noqa: E402
from xnorvision_faces.training.train_classifier import MEAN, STD  # noqa: E402
from xnorvision_faces.training.train_proposal import to_tensor  # noqa: E402

from xnorvision.api import Model  # noqa: E402
from xnorvision.train import export_model  # noqa: E402


def _trained_looking(model: torch.nn.Module) -> torch.nn.Module:
    """Random batch-norm statistics, so the folding the exporter does is really exercised."""
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return model.eval()


def test_block_rejects_unsupported_shapes() -> None:
    with pytest.raises(ValueError):
        BiRealBlock(16, 32, stride=1)


@pytest.mark.parametrize("blocks", [(2, 2, 1), (3, 1, 2)])
def test_proposal_net_exports_and_runs_like_torch(tmp_path: Path, blocks: tuple[int, int, int]) -> None:
    model = _trained_looking(ProposalNet("xnor", width=16, blocks=blocks))
    export_model(model, tmp_path / "p.xnv", PROPOSAL_SPEC, ["face"], {}, ["s8", "s16", "s32"])
    image = np.random.default_rng(0).integers(0, 255, (64, 96, 3), np.uint8)
    got = Model.load(tmp_path / "p.xnv", threads=1).run(image)
    with torch.no_grad():
        want = model(to_tensor(image[None]))
    for name, w in zip(("s8", "s16", "s32"), want, strict=True):
        assert got[name].shape == (1, 64 // int(name[1:]), 96 // int(name[1:]), 5)
        np.testing.assert_allclose(got[name], w.permute(0, 2, 3, 1).numpy(), atol=1e-3)


@pytest.mark.parametrize("pool_first", [False, True])
def test_classifier_exports_and_runs_like_torch(tmp_path: Path, pool_first: bool) -> None:
    model = _trained_looking(FaceClassifier("xnor", width=16, pool_first=pool_first))
    export_model(model, tmp_path / "c.xnv", CLASSIFIER_SPEC, ["face"], {}, ["face"])
    crops = np.random.default_rng(1).integers(0, 255, (4, 32, 32), np.uint8)
    got = Model.load(tmp_path / "c.xnv", threads=1)(crops)
    with torch.no_grad():
        want = model(torch.from_numpy((crops.astype(np.float32) / 255 - MEAN) / STD)[:, None])
    np.testing.assert_allclose(got, want.numpy(), atol=1e-3)


def test_export_writes_only_the_networks_given(tmp_path: Path) -> None:
    """A new proposal net is scored with the shipped classifier first: exporting it alone leaves the other."""
    torch.save(_trained_looking(ProposalNet("xnor", width=16)).state_dict(), tmp_path / "p.pt")
    (tmp_path / "p.json").write_text('{"mode": "xnor", "width": 16}')
    written = export_faces(tmp_path / "p.pt", None, tmp_path / "out")
    assert written == [tmp_path / "out" / "proposal.xnv"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["proposal.xnv"]
    assert Model.load(written[0]).output_names == ["s8", "s16", "s32"]


def test_a_recipe_says_how_deep_the_proposal_net_is(tmp_path: Path) -> None:
    """``--blocks`` is recorded in the recipe; export and the classifier's mining rebuild the net from it
    (a recipe from before the option means the shipped depth)."""
    from xnorvision_faces.training.models import BLOCKS
    from xnorvision_faces.training.train_proposal import _blocks

    deep = ProposalNet.from_recipe({"mode": "xnor", "width": 16, "blocks": [3, 3, 2]})
    assert (len(deep.s8), len(deep.s16), len(deep.s32)) == (3, 3, 2)
    old = ProposalNet.from_recipe({"mode": "xnor", "width": 16})
    assert (len(old.s8), len(old.s16), len(old.s32)) == BLOCKS
    torch.save(_trained_looking(deep).state_dict(), tmp_path / "p.pt")
    (tmp_path / "p.json").write_text('{"mode": "xnor", "width": 16, "blocks": [3, 3, 2]}')
    (written,) = export_faces(tmp_path / "p.pt", None, tmp_path / "out")
    assert sum(op == "binary_conv2d" for _, op, _ in Model.load(written).steps) == 8
    assert _blocks("3,3,2") == [3, 3, 2]
    for bad in ("3,3", "0,2,1", "a,b,c"):
        with pytest.raises(Exception, match="three counts"):
            _blocks(bad)
    with pytest.raises(ValueError, match="blocks"):
        ProposalNet("xnor", 16, (2, 2))


def test_a_grown_net_starts_as_the_shallow_one() -> None:
    """``--init`` with a shallower checkpoint: the added blocks are identities until trained."""
    shallow = _trained_looking(ProposalNet("xnor", width=16))
    deep = ProposalNet("xnor", width=16, blocks=(3, 3, 2))
    deep.grow_from(shallow.state_dict())
    deep.eval()
    x = torch.randn(2, 3, 64, 96, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        for got, want in zip(deep(x), shallow(x), strict=True):
            torch.testing.assert_close(got, want)
    # the added block, not a copy of a trained one
    assert float(deep.s8[2].bn.weight.detach().abs().sum()) == 0.0
    with pytest.raises(ValueError, match="not a shallower"):
        ProposalNet("xnor", width=16).grow_from(deep.state_dict())
    with pytest.raises(ValueError, match="not a shallower"):
        deep.grow_from({k: v for k, v in shallow.state_dict().items() if not k.startswith("stem.")})
