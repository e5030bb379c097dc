"""`xnorvision model info/reference` and `xnorvision bench model` through the real entry point."""

from __future__ import annotations

import json
from importlib.util import find_spec
from pathlib import Path

import pytest

from xnorvision.runtime import load_xnv, save_model

from . import graphs


def test_reference_then_info(tmp_path: Path, cli) -> None:
    path = tmp_path / "v.xnv"
    code, out, _ = cli("model", "reference", "vgg-small", "--out", str(path))
    assert code == 0 and path.exists() and "vgg-small" in out
    code, out, _ = cli("model", "info", str(path))
    assert code == 0
    assert "binary_conv2d5" in out and "604.0M binary" in out and "bits[N,16,16,128]" in out
    code, out, _ = cli("model", "info", str(path), "--json")
    info = json.loads(out)
    assert code == 0 and info["labels"] == 10 and info["macs"]["binary"] > 100 * info["macs"]["float"]


@pytest.mark.parametrize("content", [b"", b"\x00" * 7, b"garbage that is not a model at all"])
def test_info_on_a_bad_file_is_one_line_and_exit_2(tmp_path: Path, cli, content: bytes) -> None:
    bad = tmp_path / "bad.xnv"
    bad.write_bytes(content)
    code, out, err = cli("model", "info", str(bad))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and "bad.xnv" in err


def test_unknown_reference_is_a_user_error(tmp_path: Path, cli) -> None:
    code, _, err = cli("model", "reference", "alexnet", "--out", str(tmp_path / "a.xnv"))
    assert code == 2 and "resnet18, vgg-small" in err


#: each peer's row is measured exactly when these are installed
PEER_NEEDS = {"torch-float32": ["torch"], "onnxruntime-float32": ["onnxruntime", "torch"],
              "openvino-float32": ["openvino", "torch"], "openvino-binary": ["openvino"]}


def test_bench_model_writes_the_report(tmp_path: Path, cli) -> None:
    graph, tensors, spec = graphs.peers()
    path = save_model(tmp_path / "p.xnv", graph, tensors, spec, [], {})
    out_json = tmp_path / "bench.json"
    code, out, _ = cli("bench", "model", str(path), "--threads", "1", "--seconds", "0.05",
                        "--json", str(out_json), "--profile")
    assert code == 0 and "| xnorvision |" in out and "| binary conv |" in out
    report = json.loads(out_json.read_text())
    assert report["input"] == [1, 13, 11, 3] and report["threads"] == 1
    assert [r["name"] for r in report["runtimes"]] == ["xnorvision", *PEER_NEEDS]
    rows = {r["name"]: r for r in report["runtimes"]}
    for row in rows.values():
        assert set(row) >= {"name", "images_per_s", "p50_ms", "p95_ms", "weights_mb"}
    ours = rows["xnorvision"]
    assert ours["images_per_s"] > 0 and 0 < ours["p50_ms"] <= ours["p95_ms"]
    assert ours["weights_mb"] == pytest.approx(sum(a.nbytes for a in tensors.values()) / 1e6, abs=1e-3)
    for name, modules in PEER_NEEDS.items():
        installed = all(find_spec(m) is not None for m in modules)
        assert (rows[name]["images_per_s"] is not None) == installed, rows[name]
        assert installed or rows[name]["note"].startswith("not installed")
        if installed:
            assert report["speedup"][name] > 0 and rows[name]["weights_mb"] > 0
            spread = report["speedup_rounds"][name]
            assert 0 < spread["low"] <= spread["median"] <= spread["high"] and spread["rounds"] >= 1
            assert f"{spread['low']:.2f}-{spread['high']:.2f}x vs {name}" in out  # the line under the table
        else:
            assert name not in report["speedup_rounds"]
    profile = report["profile"]
    assert {"total_ms", "layers", "kinds", "popcount_ms", "popcount_share", "ceiling_ms"} <= set(profile)
    assert profile["binary_macs"] > 0 and 0 < profile["popcount_share"] < 1


def test_bench_model_needs_exactly_one_model(cli) -> None:
    code, _, err = cli("bench", "model")
    assert code == 2 and "either a MODEL (name or path) or --reference" in err


