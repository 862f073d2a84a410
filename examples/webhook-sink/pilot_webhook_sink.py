"""A Pilot metric sink: POSTs each recorded execution as JSON to ``[sinks.webhook] url``.

A slow or failing receiver never holds an execution up beyond a bound: each attempt waits at most
``timeout`` seconds for the network (less when ``max_time`` is nearer); a failed attempt (no connection,
a timeout, HTTP 429 or 5xx) is retried after ``backoff`` seconds, doubled each time, at most ``retries``
times; and no retry starts once ``max_time`` seconds have passed since the first attempt. Other 4xx
answers are not retried (the request would not get better). What is left over is raised, so Pilot
reports it once; the record stays in the metrics database either way. Keep ``max_time`` below
``[sinks] timeout`` (10 s by default).

The body is ``record.to_dict()``, the shape ``pilot metrics show --json`` prints; the ``Content-Type`` is
``application/json``. Messages name the receiver by scheme, host and port only: a URL's path or query may
hold a token.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hookspecs import hookimpl
from pilot_metrics_plugin.record import ExecutionRecord

__version__ = "0.1.0"
USER_AGENT = f"pilot-webhook-sink/{__version__}"


class WebhookError(Exception):
    """The receiver did not take the record; the message says why, in one line."""


@dataclass(frozen=True)
class Options:
    """``[sinks.webhook]``, checked: a typo or a wrong type is an error that names the key."""

    url: str
    timeout_s: float = 3.0
    retries: int = 3
    backoff_s: float = 0.5
    max_time_s: float = 8.0
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Options:
        known = {"url", "timeout", "retries", "backoff", "max_time", "headers"}
        unknown = sorted(set(settings) - known)
        if unknown:
            known_keys = ", ".join(sorted(known))
            raise WebhookError(f"[sinks.webhook]: unknown key {unknown[0]!r} (known: {known_keys})")
        url = settings.get("url")
        if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise WebhookError(f"[sinks.webhook] url: expected an http:// or https:// URL, got {url!r}")
        headers = settings.get("headers", {})
        if not isinstance(headers, Mapping) or not all(isinstance(v, str) for v in headers.values()):
            raise WebhookError("[sinks.webhook] headers: expected a table of strings")
        retries = settings.get("retries", cls.retries)
        if type(retries) is not int or retries < 0:
            raise WebhookError(f"[sinks.webhook] retries: expected a whole number >= 0, got {retries!r}")
        return cls(
            url=url,
            timeout_s=_seconds(settings, "timeout", cls.timeout_s),
            retries=retries,
            backoff_s=_seconds(settings, "backoff", cls.backoff_s),
            max_time_s=_seconds(settings, "max_time", cls.max_time_s),
            headers=dict(headers),
        )

    @property
    def receiver(self) -> str:
        parts = urllib.parse.urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def _seconds(settings: Mapping[str, Any], key: str, default: float) -> float:
    value = settings.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise WebhookError(f"[sinks.webhook] {key}: expected a number of seconds > 0, got {value!r}")
    return float(value)


class _Retry(Exception):
    """An attempt failed in a way the next attempt may not."""


@hookimpl
def on_execution_recorded(record: ExecutionRecord, settings: Mapping[str, Any]) -> None:
    options = Options.from_settings(settings)
    post(options, json.dumps(record.to_dict()).encode("utf-8"))


def post(
    options: Options,
    body: bytes,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """POST ``body`` until the receiver takes it: returns the number of attempts, or raises
    ``WebhookError``."""
    deadline = clock() + options.max_time_s
    delay = options.backoff_s
    attempts = 0
    while True:
        attempts += 1
        try:
            _attempt(options, body, timeout_s=min(options.timeout_s, max(deadline - clock(), 0.01)))
            return attempts
        except _Retry as exc:
            reason = str(exc)
        if attempts > options.retries or clock() + delay >= deadline:
            raise WebhookError(f"POST {options.receiver} failed after {attempts} attempts: {reason}")
        sleep(delay)
        delay *= 2


def _attempt(options: Options, body: bytes, *, timeout_s: float) -> None:
    request = urllib.request.Request(
        options.url,
        data=body,
        method="POST",
        headers={**options.headers, "Content-Type": "application/json", "User-Agent": USER_AGENT},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 429 or exc.code >= 500:
            raise _Retry(f"HTTP {exc.code}") from None
        raise WebhookError(f"POST {options.receiver} refused: HTTP {exc.code} (not retried)") from None
    except urllib.error.URLError as exc:
        raise _Retry(_describe(exc.reason)) from None
    except (TimeoutError, OSError) as exc:  # a timeout while reading the answer, a reset connection
        raise _Retry(_describe(exc)) from None


def _describe(reason: object) -> str:
    if isinstance(reason, TimeoutError):
        return "timed out"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__
