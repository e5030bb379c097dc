"""Generated Markdown tables: rebuilt from the JSON the commands write, text around them untouched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xnorvision._tables import regenerate
from xnorvision.cli import main
from xnorvision.errors import XnorvisionError


def _model_report(name: str, threads: int, ours: float, torch: float | None) -> dict:
    runtimes = [{"name": "xnorvision", "images_per_s": ours, "p50_ms": 1000 / ours, "p95_ms": 1.0,
                 "weights_mb": 1.5}]
    runtimes.append({"name": "torch-float32", "images_per_s": torch, "p50_ms": None, "p95_ms": None,
                     "weights_mb": 33.0 if torch else None, "note": "torch is not installed"})
    return {"model": name, "threads": threads, "runtimes": runtimes}


def _write(path: Path, data: dict) -> str:
    path.write_text(json.dumps(data))
    return path.name


def _rendered(folder: Path, kind: str, *reports: str) -> str:
    """A Markdown file in ``folder`` holding one ``kind`` block of ``reports``, regenerated: its text."""
    md = folder / "doc.md"
    md.write_text(f"<!-- table {kind}: {' '.join(reports)} -->\n<!-- /table -->\n")
    regenerate(md)
    return md.read_text()


def _kinds(kinds: dict[str, float]) -> dict[str, dict[str, float]]:
    """A profile's ``kinds``: each kind's ms and its share of their sum."""
    total = sum(kinds.values())
    return {k: {"ms": v, "share": v / total} for k, v in kinds.items()}


def test_bench_model_block_is_rebuilt_and_the_rest_kept(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.json", _model_report("resnet18", 1, 200.0, 25.0))
    b = _write(tmp_path / "b.json", _model_report("resnet18", 2, 300.0, None))
    md = tmp_path / "README.md"
    md.write_text(f"intro\n<!-- table bench-model: {a} {b} -->\nOLD ROW 1.0\n<!-- /table -->\noutro\n")
    assert regenerate(md) == 1
    text = md.read_text()
    assert "OLD ROW" not in text and text.startswith("intro\n") and text.endswith("<!-- /table -->\noutro\n")
    rows = [line for line in text.splitlines() if line.startswith("| resnet18")]
    assert rows[0].split("|")[1:6] == [" resnet18 ", " 1 ", " 200.0 ", " 5.00 ", " 8.00x "]
    assert rows[0].split("|")[6:8] == [" 1.50 ", " 22.0x "]  # weights MB, and 22x smaller than float32
    assert rows[1].split("|")[5] == " - "  # a peer that did not run gives no ratio
    before = md.read_text()
    regenerate(md)
    assert md.read_text() == before  # idempotent


def test_round_by_round_table_gives_the_spread_beside_the_run(tmp_path: Path) -> None:
    report = _model_report("vgg-small", 2, 800.0, 100.0)
    report["speedup"] = {"torch-float32": 8.0}
    report["speedup_rounds"] = {"torch-float32": {"low": 6.5, "median": 7.9, "high": 9.25, "rounds": 12}}
    text = _rendered(tmp_path, "bench-model-rounds", _write(tmp_path / "a.json", report))
    row = next(line for line in text.splitlines() if line.startswith("| vgg-small"))
    assert row.split("|")[1:5] == [" vgg-small ", " 2 ", " 12 ", " 8.00x, 7.90x (6.50-9.25x) "]
    old = _model_report("vgg-small", 1, 800.0, 100.0)  # written before the rounds were kept
    text = _rendered(tmp_path, "bench-model-rounds", _write(tmp_path / "old.json", old))
    row = next(line for line in text.splitlines() if line.startswith("| vgg-small"))
    assert row.split("|")[1:5] == [" vgg-small ", " 1 ", " - ", " - "]


def test_faces_rows_are_timed_against_yunet_at_the_same_size(tmp_path: Path) -> None:
    results = [{"name": "faces@320", "long_side": 320, "ap": 0.7, "max_recall": 0.8, "ms_per_image": 2.0},
               {"name": "yunet@320", "long_side": 320, "ap": 0.72, "max_recall": 0.8, "ms_per_image": 4.0},
               {"name": "faces@416", "long_side": 416, "ap": 0.75, "max_recall": 0.8, "ms_per_image": 3.0}]
    name = _write(tmp_path / "faces.json", {"results": results})
    rows = {line.split("|")[1].strip(): line.split("|")[6].strip()
            for line in _rendered(tmp_path, "eval-faces", name).splitlines()
            if line.startswith("| faces") or line.startswith("| yunet")}
    assert rows == {"faces@320": "0.50x", "yunet@320": "-", "faces@416": "-"}


def test_a_bad_report_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('{"runtimes": []}')
    md = tmp_path / "README.md"
    original = "<!-- table bench-model: bad.json -->\nkeep me\n<!-- /table -->\n"
    md.write_text(original)
    with pytest.raises(XnorvisionError, match="lacks"):
        regenerate(md)
    assert md.read_text() == original


def test_cli_missing_report_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    md = tmp_path / "README.md"
    md.write_text("<!-- table eval-faces: nowhere.json -->\n<!-- /table -->\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["tables", str(md)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: cannot read report")


def test_robustness_rows_give_each_corruption_and_its_drop(tmp_path: Path) -> None:
    results = [{"name": n, "corruption": c, "ap": ap, "max_recall": 0.9, "ms_per_image": 1.0,
                "long_side": 320}
               for n, c, ap in [("faces@320", "none", 0.7), ("faces@320", "gray", 0.6),
                                ("yunet@320", "none", 0.8), ("yunet@320", "gray", 0.75)]]
    name = _write(tmp_path / "robust.json", {"results": results})
    md = tmp_path / "card.md"
    md.write_text(f"<!-- table eval-faces-robust: {name} -->\n<!-- /table -->\n"
                  f"<!-- table eval-faces: {name} -->\n<!-- /table -->\n")
    regenerate(md)
    text = md.read_text()
    assert "| faces@320 | 0.700 | 0.600 (0.100) |" in text
    assert "| yunet@320 | 0.800 | 0.750 (0.050) |" in text
    assert text.count("| faces@320 |") == 2  # the plain table keeps the clean rows only


def test_the_faces_profile_is_a_table_per_detector(tmp_path: Path) -> None:
    step = {"name": "shrink", "ms": 0.5, "share": 0.25, "frames": 3}
    model = {"name": "binary conv", "model": "proposal.xnv", "ms": 1.0, "share": 0.5, "frames": 3}
    stage = {"name": "faces-proposal", "ms": 2.0, "share": 1.0, "frames": 3, "steps": [step, model]}
    profiled = _write(tmp_path / "a.json", {"results": [], "profile": [
        {"name": "faces@320", "frames": 3, "frame_ms": 2.0, "stages": [stage]}]})
    text = _rendered(tmp_path, "eval-faces-profile", profiled)
    assert "**faces@320**: 2.00 ms per frame" in text
    assert "| faces-proposal | (all) | 2.000 | 100.0% | 3 |" in text
    assert "| | shrink | 0.500 | 25.0% | 3 |" in text
    assert "| | proposal.xnv: binary conv | 1.000 | 50.0% | 3 |" in text


def test_profile_rows_give_each_kinds_share(tmp_path: Path) -> None:
    def report(model: str, kinds: dict[str, float], bound: float | None) -> dict:
        total = sum(kinds.values())
        profile = {"threads": 1, "total_ms": total, "ceiling_ms": 0.5, "kinds": _kinds(kinds)}
        if bound is not None:
            profile["bound_ms"] = bound
        runtimes = [{"name": "xnorvision", "p50_ms": total}, {"name": "openvino-binary", "p50_ms": 3.25}]
        return {"model": model, "threads": 1, "runtimes": runtimes[:2 if bound else 1], "profile": profile}

    a = _write(tmp_path / "a.json", report("resnet18", {"binary conv": 3.0, "float conv": 1.0}, 1.5))
    # a report written before the bound existed
    b = _write(tmp_path / "b.json", report("vgg-small", {"binary conv": 1.0, "pool": 1.0}, None))
    text = _rendered(tmp_path, "bench-profile", a, b)
    # openvino-binary's 3.25 ms over the 1.50 ms with every binary conv at the ceiling: 2.17x at most
    assert "| resnet18 | 1 | 4.00 | 75% | 25% | - | 0.50 | 1.50 | 3.25 | 2.17x |" in text
    assert "| vgg-small | 1 | 2.00 | 50% | - | 50% | 0.50 | - | - | - |" in text


def test_profile_peer_rows_set_openvinos_kinds_beside_ours(tmp_path: Path) -> None:
    def report(model: str, kinds: dict[str, float], peer: dict[str, float] | None) -> dict:
        profile = {"threads": 2, "total_ms": sum(kinds.values()), "kinds": _kinds(kinds)}
        if peer is not None:
            profile["openvino_binary"] = {"runs": 5, "total_ms": sum(peer.values()), "kinds": peer}
        return {"model": model, "threads": 2, "runtimes": [], "profile": profile}

    a = _write(tmp_path / "a.json", report("resnet18", {"binary conv": 3.0, "pack": 0.5},
                                           {"binary conv": 2.0, "pack": 1.0, "layout": 0.25}))
    b = _write(tmp_path / "b.json", report("vgg-small", {"binary conv": 1.0}, None))  # no openvino there
    text = _rendered(tmp_path, "bench-profile-peer", a, b)
    assert "| model | threads | binary conv | pack | layout | all |" in text
    assert "| resnet18 | 2 | 3.00 / 2.00 | 0.50 / 1.00 | - / 0.25 | 3.50 / 3.25 |" in text
    assert "| vgg-small | 2 | 1.00 / - | - / - | - / - | 1.00 / - |" in text


def test_run_rows_are_named_by_their_reports_and_hold_our_ap_per_size_and_corruption(tmp_path: Path) -> None:
    def result(name: str, family: str, side: int, corruption: str, ap: float) -> dict:
        return {"name": name, "family": family, "long_side": side, "corruption": corruption, "ap": ap,
                "max_recall": 0.7, "ms_per_image": 2.0}

    rows = [result(f"faces@{s} (proposal)", "faces", s, c, ap) for (s, c, ap) in
            [(320, "none", 0.5861), (416, "none", 0.6234), (320, "gray", 0.4776), (416, "gray", 0.5301)]]
    seed = _write(tmp_path / "cycle2-seed12.json",
                  {"results": rows + [result("yunet@320", "yunet", 320, "none", 0.75)]})
    clean = _write(tmp_path / "shipped.json", {"results": rows[:2]})  # scored without corruptions
    text = _rendered(tmp_path, "eval-faces-runs", seed, clean)
    assert "| run | clean AP | gray AP |" in text
    assert "| cycle2-seed12 | 0.586 / 0.623 | 0.478 / 0.530 |" in text  # YuNet's row is not ours
    assert "| shipped | 0.586 / 0.623 | - |" in text
