"""eval classify: chunk decoding, scoring, the confusion PNG and the CLI, on a hand-made model (no torch)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from xnorvision.cli import main
from xnorvision.errors import XnorvisionError
from xnorvision.eval._classify import confusion_image, evaluate_classifier, read_jpeg_chunk
from xnorvision.runtime import Model, save_model

COLORS = {"blue": (255, 0, 0), "green": (0, 255, 0), "red": (0, 0, 255)}  # BGR


def _chunk(path, labels: list[int]) -> None:
    """A chunk file of solid-colour 16x16 JPEGs (label i = the i-th colour), as ../shared/data stores them."""
    files = []
    for y in labels:
        img = np.zeros((16, 16, 3), np.uint8) + np.uint8(list(COLORS.values())[y])
        files.append(np.frombuffer(cv2.imencode(".jpg", img)[1].tobytes(), np.uint8))
    offsets = np.cumsum([0] + [len(f) for f in files]).astype(np.int64)
    np.savez(path, jpeg=np.concatenate(files), offsets=offsets, y=np.array(labels, np.uint8))


def _colour_model(path, order: tuple[int, int, int] = (2, 1, 0)) -> None:
    """global average pool -> linear picking one RGB channel per class (class 0 = blue = RGB channel 2)."""
    graph = {"inputs": ["input"], "outputs": ["logits"], "nodes": [
        {"name": "gap", "op": "global_avgpool", "inputs": ["input"], "attrs": {}},
        {"name": "logits", "op": "linear", "inputs": ["gap"],
         "attrs": {"in_features": 3, "out_features": 3}}]}
    weight = np.eye(3, dtype=np.float32)[list(order)]
    spec = {"height": 16, "width": 16, "channels": 3, "channel_order": "rgb", "mean": [0, 0, 0],
            "std": [1, 1, 1]}
    save_model(path, graph, {"logits.weight": weight}, spec, list(COLORS), {})


def test_read_chunk_decodes_a_range(tmp_path) -> None:
    _chunk(tmp_path / "c.npz", [0, 1, 2, 2, 1])
    images, labels = read_jpeg_chunk(tmp_path / "c.npz", start=-3)
    assert images.shape == (3, 16, 16, 3) and labels.tolist() == [2, 2, 1]
    assert images[0, 8, 8, 2] > 200 and images[0, 8, 8, 0] < 50  # red in BGR


def test_read_chunk_rejects_other_files(tmp_path) -> None:
    np.savez(tmp_path / "x.npz", a=np.zeros(3))
    with pytest.raises(XnorvisionError, match="not a JPEG chunk"):
        read_jpeg_chunk(tmp_path / "x.npz")


def test_scores_per_class_and_confusion(tmp_path) -> None:
    _chunk(tmp_path / "c.npz", [0, 1, 2, 0, 1, 2, 2])
    images, labels = read_jpeg_chunk(tmp_path / "c.npz")
    _colour_model(tmp_path / "good.xnv")
    good = evaluate_classifier(Model.load(tmp_path / "good.xnv", threads=1), images, labels,
                               labels_names=list(COLORS), batch=3)
    assert good.top1 == 1.0 and good.per_class == {"blue": 1.0, "green": 1.0, "red": 1.0}
    assert np.array_equal(good.confusion, np.diag([2, 2, 3])) and good.images_per_s > 0
    _colour_model(tmp_path / "swap.xnv", order=(1, 0, 2))  # blue -> red, green -> blue, red -> green
    bad = evaluate_classifier(Model.load(tmp_path / "swap.xnv", threads=1), images, labels, batch=4)
    assert bad.top1 == 0.0
    assert bad.confusion[0][2] == 2 and bad.confusion[2][1] == 3


def test_confusion_image_shades_the_diagonal() -> None:
    img = confusion_image(np.array([[9, 1], [0, 10]]), ["cat", "dog"], cell=20)
    assert img.dtype == np.uint8 and img.ndim == 3
    assert img[110 + 10, 110 + 30].tolist() != img[110 + 30, 110 + 10].tolist()  # 10/10 vs 0/10


def test_cli_writes_json_and_png(tmp_path, capsys) -> None:
    _chunk(tmp_path / "c.npz", [0, 1, 2, 1])
    _colour_model(tmp_path / "m.xnv")
    with pytest.raises(SystemExit) as exc:
        main(["eval", "classify", "--model", str(tmp_path / "m.xnv"), "--data", str(tmp_path / "c.npz"),
              "--json", str(tmp_path / "r.json"), "--confusion", str(tmp_path / "cm.png"), "--last", "3"])
    assert exc.value.code in (0, None)
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["images"] == 3 and report["top1"] == 1.0
    assert cv2.imread(str(tmp_path / "cm.png")) is not None
    assert "top-1 1.0000" in capsys.readouterr().out


def test_cli_bad_data_is_one_line_exit_2(tmp_path, capsys) -> None:
    _colour_model(tmp_path / "m.xnv")
    (tmp_path / "bad.npz").write_bytes(b"nope")
    with pytest.raises(SystemExit) as exc:
        main(["eval", "classify", "--model", str(tmp_path / "m.xnv"), "--data", str(tmp_path / "bad.npz")])
    assert exc.value.code == 2
    assert capsys.readouterr().err.startswith("error: ")


def _eval(capsys, *args: str) -> tuple[int, str, str]:
    try:
        main(["eval", "classify", *args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_refuses_labels_that_do_not_match_the_data(tmp_path, capsys) -> None:
    """A model is scored only against the classes it knows: by name (any order) or mapped with --labels."""
    _chunk(tmp_path / "c.npz", [0, 1, 2, 1, 0])
    (tmp_path / "classes.txt").write_text("sky\ngrass\nfire\n")
    _colour_model(tmp_path / "m.xnv")  # labels blue, green, red
    model, data = ["--model", str(tmp_path / "m.xnv")], ["--data", str(tmp_path / "c.npz")]
    code, _, err = _eval(capsys, *model, *data)
    assert code == 2 and err.count("\n") == 1
    assert "labels (blue, green, red) do not match the data's classes (sky, grass, fire)" in err
    code, out, err = _eval(capsys, *model, *data, "--labels", "blue=sky,red=fire", "--json",
                           str(tmp_path / "r.json"))
    report = json.loads((tmp_path / "r.json").read_text())
    assert code == 0 and report["images"] == 3 and report["top1"] == 1.0, err
    (tmp_path / "classes.txt").write_text("red\ngreen\nblue\n")  # same names, other order: matched by name
    code, out, _ = _eval(capsys, *model, *data)
    assert code == 0 and "top-1 0.4000" in out  # the two green images: names, not indices, decide
    code, _, err = _eval(capsys, *model, *data, "--labels", "purple=red")
    assert code == 2 and "the model has no label 'purple'" in err


def test_cli_refuses_a_model_with_fewer_outputs_than_classes(tmp_path, capsys) -> None:
    _chunk(tmp_path / "c.npz", [0, 1, 2])
    graph = {"inputs": ["input"], "outputs": ["logits"], "nodes": [
        {"name": "gap", "op": "global_avgpool", "inputs": ["input"], "attrs": {}},
        {"name": "logits", "op": "linear", "inputs": ["gap"],
         "attrs": {"in_features": 3, "out_features": 2}}]}
    spec = {"height": 16, "width": 16, "channels": 3, "channel_order": "rgb", "mean": [0, 0, 0],
            "std": [1, 1, 1]}
    save_model(tmp_path / "two.xnv", graph, {"logits.weight": np.ones((2, 3), np.float32)}, spec, [], {})
    code, _, err = _eval(capsys, "--model", str(tmp_path / "two.xnv"), "--data", str(tmp_path / "c.npz"))
    assert code == 2 and "classes up to index 2 but the model has 2 outputs" in err


def test_cli_scores_an_image_folder_by_its_folder_names(tmp_path, capsys) -> None:
    for name, colour in COLORS.items():
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(2):
            image = np.zeros((20, 24, 3), np.uint8) + np.uint8(colour)
            cv2.imwrite(str(tmp_path / "data" / name / f"{i}.png"), image)
    _colour_model(tmp_path / "m.xnv")
    code, out, err = _eval(capsys, "--model", str(tmp_path / "m.xnv"), "--data", str(tmp_path / "data"))
    assert code == 0 and "top-1 1.0000 on 6 images" in out, err


def test_cli_names_an_image_over_opencvs_size_limit_in_a_folder(tmp_path, capsys, oversized_png) -> None:
    for name in COLORS:
        (tmp_path / "data" / name).mkdir(parents=True)
        cv2.imwrite(str(tmp_path / "data" / name / "0.png"), np.zeros((20, 24, 3), np.uint8))
    (tmp_path / "data" / "red" / "1.png").write_bytes(oversized_png)
    _colour_model(tmp_path / "m.xnv")
    code, out, err = _eval(capsys, "--model", str(tmp_path / "m.xnv"), "--data", str(tmp_path / "data"))
    assert code == 2 and err.count("\n") == 1, err
    assert "red/1.png: larger than OpenCV decodes" in err


def test_cli_a_batch_the_memory_cannot_hold_is_one_line_exit_2(tmp_path, capsys, monkeypatch) -> None:
    """--batch 100000000 ran every image of a chunk in one call: 5 GB for CIFAR's 10,000, more for more."""
    from xnorvision import _ram
    from xnorvision.runtime import _executor

    for name, colour in COLORS.items():  # 30 images in a folder (a chunk this big is checked on its own)
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(10):
            cv2.imwrite(str(tmp_path / "data" / name / f"{i}.png"), np.zeros((16, 16, 3), np.uint8) + colour)
    _colour_model(tmp_path / "m.xnv")
    monkeypatch.setattr(_executor, "_BATCH_CHECK_BYTES", 0)  # the check from the first byte, not 64 MiB
    per_image = Model.load(tmp_path / "m.xnv")._check_size(16, 16)
    monkeypatch.setattr(_ram, "available_bytes", lambda: 20 * per_image)  # half of it: 10 images
    code, out, err = _eval(capsys, "--model", str(tmp_path / "m.xnv"), "--data", str(tmp_path / "data"),
                           "--batch", "100000000")
    assert code == 2 and err.count("\n") == 1, err
    assert "30 images of 16x16 in one call would need about" in err and "give at most 10 a call" in err


def test_a_folder_is_fitted_to_the_model_as_it_is_read_with_the_same_predictions(tmp_path) -> None:
    """eval classify held every photo of a folder at full size until the end: 500 phone photos are 18 GB."""
    import tracemalloc

    from xnorvision.eval._classify import read_labelled

    rng = np.random.default_rng(3)
    for name, colour in COLORS.items():
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(3):
            image = np.clip(rng.normal(0, 40, (900, 1200, 3)) + colour, 0, 255).astype(np.uint8)
            cv2.imwrite(str(tmp_path / "data" / name / f"{i}.png"), image)
    _colour_model(tmp_path / "m.xnv")
    model = Model.load(tmp_path / "m.xnv")
    full, labels, _ = read_labelled(tmp_path / "data")
    tracemalloc.start()
    try:
        fitted, fitted_labels, _ = read_labelled(tmp_path / "data", prepare=model.fit_image)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert all(img.shape == (16, 16, 3) for img in fitted) and np.array_equal(labels, fitted_labels)
    assert peak < 3 * 900 * 1200 * 3  # a few photos' worth at most, not all nine
    assert np.array_equal(model(fitted), model(full))  # the model fits full-size ones the same way
