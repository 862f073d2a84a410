"""A loopback stand-in for the Anthropic Messages API, so the real Claude Code CLI can run offline in tests.

It serves scripted replies with made-up, exactly known usage, so a test can check that what Claude Code
reports (``result.usage``, ``modelUsage``) is what the "API" charged. It speaks just enough of the protocol
for the CLI: ``POST /v1/messages`` as SSE when ``stream`` is true and as a JSON Message otherwise,
``count_tokens``, a model listing, ``HEAD /``; anything else gets a 404 and is recorded like every request,
so a test can see what the CLI asked for. Standard library only.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, final


@dataclass(frozen=True)
class Usage:
    """The tokens one scripted reply is billed; ``output_tokens`` is its final (message_delta) count."""

    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0


@dataclass(frozen=True)
class TextBlock:
    """A text content block of a reply."""

    text: str


@dataclass(frozen=True)
class ToolUseBlock:
    """A tool_use content block; its id is assigned when served (``toolu_mock_0001``, ...)."""

    name: str
    input: dict[str, Any]


Block = TextBlock | ToolUseBlock


@dataclass(frozen=True)
class Reply:
    """One scripted API response: its content blocks, why it stopped, and what it is billed."""

    blocks: tuple[Block, ...]
    usage: Usage
    stop_reason: str = "end_turn"


def bash_reply(command: str, usage: Usage, description: str = "say hello") -> Reply:
    """A reply that asks Claude Code to run one Bash command."""
    return Reply(
        blocks=(ToolUseBlock(name="Bash", input={"command": command, "description": description}),),
        usage=usage,
        stop_reason="tool_use",
    )


def text_reply(text: str, usage: Usage) -> Reply:
    """A reply that ends the turn with text."""
    return Reply(blocks=(TextBlock(text=text),), usage=usage, stop_reason="end_turn")


# As in the recorded 2.1.328 loopback transcript: input 1001 then 1002, cache writes 2000 each, cache reads
# 5000 then 10000. That transcript shows only the total output, 83; the split 41 + 42 is ours.
FIRST_USAGE = Usage(
    input_tokens=1001, output_tokens=41, cache_creation_input_tokens=2000, cache_read_input_tokens=5000
)
SECOND_USAGE = Usage(
    input_tokens=1002, output_tokens=42, cache_creation_input_tokens=2000, cache_read_input_tokens=10000
)
DEFAULT_REPLIES: tuple[Reply, ...] = (
    bash_reply("echo hello", FIRST_USAGE),
    text_reply("All done.", SECOND_USAGE),
)

FALLBACK_MODEL = "claude-sonnet-4-5"
KNOWN_MODELS = ("claude-opus-4-1", "claude-sonnet-4-5", "claude-haiku-4-5")


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received; ``known`` is False for paths the stand-in does not implement."""

    method: str
    path: str
    body: Any
    headers: dict[str, str]
    known: bool


@dataclass
class _Script:
    """The scripted replies, how many were served, and the request log; shared by handler threads."""

    replies: tuple[Reply, ...]
    lock: threading.Lock = field(default_factory=threading.Lock)
    served_count: int = 0
    requests: list[RecordedRequest] = field(default_factory=list)

    def next_reply(self) -> tuple[int, Reply]:
        """The next scripted reply and its 1-based serial; once exhausted, the last text reply again."""
        with self.lock:
            self.served_count += 1
            serial = self.served_count
        if serial <= len(self.replies):
            return serial, self.replies[serial - 1]
        texts = [r for r in self.replies if all(isinstance(b, TextBlock) for b in r.blocks)]
        return serial, (texts[-1] if texts else self.replies[-1])

    def record(self, request: RecordedRequest) -> None:
        with self.lock:
            self.requests.append(request)


def _content_json(blocks: Sequence[Block], serial: int) -> list[dict[str, Any]]:
    """Content blocks as the API returns them; tool ids carry the reply's serial so they are unique."""
    content: list[dict[str, Any]] = []
    for index, block in enumerate(blocks):
        if isinstance(block, TextBlock):
            content.append({"type": "text", "text": block.text})
        else:
            suffix = f"{serial:04d}" if index == 0 else f"{serial:04d}_{index}"
            content.append(
                {"type": "tool_use", "id": f"toolu_mock_{suffix}", "name": block.name, "input": block.input}
            )
    return content


def _usage_json(usage: Usage, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "cache_creation_input_tokens": usage.cache_creation_input_tokens,
        "cache_read_input_tokens": usage.cache_read_input_tokens,
        "output_tokens": output_tokens,
    }


def _message_json(reply: Reply, serial: int, model: str) -> dict[str, Any]:
    """The whole Message, as a non-streaming request receives it."""
    return {
        "id": f"msg_mock_{serial:04d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": _content_json(reply.blocks, serial),
        "stop_reason": reply.stop_reason,
        "stop_sequence": None,
        "usage": _usage_json(reply.usage, reply.usage.output_tokens),
    }


