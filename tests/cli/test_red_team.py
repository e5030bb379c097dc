"""Issue 14 red team, after its fixes: inputs from an attack of every command that still broke the promise
(one ``error:`` line and exit 2, never a crash or a traceback).

Each case runs the real console entry point in a subprocess, so a segfault is a failed assertion.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.cli.conftest import write_video
from xnorvision.testing import write_tiny_model


def xnorvision(*argv: str | bytes, cwd: Path | None = None) -> tuple[int, str]:
    """Run ``xnorvision ARGV`` in a fresh interpreter: (exit code, stderr); a hang fails the test."""
    cmd = [sys.executable, "-c", "from xnorvision.cli import main; main()", *argv]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=60, cwd=cwd)
    except subprocess.TimeoutExpired:
        pytest.fail(f"xnorvision {argv} hung")
    return proc.returncode, proc.stderr.decode("utf-8", "replace")


def only_error_line(code: int, err: str) -> str:
    """The whole stderr of a clean exit 2: one ``error:`` line and nothing else."""
    lines = err.splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error:"), (code, err)
    return lines[0]


NOT_UTF8 = b"caf\xe9"  # Latin-1 "cafe": a name a Python str holds only with surrogates, which crashed OpenCV


@pytest.mark.parametrize("case", ["video source", "image source", "image in a folder", "saved video"])
def test_a_name_that_is_not_utf8_is_one_line_not_a_segfault(tmp_path: Path, case: str) -> None:
    base = os.fsencode(tmp_path)
    video = write_video(tmp_path / "v.mp4")
    if case == "video source":
        os.rename(video, base + b"/" + NOT_UTF8 + b".mp4")
        argv = ["--source", base + b"/" + NOT_UTF8 + b".mp4"]
    elif case in ("image source", "image in a folder"):
        (tmp_path / "imgs").mkdir()
        (tmp_path / "imgs" / "a.png").write_bytes(b"")  # replaced below: only its name matters
        os.rename(tmp_path / "imgs" / "a.png", base + b"/imgs/" + NOT_UTF8 + b".png")
        folder = base + b"/imgs"
        argv = ["--source", folder if case == "image in a folder" else folder + b"/" + NOT_UTF8 + b".png"]
    else:
        argv = ["--source", str(video), "--save", base + b"/" + NOT_UTF8 + b".mp4"]
    assert "UTF-8" in only_error_line(*xnorvision("run", "--headless", "--max-frames", "2", *argv))


@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_opencv_and_ffmpeg_log_nothing_before_the_error_line(tmp_path: Path, damage: str) -> None:
    video = write_video(tmp_path / "v.mp4")
    data = video.read_bytes()
    video.write_bytes(b"" if damage == "empty" else data[: len(data) // 2])
    line = only_error_line(*xnorvision("run", "--headless", "--source", str(video)))
    assert "cannot decode video" in line


def classify_set(tmp_path: Path) -> dict[str, Path]:
    """A 2-class model and an image folder it can score (what eval classify and train take)."""
    for label in ("cat", "dog"):
        (tmp_path / "data" / label).mkdir(parents=True)
        cv2.imwrite(str(tmp_path / "data" / label / "a.png"), np.full((16, 16, 3), 90, np.uint8))
    return {"model": write_tiny_model(tmp_path / "m.xnv", labels=("cat", "dog")), "data": tmp_path / "data"}


def test_an_image_folder_data_set_holding_a_fifo_does_not_hang(tmp_path: Path) -> None:
    model = classify_set(tmp_path)["model"]
    os.mkfifo(tmp_path / "data" / "dog" / "b.png")  # imread would wait forever for a writer
    code, err = xnorvision("eval", "classify", "--model", str(model), "--data", str(tmp_path / "data"))
    assert code == 0 and "Traceback" not in err, err


@pytest.mark.parametrize("argv", [
    ("run", "--headless", "--source", "synth:2", "--save", "{fifo}.mp4"),
    ("run", "--headless", "--source", "synth:2", "--save", "{loop}"),
    ("run", "--headless", "--source", "synth:2", "--save-json", "{loop}"),
    ("bench", "model", "--reference", "vgg-small", "--seconds", "0.1", "--json", "{fifo}.json"),
    ("bench", "model", "--reference", "vgg-small", "--seconds", "0.1", "--json", "/dev/full"),
    ("model", "convert", "{model}", "--out", "{loop}"),
    ("model", "reference", "vgg-small", "--out", "/proc/version"),
    ("eval", "classify", "--model", "{model}", "--data", "{data}", "--json", "/dev/full"),
    ("eval", "classify", "--model", "{model}", "--data", "{data}", "--json", "{loop}"),
    ("eval", "classify", "--model", "{model}", "--data", "{data}", "--confusion", "{out}.txt"),
    ("eval", "classify", "--model", "{model}", "--data", "{data}", "--confusion", "/dev/zero"),
], ids=lambda argv: " ".join(argv[:2] + argv[-2:]))
def test_an_output_that_cannot_be_a_file_is_one_line(tmp_path: Path, argv: tuple[str, ...]) -> None:
    """A FIFO (which blocked the writer), a device, a symlink loop, a place no file can be made, a type
    OpenCV does not write: each was a hang or an internal error."""
    if "/proc/version" in argv and not Path("/proc/version").is_file():
        pytest.skip("no /proc")
    names = {"fifo": tmp_path / "fifo", "loop": tmp_path / "loop", "out": tmp_path / "out",
             **classify_set(tmp_path)}
    for suffix in (".mp4", ".json"):
        os.mkfifo(tmp_path / f"fifo{suffix}")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    only_error_line(*xnorvision(*(a.format(**names) for a in argv)))


@pytest.mark.parametrize("argv", [
    ("model", "reference", "vgg-small", "--out", "{tmp}/r.xnv", "--seed", "-1"),
    ("train", "--data", "{data}", "--out", "{tmp}/run", "--seed", "99999999999999999999"),
    ("train", "--data", "{data}", "--out", "{tmp}/run", "--width", "99999999999999999999"),
    ("bench", "model", "--reference", "vgg-small", "--batch", "100000"),
    ("bench", "model", "faces-proposal", "--seconds", "0.1", "--height", "99999999", "--width", "99999999"),
], ids=lambda argv: " ".join(argv[:2] + argv[-2:]))
def test_a_number_out_of_range_is_one_line(tmp_path: Path, argv: tuple[str, ...]) -> None:
    """Seeds numpy refuses or torch overflows on, a width torch fails on in C++, sizes that were a
    MemoryError: each was an internal error (or a native backtrace)."""
    data = classify_set(tmp_path)["data"]
    only_error_line(*xnorvision(*(a.format(tmp=tmp_path, data=data) for a in argv)))


@pytest.mark.parametrize("damage", ["markdown not UTF-8", "report nested too deeply", "report a FIFO",
                                    "report /dev/zero"])
def test_tables_on_a_damaged_file_is_one_line(tmp_path: Path, damage: str) -> None:
    """Each was an internal error, a hang (a FIFO) or a read until the memory ran out (/dev/zero)."""
    md = tmp_path / "README.md"
    report = {"report a FIFO": "r.fifo", "report /dev/zero": "/dev/zero"}.get(damage, "r.json")
    if damage == "markdown not UTF-8":
        md.write_bytes(b"\xff\xfe<!-- table eval-faces: r.json -->\n<!-- /table -->\n")
    else:
        if damage == "report a FIFO":
            os.mkfifo(tmp_path / report)
        (tmp_path / "r.json").write_text("[" * 100_000 + "]" * 100_000)
        md.write_text(f"<!-- table eval-faces: {report} -->\nkeep\n<!-- /table -->\n")
    before = md.read_bytes()
    only_error_line(*xnorvision("tables", str(md)))
    assert md.read_bytes() == before


def test_a_pickled_checkpoint_is_one_line_without_torch_warnings(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pickled = tmp_path / "c.pt"
    pickled.write_bytes(__import__("pickle").dumps({"a": 1}))
    line = only_error_line(*xnorvision("export", str(pickled), "--out", str(tmp_path / "m.xnv")))
    assert "not a checkpoint written by xnorvision train" in line


@pytest.mark.parametrize("damage", ["not an image", "truncated"])
def test_a_bad_single_image_is_the_only_line(tmp_path: Path, damage: str) -> None:
    """Decoded when the source opens, like a video's first frame: no "-> no pipeline" line before it."""
    png = cv2.imencode(".png", np.zeros((30, 30, 3), np.uint8))[1].tobytes()
    image = tmp_path / "a.png"
    image.write_bytes(os.urandom(300) if damage == "not an image" else png[:40])
    line = only_error_line(*xnorvision("run", "--headless", "--source", str(image)))
    assert "not an image or corrupt" in line


