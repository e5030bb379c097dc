"""Issue 14, "crashes and hangs": hostile input that once segfaulted, hung or aborted the process.

Each case runs the real console entry point in a subprocess under a timeout, so a crash is a failed
assertion (exit code -11 or a timeout), not a dead test session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

from xnorvision.api import Detections, PipelineSpec, hookimpl
from xnorvision.plugins import _manager


def xnorvision(*argv: str, timeout: float = 60, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run ``xnorvision ARGV`` in a fresh interpreter: (exit code, stdout, stderr); a hang fails the test."""
    cmd = [sys.executable, "-c", "from xnorvision.cli import main; main()", *argv]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"xnorvision {' '.join(argv)} hung for {timeout} s")
    return proc.returncode, proc.stdout, proc.stderr


def one_error_line(code: int, err: str) -> str:
    """The single ``error:`` line of a clean exit 2."""
    lines = [x for x in err.splitlines() if x.startswith("error:")]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, (code, err)
    return lines[0]


@pytest.mark.parametrize("index", ["-1", "-7", "100", "999999"])
def test_camera_index_out_of_range_is_an_error_not_a_segfault(index: str) -> None:
    line = one_error_line(*xnorvision("run", "--camera", index, "--headless")[::2])
    assert f"--camera {index}: a camera index is 0..99" in line


@pytest.mark.parametrize("n", ["-5", "0", "101"])
def test_cameras_max_index_is_checked(n: str) -> None:
    line = one_error_line(*xnorvision("cameras", "--max-index", n)[::2])
    assert f"--max-index {n}: must be 1..100" in line


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    """A named pipe nobody writes to: opening it for reading blocks, reading it never ends."""
    path = tmp_path / "model.xnv"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("target", ["/dev/zero", "/dev/urandom", "fifo"])
def test_model_info_refuses_what_is_not_a_regular_file(target: str, fifo: Path) -> None:
    path = str(fifo) if target == "fifo" else target
    line = one_error_line(*xnorvision("model", "info", path, timeout=30)[::2])
    assert f"{path}: not a regular file" in line


@pytest.mark.parametrize("target", ["/dev/zero", "fifo"])
def test_model_load_refuses_what_is_not_a_regular_file(target: str, fifo: Path) -> None:
    path = str(fifo) if target == "fifo" else target
    code = ("from xnorvision.api import Model, ModelFormatError\n"
            f"try:\n    Model.load({path!r})\nexcept ModelFormatError as exc:\n    print(exc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and "not a regular file" in proc.stdout, proc.stderr


def test_image_folder_skips_a_fifo_named_like_an_image(tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.zeros((16, 16, 3), np.uint8))
    os.mkfifo(folder / "b.png")
    code, out, err = xnorvision("run", "--source", str(folder), "--headless", timeout=30)
    assert code == 0 and "1 frames" in out, err
    code, out, err = xnorvision("run", "--source", str(folder / "*.png"), "--headless", timeout=30)
    assert code == 0 and "1 frames" in out, err


def test_model_threads_are_capped_at_the_cpu_count(tiny_model: Path) -> None:
    from xnorvision.api import Model
    from xnorvision.runtime._threads import cpu_count

    net = Model.load(tiny_model, threads=100_000)
    assert net.threads == cpu_count()
    net.set_threads(10**9)
    assert net.threads == cpu_count() and net(np.zeros((16, 16, 3), np.uint8)).shape == (1, 3)


def test_threads_option_caps_with_a_warning(cli, plugins, tiny_model: Path) -> None:
    from xnorvision.runtime._threads import cpu_count

    code, out, err = cli("run", "--source", "synth:2", "--plugin", "classify", "--model", str(tiny_model),
                         "--threads", "100000", "--headless")
    assert code == 0 and "2 frames" in out, err
    assert f"warning: --threads 100000 is more than the {cpu_count()} CPUs" in err


@pytest.mark.parametrize("command", [["run", "--source", "synth:2", "--headless"], ["bench", "kernels"],
                                     ["bench", "model", "--reference", "x"], ["eval", "classify", "--model",
                                     "m", "--data", "d"], ["eval", "faces", "--data", "d"],
                                     ["train", "--recipe", "r", "--data", "d", "--out", "o"]])
def test_threads_below_one_is_one_error_line_in_every_command(cli, command: list[str]) -> None:
    code, _, err = cli(*command, "--threads", "0")
    assert "error: --threads 0: must be at least 1" in one_error_line(code, err)


_EXITING_STAGES = '''
import sys
from xnorvision.api import PipelineSpec, SinkSpec, SourceSpec, hookimpl

class ExitStage:
    name = "exits"

    def __call__(self, frame, detections):
        sys.exit(5)

def _build_exits(options):
    sys.exit(6)

@hookimpl
def xnorvision_register_pipelines(register):
    register(PipelineSpec("exit-call", build=lambda options: [ExitStage()]))
    register(PipelineSpec("exit-build", build=_build_exits))

class ExitSource:
    name, live = "exits", False

    def read(self):
        sys.exit(7)

    def close(self):
        pass

class ExitSink:
    def write(self, result):
        sys.exit(8)

    def close(self):
        pass

@hookimpl
def xnorvision_register_sources(register):
    register(SourceSpec("exits", "exit://", open=lambda spec: ExitSource()))

@hookimpl
def xnorvision_register_sinks(register):
    register(SinkSpec("exits", open=lambda target: ExitSink()))
'''
_EXITING_HOOK = '''
import sys
from xnorvision.api import hookimpl

@hookimpl
def xnorvision_register_pipelines(register):
    sys.exit(4)
'''


@pytest.fixture
def installed(tmp_path: Path) -> dict[str, str]:
    """Real installed plugins (module + dist-info entry point) that call ``sys.exit`` or hang a while at
    import; returns the environment in which they are installed."""
    site = tmp_path / "site"
    site.mkdir()
    plugins = {"atimport": "import sys\nsys.exit(3)\n", "inhook": _EXITING_HOOK, "stages": _EXITING_STAGES,
               "slow": "import time\ntime.sleep(4.5)\n"}
    for name, code in plugins.items():
        (site / f"xnv_{name}.py").write_text(code)
        info = site / f"xnv_{name}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: xnv-{name}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[xnorvision]\n{name} = xnv_{name}\n")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


