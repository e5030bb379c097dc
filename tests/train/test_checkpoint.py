"""Checkpoints: only what ``xnorvision train`` wrote loads; all else is one line, exit 2, never unpickled."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from xnorvision.train._recipes import build_model, get_recipe  # noqa: E402
from xnorvision.train._trainer import load_checkpoint  # noqa: E402

TINY = get_recipe("cifar10-xnor-plain").with_overrides(name="tiny", width=4, num_classes=2)
NOT_OURS = "not a checkpoint written by xnorvision train"


class Payload:
    """Any class: loading it needs pickle's arbitrary-code path, which weights_only refuses."""


def _ours(**changes: object) -> dict:
    ckpt = {"recipe": TINY.to_dict(), "model": build_model(TINY).state_dict(), "optimizer": {},
            "scheduler": {}, "epoch": 1, "history": [], "classes": ["a", "b"]}
    return ckpt | changes


def _write(path: Path, case: str) -> Path:
    if case == "pickled object":
        torch.save({"recipe": Payload(), "model": {}}, path)
    elif case == "foreign state_dict":
        torch.save(torch.nn.Linear(3, 2).state_dict(), path)
    elif case == "truncated":
        torch.save(_ours(), path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif case == "text file":
        path.write_text("epoch,loss\n1,0.5\n")
    elif case == "zero bytes":
        path.write_bytes(b"")
    elif case == "recipe without a name":
        torch.save(_ours(recipe={"width": 4}), path)
    elif case == "weights of another network":
        torch.save(_ours(model=torch.nn.Linear(3, 2).state_dict()), path)
    return path


CASES = ["pickled object", "foreign state_dict", "truncated", "text file", "zero bytes",
         "recipe without a name", "weights of another network"]


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.mark.parametrize("case", CASES)
def test_export_refuses_what_train_did_not_write(cli, tmp_path: Path, case: str) -> None:
    ckpt = _write(tmp_path / "c.pt", case)
    code, _, err = cli("export", str(ckpt), "--out", str(tmp_path / "m.xnv"))
    assert code == 2 and NOT_OURS in _one_line(err) and str(ckpt) in err
    assert not (tmp_path / "m.xnv").exists()


@pytest.mark.parametrize("case", ["pickled object", "foreign state_dict", "truncated"])
def test_teacher_and_resume_refuse_it_too(cli, chunk_file, tmp_path: Path, monkeypatch, case: str) -> None:
    monkeypatch.setenv("XNORVISION_CACHE", str(tmp_path / "cache"))
    small = dict(width=4, num_classes=2, batch_size=32, val_size=64)
    monkeypatch.setattr("xnorvision.train._recipes.RECIPES", {
        "cifar10-xnor-distill": get_recipe("cifar10-xnor-distill").with_overrides(**small),
        "cifar10-float": get_recipe("cifar10-float").with_overrides(**small)})
    teacher = _write(tmp_path / "t.pt", case)
    code, _, err = cli("train", "--recipe", "cifar10-xnor-distill", "--data", str(chunk_file), "--out",
                       str(tmp_path / "run"), "--teacher", str(teacher), "--limit", "64")
    assert code == 2 and NOT_OURS in _one_line(err)
    (tmp_path / "run2").mkdir()
    _write(tmp_path / "run2" / "checkpoint.pt", case)
    code, _, err = cli("train", "--recipe", "cifar10-float", "--data", str(chunk_file), "--out",
                       str(tmp_path / "run2"), "--resume", "--limit", "64")
    assert code == 2 and NOT_OURS in _one_line(err)


def test_export_creates_a_missing_output_folder_and_refuses_a_folder_as_out(cli, tmp_path: Path) -> None:
    torch.save(_ours(), tmp_path / "checkpoint.pt")
    out = tmp_path / "new" / "deeper" / "m.xnv"
    code, _, err = cli("export", str(tmp_path), "--out", str(out))
    assert code == 0 and out.is_file(), err
    code, _, err = cli("export", str(tmp_path), "--out", str(tmp_path / "new"))
    assert code == 2 and f"--out {tmp_path / 'new'}: is a folder" in _one_line(err)


def test_a_checkpoint_shaped_like_trains_loads_from_its_folder(tmp_path: Path) -> None:
    torch.save(_ours(), tmp_path / "checkpoint.pt")
    assert load_checkpoint(tmp_path)["recipe"]["name"] == "tiny"


def _torch_load_calls(path: Path, root: Path) -> list[tuple[str, str | None]]:
    """Each ``torch.load(...)`` call in ``path`` and its ``weights_only`` argument as written."""
    calls = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "torch.load":
            kw = {k.arg: ast.unparse(k.value) for k in node.keywords}
            calls.append((f"{path.relative_to(root)}:{node.lineno}", kw.get("weights_only")))
    return calls


def test_every_torch_load_passes_weights_only_true() -> None:
    """weights_only's default changed between torch versions: every call says it."""
    root = Path(__file__).parents[2]
    calls: list[tuple[str, str | None]] = []
    for pattern in ("xnorvision/**/*.py", "plugins/*/**/*.py", "scripts/**/*.py"):
        for path in root.glob(pattern):
            calls += _torch_load_calls(path, root)
    assert calls and all(value == "True" for _, value in calls), [c for c in calls if c[1] != "True"]