def _sse_events(reply: Reply, serial: int, model: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The SSE events of one streamed reply, in the order the real API sends them."""
    message = _message_json(reply, serial, model)
    # message_start carries the prompt-side usage and a placeholder output count of 1, as the real API does.
    yield (
        "message_start",
        {
            "type": "message_start",
            "message": {**message, "content": [], "stop_reason": None, "usage": _usage_json(reply.usage, 1)},
        },
    )
    for index, block in enumerate(message["content"]):
        start: dict[str, Any]
        delta: dict[str, Any]
        if block["type"] == "text":
            start = {"type": "text", "text": ""}
            delta = {"type": "text_delta", "text": block["text"]}
        else:
            start = {**block, "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        yield "content_block_start", {"type": "content_block_start", "index": index, "content_block": start}
        yield "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
        yield "content_block_stop", {"type": "content_block_stop", "index": index}
    yield (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": reply.stop_reason, "stop_sequence": None},
            "usage": {"output_tokens": reply.usage.output_tokens},
        },
    )
    yield "message_stop", {"type": "message_stop"}


def _models_json() -> dict[str, Any]:
    data = [
        {"type": "model", "id": model_id, "display_name": model_id, "created_at": "2025-01-01T00:00:00Z"}
        for model_id in KNOWN_MODELS
    ]
    return {"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"]}


class _Handler(BaseHTTPRequestHandler):
    """Answers one connection; the script lives on the server so every handler thread shares it."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the CLI's HTTP client expects; every answer has a length
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: requests are recorded, not printed over the test output."""

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _record(self, body: Any, known: bool) -> None:
        self.server.script.record(
            RecordedRequest(
                method=self.command,
                path=self.path,
                body=body,
                headers={name.lower(): value for name, value in self.headers.items()},
                known=known,
            )
        )

    def _send(self, status: int, content_type: str, payload: bytes, head_only: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("request-id", "req_mock")
        self.end_headers()
        if not head_only:
            self.wfile.write(payload)

    def _send_json(self, status: int, value: Any, head_only: bool = False) -> None:
        self._send(status, "application/json", json.dumps(value).encode(), head_only)

    def _send_not_found(self, head_only: bool = False) -> None:
        error = {"type": "not_found_error", "message": f"{self.command} {self.path} is not served here"}
        self._send_json(404, {"type": "error", "error": error}, head_only)

    def do_HEAD(self) -> None:
        route = self.path.split("?")[0]
        known = route == "/"
        self._record(None, known)
        if known:
            self._send(200, "text/plain", b"", head_only=True)
        else:
            self._send_not_found(head_only=True)

    def do_GET(self) -> None:
        route = self.path.split("?")[0]
        if route == "/":
            self._record(None, True)
            self._send(200, "text/plain", b"ok")
        elif route == "/v1/models":
            self._record(None, True)
            self._send_json(200, _models_json())
        elif route.startswith("/v1/models/"):
            self._record(None, True)
            model_id = route.removeprefix("/v1/models/")
            self._send_json(200, {"type": "model", "id": model_id, "display_name": model_id})
        else:
            self._record(None, False)
            self._send_not_found()

    def do_POST(self) -> None:
        raw = self._read_body()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        route = self.path.split("?")[0]
        if route == "/v1/messages":
            # A body that is not a JSON object is unexpected from the CLI: recorded as such, answered 400.
            self._record(body, isinstance(body, dict))
            if isinstance(body, dict):
                self._answer_messages(body)
            else:
                error = {"type": "invalid_request_error", "message": "the body must be a JSON object"}
                self._send_json(400, {"type": "error", "error": error})
        elif route == "/v1/messages/count_tokens":
            self._record(body, True)
            # A rough but plausible count: four characters a token.
            self._send_json(200, {"input_tokens": max(1, len(raw) // 4)})
        else:
            self._record(body, False)
            self._send_not_found()

    def _answer_messages(self, body: dict[str, Any]) -> None:
        serial, reply = self.server.script.next_reply()
        model = str(body.get("model") or FALLBACK_MODEL)
        if not body.get("stream"):
            self._send_json(200, _message_json(reply, serial, model))
            return
        stream = "".join(
            f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in _sse_events(reply, serial, model)
        )
        self._send(200, "text/event-stream; charset=utf-8", stream.encode())


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    script: _Script


@final
class FakeAnthropicAPI:
    """A Messages API on 127.0.0.1 at an ephemeral port, serving ``replies`` in order, for a ``with`` block.

    After the script is exhausted the last text reply is served again, so an extra call by the CLI
    ends its turn instead of hanging it.
    """

    def __init__(self, replies: Sequence[Reply] = DEFAULT_REPLIES) -> None:
        if not replies:
            raise ValueError("FakeAnthropicAPI needs at least one reply")
        self._script = _Script(replies=tuple(replies))
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """The URL to give Claude Code as ``ANTHROPIC_BASE_URL``."""
        if self._server is None:
            raise RuntimeError("FakeAnthropicAPI is not running; use it in a with block")
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order (a copy)."""
        with self._script.lock:
            return list(self._script.requests)

    def __enter__(self) -> FakeAnthropicAPI:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.script = self._script
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-anthropic-api", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
