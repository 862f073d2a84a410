"""``pilot metrics serve``: an HTTP server that answers ``GET /metrics`` and nothing else.

Our own handler rather than prometheus_client's ``start_http_server``, which answers any path and method:
a scrape endpoint that says 404 and 405 is easier to reason about and to test. Each scrape runs in a
thread of its own and reads the database afresh; a database that cannot be read is a 500 with one line.
"""

from __future__ import annotations

import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import CollectorRegistry

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9464
"""The port OpenTelemetry's Prometheus exporters use by convention."""
METRICS_PATH = "/metrics"


class MetricsServer(ThreadingHTTPServer):
    """Serves ``registry`` at ``/metrics``; ``port`` 0 takes a free port (see ``url``)."""

    daemon_threads = True

    def __init__(self, host: str, port: int, registry: CollectorRegistry) -> None:
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host.strip("[]"), port), _Handler)
        self.registry = registry

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        shown = f"[{host}]" if ":" in str(host) else str(host)
        return f"http://{shown}:{port}{METRICS_PATH}"


class _Handler(BaseHTTPRequestHandler):
    server: MetricsServer
    server_version = "pilot-metrics"

    def do_GET(self) -> None:
        if urlsplit(self.path).path != METRICS_PATH:
            self._answer(404, f"not found: the metrics are at {METRICS_PATH}\n")
            return
        encoder, content_type = choose_encoder(self.headers.get("Accept") or "")
        try:
            body = encoder(self.server.registry)
        except Exception as exc:  # the scraper gets one line, and the server keeps serving
            lines = str(exc).strip().splitlines()
            reason = lines[0] if lines else type(exc).__name__
            self._answer(500, f"cannot read the metrics database: {reason}\n")
            return
        self._answer(200, body, content_type)

    def _not_allowed(self) -> None:
        self._answer(405, f"method not allowed: only GET {METRICS_PATH}\n", allow="GET")

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _not_allowed

    def _answer(
        self, status: int, body: str | bytes, content_type: str = "text/plain; charset=utf-8", allow: str = ""
    ) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if allow:
            self.send_header("Allow", allow)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        """Scrapes come every few seconds: no access log."""
