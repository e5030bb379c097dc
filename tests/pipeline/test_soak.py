"""10,000 frames through a pipeline with bounded memory."""

from __future__ import annotations

from pathlib import Path

from xnorvision.pipeline import Runner, SynthSource


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


class Discard:
    def write(self, result) -> None:
        assert len(result.detections) == 2

    def close(self) -> None:
        pass


def test_soak_10k_frames_bounded_memory(fake_stage) -> None:
    Runner(SynthSource(500, (48, 32)), [fake_stage()], [Discard()]).run()  # warm up allocators
    before = rss_mb()
    summary = Runner(SynthSource(10_000, (48, 32)), [fake_stage("a"), fake_stage("b")], [Discard()]).run()
    grown = rss_mb() - before
    assert summary.frames == 10_000 and summary.errors == 0
    assert grown < 20, f"RSS grew {grown:.1f} MB over 10,000 frames"