def test_model_info_and_bench_take_a_registered_name(tmp_path: Path, cli, monkeypatch) -> None:
    from xnorvision.plugins import ModelSpec, _manager, hookimpl

    graph, tensors, spec = graphs.chain()
    path = save_model(tmp_path / "m.xnv", graph, tensors, spec, [], {})

    class Plugin:
        @hookimpl
        def xnorvision_register_models(self, register) -> None:
            register(ModelSpec("chain-model", path))

    monkeypatch.setattr(_manager, "_entry_point_plugins", lambda: [("chains", "1", lambda: Plugin())])
    code, out, err = cli("model", "info", "chain-model", "--json")
    assert code == 0, err
    assert json.loads(out)["file_bytes"] == path.stat().st_size
    code, out, err = cli("bench", "model", "chains:chain-model", "--seconds", "0.05")
    assert code == 0 and "xnorvision" in out, err
    code, _, err = cli("model", "info", "no-such-model")
    assert code == 2 and "unknown model 'no-such-model' (registered: chain-model)" in err


def test_info_of_an_any_size_model_takes_a_size(tmp_path: Path, cli) -> None:
    graph, tensors, spec = graphs.chain()
    path = save_model(tmp_path / "any.xnv", graph, tensors, {**spec, "height": None, "width": None}, [], {})
    code, out, _ = cli("model", "info", str(path))
    assert code == 0 and "any size" in out and "give --height/--width" in out
    code, out, _ = cli("model", "info", str(path), "--json", "--height", "13", "--width", "11")
    sized = json.loads(out)
    code, out, _ = cli("model", "info", str(save_model(tmp_path / "fixed.xnv", graph, tensors, spec,
                                                                  [], {})), "--json")
    assert sized["macs"] == json.loads(out)["macs"] and sized["macs"]["binary"] > 0


def test_bench_model_sizes_an_any_size_model(tmp_path: Path, cli) -> None:
    graph, tensors, spec = graphs.stem_pool()
    path = save_model(tmp_path / "any.xnv", graph, tensors, {**spec, "height": None, "width": None}, [], {})
    out_json = tmp_path / "b.json"
    code, _, err = cli("bench", "model", str(path), "--seconds", "0", "--height", "26",
                        "--width", "22", "--json", str(out_json))
    assert code == 0, err
    report = json.loads(out_json.read_text())
    assert report["input"] == [1, 26, 22, 3]
    assert all(r["images_per_s"] for r in report["runtimes"] if "note" not in r)


@pytest.mark.parametrize("args", [["--height", "26"], ["--height", "1", "--width", "1"]])
def test_bench_model_size_errors_are_one_line(tmp_path: Path, cli, args: list[str]) -> None:
    graph, tensors, spec = graphs.stem_pool()
    path = save_model(tmp_path / "any.xnv", graph, tensors, {**spec, "height": None, "width": None}, [], {})
    code, out, err = cli("bench", "model", str(path), "--seconds", "0", *args)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err


def test_bench_model_refuses_another_size_for_a_fixed_size_model(tmp_path: Path, cli) -> None:
    graph, tensors, spec = graphs.peers()
    path = save_model(tmp_path / "fixed.xnv", graph, tensors, spec, [], {})
    code, _, err = cli("bench", "model", str(path), "--height", "26", "--width", "22")
    assert code == 2 and "13x11" in err


def test_convert_and_reference_take_the_float_storage(tmp_path: Path,
                                                     cli) -> None:
    graph, tensors, spec = graphs.chain()
    src = save_model(tmp_path / "m.xnv", graph, tensors, spec, [], {})
    code, out, _ = cli("model", "convert", str(src), "--out", str(tmp_path / "m8.xnv"))
    assert code == 0 and load_xnv(tmp_path / "m8.xnv").int8_tensors == ("conv.weight", "fc.weight")
    code, _, _ = cli("model", "reference", "vgg-small", "--out", str(tmp_path / "v.xnv"),
                      "--float-storage", "int8")
    assert code == 0 and load_xnv(tmp_path / "v.xnv").int8_tensors
    code, _, err = cli("model", "convert", str(src), "--out", str(tmp_path / "x.xnv"),
                        "--float-storage", "fp16")
    assert code == 2 and err.startswith("error: float storage 'fp16'") and len(err.splitlines()) == 1
    assert not (tmp_path / "x.xnv").exists()
