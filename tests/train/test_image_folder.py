"""Training on your own classes: image folder -> ``train`` -> ``export`` -> ``eval classify``, by the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from xnorvision.cli._train import RECIPE_NAMES  # noqa: E402
from xnorvision.errors import XnorvisionError  # noqa: E402
from xnorvision.runtime import Model  # noqa: E402
from xnorvision.train._data import load_dataset  # noqa: E402
from xnorvision.train._recipes import RECIPES  # noqa: E402


def shapes_folder(root: Path, per_class: int = 40, seed: int = 0) -> Path:
    """``root/circle`` and ``root/square``: a red disc or a green square of random size and place on dark
    noise, 40x40 PNGs (colour makes it learnable in a few steps: the test is about the plumbing)."""
    rng = np.random.default_rng(seed)
    for name in ("circle", "square"):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            img = rng.integers(0, 40, (40, 40, 3)).astype(np.uint8)
            r = int(rng.integers(10, 15))
            cx, cy = (int(v) for v in rng.integers(r + 2, 40 - r - 2, 2))
            if name == "circle":
                cv2.circle(img, (cx, cy), r, (40, 40, 255), -1)
            else:
                cv2.rectangle(img, (cx - r, cy - r), (cx + r, cy + r), (40, 255, 40), -1)
            cv2.imwrite(str(root / name / f"{i:03d}.png"), img)
    return root




def test_folder_dataset_split_is_seeded_and_labelled(tmp_path) -> None:
    data = shapes_folder(tmp_path / "shapes", per_class=10)
    a = load_dataset(data, holdout=0.25, size=16, seed=1)
    b = load_dataset(data, holdout=0.25, size=16, seed=1)
    assert a.classes == ["circle", "square"] and a.train_x.shape == (15, 16, 16, 3) and len(a.val_y) == 5
    other = load_dataset(data, holdout=0.25, size=16, seed=2)
    assert np.array_equal(a.val_x, b.val_x) and not np.array_equal(a.val_x, other.val_x)
    assert a.hash == b.hash and len(a.hash) == 64


def test_a_folder_the_memory_cannot_hold_at_the_input_size_is_refused_before_reading(tmp_path,
                                                                                    monkeypatch) -> None:
    """--input-size 16384 on six photos asked for 14.5 GB before the first check could run."""
    from xnorvision import _ram
    from xnorvision.eval import _image_folder

    data = shapes_folder(tmp_path / "shapes", per_class=3)
    assert _image_folder.count_images(data) == 6  # two classes of three
    read = []
    monkeypatch.setattr(_image_folder, "read_image", lambda f: read.append(f))
    monkeypatch.setattr(_ram, "available_bytes", lambda: 2 * 3 * 6 * 64 * 64 * 3 - 1)  # just short at 64
    with pytest.raises(XnorvisionError, match=r"its images at 64x64 would take about .* --input-size"):
        load_dataset(data, holdout=0.25, size=64)
    assert read == []  # refused before any image was read


def test_train_export_and_eval_on_an_image_folder(tmp_path, cli, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    data, run = shapes_folder(tmp_path / "shapes"), tmp_path / "run"
    code, out, err = cli("train", "--data", str(data), "--out", str(run), "--mode", "xnor",
                          "--width", "8", "--input-size", "16", "--epochs", "6", "--batch-size", "16",
                          "--holdout", "0.25", "--threads", "1")
    assert code == 0, err
    assert "image-folder: epoch 6" in out
    epoch_lines = [x for x in out.splitlines() if x.startswith("image-folder epoch ")]
    assert len(epoch_lines) == 6, out  # one plain line per epoch, no bars repeated into a pipe
    assert all(x.endswith(" s") and " of 20 images, " in x for x in epoch_lines), out
    model = Model.load(run / "model.xnv")
    assert model.labels == ["circle", "square"] and model.input_spec["height"] == 16
    meta = model.file.metadata
    assert meta["recipe"]["mode"] == "xnor" and meta["recipe"]["num_classes"] == 2
    assert meta["val_images"] == 20 and meta["val_top1"] == meta["history"][-1]["val_acc"]  # 0.25 of 80
    code, _, err = cli("export", str(run / "checkpoint.pt"), "--out", str(tmp_path / "again.xnv"))
    assert code == 0, err
    code, out, err = cli("eval", "classify", "--model", str(tmp_path / "again.xnv"), "--data",
                          str(data), "--json", str(tmp_path / "r.json"))
    report = json.loads((tmp_path / "r.json").read_text())
    assert code == 0 and report["images"] == 80 and set(report["per_class"]) == {"circle", "square"}, err
    assert report["top1"] >= 0.9, report


@pytest.mark.parametrize("content", ["state_dict", "module", "junk"])
def test_export_of_a_foreign_checkpoint_is_one_line_exit_2(tmp_path, cli, content: str) -> None:
    path = tmp_path / "c.pt"
    net = torch.nn.Linear(2, 2)
    if content == "junk":
        path.write_bytes(b"junk")
    else:
        torch.save(net.state_dict() if content == "state_dict" else net, path)
    code, out, err = cli("export", str(path), "--out", str(tmp_path / "o.xnv"))
    assert code == 2 and err.count("\n") == 1
    assert "not a checkpoint written by xnorvision train" in err and "export_model" in err


@pytest.mark.parametrize(("data", "says"), [
    ("missing", "no such file or folder"),
    ("empty", "neither an image folder (one sub-folder of images per class) nor JPEG chunk files"),
    ("chunks", "--recipe is needed for chunk data"),
])
def test_train_without_a_recipe_says_what_the_data_is_not(cli, tmp_path, data: str, says: str) -> None:
    """A missing or empty --data was once told to give a recipe for chunk data it did not hold."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "chunks").mkdir()
    (tmp_path / "chunks" / "train_1.npz").write_bytes(b"")
    code, out, err = cli("train", "--data", str(tmp_path / data), "--out", str(tmp_path / "run"))
    assert code == 2 and out == "" and err.count("\n") == 1 and says in err
    assert not (tmp_path / "run").exists()


def test_train_help_lists_every_recipe(cli) -> None:
    assert list(RECIPE_NAMES) == list(RECIPES)
    code, out, _ = cli("train", "--help")
    flat = " ".join(out.replace("│", " ").split())
    assert code == 0 and all(name in flat for name in RECIPES)


def test_the_custom_training_example_of_the_docs_runs(tmp_path, capsys, cli, monkeypatch) -> None:
    """docs/plugins.md's Python example, as written: own nn.Module -> binarize -> train -> export_model."""
    doc = (Path(__file__).parents[2] / "docs" / "plugins.md").read_text()
    after = doc.split("<!-- doc-example: custom-training", 1)[1]
    code = after.split("```python\n", 1)[1].split("\n```", 1)[0]
    monkeypatch.chdir(tmp_path)
    shapes_folder(tmp_path / "my-shapes", per_class=20)
    exec(compile(code, "docs/plugins.md", "exec"), {"__name__": "doc_example"})
    assert "runtime agrees with torch on 1.0 of the images" in capsys.readouterr().out
    code, out, err = cli("eval", "classify", "--model", "shapes.xnv", "--data", "my-shapes")
    assert code == 0 and "on 40 images" in out and "circle" in out, err