def test_sys_exit_in_a_plugin_is_its_failure_and_a_slow_import_is_named(installed: dict[str, str]) -> None:
    code, out, err = xnorvision("plugins", env=installed)
    assert code == 0, err
    assert "atimport 1.0  FAILED: SystemExit: 3" in out and "inhook 1.0  FAILED: SystemExit: 4" in out
    assert "stages 1.0\n  pipelines: exit-call, exit-build" in out
    assert ("still loading plugin 'slow' after 3 s; if it hangs, skip it with "
            "XNORVISION_DISABLE_PLUGINS=slow") in err


def test_sys_exit_in_a_stage_costs_its_frame_and_in_a_build_is_one_error_line(installed) -> None:
    installed["XNORVISION_DISABLE_PLUGINS"] = "slow"
    code, out, err = xnorvision("run", "--source", "synth:3", "--plugin", "exit-call", "--headless",
                                env=installed)
    assert code != 5 and "0 frames" in out and "3 errors" in out, (code, out, err)
    assert "stage 'exits' failed on frame 0: SystemExit: 5" in err
    code, out, err = xnorvision("run", "--source", "synth:3", "--plugin", "exit-build", "--headless",
                                env=installed)
    assert "pipeline 'exit-build' failed to build: SystemExit: 6" in one_error_line(code, err)


class NanStage:
    """Every other frame, a box whose corner is NaN and an infinite score (a model gone wrong)."""

    name = "nan"

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, frame: np.ndarray, detections: Detections) -> Detections:
        self.calls += 1
        bad = self.calls % 2 == 0
        box = [[np.nan if bad else 4.0, 4.0, 20.0, 20.0]]
        return Detections(np.array(box, np.float32), [np.inf if bad else 0.9], ("thing",))


@pytest.fixture
def nan_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    @hookimpl
    def xnorvision_register_pipelines(register):
        register(PipelineSpec("nan", build=lambda options: [NanStage()]))

    plugin = types.SimpleNamespace(xnorvision_register_pipelines=xnorvision_register_pipelines)
    monkeypatch.setattr(_manager, "_entry_point_plugins", lambda: [("nan", "1.0", lambda: plugin)])


