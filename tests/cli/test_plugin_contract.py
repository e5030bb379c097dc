"""What a plugin author meets on the command line: declared options, namespaced names, named errors."""

from __future__ import annotations

import json
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

from xnorvision.api import Detections, Option, PipelineSpec, SinkSpec, SourceSpec, hookimpl
from xnorvision.plugins import _manager, load_registry, parse_settings


class OptionStage:
    """Labels one box with the options its pipeline was built with."""

    name = "opts"

    def __init__(self, extra: dict) -> None:
        self.label = json.dumps(extra, sort_keys=True)

    def __call__(self, frame, detections):
        return Detections(np.array([[0, 0, 4, 4]], np.float32), np.array([0.9]), (self.label,))


class FailingStage:
    name = "doomed"

    def __call__(self, frame, detections):
        raise RuntimeError("always")


CLOSED: list[str] = []  # paths of the FileSinks closed, in order


class FileSink:
    """``PATH``: one line per frame; raises on write ``fail_at`` or on close when asked."""

    def __init__(self, path: str, fail_at: int | None = None, fail_close: bool = False) -> None:
        self.file, self.fail_at, self.fail_close = open(path, "w"), fail_at, fail_close  # closed in close()

    def write(self, result) -> None:
        if result.index == self.fail_at:
            raise OSError("disk on fire")
        self.file.write(f"{result.index}\n")

    def close(self) -> None:
        self.file.close()
        CLOSED.append(self.file.name)
        if self.fail_close:
            raise ValueError("lost the handle")


class BrokenSource:
    name, live = "broken://", False

    def __init__(self, spec: str) -> None:
        self.n = 0

    def read(self):
        self.n += 1
        if self.n > 2:
            raise ConnectionError("stream reset")
        return np.zeros((24, 32, 3), np.uint8)

    def close(self) -> None:
        pass


class CloseFailsSource(BrokenSource):
    """Two frames, then the end; its ``close`` raises."""

    def read(self):
        self.n += 1
        return np.zeros((24, 32, 3), np.uint8) if self.n <= 2 else None

    def close(self) -> None:
        raise RuntimeError("socket already gone")


BAD_FRAMES = {"float": np.zeros((24, 32, 3), np.float32), "grey": np.zeros((24, 32), np.uint8),
              "bgra": np.zeros((24, 32, 4), np.uint8), "empty": np.zeros((0, 0, 3), np.uint8), "list": [[0]]}


class OddFrameSource(BrokenSource):
    """``odd://KIND``: frames that are not BGR uint8 (H, W, 3), as a plugin author might return them."""

    def __init__(self, spec: str) -> None:
        self.frame = BAD_FRAMES[spec.removeprefix("odd://")]

    def read(self):
        return self.frame


class LogitStage:
    """A detector that reports a model's logit as its score: what `Model.probabilities` is for."""

    name = "logits"

    def __call__(self, frame, detections):
        return Detections(np.array([[0, 0, 4, 4]], np.float32), np.array([9.4]), ("x",))


OPTIONS = (Option("size", int, 4, "a size"), Option("fast", bool, False, "go fast"),
           Option("name", str, "x", "a name"))


def vehicles() -> types.SimpleNamespace:
    @hookimpl
    def xnorvision_register_pipelines(register):
        register(PipelineSpec("opts", build=lambda o: [OptionStage(o.extra)], options=OPTIONS))
        register(PipelineSpec("doomed", build=lambda o: [FailingStage()]))
        register(PipelineSpec("logits", build=lambda o: [LogitStage()]))
        register(PipelineSpec("shared", build=lambda o: [OptionStage({"by": "vehicles"})]))

    @hookimpl
    def xnorvision_register_sinks(register):
        register(SinkSpec("csv", open=FileSink))
        register(SinkSpec("failing", open=lambda path: FileSink(path, fail_at=2)))
        register(SinkSpec("badclose", open=lambda path: FileSink(path, fail_close=True)))

    @hookimpl
    def xnorvision_register_sources(register):
        register(SourceSpec("broken", "broken://", open=BrokenSource))
        register(SourceSpec("stuck", "stuck://", open=CloseFailsSource))
        register(SourceSpec("odd", "odd://", open=OddFrameSource))

    return types.SimpleNamespace(**{k: v for k, v in locals().items() if k.startswith("xnorvision_")})


