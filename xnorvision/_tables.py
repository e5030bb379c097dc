"""Generated tables in Markdown files: a block between markers, rebuilt from the JSON a command wrote.

A number in the README, the docs or a model card is only as good as the command behind it, so tables are
never typed in. A block names its kind and the JSON reports it is made from::

    <!-- table bench-model: results/resnet18-t1.json results/resnet18-t2.json -->
    ...replaced on every `xnorvision tables FILE`...
    <!-- /table -->

Paths are relative to the Markdown file. Each kind has one renderer here; the commands that write the JSON
(`bench kernels`, `bench model`, `eval faces`) stay the only source of the numbers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from xnorvision._files import FileTooLarge, NotRegularFile, read_regular_file
from xnorvision._replace import write_file
from xnorvision.errors import XnorvisionError
from xnorvision.pipeline._profile import PROFILE_HEADER, profile_rows

Report = dict[str, Any]
_BLOCK = re.compile(r"(<!-- table (?P<kind>[\w-]+): (?P<paths>[^>]*?) -->\n)(?P<body>.*?)(<!-- /table -->)",
                    re.S)


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def bench_kernels_table(reports: Sequence[Report]) -> str:
    """A row per layer of ``bench kernels --json``: speed, share of the popcount ceiling, ratios."""
    lines = ["| layer | binary conv 1t (G bMAC/s) | % of ceiling | vs sgemm 1t | vs sgemm (all threads) "
             "| vs torch 1t | vs OpenVINO 1t |", "|---|---:|---:|---:|---:|---:|---:|"]
    for report in reports:
        for layer in report["layers"]:
            lines.append(
                f"| {layer['name']} | {layer['bmacs_1t'] / 1e9:.0f} | {layer['pct_peak_1t']:.0f}% "
                f"| {_fmt(layer.get('speedup_vs_sgemm_1t'), '.1f', 'x')} "
                f"| {_fmt(layer.get('speedup_vs_sgemm_mt'), '.1f', 'x')} "
                f"| {_fmt(layer.get('speedup_vs_torch_1t'), '.1f', 'x')} "
                f"| {_fmt(layer.get('speedup_vs_openvino_1t'), '.1f', 'x')} |")
    return "\n".join(lines)


def bench_model_table(reports: Sequence[Report]) -> str:
    """One row per ``bench model --json`` report: our images/s, then our speed-up over every peer measured."""
    peers = list(dict.fromkeys(r["name"] for report in reports for r in report["runtimes"][1:]))
    head = "| model | threads | xnorvision images/s | p50 ms | " + " | ".join(f"vs {p}" for p in peers)
    lines = [head + " | weights MB | smaller than float32 |",
             "|---|---:|---:|---:|" + "---:|" * len(peers) + "---:|---:|"]
    for report in reports:
        ours = report["runtimes"][0]
        rate = {r["name"]: r.get("images_per_s") for r in report["runtimes"]}
        size = {r["name"]: r.get("weights_mb") for r in report["runtimes"]}
        cells = []
        for peer in peers:
            ratio = _ratio(ours["images_per_s"], rate.get(peer))
            cells.append(_fmt(ratio, ".2f", "x") if peer in rate else "n/a")
        name = Path(str(report["model"])).name
        lines.append(f"| {name} | {report['threads']} | {ours['images_per_s']:.1f} | {ours['p50_ms']:.2f} | "
                     + " | ".join(cells) + f" | {ours['weights_mb']:.2f} "
                     f"| {_fmt(_ratio(size.get('torch-float32'), ours['weights_mb']), '.1f', 'x')} |")
    return "\n".join(lines)


def bench_model_rounds_table(reports: Sequence[Report]) -> str:
    """The same runs' speed-ups round by round: the whole run's, then the median, lowest and highest of the
    rounds' own (each runtime's slice in turn; see ``bench._model.round_speedups``). A report written
    before the rounds were kept gives "-" cells."""
    peers = list(dict.fromkeys(r["name"] for report in reports for r in report["runtimes"][1:]))
    lines = ["| model | threads | rounds | " + " | ".join(f"vs {p}: run, median round (lowest-highest)"
                                                         for p in peers) + " |",
             "|---|---:|---:|" + "---:|" * len(peers)]
    for report in reports:
        spread = report.get("speedup_rounds")
        cells = []
        for peer in peers:
            if spread is None or peer not in spread:
                cells.append("-" if spread is None else "n/a")
                continue
            r = spread[peer]
            cells.append(f"{report['speedup'][peer]:.2f}x, {r['median']:.2f}x "
                         f"({r['low']:.2f}-{r['high']:.2f}x)")
        rounds = next(iter(spread.values()))["rounds"] if spread else "-"
        name = Path(str(report["model"])).name
        lines.append(f"| {name} | {report['threads']} | {rounds} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def bench_profile_table(reports: Sequence[Report]) -> str:
    """``bench model --profile --json``: a run's time by op kind, and the popcount time at the ceiling."""
    kinds = list(dict.fromkeys(k for report in reports for k in report["profile"]["kinds"]))
    lines = ["| model | threads | ms per run | " + " | ".join(kinds) + " | popcount ms at the ceiling "
             "| ms per run with popcount at the ceiling | openvino-binary ms (same run) "
             "| most speed-up over openvino-binary with popcount at the ceiling |",
             "|---|---:|---:|" + "---:|" * len(kinds) + "---:|---:|---:|---:|"]
    for report in reports:
        p = report["profile"]
        cells = [f"{100 * p['kinds'][k]['share']:.0f}%" if k in p["kinds"] else "-" for k in kinds]
        peer = {r["name"]: r.get("p50_ms") for r in report["runtimes"]}.get("openvino-binary")
        bound = p.get("bound_ms")
        most = f"{peer / bound:.2f}x" if peer and bound else "-"  # no faster kernel of ours gets past it
        cells += [f"{p['ceiling_ms']:.2f}", _bound_ms(p), _fmt(peer, ".2f"), most]
        lines.append(f"| {Path(str(report['model'])).name} | {p['threads']} | {p['total_ms']:.2f} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def bench_profile_peer_table(reports: Sequence[Report]) -> str:
    """``bench model --profile --json``: ms per op kind, ours / openvino-binary's own node times."""
    peers = [r["profile"].get("openvino_binary") for r in reports]
    peers = [None if peer is None or "error" in peer else peer for peer in peers]
    kinds = list(dict.fromkeys([k for r in reports for k in r["profile"]["kinds"]]
                               + [k for peer in peers if peer for k in peer["kinds"]]))
    lines = ["| model | threads | " + " | ".join(kinds) + " | all |",
             "|---|---:|" + "---:|" * (len(kinds) + 1)]
    for report, peer in zip(reports, peers, strict=True):
        p = report["profile"]
        ours = [p["kinds"][k]["ms"] if k in p["kinds"] else None for k in kinds] + [p["total_ms"]]
        theirs = ([None] * len(ours) if peer is None
                  else [peer["kinds"].get(k) for k in kinds] + [peer["total_ms"]])
        cells = [f"{_fmt(a, '.2f')} / {_fmt(b, '.2f')}" for a, b in zip(ours, theirs, strict=True)]
        lines.append(f"| {Path(str(report['model'])).name} | {p['threads']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _bound_ms(profile: dict) -> str:
    """The profile's time with every binary conv at the ceiling; reports written before it had none."""
    bound = profile.get("bound_ms")
    return "-" if bound is None else f"{bound:.2f}"


def eval_faces_table(reports: Sequence[Report]) -> str:
    """``eval faces --json`` rows; our time as a ratio of YuNet's where it ran at the same long side."""
    lines = ["| detector | long side | AP | max recall | ms / image | ms vs YuNet at that size |",
             "|---|---:|---:|---:|---:|---:|"]
    for report in reports:
        results = [r for r in report["results"] if r.get("corruption", "none") == "none"]
        yunet = {r.get("long_side"): r["ms_per_image"] for r in results if str(r["name"]).startswith("yunet")}
        for r in results:
            side = r.get("long_side")
            base = None if str(r["name"]).startswith("yunet") else yunet.get(side)
            lines.append(f"| {r['name']} | {side if side is not None else 'native'} | {r['ap']:.3f} "
                         f"| {r['max_recall']:.3f} | {r['ms_per_image']:.2f} "
                         f"| {_fmt(_ratio(r['ms_per_image'], base), '.2f', 'x')} |")
    return "\n".join(lines)


def eval_faces_robust_table(reports: Sequence[Report]) -> str:
    """``eval faces --corrupt ...``: each detector's AP on clean and degraded copies, and its drop."""
    lines: list[str] = []
    for report in reports:
        kinds = list(dict.fromkeys(r.get("corruption", "none") for r in report["results"]))
        degraded = [k for k in kinds if k != "none"]
        ap = {(r["name"], r.get("corruption", "none")): r["ap"] for r in report["results"]}
        names = list(dict.fromkeys(r["name"] for r in report["results"]))
        lines += ["| detector | AP clean | " + " | ".join(f"AP {k} (drop)" for k in degraded) + " |",
                  "|---|---:|" + "---:|" * len(degraded)]
        for name in names:
            clean = ap[(name, "none")]
            cells = [f"{ap[(name, k)]:.3f} ({clean - ap[(name, k)]:.3f})" for k in degraded]
            lines.append(f"| {name} | {clean:.3f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def eval_faces_runs_table(reports: Sequence[Report], paths: Sequence[Path]) -> str:
    """One row per ``eval faces --json`` report, named by its file: our pipeline's AP at each long side,
    clean and on each corruption (``AP@320 / AP@416``), to compare training runs scored alike."""
    kinds = list(dict.fromkeys(r.get("corruption", "none") for rep in reports for r in rep["results"]))
    lines = ["| run | " + " | ".join("clean AP" if k == "none" else f"{k} AP" for k in kinds) + " |",
             "|---|" + "---:|" * len(kinds)]
    for report, path in zip(reports, paths, strict=True):
        ours = [r for r in report["results"] if r.get("family", "faces") == "faces"]
        cells = []
        for kind in kinds:
            aps = [f"{r['ap']:.3f}" for r in ours if r.get("corruption", "none") == kind]
            cells.append(" / ".join(aps) or "-")
        lines.append(f"| {path.stem} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def eval_faces_profile_table(reports: Sequence[Report]) -> str:
    """``eval faces --profile --json``: per detector, each stage's and step's median ms per frame."""
    blocks = []
    for report in reports:
        for p in report.get("profile", []):
            title = (f"**{p['name']}**: {p['frame_ms']:.2f} ms per frame (medians over {p['frames']} images; "
                     f"rows need not add up)")
            blocks.append("\n".join([title, "", *PROFILE_HEADER, *profile_rows(p)]))
    return "\n\n".join(blocks) if blocks else "(no profile in these reports: run eval faces with --profile)"


RENDERERS: dict[str, Callable[[Sequence[Report]], str]] = {
    "bench-kernels": bench_kernels_table,
    "bench-model": bench_model_table,
    "bench-model-rounds": bench_model_rounds_table,
    "bench-profile": bench_profile_table,
    "bench-profile-peer": bench_profile_peer_table,
    "eval-faces": eval_faces_table,
    "eval-faces-robust": eval_faces_robust_table,
    "eval-faces-profile": eval_faces_profile_table,
}
#: kinds whose rows are named by their reports' files
RENDERERS_WITH_PATHS: dict[str, Callable[[Sequence[Report], Sequence[Path]], str]] = {
    "eval-faces-runs": eval_faces_runs_table,
}


#: the largest report read: the commands write a few KB; /dev/zero or a wrong file would fill the memory
MAX_REPORT_BYTES = 64 * 2**20


def _load(path: Path) -> Report:
    """One JSON report: a regular file (a FIFO would block for ever) of at most ``MAX_REPORT_BYTES``."""
    try:
        data = json.loads(read_regular_file(path, MAX_REPORT_BYTES).decode("utf-8"))
    except NotRegularFile:
        raise XnorvisionError(f"report {path} is not a regular file (a device, a pipe or a folder)") from None
    except FileTooLarge:
        raise XnorvisionError(f"report {path} is larger than {MAX_REPORT_BYTES >> 20} MB: "
                              "not a report") from None
    except OSError as exc:
        raise XnorvisionError(f"cannot read report {path}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise XnorvisionError(f"report {path} is not JSON: {exc}") from None
    except RecursionError:  # json's decoder recurses per level: "[[[[...]]]]" is not a report
        raise XnorvisionError(f"report {path} is not a report: its JSON is nested too deeply") from None
    if not isinstance(data, dict):
        raise XnorvisionError(f"report {path} is not a JSON object")
    return data


def render_block(kind: str, paths: Sequence[Path]) -> str:
    """The table of ``kind`` made from the reports at ``paths``."""
    if kind not in RENDERERS and kind not in RENDERERS_WITH_PATHS:
        known = ", ".join([*RENDERERS, *RENDERERS_WITH_PATHS])
        raise XnorvisionError(f"unknown table kind {kind!r} (known: {known})")
    reports = [_load(p) for p in paths]
    try:
        if kind in RENDERERS_WITH_PATHS:
            return RENDERERS_WITH_PATHS[kind](reports, paths)
        return RENDERERS[kind](reports)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise XnorvisionError(f"a report for a {kind} table lacks what it needs: {exc!r} "
                              f"(files: {', '.join(map(str, paths))})") from None


def regenerate(markdown: Path) -> int:
    """Rebuild every table block of ``markdown`` in place; returns how many blocks were rebuilt."""
    try:
        text = markdown.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise XnorvisionError(f"{markdown} is not UTF-8 text (a Markdown file?)") from None
    except OSError as exc:
        raise XnorvisionError(f"cannot read {markdown}: {exc.strerror}") from None

    def rebuild(match: re.Match[str]) -> str:
        paths = [markdown.parent / p for p in match["paths"].split()]
        return f"{match[1]}{render_block(match['kind'], paths)}\n{match[5]}"

    new, count = _BLOCK.subn(rebuild, text)
    if new != text:
        write_file(markdown, new.encode("utf-8"))  # a full disk must not cut a README in half
    return count
