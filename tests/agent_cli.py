"""The real Claude Code CLI for tests: installs a pinned version from npm and builds an isolated, offline env.

Claude Code ships as a native binary inside the npm package of its platform
(``@anthropic-ai/claude-code-linux-x64`` and siblings), so a plain ``npm install`` is all it takes; nothing is
downloaded at run time. The version is pinned so that a new release cannot change the stream-json the tests
read without someone noticing.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

import pytest

# Verified to run offline against tests/fake_anthropic_api.py (npm's latest when pinned).
CLAUDE_CODE_VERSION = "2.1.331"
PACKAGE = "@anthropic-ai/claude-code"
REPO_ROOT = Path(__file__).resolve().parent.parent
INSTALL_TIMEOUT_S = 600
PROMPT = "say hello using bash"

# Carried over from the caller's environment: what a shell needs to find programs and decode text.
# Everything else (ANTHROPIC_*, CLAUDE_*, proxies, CI, the developer's XDG dirs) is left behind on purpose.
PASSED_THROUGH = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ")


def install_prefix() -> Path:
    """Where the CLI is installed: ``PILOT_TEST_AGENT_PREFIX``, else ``.agent-cli`` at the repo root."""
    configured = os.environ.get("PILOT_TEST_AGENT_PREFIX")
    return Path(configured).expanduser().resolve() if configured else REPO_ROOT / ".agent-cli"


def _candidate_binaries(prefix: Path) -> list[Path]:
    """The wrapper's ``bin/claude.exe`` (the native binary once npm ran the postinstall), then the binary
    inside the platform package, which is there even when install scripts are off."""
    scope = prefix / "node_modules" / "@anthropic-ai"
    return [scope / "claude-code" / "bin" / "claude.exe", *sorted(scope.glob("claude-code-*/claude"))]


def _reported_version(binary: Path) -> str | None:
    """The version the binary prints, or None when it is the postinstall placeholder or does not run."""
    try:
        completed = subprocess.run(
            [str(binary), "--version"],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
    except OSError:
        return None
    if completed.returncode != 0 or not completed.stdout.strip():
        return None
    return completed.stdout.split()[0]


def _installed_binary(prefix: Path) -> Path | None:
    for binary in _candidate_binaries(prefix):
        if binary.is_file() and _reported_version(binary) == CLAUDE_CODE_VERSION:
            return binary
    return None


def claude_code_binary() -> Path:
    """The pinned Claude Code executable, installed with npm on first use.

    Skips the test only when npm is missing; an npm or binary failure fails it with npm's output.
    """
    prefix = install_prefix()
    found = _installed_binary(prefix)
    if found is not None:
        return found
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: cannot install Claude Code for the real-agent test")
    prefix.mkdir(parents=True, exist_ok=True)
    # One installer at a time per prefix, so parallel test processes do not unpack over each other.
    with open(prefix / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = _installed_binary(prefix)
        if found is not None:
            return found
        command = [
            npm, "install", "--no-save", "--no-audit", "--no-fund",
            "--prefix", str(prefix), f"{PACKAGE}@{CLAUDE_CODE_VERSION}",
        ]  # fmt: skip
        completed = subprocess.run(
            command,
            check=False,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
        if completed.returncode != 0:
            pytest.fail(
                f"{' '.join(command)} exited {completed.returncode}\n"
                f"stdout:\n{completed.stdout}\nstderr:\n{completed.stderr}",
                pytrace=False,
            )
        found = _installed_binary(prefix)
        if found is None:
            pytest.fail(
                f"npm installed {PACKAGE}@{CLAUDE_CODE_VERSION} into {prefix} but no binary there reports "
                f"that version; tried {[str(p) for p in _candidate_binaries(prefix)]}\n"
                f"npm stdout:\n{completed.stdout}\nnpm stderr:\n{completed.stderr}",
                pytrace=False,
            )
        return found


def claude_command(binary: Path) -> list[str]:
    """``claude -p PROMPT`` printing stream-json, with Bash allowed and at most 5 turns: the run both agent
    tests make (against the stand-in's default script: Bash ``echo hello``, then text)."""
    return [
        str(binary), "-p", PROMPT, "--output-format", "stream-json", "--verbose",
        "--allowedTools", "Bash", "--max-turns", "5",
    ]  # fmt: skip


def agent_env(base_url: str, home: Path) -> dict[str, str]:
    """The whole environment for running Claude Code offline against ``base_url``, isolated under ``home``.

    Built from nothing rather than copied, so the developer's settings, keys, proxies and a parent Claude
    Code session's variables never reach the CLI. ``home`` receives everything the CLI writes: its config
    (``.claude.json``, ``.claude/`` with the session transcript), and its temp files and messaging socket.
    """
    home.mkdir(parents=True, exist_ok=True)
    temp_dir = home / "tmp"
    temp_dir.mkdir(exist_ok=True)
    env = {name: os.environ[name] for name in PASSED_THROUGH if name in os.environ}
    env.setdefault("PATH", os.defpath)
    env.setdefault("LANG", "C.UTF-8")
    env.update(
        {
            # Isolation: the CLI reads and writes ~/.claude.json and ~/.claude/; XDG dirs and TMPDIR too.
            "HOME": str(home),
            "CLAUDE_CONFIG_DIR": str(home / ".claude"),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_STATE_HOME": str(home / ".local" / "state"),
            "TMPDIR": str(temp_dir),
            "CLAUDE_CODE_TMPDIR": str(temp_dir),
            # The Bash tool runs commands in this shell; a login bash reads only the temp HOME's dotfiles.
            "SHELL": shutil.which("bash", path=env["PATH"]) or "/bin/bash",
            # The stand-in API and a dummy key (print mode uses an API key without asking).
            "ANTHROPIC_BASE_URL": base_url,
            "ANTHROPIC_API_KEY": "sk-ant-api03-dummy-key-for-the-loopback-stand-in",
            # Offline: no update checks, telemetry, error reports or feedback prompts. The first switch
            # implies the four after it; they are spelled out so a change in what it covers cannot leak.
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_ERROR_REPORTING": "1",
            "DISABLE_BUG_COMMAND": "1",
            "CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY": "1",
        }
    )
    return env