def boats() -> types.SimpleNamespace:
    @hookimpl
    def xnorvision_register_pipelines(register):
        register(PipelineSpec("shared", build=lambda o: [OptionStage({"by": "boats"})]))

    @hookimpl
    def xnorvision_register_sinks(register):
        register(SinkSpec("csv", open=FileSink))

    return types.SimpleNamespace(**{k: v for k, v in locals().items() if k.startswith("xnorvision_")})


@pytest.fixture(params=["vehicles first", "boats first"])
def installed(request, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two plugins sharing the names ``csv`` and ``shared``, in either entry-point order."""
    plugins = [("vehicles", "1.0", vehicles), ("boats", "2.0", boats)]
    monkeypatch.setattr(_manager, "_entry_point_plugins",
                        lambda: plugins if request.param == "vehicles first" else plugins[::-1])
    monkeypatch.delenv("XNORVISION_STRICT_PLUGINS", raising=False)
    monkeypatch.delenv("XNORVISION_DISABLE_PLUGINS", raising=False)


def _labels(jsonl: Path) -> list[str]:
    return [d["label"] for line in jsonl.read_text().splitlines() for d in json.loads(line)["detections"]]


def _one_error(err: str) -> str:
    lines = [x for x in err.splitlines() if x.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err and "internal error" not in err, err
    return lines[0]


# -- options ---------------------------------------------------------------------------------------------

def test_set_reaches_build_typed_with_defaults(cli, installed, tmp_path: Path) -> None:
    jsonl = tmp_path / "o.jsonl"
    code, _, err = cli("run", "--source", "synth:2", "--plugin", "opts", "--headless", "--set", "size=7",
                       "--set", "fast=yes", "--save-json", str(jsonl))
    assert code == 0, err
    assert json.loads(_labels(jsonl)[0]) == {"size": 7, "fast": True, "name": "x"}


@pytest.mark.parametrize(("setting", "message"), [
    ("nope=1", "--set nope: unknown option for opts (options: fast, name, size)"),
    ("size=big", "--set size=big: bad value for int option 'size'"),
    ("fast=maybe", "--set fast=maybe: bad value for bool option 'fast'"),
    ("size", "--set takes KEY=VALUE"),
])
def test_bad_setting_is_one_line_exit_2(cli, installed, setting: str, message: str) -> None:
    code, _, err = cli("run", "--source", "synth:2", "--plugin", "opts", "--headless", "--set", setting)
    assert code == 2 and message in _one_error(err)


def test_plugins_json_lists_options(cli, installed) -> None:
    code, out, _ = cli("plugins", "--json")
    (info,) = [p for p in json.loads(out) if p["name"] == "vehicles"]
    assert info["options"]["opts"][0] == {"name": "size", "type": "int", "default": 4, "help": "a size"}
    assert "sink 'csv' is registered by plugins 'boats' and 'vehicles'" in info["warning"]


def test_faces_declares_the_options_eval_faces_sets(cli, tmp_path: Path) -> None:
    import xnorvision_faces

    (spec,) = [s for s in load_registry([("faces", xnorvision_faces)], discover=False).pipelines.values()]
    extra = parse_settings(["classifier=false", "long_side=320"], {"faces": spec.options})["faces"]
    assert extra == {"long_side": 320, "shrink": "area", "proposals": 24, "classifier": False,
                     "classifier_weight": 0.25, "nested_cover": xnorvision_faces.NESTED_COVER}
    (tmp_path / "list.txt").write_text("a.jpg 1,1,30,30\n")
    code, _, err = cli("eval", "faces", "--data", str(tmp_path / "list.txt"), "--root", str(tmp_path),
                       "--set", "long_side=big")
    assert code == 2 and "bad value for int option 'long_side'" in _one_error(err)


@pytest.mark.parametrize(("plugin", "key"), [("vehicles:opts", "opts.size"), ("opts", "vehicles:opts.size"),
                                             ("vehicles:opts", "vehicles:opts.size")])
def test_set_names_a_pipeline_however_plugin_wrote_it(cli, installed, tmp_path: Path, plugin: str,
                                                       key: str) -> None:
    jsonl = tmp_path / "o.jsonl"
    code, _, err = cli("run", "--source", "synth:1", "--plugin", plugin, "--set", f"{key}=7", "--headless",
                       "--save-json", str(jsonl))
    assert code == 0, err
    assert json.loads(_labels(jsonl)[0]) == {"fast": False, "name": "x", "size": 7}


def test_set_with_a_bare_name_two_chain_entries_share_is_refused(cli, installed) -> None:
    code, _, err = cli("run", "--source", "synth:1", "--plugin", "vehicles:shared,boats:shared", "--set",
                       "shared.k=1", "--headless")
    assert code == 2 and "--set shared.k: unknown option" in _one_error(err)


# -- names -----------------------------------------------------------------------------------------------

def test_a_clash_disables_only_the_bare_name(cli, installed, tmp_path: Path) -> None:
    reg = load_registry()
    assert all(p.error is None for p in reg.plugins)
    assert "csv" not in reg.sinks and "shared" not in reg.pipelines and "opts" in reg.pipelines
    for info in reg.plugins:
        assert "'boats' and 'vehicles'" in info.warning
    code, _, err = cli("run", "--source", "synth:2", "--sink", f"csv:{tmp_path / 'a.txt'}", "--headless")
    assert code == 2 and "sink 'csv' is registered by plugins 'boats' and 'vehicles'" in _one_error(err)
    assert "boats:csv or vehicles:csv" in err
    jsonl = tmp_path / "o.jsonl"
    code, _, err = cli("run", "--source", "synth:2", "--plugin", "boats:shared", "--headless",
                       "--sink", f"vehicles:csv:{tmp_path / 'b.txt'}", "--save-json", str(jsonl))
    assert code == 0, err
    assert (tmp_path / "b.txt").read_text() == "0\n1\n" and json.loads(_labels(jsonl)[0]) == {"by": "boats"}
    code, _, err = cli("run", "--source", "synth:2", "--plugin", "shared", "--headless")
    assert code == 2 and "write boats:shared or vehicles:shared" in _one_error(err)


def test_qualified_name_works_while_unique(cli, installed, tmp_path: Path) -> None:
    jsonl = tmp_path / "o.jsonl"
    code, _, err = cli("run", "--source", "synth:2", "--plugin", "vehicles:opts", "--headless", "--set",
                       "vehicles:opts.size=9",
                       "--sink", f"failing:{tmp_path / 'f'}", "--save-json", str(jsonl))
    assert code == 0, err
    assert json.loads(_labels(jsonl)[0])["size"] == 9


# -- errors ----------------------------------------------------------------------------------------------

def test_sink_that_fails_to_write_is_named_and_other_files_complete(cli, installed, tmp_path: Path) -> None:
    video, jsonl, good = tmp_path / "o.avi", tmp_path / "o.jsonl", tmp_path / "good.txt"
    code, _, err = cli("run", "--source", "synth:6", "--plugin", "opts", "--headless", "--save", str(video),
                       "--save-json", str(jsonl), "--sink", f"vehicles:csv:{good}",
                       "--sink", f"failing:{tmp_path / 'bad.txt'}")
    line = _one_error(err)
    assert code == 2 and "sink 'failing' of plugin 'vehicles' failed to write: OSError: disk on fire" in line
    records = [json.loads(x) for x in jsonl.read_text().splitlines()]
    assert [r["index"] for r in records] == [0, 1, 2] and good.read_text() == "0\n1\n2\n"
    cap = cv2.VideoCapture(str(video))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 3


def test_sink_that_fails_to_close_is_named_and_others_still_close(cli, installed, tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    code, _, err = cli("run", "--source", "synth:3", "--headless", "--sink", f"badclose:{tmp_path / 'b'}",
                       "--sink", f"vehicles:csv:{good}")
    assert code == 2 and "sink 'badclose' of plugin 'vehicles' failed to close: ValueError" in _one_error(err)
    assert CLOSED[-1] == str(good) and good.read_text() == "0\n1\n2\n"  # closed after the one that failed


def test_source_that_fails_to_read_is_named(cli, installed, tmp_path: Path) -> None:
    jsonl = tmp_path / "o.jsonl"
    code, _, err = cli("run", "--source", "broken://cam", "--headless", "--save-json", str(jsonl))
    line = _one_error(err)
    assert code == 2 and "source 'broken' of plugin 'vehicles' failed to read a frame: ConnectionError" \
        in line
    assert len(jsonl.read_text().splitlines()) == 2


def test_source_that_fails_to_close_is_named_and_sinks_still_close(cli, installed, tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    code, _, err = cli("run", "--source", "stuck://cam", "--headless", "--sink", f"vehicles:csv:{good}")
    line = _one_error(err)
    assert code == 2 and "source 'stuck' of plugin 'vehicles' failed to close: RuntimeError" in line
    assert CLOSED[-1] == str(good) and good.read_text() == "0\n1\n"


@pytest.mark.parametrize("kind", sorted(BAD_FRAMES))
def test_source_frame_that_is_not_bgr_uint8_is_the_sources_error(cli, installed, kind: str,
                                                                 tmp_path: Path) -> None:
    """Not an internal error inside OpenCV, nor a video write blamed on a full disk."""
    code, _, err = cli("run", "--source", f"odd://{kind}", "--headless", "--save", str(tmp_path / "o.mp4"))
    line = _one_error(err)
    assert code == 2 and "source 'odd' of plugin 'vehicles' returned a frame that is a " in line
    assert "BGR uint8 (height, width, 3)" in line and "disk" not in line


def test_a_score_outside_0_1_fails_the_frame_naming_the_stage(cli, installed, tmp_path: Path, caplog) -> None:
    jsonl = tmp_path / "o.jsonl"
    code, out, err = cli("run", "--source", "synth:2", "--plugin", "logits", "--headless", "--save-json",
                         str(jsonl))
    assert code == 3 and "0 frames" in out and jsonl.read_text() == ""  # never "score": 9.4 in the JSONL
    assert "error: every frame failed" in err
    assert "stage 'logits' failed on frame 0: ValueError: returned score 9.4; scores are probabilities" in \
        caplog.text


def test_run_where_every_frame_failed_exits_3(cli, installed) -> None:
    code, out, err = cli("run", "--source", "synth:3", "--plugin", "doomed", "--headless")
    assert code == 3 and "0 frames" in out and "3 errors" in out
    assert "error: every frame failed" in err
    code, _, err = cli("run", "--source", "synth:3", "--plugin", "doomed", "--headless", "--strict")
    assert code == 2 and "--strict" in err


def test_set_without_a_pipeline_is_an_error(cli, installed) -> None:
    code, _, err = cli("run", "--source", "synth:2", "--headless", "--set", "size=1")
    assert code == 2 and "--set needs --plugin NAME" in _one_error(err)


def test_plugins_table_lists_options_and_clash_warnings(cli, installed) -> None:
    code, out, _ = cli("plugins")
    assert code == 0 and "--set size=<int> (opts, default 4): a size" in out
    assert "warning: " in out and "sink 'csv' is registered by plugins 'boats' and 'vehicles'" in out
