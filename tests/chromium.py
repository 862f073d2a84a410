"""A real headless Chromium for the dashboard tests: Debian's ``chromium``, installed with apt when missing
and allowed (root, apt-get present); otherwise the tests that need it skip and say why.

Three ways in: ``dump_dom`` (the DOM after the page loaded, as Chromium parsed it), ``screenshot`` (a PNG),
and ``DevTools``, the DevTools protocol over ``--remote-debugging-pipe`` (file descriptors 3 and 4, messages
ended by a NUL byte), for what the command line cannot do: a viewport narrower than a window may be, print
media, the list of requests the page made, a PDF.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import struct
import subprocess
import tempfile
import time
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
TIMEOUT_S = 60
_install_failure: str | None = None


def chromium() -> str:
    """The chromium executable; installs Debian's package once if it is missing and this process may."""
    global _install_failure
    found = shutil.which("chromium")
    if found:
        return found
    if _install_failure is None:
        if os.geteuid() != 0:
            _install_failure = "chromium is not installed and these tests do not run as root to apt-get it"
        elif shutil.which("apt-get") is None:
            _install_failure = "chromium is not installed and there is no apt-get to install it"
        else:
            done = subprocess.run(
                "apt-get update && apt-get install -y chromium",
                shell=True,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0 or shutil.which("chromium") is None:
                tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
                _install_failure = f"chromium is not installed and apt-get install chromium failed: {tail[0]}"
    found = shutil.which("chromium")
    if found:
        return found
    pytest.skip(_install_failure or "chromium is not available")


def _run(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=True,
    )


def dump_dom(page: Path, tmp: Path, window: tuple[int, int] = (1280, 900)) -> str:
    """The serialized DOM of ``page`` once loaded."""
    return _run(
        [f"--window-size={window[0]},{window[1]}", "--dump-dom", page.as_uri()], tmp / "profile"
    ).stdout


def screenshot(page: Path, out: Path, window: tuple[int, int]) -> Path:
    _run(
        [f"--window-size={window[0]},{window[1]}", f"--screenshot={out}", page.as_uri()],
        out.parent / "profile",
    )
    return out


# -- PNG --------------------------------------------------------------------------------------------------


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def png_colors(data: bytes, limit: int = 64) -> int:
    """How many distinct pixel values the image has, up to ``limit`` (8-bit RGB or RGBA, any filter: the
    filter bytes change values but never make a uniform image look varied beyond a handful)."""
    at, chunks = 8, []
    bit_depth, color_type = data[24], data[25]
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        if kind == b"IDAT":
            chunks.append(data[at + 8 : at + 8 + length])
        at += 12 + length
    assert bit_depth == 8 and color_type in (2, 6), (bit_depth, color_type)
    raw = zlib.decompress(b"".join(chunks))
    channels = 3 if color_type == 2 else 4
    width, _ = png_size(data)
    stride = 1 + width * channels
    seen: set[bytes] = set()
    for row in range(0, len(raw), stride):
        line = raw[row + 1 : row + stride]
        for x in range(0, len(line), channels * 7):
            seen.add(line[x : x + channels])
            if len(seen) >= limit:
                return limit
    return len(seen)


# -- a small DOM ------------------------------------------------------------------------------------------


class Node:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Node | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node | str] = []

    def find_all(self, tag: str, **attrs: str) -> list[Node]:
        found = []
        for child in self.children:
            if isinstance(child, Node):
                if child.tag == tag and all(child.attrs.get(k.rstrip("_")) == v for k, v in attrs.items()):
                    found.append(child)
                found += child.find_all(tag, **attrs)
        return found

    def find(self, tag: str, **attrs: str) -> Node:
        (found, *_) = self.find_all(tag, **attrs) or [None]
        assert found is not None, f"no <{tag} {attrs}>"
        return found

    @property
    def text(self) -> str:
        return "".join(child if isinstance(child, str) else child.text for child in self.children)

    def rows(self) -> list[list[str]]:
        """A table's rows (head, body and foot) as lists of cell texts."""
        return [
            [" ".join(cell.text.split()) for cell in tr.children if isinstance(cell, Node)]
            for tr in self.find_all("tr")
        ]


_VOID = {"meta", "br", "wbr", "img", "input", "link", "hr", "col", "source", "area", "base", "embed"}


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, None)
        self.at = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, self.at)
        self.at.children.append(node)
        if tag not in _VOID:
            self.at = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.at.children.append(Node(tag, {k: v or "" for k, v in attrs}, self.at))

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.at
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.at = node.parent

    def handle_data(self, data: str) -> None:
        self.at.children.append(data)


def parse(markup: str) -> Node:
    builder = _Builder()
    builder.feed(markup)
    builder.close()
    return builder.root


# -- the DevTools protocol over a pipe --------------------------------------------------------------------


class DevTools:
    """One headless Chromium driven over ``--remote-debugging-pipe``, with one page (a flat session)."""

    def __init__(self, profile: Path) -> None:
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()

        def wire() -> None:  # in the child: its fd 3 reads our commands, its fd 4 writes its answers
            read, write = os.dup(to_browser_read), os.dup(from_browser_write)
            os.dup2(read, 3)
            os.dup2(write, 4)

        self._process = subprocess.Popen(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
            preexec_fn=wire,
            close_fds=False,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]

    def send(
        self, method: str, params: dict[str, Any] | None = None, *, page: bool = False
    ) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if page:
            message["sessionId"] = self._session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            while b"\0" not in self._buffer:
                if time.monotonic() > deadline:
                    raise TimeoutError(method)
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise EOFError(f"chromium closed the pipe during {method}")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply["result"])
            if "method" in reply:
                self.events.append(reply)

    def open(self, page: Path, width: int, height: int, *, media: str = "screen") -> None:
        """Load ``page`` in a viewport of ``width`` x ``height`` CSS pixels, for ``media``."""
        self.send("Network.enable", page=True)
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            page=True,
        )
        self.send("Emulation.setEmulatedMedia", {"media": media}, page=True)
        self.send("Page.navigate", {"url": page.as_uri()}, page=True)
        deadline = time.monotonic() + TIMEOUT_S
        while self.evaluate("document.readyState") != "complete":
            if time.monotonic() > deadline:
                raise TimeoutError("page load")
            time.sleep(0.02)

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True}, page=True)
        return result["result"].get("value")

    def requested_urls(self) -> list[str]:
        return [
            e["params"]["request"]["url"] for e in self.events if e["method"] == "Network.requestWillBeSent"
        ]

    def print_pdf(self) -> bytes:
        data = self.send("Page.printToPDF", {"printBackground": True, "preferCSSPageSize": True}, page=True)
        return base64.b64decode(data["data"])

    def close(self) -> None:
        with contextlib.suppress(EOFError, OSError, RuntimeError, TimeoutError):
            self.send("Browser.close")
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)

    def __enter__(self) -> DevTools:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def devtools(tmp: Path) -> DevTools:
    return DevTools(Path(tempfile.mkdtemp(dir=tmp, prefix="profile-")))


def pdf_pages(data: bytes) -> int:
    """The pages of a PDF that Chromium printed (its page objects are not compressed)."""
    import re

    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", data))