def test_nan_boxes_are_a_stage_error_never_drawn_or_written(cli, nan_plugin, tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    video, jsonl = tmp_path / "o.avi", tmp_path / "o.jsonl"
    code, out, err = cli("run", "--source", "synth:6", "--size", "64x48", "--plugin", "nan", "--headless",
                         "--save", str(video), "--save-json", str(jsonl))
    assert code == 0 and "3 frames" in out and "3 errors" in out, err
    assert "stage 'nan' failed on frame 1: ValueError: Detections: NaN or infinite boxes" in caplog.text
    records = [json.loads(line, parse_constant=pytest.fail) for line in jsonl.read_text().splitlines()]
    assert [r["index"] for r in records] == [0, 2, 4] and records[0]["detections"][0]["score"] == 0.9
    assert int(cv2.VideoCapture(str(video)).get(cv2.CAP_PROP_FRAME_COUNT)) == 3


def test_detections_refuse_non_finite_values_and_select_takes_an_empty_list() -> None:
    for boxes, scores in (([[0, 0, np.inf, 1]], [0.5]), ([[0, 0, 1, 1]], [np.nan])):
        with pytest.raises(ValueError, match="NaN or infinite"):
            Detections(np.array(boxes, np.float32), scores, ("x",))
    dets = Detections(np.array([[0, 0, 1, 1]], np.float32), [0.5], ("x",))
    assert len(dets.select([])) == 0 and len(dets.select(np.array([], int))) == 0


def test_jsonl_sink_never_writes_a_bare_nan(tmp_path: Path) -> None:
    from xnorvision.pipeline._result import FrameResult
    from xnorvision.pipeline._sinks import JsonlSink

    sink = JsonlSink(tmp_path / "o.jsonl")
    with pytest.raises(ValueError, match="not JSON compliant"):
        sink.write(FrameResult(0, 0.0, np.zeros((4, 4, 3), np.uint8), Detections.empty(), {"s": np.nan}))
    sink.close()
    assert "NaN" not in (tmp_path / "o.jsonl").read_text()


@pytest.fixture
def stale_display(tmp_path: Path) -> dict[str, str]:
    """An environment naming displays with no server behind them (an old session's leftovers)."""
    env = {**os.environ, "DISPLAY": ":87", "WAYLAND_DISPLAY": "wayland-87", "XDG_RUNTIME_DIR": str(tmp_path)}
    env["QT_QPA_PLATFORM"] = "wayland"  # the platform of that session: Qt aborts when it cannot connect
    return env


def test_stale_display_falls_back_to_headless_with_a_warning(stale_display: dict[str, str]) -> None:
    code, out, err = xnorvision("run", "--source", "synth:3", env=stale_display)
    assert code == 0 and "3 frames" in out, (code, err)
    assert "warning: display :87 does not answer (no server there?); running headless" in err


def test_doctor_does_not_claim_a_stale_display(stale_display: dict[str, str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from xnorvision.pipeline import _doctor as doctor

    for key in ("DISPLAY", "WAYLAND_DISPLAY", "XDG_RUNTIME_DIR", "QT_QPA_PLATFORM"):
        monkeypatch.setenv(key, stale_display[key])
    monkeypatch.setattr(doctor, "_missing_libraries", lambda lib: [])  # the X11 libraries are not the point
    check = doctor.check_qt()
    assert "display :87 does not answer" in check.detail and "a display is available" not in check.detail


@pytest.mark.parametrize("option", ["--source", "--model"])
def test_run_names_a_device_or_pipe_as_such(option: str, fifo: Path) -> None:
    args = ["--source", str(fifo)] if option == "--source" else ["--source", "synth:2", "--model",
                                                                 "/dev/zero"]
    line = one_error_line(*xnorvision("run", *args, "--plugin", "faces", "--headless", timeout=30)[::2])
    assert "not a regular file" in line


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs CPU affinity (Linux)")
def test_a_default_thread_count_is_capped_quietly_an_asked_one_with_a_warning(tmp_path: Path) -> None:
    """On one CPU, ``eval faces`` (default 2 threads) warns only when the user asked for 2."""
    def on_one_cpu(*argv: str) -> str:
        cmd = [sys.executable, "-c", "from xnorvision.cli import main; main()", "eval", "faces",
               "--data", str(tmp_path / "none.txt"), "--root", str(tmp_path), *argv]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                              preexec_fn=lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}))
        return proc.stderr

    assert "warning: --threads" not in on_one_cpu()
    assert "warning: --threads 2 is more than the 1 CPUs this process may use; using 1" in on_one_cpu(
        "--threads", "2")


def test_sys_exit_in_a_plugin_source_or_sink_is_one_error_line(installed: dict[str, str]) -> None:
    installed["XNORVISION_DISABLE_PLUGINS"] = "slow"
    code, _, err = xnorvision("run", "--source", "exit://x", "--headless", env=installed)
    assert "failed to read a frame: SystemExit: 7" in one_error_line(code, err)
    code, _, err = xnorvision("run", "--source", "synth:2", "--sink", "exits:x", "--headless", env=installed)
    assert "failed to write: SystemExit: 8" in one_error_line(code, err)
