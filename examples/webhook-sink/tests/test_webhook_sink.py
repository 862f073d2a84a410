"""The webhook sink against real HTTP servers on 127.0.0.1: one that fails before it accepts, one that never
answers, one that refuses. Every test replays the repository's ``examples/transcripts/hello-bash.jsonl``.

Runs from the repository's root with the main suite, or alone here after ``pip install -e .``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pilot_webhook_sink
import pytest

from hookspecs.cli import main
from hookspecs.manager import PluginHost
from pilot_metrics_plugin.config import Config
from pilot_metrics_plugin.plugin import MetricsPlugin

TRANSCRIPT = Path(__file__).resolve().parents[2] / "transcripts" / "hello-bash.jsonl"
HANG = 0
"""A status that makes the receiver read the request and never answer."""


@pytest.fixture(autouse=True)
def _own_pilot_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing of the developer's ~/.pilot, PILOT_* or proxy variables reaches these tests."""
    for name in (
        "PILOT_LOAD_PLUGINS",
        "PILOT_DISABLE_PLUGINS",
        "PILOT_STRICT_PLUGINS",
        "PILOT_TRACE_PLUGINS",
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PILOT_HOME", str(tmp_path / "pilot-home"))


class Receiver(ThreadingHTTPServer):
    """A real HTTP server on a free loopback port that answers the POSTs it gets with ``statuses`` in turn
    (the last one repeats) and keeps each request's headers and body."""

    daemon_threads = True

    def __init__(self, statuses: list[int]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.statuses = statuses
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/pilot?token=secret"

    def next_status(self) -> int:
        index = min(len(self.requests), len(self.statuses)) - 1
        return self.statuses[index]


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.requests.append((dict(self.headers), body))
        status = self.server.next_status()
        if status == HANG:
            self.server.release.wait(30)
            return
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


Serve = Callable[[list[int]], Receiver]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Starts receivers; stops them (and releases their hanging requests) after the test."""
    started: list[Receiver] = []

    def start(statuses: list[int]) -> Receiver:
        receiver = Receiver(statuses)
        threading.Thread(target=receiver.serve_forever, args=(0.02,), daemon=True).start()
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.release.set()
        receiver.shutdown()
        receiver.server_close()


def replay(db: Path, settings: dict[str, object]) -> int:
    metrics = MetricsPlugin(db_path=db, config=Config(sinks={"webhook": settings}))
    host = PluginHost.create([("webhook", pilot_webhook_sink), ("metrics", metrics)], load_entrypoints=False)
    return main(["replay", str(TRANSCRIPT), "--task-id", "T-1", "--project", "demo"], host=host)


def stored(db: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    capsys.readouterr()
    host = PluginHost.create([("metrics", MetricsPlugin(db_path=db))], load_entrypoints=False)
    assert main(["metrics", "show", "--last", "--json"], host=host) == 0
    return json.loads(capsys.readouterr().out)


def sink_failures(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("pilot: plugin 'webhook'")]


def test_a_receiver_that_fails_twice_gets_the_stored_record_on_the_third_attempt(
    serve: Serve, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    receiver = serve([503, 503, 200])
    assert replay(tmp_path / "metrics.db", {"url": receiver.url, "backoff": 0.01}) == 0
    assert sink_failures(capsys.readouterr().err) == []
    assert len(receiver.requests) == 3
    headers, body = receiver.requests[-1]
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == stored(tmp_path / "metrics.db", capsys)


def test_a_receiver_that_never_answers_holds_the_execution_no_longer_than_max_time(
    serve: Serve, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    receiver = serve([HANG])
    settings = {"url": receiver.url, "timeout": 0.2, "retries": 10, "backoff": 0.05, "max_time": 0.6}
    began = time.monotonic()
    assert replay(tmp_path / "metrics.db", settings) == 0
    # max_time 0.6 s bounds the attempts and the pauses between them; 1.5 s leaves room for a slow machine.
    assert time.monotonic() - began < 1.5
    (line,) = sink_failures(capsys.readouterr().err)
    port = receiver.server_address[1]
    assert re.fullmatch(
        rf"pilot: plugin 'webhook' failed in on_execution_recorded: WebhookError: "
        rf"POST http://127\.0\.0\.1:{port} failed after \d+ attempts: timed out",
        line,
    ), line
    assert stored(tmp_path / "metrics.db", capsys)["tokens_total"] == 21086  # 2003 + 83 + 15000 + 4000


def test_a_refusal_is_reported_and_not_sent_again(
    serve: Serve, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    receiver = serve([400])
    replay(tmp_path / "metrics.db", {"url": receiver.url, "backoff": 0.01})
    assert len(receiver.requests) == 1
    port = receiver.server_address[1]
    assert sink_failures(capsys.readouterr().err) == [
        "pilot: plugin 'webhook' failed in on_execution_recorded: "
        f"WebhookError: POST http://127.0.0.1:{port} refused: HTTP 400 (not retried)"
    ]


def test_the_configured_headers_go_with_the_record(serve: Serve, tmp_path: Path) -> None:
    receiver = serve([204])
    replay(tmp_path / "metrics.db", {"url": receiver.url, "headers": {"Authorization": "Bearer t0ken"}})
    ((headers, _body),) = receiver.requests
    assert headers["Authorization"] == "Bearer t0ken"


def test_a_misspelled_setting_is_an_error_that_names_it() -> None:
    with pytest.raises(pilot_webhook_sink.WebhookError, match="unknown key 'retry'"):
        pilot_webhook_sink.Options.from_settings({"url": "http://127.0.0.1:9/", "retry": 2})
