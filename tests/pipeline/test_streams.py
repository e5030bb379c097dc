"""Live streams against a real MJPEG server on 127.0.0.1: a drop, a stall and a lost camera reconnect or end.

The server speaks what IP cameras speak (``multipart/x-mixed-replace`` JPEGs over HTTP), read by OpenCV's
FFmpeg backend exactly as ``--source http://...`` is. Each connection follows one step of a plan; the frames
of connection ``c`` are a flat grey of ``40 * c + 20``, so a test sees which connection a frame came from.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from xnorvision.errors import SourceError
from xnorvision.pipeline import open_source
from xnorvision.pipeline._streams import StreamSource

FAST = {"stall_s": 1.0, "backoff_s": (0.1, 0.4)}


@dataclass(frozen=True)
class Step:
    frames: int
    then: str  # "close": end the connection; "stall": keep it open, silent, until the server stops


class MjpegServer:
    """Serves ``plan[c]`` to the ``c``-th connection; connections beyond the plan get 503 (camera down)."""

    def __init__(self, plan: list[Step]) -> None:
        self.plan, self.connections = plan, 0
        self.stopping = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.serve(self)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/cam.mjpg"

    def serve(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        c, self.connections = self.connections, self.connections + 1
        if c >= len(self.plan):
            handler.send_error(503)
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        handler.end_headers()
        jpeg = cv2.imencode(".jpg", np.full((48, 64, 3), 40 * c + 20, np.uint8))[1].tobytes()
        try:
            for _ in range(self.plan[c].frames):
                handler.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%b\r\n"
                                    % (len(jpeg), jpeg))
                handler.wfile.flush()
                time.sleep(0.02)
            if self.plan[c].then == "stall":
                self.stopping.wait(20)
        except OSError:  # the client went away
            pass

    def __enter__(self) -> MjpegServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[MjpegServer]:
    with MjpegServer(request.param) as s:
        yield s


def connection_of(frame: np.ndarray) -> int:
    return round((float(frame.mean()) - 20) / 40)


def read_all(source: StreamSource) -> tuple[list[int], SourceError | None]:
    """The connection of each frame read until the source ends or is lost (and the error then)."""
    seen = []
    try:
        while len(seen) < 100 and (frame := source.read()) is not None:
            seen.append(connection_of(frame))
    except SourceError as exc:
        return seen, exc
    return seen, None


@pytest.mark.parametrize("server", [[Step(6, "close"), Step(6, "close")]], indirect=True)
def test_a_dropped_stream_reconnects_and_frames_keep_coming(server: MjpegServer,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    source = StreamSource(server.url, max_tries=2, **FAST)
    assert source.live
    seen, error = read_all(source)
    # every frame of both connections arrived, in order: the drop cost nothing but the wait
    assert seen == [0] * 6 + [1] * 6 and source.reconnects == 1
    assert re.fullmatch(r"stream http://127.0.0.1:\d+/cam.mjpg lost: no frame after 2 reconnects over \d s; "
                        r"check the camera and the network", str(error))
    tries = [r.getMessage() for r in caplog.records if "reconnecting" in r.getMessage()]
    assert tries[0].endswith("/cam.mjpg: connection dropped; reconnecting in 0.1 s (try 1 of 2)")
    assert len(tries) == 3 and server.connections == 4  # one after the first drop, two after the second
    assert "frames again after 1 reconnect(s)" in caplog.text
    source.close()


@pytest.mark.parametrize("server", [[Step(4, "stall"), Step(5, "close")]], indirect=True)
def test_a_stalled_stream_reconnects_after_stall_s(server: MjpegServer,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    source = StreamSource(server.url, max_tries=1, **FAST)
    seen = [connection_of(source.read()) for _ in range(4)]
    started = time.monotonic()
    seen.append(connection_of(source.read()))  # the stall, a reconnect, then connection 1's first frame
    waited = time.monotonic() - started
    assert seen == [0, 0, 0, 0, 1] and 0.9 <= waited < 5
    assert "stalled (no frame for 1 s); reconnecting in 0.1 s (try 1 of 1)" in caplog.text
    source.close()


@pytest.mark.parametrize("server", [[Step(3, "close")]], indirect=True)
def test_a_camera_that_stays_away_is_lost_after_max_tries_with_backoff(
        server: MjpegServer, caplog: pytest.LogCaptureFixture) -> None:
    source = StreamSource(server.url, max_tries=3, **FAST)
    started = time.monotonic()
    seen, error = read_all(source)
    assert seen == [0, 0, 0] and "no frame after 3 reconnects" in str(error)
    waits = [r.getMessage().split("reconnecting in ")[1][:3] for r in caplog.records
             if "reconnecting" in r.getMessage()]
    assert waits == ["0.1", "0.2", "0.4"] and time.monotonic() - started >= 0.7
    assert server.connections == 4  # the first plus one per try


@pytest.mark.parametrize("server", [[Step(10, "stall")]], indirect=True)
def test_close_from_another_thread_ends_a_stalled_read(server: MjpegServer) -> None:
    source = StreamSource(server.url, stall_s=3.0)
    for _ in range(10):
        assert source.read() is not None
    threading.Timer(0.3, source.close).start()
    started = time.monotonic()
    # the blocked read may still take its timeout; it must then end quietly, never reconnect or crash
    assert source.read() is None and time.monotonic() - started < 4


def test_a_stream_of_known_length_is_a_file_not_a_camera(tmp_path: Path) -> None:
    video = tmp_path / "v.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24))
    for i in range(5):
        writer.write(np.full((24, 32, 3), i * 30, np.uint8))
    writer.release()
    source = open_source(f"file://{video}")
    # every frame, then the end: never a reconnect that would replay it
    seen, error = read_all(source)
    assert not source.live and len(seen) == 5 and error is None and source.reconnects == 0


@pytest.mark.parametrize("server", [[Step(8, "close"), Step(40, "close")]], indirect=True)
def test_run_keeps_going_across_a_drop_and_says_so_once(server: MjpegServer, tmp_path: Path) -> None:
    jsonl = tmp_path / "o.jsonl"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-c", "from xnorvision.cli import main; main()", "run",
                           "--source", server.url, "--headless", "--every-frame", "--max-frames", "20",
                           "--save-json", str(jsonl)], capture_output=True, text=True, timeout=30, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("reconnecting in 0.5 s (try 1 of 10)") == 1
    assert len([json.loads(line) for line in jsonl.read_text().splitlines()]) == 20
