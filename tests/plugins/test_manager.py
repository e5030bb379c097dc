"""The manager loads each plugin in isolation: a broken one is reported and skipped, never fatal."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from xnorvision import API_VERSION
from xnorvision.api import Option
from xnorvision.errors import PluginError, XnorvisionError
from xnorvision.plugins import (
    ModelSpec,
    PipelineSpec,
    SinkSpec,
    SourceSpec,
    _manager,
    hookimpl,
    load_registry,
    resolve_model,
)


def good_plugin(prefix: str = "good", model_path: Path | None = None) -> types.SimpleNamespace:
    @hookimpl
    def xnorvision_register_models(register):
        register(ModelSpec(f"{prefix}-model", model_path or Path("missing.xnv")))

    @hookimpl
    def xnorvision_register_pipelines(register):
        register(PipelineSpec(prefix, build=lambda options: []))
        register(PipelineSpec(f"{prefix}-2", build=lambda options: []))

    @hookimpl
    def xnorvision_register_sources(register):
        register(SourceSpec(f"{prefix}-src", f"{prefix}://", open=lambda spec: None))

    @hookimpl
    def xnorvision_register_sinks(register):
        register(SinkSpec(f"{prefix}-sink", open=lambda target: None))

    return types.SimpleNamespace(**{k: v for k, v in locals().items() if k.startswith("xnorvision_")})


def plugin_with(hook_name: str, body) -> types.SimpleNamespace:
    def hook(register):
        body(register)

    hook.__name__ = hook_name
    return types.SimpleNamespace(**{hook_name: hookimpl(hook)})


def test_registers_everything_and_reports_it() -> None:
    reg = load_registry([("good", good_plugin())], discover=False)
    assert sorted(reg.pipelines) == ["good", "good-2"]
    assert list(reg.models) == ["good-model"] and list(reg.sources) == ["good-src"]
    assert list(reg.sinks) == ["good-sink"]
    (info,) = reg.plugins
    assert info.to_json() == {"name": "good", "version": None, "models": ["good-model"],
                              "pipelines": ["good", "good-2"], "sources": ["good-src"],
                              "sinks": ["good-sink"], "options": {"good": [], "good-2": []}, "error": None,
                              "warning": None}


def test_broken_entry_point_is_skipped_and_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom():
        raise ImportError("No module named 'xnorvision_broken'")

    monkeypatch.setattr(_manager, "_entry_point_plugins",
                        lambda: [("broken", "0.1", boom), ("good", "1.2", lambda: good_plugin())])
    monkeypatch.delenv("XNORVISION_STRICT_PLUGINS", raising=False)
    reg = load_registry()
    broken, good = reg.plugins
    assert broken.error == "ImportError: No module named 'xnorvision_broken'" and broken.version == "0.1"
    assert good.error is None and good.version == "1.2" and "good" in reg.pipelines
    with pytest.raises(PluginError, match="'broken' failed to load: ImportError"):
        reg.pipeline("broken")


def test_strict_env_makes_a_broken_plugin_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_manager, "_entry_point_plugins", lambda: [("broken", None, lambda: 1 / 0)])
    monkeypatch.setenv("XNORVISION_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="'broken' failed to load: ZeroDivisionError"):
        load_registry()


def test_disable_env_skips_named_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XNORVISION_DISABLE_PLUGINS", "a, c")
    reg = load_registry([("a", good_plugin("a")), ("b", good_plugin("b")), ("c", good_plugin("c"))],
                        discover=False)
    assert sorted(reg.pipelines) == ["b", "b-2"]
    assert [p.error is None for p in reg.plugins] == [False, True, False]


def test_misspelled_hook_is_the_plugin_authors_error() -> None:
    reg = load_registry([("typo", plugin_with("xnorvision_register_pipeline", lambda r: None)),
                         ("good", good_plugin())], discover=False)
    typo, good = reg.plugins
    assert "xnorvision_register_pipeline" in typo.error and good.error is None
    assert "good" in reg.pipelines


def test_hook_that_raises_registers_nothing() -> None:
    def half(register):
        register(PipelineSpec("half", build=lambda o: []))
        raise RuntimeError("weights missing")

    reg = load_registry([("half", plugin_with("xnorvision_register_pipelines", half))], discover=False)
    assert reg.pipelines == {} and reg.plugins[0].error == "RuntimeError: weights missing"
    assert reg.plugins[0].pipelines == []


def test_wrong_spec_type_is_rejected() -> None:
    bad = plugin_with("xnorvision_register_models", lambda r: r(PipelineSpec("p", build=lambda o: [])))
    reg = load_registry([("bad", bad)], discover=False)
    assert "passed PipelineSpec" in reg.plugins[0].error and reg.pipelines == {} and reg.models == {}


@pytest.mark.parametrize("order", [("first", "second"), ("second", "first")])
def test_name_clash_disables_only_the_bare_names(order: tuple[str, str]) -> None:
    reg = load_registry([(name, good_plugin("x")) for name in order], discover=False)
    assert all(p.error is None and p.pipelines == ["x", "x-2"] for p in reg.plugins)
    assert reg.pipelines == {} and reg.names("pipelines")[:2] == ["first:x", "first:x-2"]
    assert all("registered by plugins 'first' and 'second'" in p.warning for p in reg.plugins)
    assert reg.pipeline("second:x").name == "x"
    with pytest.raises(PluginError, match="write first:x or second:x"):
        reg.pipeline("x")
    with pytest.raises(PluginError, match="'x://' is claimed by sources 'first:x-src' and 'second:x-src'"):
        reg.source_for("x://cam")


def test_newer_api_version_warns(caplog: pytest.LogCaptureFixture) -> None:
    plugin = good_plugin()
    plugin.XNORVISION_API_VERSION = API_VERSION + 1
    reg = load_registry([("future", plugin)], discover=False)
    assert f"plugin 'future' targets plugin API {API_VERSION + 1}" in caplog.text
    assert reg.plugins[0].error is None and "upgrade xnorvision" in reg.plugins[0].warning
    plugin.XNORVISION_API_VERSION = API_VERSION
    assert load_registry([("now", plugin)], discover=False).plugins[0].warning is None


def test_unknown_pipeline_lists_the_known_ones() -> None:
    reg = load_registry([("good", good_plugin())], discover=False)
    with pytest.raises(PluginError, match=r"unknown pipeline 'nope' \(available: good, good-2\)"):
        reg.pipeline("nope")


def test_source_prefix_lookup() -> None:
    reg = load_registry([("good", good_plugin())], discover=False)
    assert reg.source_for("good://cam/1").name == "good-src"
    assert reg.source_for("other://x") is None


def test_resolve_model(tmp_path: Path) -> None:
    model = tmp_path / "m.xnv"
    model.write_bytes(b"x")
    reg = load_registry([("good", good_plugin(model_path=model))], discover=False)
    assert resolve_model("good-model") == model  # the registry just loaded is the default
    assert resolve_model(str(model), reg) == model
    with pytest.raises(XnorvisionError, match="model file not found: .*nope.xnv"):
        resolve_model(tmp_path / "nope.xnv", reg)
    with pytest.raises(PluginError, match=r"unknown model 'nope' \(registered: good-model\)"):
        resolve_model("nope", reg)
    model.unlink()
    with pytest.raises(PluginError, match="its file .* is missing"):
        resolve_model("good-model", reg)


@pytest.mark.parametrize(("options", "error"), [
    (lambda: (Option("k", int, "3"),), "TypeError: Option 'k': default '3' is not a int"),
    (lambda: (Option("k", int, True),), "TypeError: Option 'k': default True is not a int"),
    (lambda: (Option("on", bool, 0),), "TypeError: Option 'on': default 0 is not a bool"),
    (lambda: (Option("k", "int", 3),), "TypeError: Option 'k': type 'int' is not callable"),
    (lambda: (Option("a.b", int, 3),), "ValueError: Option name 'a.b': use letters"),
    (lambda: (Option("k", int, 3), Option("k", int, 4)), "ValueError: pipeline 'p' declares option k twice"),
    (lambda: ("k",), "TypeError: pipeline 'p': options must be Option records, got a str"),
])
def test_a_bad_option_declaration_is_the_plugins_error(options, error: str) -> None:
    """Caught when the plugin loads, not when `build` gets a default of the wrong type (or never)."""
    bad = plugin_with("xnorvision_register_pipelines",
                      lambda r: r(PipelineSpec("p", build=lambda o: [], options=options())))
    reg = load_registry([("bad", bad)], discover=False)
    assert reg.plugins[0].error.startswith(error) and reg.pipelines == {}


def test_option_defaults_keep_their_type_and_none_means_unset() -> None:
    assert Option("w", float, 1).default == 1.0 and isinstance(Option("w", float, 1).default, float)
    assert Option("m", str, None).default is None and Option("f", lambda t: t, object).default is object
    listed = PipelineSpec("p", build=lambda o: [], options=[Option("k", int, 3)])
    assert listed.options == (Option("k", int, 3),)


@pytest.mark.parametrize(("kind", "spec", "error"), [
    ("pipelines", lambda: PipelineSpec("a,b", build=lambda o: []), "registers pipeline 'a,b': a name is"),
    ("pipelines", lambda: PipelineSpec("x:y", build=lambda o: []), "registers pipeline 'x:y': a name is"),
    ("pipelines", lambda: PipelineSpec("", build=lambda o: []), "registers pipeline '': a name is"),
    ("sinks", lambda: SinkSpec("my sink", open=lambda t: None), "registers sink 'my sink': a name is"),
    ("models", lambda: ModelSpec("m:n", Path("m.xnv")), "registers model 'm:n': a name is"),
    ("sources", lambda: SourceSpec("all", "", open=lambda s: None), "source 'all' with prefix ''"),
    ("sources", lambda: SourceSpec("abs", "/", open=lambda s: None), "source 'abs' with prefix '/'"),
    ("sources", lambda: SourceSpec("pics", "photos", open=lambda s: None), "prefix 'photos'"),
    ("sources", lambda: SourceSpec("drive", "C:", open=lambda s: None), "prefix 'C:'"),
])
def test_a_name_users_cannot_type_or_a_file_claiming_prefix_is_refused(kind: str, spec, error: str) -> None:
    """Plugin sources are looked up before files: prefix '' would silently take over every --source."""
    bad = plugin_with(f"xnorvision_register_{kind}", lambda r: r(spec()))
    reg = load_registry([("bad", bad)], discover=False)
    assert error in reg.plugins[0].error and not getattr(reg, kind)
    assert reg.source_for("/tmp/a.png") is None


def test_scheme_prefixes_and_dotted_names_are_fine() -> None:
    def hook(register):
        register(SourceSpec("cam", "rtsp://cam", open=lambda s: None))
        register(SourceSpec("shapes.v2", "shapes:", open=lambda s: None))
        register(SourceSpec("x", "x://", open=lambda s: None))

    reg = load_registry([("ok", plugin_with("xnorvision_register_sources", hook))], discover=False)
    assert reg.plugins[0].error is None and reg.source_for("shapes:3").name == "shapes.v2"
