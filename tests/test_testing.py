"""The plugin author's fixtures run what users run: chains, plugin sources and sinks, the CLI in-process."""

from __future__ import annotations

import json
import types
from pathlib import Path

import numpy as np

from xnorvision.api import Detections, PipelineSpec, SinkSpec, SourceSpec, hookimpl


class Corner:
    name = "corner"

    def __call__(self, frame, detections):
        return Detections(np.array([[0, 0, 8, 8]], np.float32), [0.7], ("thing",))


class Brightness:
    """A labeler: names each box after the frame's mean pixel value."""

    name = "brightness"
    role = "labeler"

    def __call__(self, frame, detections):
        n = len(detections)
        return Detections(detections.boxes, [0.0] * n, (f"v{frame.mean():.0f}",) * n)


class CountSource:
    """``count://N``: N grey frames whose pixel value is the frame number."""

    live = False

    def __init__(self, spec: str) -> None:
        self.name, self.left, self.i = spec, int(spec.removeprefix("count://")), 0

    def read(self):
        if self.i >= self.left:
            return None
        self.i += 1
        return np.full((24, 32, 3), self.i - 1, np.uint8)

    def close(self) -> None:
        pass


class LabelsSink:
    """``labels:PATH``: one line per frame, its labels."""

    def __init__(self, path: str) -> None:
        self.path, self.lines = Path(path), []

    def write(self, result) -> None:
        self.lines.append(" ".join(result.detections.labels))

    def close(self) -> None:
        self.path.write_text("\n".join(self.lines) + "\n")


@hookimpl
def xnorvision_register_pipelines(register):
    register(PipelineSpec("corner", build=lambda options: [Corner()]))
    register(PipelineSpec("brightness", build=lambda options: [Brightness()]))


@hookimpl
def xnorvision_register_sources(register):
    register(SourceSpec("count", "count://", open=CountSource))


@hookimpl
def xnorvision_register_sinks(register):
    register(SinkSpec("labels", open=LabelsSink))


PLUGIN = types.SimpleNamespace(__name__="counting",
                               xnorvision_register_pipelines=xnorvision_register_pipelines,
                               xnorvision_register_sources=xnorvision_register_sources,
                               xnorvision_register_sinks=xnorvision_register_sinks)


def test_run_pipeline_takes_a_chain_a_plugin_source_and_plugin_sinks(xnv_registry, run_pipeline,
                                                                      tmp_path: Path) -> None:
    out = tmp_path / "labels.txt"
    results = run_pipeline(xnv_registry(PLUGIN), "corner,brightness", frames=3, source="count://5",
                           sinks=[f"labels:{out}"])
    assert [r.index for r in results] == [0, 1, 2]  # frames caps the run, as --max-frames does
    assert [r.detections.labels for r in results] == [("v0",), ("v1",), ("v2",)]
    assert all(r.detections.scores.tolist() == [np.float32(0.7)] for r in results)  # the labeler's 0 ignored
    assert out.read_text().splitlines() == ["v0", "v1", "v2"]  # the sink was opened and closed


def test_run_pipeline_applies_the_threshold_like_run(xnv_registry, run_pipeline) -> None:
    registry = xnv_registry(PLUGIN)
    assert all(len(r.detections) == 1 for r in run_pipeline(registry, "corner", frames=2))  # 0.7 >= 0.5
    assert all(len(r.detections) == 0 for r in run_pipeline(registry, "corner", frames=2, threshold=0.8))


def test_xnv_cli_runs_the_command_in_process_and_returns_its_files(xnv_cli) -> None:
    result = xnv_cli("run", "--source", "count://4", "--plugin", "corner,brightness", "--headless",
                     "--save-json", "frames.jsonl", "--sink", "labels:labels.txt", plugins=[PLUGIN])
    assert result.exit_code == 0, result.stderr
    assert "4 frames" in result.stdout and "brightness: p50" in result.stdout
    assert set(result.files) == {"frames.jsonl", "labels.txt"}
    records = [json.loads(x) for x in result.files["frames.jsonl"].read_text().splitlines()]
    assert [r["detections"][0]["label"] for r in records] == ["v0", "v1", "v2", "v3"]
    assert result.files["labels.txt"].read_text().splitlines() == ["v0", "v1", "v2", "v3"]


def test_xnv_cli_reports_a_users_error_as_one_line_and_exit_2(xnv_cli) -> None:
    result = xnv_cli("run", "--source", "count://2", "--plugin", "nope", "--headless", plugins=[PLUGIN])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: unknown pipeline")
    assert result.files == {}
    listed = xnv_cli("plugins", "--json", plugins=[PLUGIN])
    assert [p["name"] for p in json.loads(listed.stdout)] == ["counting"]  # discovery replaced by `plugins`


TEMPLATE_NAMED = types.SimpleNamespace(**{**vars(PLUGIN), "__name__": "xnorvision_traffic_signs"})


def test_a_plugin_module_is_named_as_users_name_it(xnv_registry, xnv_cli) -> None:
    """`plugin:name` means in a test what it means once installed: the entry point's name, not the module."""
    registry = xnv_registry(TEMPLATE_NAMED)
    assert [p.name for p in registry.plugins] == ["traffic-signs"]
    result = xnv_cli("run", "--source", "count://2", "--plugin", "traffic-signs:corner", "--headless",
                     "--sink", "traffic-signs:labels:labels.txt", plugins=[TEMPLATE_NAMED])
    assert result.exit_code == 0, result.stderr
    assert result.files["labels.txt"].read_text().splitlines() == ["thing", "thing"]


def test_an_installed_plugin_is_named_by_its_entry_point() -> None:
    from importlib import metadata

    from xnorvision.testing import plugin_name

    installed = [ep for ep in metadata.entry_points(group="xnorvision") if ep.value.startswith("xnorvision_")]
    assert installed, "needs a first-party plugin installed (make dev)"
    for ep in installed:
        assert plugin_name(types.SimpleNamespace(__name__=ep.value)) == ep.name


def test_xnv_cli_lists_an_installed_plugin_with_its_version(xnv_cli) -> None:
    from importlib import metadata

    ep = next(ep for ep in metadata.entry_points(group="xnorvision") if ep.value.startswith("xnorvision_"))
    listed = json.loads(xnv_cli("plugins", "--json", plugins=[ep.load()]).stdout)
    assert [(p["name"], p["version"]) for p in listed] == [(ep.name, ep.dist.version)]


def test_xnv_cli_stderr_holds_the_warnings_the_user_sees(xnv_cli) -> None:
    """`every frame failed (... the warnings above say why)`: the warnings must be in stderr too."""

    class Broken:
        name = "broken"

        def __call__(self, frame, detections):
            raise ValueError("no luck")

    @hookimpl
    def xnorvision_register_pipelines(register):
        register(PipelineSpec("broken", build=lambda options: [Broken()]))

    plugin = types.SimpleNamespace(__name__="breaking",
                                   xnorvision_register_pipelines=xnorvision_register_pipelines)
    result = xnv_cli("run", "--source", "count://2", "--plugin", "broken", "--headless",
                     plugins=[PLUGIN, plugin])
    assert result.exit_code == 3
    lines = result.stderr.splitlines()
    assert lines[-1].startswith("error: every frame failed")
    assert [x for x in lines if x.startswith("WARNING: stage 'broken' failed on frame")] == [
        "WARNING: stage 'broken' failed on frame 0: ValueError: no luck; frame skipped",
        "WARNING: stage 'broken' failed on frame 1: ValueError: no luck; frame skipped"]
