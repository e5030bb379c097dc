"""``plugins``, ``doctor``, ``cameras`` and ``new-plugin``."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from xnorvision.pipeline import _doctor as doctor
from xnorvision.testing import write_tiny_model


def test_plugins_json_lists_loaded_and_broken(cli, plugins) -> None:
    code, out, _ = cli("plugins", "--json")
    assert code == 0
    assert json.loads(out) == [
        {"name": "testing", "version": "1.0", "models": [], "pipelines": ["boxes", "flaky", "classify"],
         "sources": ["count"], "sinks": ["lines"], "options": {"boxes": [], "flaky": [], "classify": []},
         "error": None, "warning": None},
        {"name": "broken", "version": "0.3", "models": [], "pipelines": [], "sources": [], "sinks": [],
         "options": {}, "error": "ImportError: No module named 'torchvision'", "warning": None},
    ]


def test_plugins_table(cli, plugins) -> None:
    code, out, _ = cli("plugins")
    assert code == 0 and "testing 1.0\n  pipelines: boxes, flaky, classify\n" in out
    assert "  sources: count\n  sinks: lines\n" in out
    assert "broken 0.3  FAILED: ImportError" in out


def test_doctor_passes_here_and_fails_on_two_opencv_wheels(cli, plugins, monkeypatch) -> None:
    code, out, _ = cli("doctor")
    names = [line.split("]")[1].split(":")[0].strip() for line in out.splitlines()]
    assert names == ["python", "opencv", "qt", "cpu", "kernels", "plugins"]
    assert "failed to load: broken" in out  # a broken plugin is a warning, not a failed install
    assert code == (1 if "[FAIL]" in out else 0)
    monkeypatch.setattr(doctor.metadata, "version", lambda dist: "4.10.0")
    code, out, _ = cli("doctor")
    assert code == 1 and "[FAIL] opencv: opencv-python 4.10.0 and opencv-python-headless 4.10.0" in out


class FakeCamera:
    def read(self):
        return True, np.zeros((48, 64, 3), np.uint8)

    def release(self) -> None:
        pass


def test_cameras_lists_those_that_open(cli, monkeypatch) -> None:
    monkeypatch.setattr(doctor, "try_camera", lambda i: FakeCamera() if i in (0, 2) else None)
    code, out, _ = cli("cameras")
    assert code == 0 and out.splitlines() == ["0: 64x48", "2: 64x48"]
    monkeypatch.setattr(doctor, "try_camera", lambda i: None)
    assert "no camera opens (tried indices 0..7)" in cli("cameras")[1]


def test_new_plugin_rejects_bad_names_and_existing_folders(cli, tmp_path: Path) -> None:
    code, _, err = cli("new-plugin", "Bad_Name", "--dir", str(tmp_path))
    assert code == 2 and "lower case letters" in err
    assert cli("new-plugin", "ok", "--dir", str(tmp_path))[0] == 0
    code, _, err = cli("new-plugin", "ok", "--dir", str(tmp_path))
    assert code == 2 and "already exists" in err


def test_new_plugin_installs_registers_and_passes_its_own_test(cli, tmp_path: Path) -> None:
    """Generate, pip install (into a private folder, not the shared venv), discover, run its tests."""
    code, _, _ = cli("new-plugin", "traffic-signs", "--dir", str(tmp_path))
    root = tmp_path / "xnorvision-traffic-signs"
    assert code == 0 and (root / "xnorvision_traffic_signs" / "__init__.py").is_file()
    write_tiny_model(root / "xnorvision_traffic_signs" / "models" / "model.xnv")  # ships as package data
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
           str(site), str(root)]
    subprocess.run(pip, check=True, capture_output=True, timeout=300)
    # the plugin, then whatever checkout the caller tests
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path, "XNORVISION_STRICT_PLUGINS": "1"}
    env.pop("XNORVISION_DISABLE_PLUGINS", None)
    xnv = [sys.executable, "-c", "from xnorvision.cli import main; main()"]

    listed = subprocess.run([*xnv, "plugins", "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    mine = [p for p in json.loads(listed.stdout) if p["name"] == "traffic-signs"]
    assert mine == [{"name": "traffic-signs", "version": "0.1.0", "models": ["traffic-signs-default"],
                     "pipelines": ["traffic-signs"], "sources": [], "sinks": [],
                     "options": {"traffic-signs": [{"name": "top_k", "type": "int", "default": 3,
                                                    "help": "how many of the best classes each box keeps"}]},
                     "error": None, "warning": None}]

    jsonl = tmp_path / "o.jsonl"
    ran = subprocess.run([*xnv, "run", "--source", "synth:3", "--plugin", "traffic-signs", "--headless",
                          "--threshold", "0", "--save-json", str(jsonl)],
                         env=env, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0 and "3 frames" in ran.stdout, ran.stderr
    scores = [d["score"] for line in jsonl.read_text().splitlines() for d in json.loads(line)["detections"]]
    assert len(scores) == 3 and all(0 <= s <= 1 for s in scores)  # logits in, probabilities out

    pytest_cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")]
    tests = subprocess.run(pytest_cmd, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert tests.returncode == 0 and "3 passed" in tests.stdout, tests.stdout + tests.stderr


ROOT = Path(__file__).parents[2]


def _build_wheel(project: Path, out: Path) -> str:
    """``python -m build --wheel --no-isolation`` (pip wheel where build is missing); returns its output."""
    if importlib.util.find_spec("build") is not None:
        cmd = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(project)]
    else:
        cmd = [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation", "--no-index",
               "-w", str(out), str(project)]
    ran = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=out.parent)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    return ran.stdout + ran.stderr


@pytest.mark.parametrize("plugin", ["scaffold", "faces", "objects"])
def test_plugin_wheels_build_without_setuptools_warnings_and_hold_their_models(cli, tmp_path: Path,
                                                                             plugin: str) -> None:
    if plugin == "scaffold":
        assert cli("new-plugin", "birds", "--dir", str(tmp_path))[0] == 0
        project = tmp_path / "xnorvision-birds"
        write_tiny_model(project / "xnorvision_birds" / "models" / "model.xnv")
    else:  # a copy, so the build's scratch folders stay out of the checkout
        project = tmp_path / plugin
        subprocess.run(["cp", "-r", str(ROOT / "plugins" / f"xnorvision-{plugin}"), str(project)], check=True)
    log = _build_wheel(project, tmp_path / "dist")
    assert "Warning" not in log and "!!" not in log, log  # SetuptoolsDeprecationWarning banners and the like
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    models = [n for n in names if n.endswith(".xnv")]
    assert models and all("/models/" in n for n in models), names
    expected = {"scaffold": 1, "faces": 2, "objects": 3}[plugin]
    assert len(models) == expected


@pytest.mark.parametrize("name", ["a", "birds", "traffic-signs", "v2"])
def test_plugin_names_accepted(cli, tmp_path: Path, name: str) -> None:
    assert cli("new-plugin", name, "--dir", str(tmp_path))[0] == 0


def test_a_new_plugin_without_its_model_says_where_the_model_goes(cli, tmp_path: Path, monkeypatch) -> None:
    """Run before a model is exported: one error naming the file to export to, not 'unknown model'."""
    from xnorvision.api import PipelineOptions, PluginError

    assert cli("new-plugin", "herons", "--dir", str(tmp_path))[0] == 0
    monkeypatch.syspath_prepend(str(tmp_path / "xnorvision-herons"))
    plugin = importlib.import_module("xnorvision_herons")
    with pytest.raises(PluginError, match=r"herons has no model yet: export one to .*models/model\.xnv"):
        plugin.build(PipelineOptions())
    tiny = write_tiny_model(tmp_path / "tiny.xnv")
    assert len(plugin.build(PipelineOptions(model=str(tiny)))) == 1  # --model still runs it
