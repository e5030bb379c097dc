"""Export parity: the runtime runs an exported model as torch does (binary layers bit for bit)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from xnorvision.errors import XnorvisionError  # noqa: E402
from xnorvision.runtime import Model, save_model  # noqa: E402
from xnorvision.train import BinaryConv2d, SignActivation, binarize  # noqa: E402
from xnorvision.train._data import input_spec, to_tensor  # noqa: E402
from xnorvision.train._export import export_model  # noqa: E402
from xnorvision.train._fx_emit import pack_signs  # noqa: E402
from xnorvision.train._models import vgg_small  # noqa: E402


def _randomize_bn(model: nn.Module, seed: int) -> nn.Module:
    """Non-trivial batch norms (as after training), so folding and sign thresholds are exercised."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            c = m.num_features
            m.weight.data = torch.rand(c, generator=g) + 0.5
            m.weight.data[::5] *= -1  # negative gammas flip the sign thresholds
            m.bias.data = torch.randn(c, generator=g) * 0.3
            m.running_mean.data = torch.randn(c, generator=g) * 2
            m.running_var.data = torch.rand(c, generator=g) * 3 + 0.2
    return model.eval()


class Detector(nn.Module):
    """Fully-convolutional, two heads, residual add, concat and upsampling: what a face detector uses."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16))
        self.b1 = nn.Sequential(SignActivation(), nn.MaxPool2d(2), BinaryConv2d(16, 70, 3, padding=1),
                                nn.BatchNorm2d(70))
        self.b2 = nn.Sequential(BinaryConv2d(70, 70, 3, padding=1, pad_value=1, estimator="bireal"),
                                nn.BatchNorm2d(70))
        self.b3 = nn.Sequential(BinaryConv2d(70, 24, 3, stride=2, padding=1), nn.BatchNorm2d(24), nn.PReLU())
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.cls = nn.Conv2d(24 + 70, 2, 1)
        self.box = nn.Conv2d(24 + 70, 4, 1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        y1 = self.b1(self.stem(x))
        y2 = self.b2(y1) + y1
        f = torch.cat([self.up(self.b3(y2)), y2], dim=1)
        return {"scores": torch.sigmoid(self.cls(f)), "boxes": self.box(torch.relu(f))}


def _unpack(words: np.ndarray, channels: int) -> np.ndarray:
    bits = np.unpackbits(words.astype("<u8").view(np.uint8), axis=-1, bitorder="little")
    return bits[..., :channels].astype(bool)


def _intermediates(twin: torch.fx.GraphModule, x: torch.Tensor) -> dict[str, torch.Tensor]:
    seen: dict[str, torch.Tensor] = {}

    class Recorder(torch.fx.Interpreter):
        def run_node(self, n: torch.fx.Node) -> object:
            out = super().run_node(n)
            if isinstance(out, torch.Tensor):
                seen[n.name] = out
            return out

    with torch.no_grad():
        Recorder(twin).run(x)
    return seen


def _check_parity(model: nn.Module, tmp_path, spec: dict, images: np.ndarray, names=None) -> dict:
    lowered = export_model(model, tmp_path / "m.xnv", spec, [], {"test": True}, names)
    probed = ("binary_conv2d", "binary_linear", "sign")
    binary = [n["name"] for n in lowered.graph["nodes"] if n["op"] in probed]
    # A second file whose outputs also expose every binary layer, to compare them one by one.
    graph = dict(lowered.graph, outputs=lowered.graph["outputs"] + binary)
    save_model(tmp_path / "probe.xnv", graph, lowered.tensors, spec, [], {})
    got = Model.load(tmp_path / "probe.xnv", threads=1).run(images)
    x = to_tensor(images)
    inner = _intermediates(lowered.twin, x)
    for name in binary:
        ref = inner[lowered.sources[name]]
        ref = ref.permute(0, 2, 3, 1) if ref.dim() == 4 else ref
        negative = (ref < 0).numpy()
        out = got[name]
        mine = _unpack(out, negative.shape[-1]) if name in lowered.bits else out < 0
        assert np.array_equal(mine, negative), f"{name}: {np.sum(mine != negative)} sign decisions differ"
    with torch.no_grad():
        expected = model(x)
    if isinstance(expected, torch.Tensor):
        expected = {lowered.graph["outputs"][0]: expected}
    for key, ref in expected.items():
        ref = (ref.permute(0, 2, 3, 1) if ref.dim() == 4 else ref).numpy()
        np.testing.assert_allclose(got[key], ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
        if ref.ndim == 2:
            assert np.array_equal(got[key].argmax(1), ref.argmax(1))
    return lowered.graph


@pytest.mark.parametrize("mode", ["xnor", "bwn"])
def test_binarized_vgg_matches_runtime(tmp_path, mode: str) -> None:
    torch.manual_seed(3)
    model = _randomize_bn(binarize(vgg_small(width=24), mode=mode), seed=4)
    images = np.random.default_rng(5).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    graph = _check_parity(model, tmp_path, input_spec(), images, ["logits"])
    assert graph["outputs"] == ["logits"] and graph["output_kinds"] == {"logits": "logits"}
    ops = [n["op"] for n in graph["nodes"]]
    assert ("binary_conv2d" in ops) == (mode == "xnor") and ("bwn_conv2d" in ops) == (mode == "bwn")
    assert ops.count("binary_conv2d") + ops.count("bwn_conv2d") == 5  # six convs, the first stays float
    assert "batch_norm" not in ops or mode == "xnor"  # folded wherever a layer precedes it


def test_detector_exports_with_bit_outputs_between_binary_convs(tmp_path) -> None:
    torch.manual_seed(6)
    model = _randomize_bn(Detector(), seed=7)
    images = np.random.default_rng(8).integers(0, 256, (2, 24, 40, 3), dtype=np.uint8)
    graph = _check_parity(model, tmp_path, input_spec(None, None), images)
    assert graph["outputs"] == ["scores", "boxes"]
    assert graph["output_kinds"] == {"scores": "probabilities", "boxes": "raw"}  # written, not left to guess
    out = {n["name"]: n["attrs"].get("output") for n in graph["nodes"] if n["op"] == "binary_conv2d"}
    # b1's conv feeds the residual add (needs floats); b2's feeds the add and b3 -> float; none only bits.
    assert set(out.values()) == {"float"}


def test_chain_of_binary_convs_passes_bits(tmp_path) -> None:
    torch.manual_seed(9)
    model = _randomize_bn(nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8),
        BinaryConv2d(8, 65, 3, padding=1), nn.BatchNorm2d(65), nn.MaxPool2d(2),
        BinaryConv2d(65, 16, 3, padding=1), nn.BatchNorm2d(16), nn.Flatten(), nn.Linear(16 * 16 * 16, 3)),
        seed=10)
    images = np.random.default_rng(11).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    graph = _check_parity(model, tmp_path, input_spec(), images, ["logits"])
    first = next(n for n in graph["nodes"] if n["op"] == "binary_conv2d")
    assert first["attrs"]["output"] == "bits"
    pool = next(n for n in graph["nodes"] if n["op"] == "maxpool2d")
    assert pool["inputs"] == [first["name"]]


def test_declared_output_kinds_are_written(tmp_path) -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 32 * 32, 2)).eval()
    export_model(model, tmp_path / "m.xnv", input_spec(), ["a", "b"], {}, ["p"],
                 output_kinds={"p": "probabilities"})
    assert Model.load(tmp_path / "m.xnv", threads=1).output_kinds == {"p": "probabilities"}


def test_pack_signs_layout() -> None:
    neg = np.zeros((2, 70), bool)
    neg[0, 0] = neg[0, 63] = neg[1, 64] = neg[1, 69] = True
    w = pack_signs(neg)
    assert w.dtype == np.uint64 and w.shape == (2, 2)
    assert w[0].tolist() == [1 | (1 << 63), 0] and w[1].tolist() == [0, 1 | (1 << 5)]


def test_unsupported_module_names_the_node(tmp_path) -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.GELU())
    with pytest.raises(XnorvisionError, match="GELU"):
        export_model(model, tmp_path / "m.xnv", input_spec(), [], {})