def test_json_lines_into_a_fifo_nobody_reads_is_one_line_not_a_hang(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "lines")
    line = only_error_line(*xnorvision("run", "--headless", "--source", "synth:2", "--save-json",
                                       str(tmp_path / "lines")))
    assert "no program is reading this FIFO" in line


def test_json_lines_into_a_fifo_reach_its_reader(tmp_path: Path) -> None:
    fifo = tmp_path / "lines"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    try:
        for _ in range(100):  # until cat has opened its end
            code, err = xnorvision("run", "--headless", "--source", "synth:3", "--save-json", str(fifo))
            if "no program is reading" not in err:
                break
        assert code == 0, err
        assert len(reader.communicate(timeout=30)[0].splitlines()) == 3
    finally:
        reader.kill()


def _catches(pid: int, sig: int) -> bool:
    """Whether process ``pid`` has a handler installed for ``sig`` (Linux: the SigCgt mask)."""
    status = Path(f"/proc/{pid}/status").read_text()
    mask = int(next(x for x in status.splitlines() if x.startswith("SigCgt:")).split()[1], 16)
    return bool(mask >> (sig - 1) & 1)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the signal mask from /proc")
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
def test_a_stop_signal_ends_any_command_like_ctrl_c(tmp_path: Path, sig: str) -> None:
    """Not only `run`: `bench model` (here) or `eval` killed by a service manager exits 130, its cleanup
    run and its output untouched, instead of dying by the signal (143/129) with temporary files left."""
    report = tmp_path / "bench.json"
    cmd = [sys.executable, "-c", "from xnorvision.cli import main; main()", "bench", "model", "--reference",
           "vgg-small", "--seconds", "60", "--json", str(report)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        number = getattr(signal, sig)
        deadline = time.monotonic() + 30
        while not _catches(proc.pid, number) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        time.sleep(1.0)  # into the benchmark
        proc.send_signal(number)
        err = proc.communicate(timeout=30)[1].decode()
    finally:
        proc.kill()
    assert proc.returncode == 130 and err.strip() == "interrupted", (proc.returncode, err)
    assert list(tmp_path.iterdir()) == []  # no report, no temporary file


def test_a_teacher_the_recipe_does_not_use_is_refused_not_ignored(tmp_path: Path) -> None:
    """`train --teacher /dev/zero` (or a missing file) on a recipe without a teacher trained and exit 0."""
    pytest.importorskip("torch")
    data = classify_set(tmp_path)["data"]
    line = only_error_line(*xnorvision("train", "--data", str(data), "--out", str(tmp_path / "run"),
                                       "--teacher", str(tmp_path / "missing.pt"), "--epochs", "1"))
    assert "uses no teacher" in line and not (tmp_path / "run" / "model.xnv").exists()


def test_a_pipeline_name_with_a_line_break_keeps_the_banner_one_line(tmp_path: Path) -> None:
    """`--plugin $'faces\\n'` runs faces (names are stripped); its banner printed the line break too."""
    code, err = xnorvision("run", "--headless", "--source", "synth:1", "--plugin", "objects\n")
    assert code == 0 and err.splitlines() == ["synth:1 -> objects (stages: objects)"], err
