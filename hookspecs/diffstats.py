"""What an execution changed in the project's git working tree, measured without touching it.

The host calls :func:`snapshot_base` when an execution starts and :func:`diff_stats` when it ends. The stats
cover everything between the HEAD seen at start and the working tree at the end: commits the agent made,
uncommitted edits, and untracked files that are not ignored.

Why a throw-away index: ``git diff <base>`` alone misses untracked files, and ``git add`` into the user's own
index would change what they have staged. So the working tree is staged into a temporary copy of the index
(``GIT_INDEX_FILE``) and git compares that with the base. The user's index, working tree and ``git status``
are only read; the one lasting trace is unreachable blob objects in ``.git/objects``, which ``git gc``
removes.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from hookspecs.payloads import DiffStats

GIT_TIMEOUT_S = 60.0
"""Wall-clock budget for all the git commands of one call, so a huge repository cannot hang the host."""

# Settings that make git's output stable and its work side-effect free whatever the user's config says:
# safecrlf could make `add` fail, diff.relative would limit the diff to the current subdirectory.
_GIT_OPTIONS = (
    "--no-pager",
    "-c",
    "core.quotepath=off",
    "-c",
    "core.safecrlf=false",
    "-c",
    "diff.relative=false",
    "-c",
    "advice.addEmbeddedRepo=false",
)

# Variables that point git at another repository, index or config (`git rev-parse --local-env-vars`).
# A host started from inside a git hook inherits them; they would redirect every command below.
_REPOSITORY_ENV_VARS = (
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_OBJECT_DIRECTORY",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_IMPLICIT_WORK_TREE",
    "GIT_GRAFT_FILE",
    "GIT_INDEX_FILE",
    "GIT_NO_REPLACE_OBJECTS",
    "GIT_REPLACE_REF_BASE",
    "GIT_PREFIX",
    "GIT_INTERNAL_SUPER_PREFIX",
    "GIT_SHALLOW_FILE",
    "GIT_COMMON_DIR",
)

# A full object id: SHA-1 or SHA-256. Anything else is refused rather than passed to git as a revision.
_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def snapshot_base(path: str | os.PathLike[str], *, timeout_s: float = GIT_TIMEOUT_S) -> str | None:
    """The commit at HEAD, the empty tree's id when the repo has no commit yet, or None when `path` is not
    inside a git work tree (or git is missing / fails). Never raises."""
    try:
        deadline_s = time.monotonic() + timeout_s
        cwd = os.fspath(path)
        env = _git_environment()
        inside = _run_git(["rev-parse", "--is-inside-work-tree"], cwd, env, deadline_s)
        if inside is None or inside.strip() != b"true":
            return None
        head = _run_git(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], cwd, env, deadline_s)
        if head is None:
            # An unborn branch: every file the execution leaves behind is new. Ask git for the empty
            # tree's id, since it differs between SHA-1 and SHA-256 repositories.
            head = _run_git(["hash-object", "-t", "tree", "--stdin"], cwd, env, deadline_s)
        if head is None:
            return None
        object_id = head.decode("ascii").strip()
        return object_id if _OBJECT_ID.fullmatch(object_id) else None
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def diff_stats(
    path: str | os.PathLike[str], base: str | None, *, timeout_s: float = GIT_TIMEOUT_S
) -> DiffStats | None:
    """Changes from `base` to the working tree now. None when base is None or git fails. Never raises.
    Bounded by a timeout (`timeout_s`, 60 s by default) so a huge repo cannot hang the host.

    `base` must be a full object id, as :func:`snapshot_base` returns; anything else gives None.
    The whole work tree is counted, also when `path` is one of its subdirectories."""
    if base is None or not _OBJECT_ID.fullmatch(base):
        return None
    try:
        deadline_s = time.monotonic() + timeout_s
        cwd = os.fspath(path)
        env = _git_environment()
        index_path = _run_git(["rev-parse", "--git-path", "index"], cwd, env, deadline_s)
        if index_path is None:
            return None
        # --git-path answers relative to `cwd` (and knows where a linked worktree keeps its index).
        real_index = Path(cwd, os.fsdecode(index_path.removesuffix(b"\n")))
        with tempfile.TemporaryDirectory(prefix="pilot-diffstats-") as scratch:
            temp_index = Path(scratch, "index")
            try:
                # Starting from a copy lets git skip rehashing unchanged files and keeps sparse-checkout
                # entries. copy2 keeps the mtime, which git's racy-entry check compares against.
                shutil.copy2(real_index, temp_index)
            except FileNotFoundError:
                pass  # No index yet: git starts from an empty one.
            temp_env = {**env, "GIT_INDEX_FILE": str(temp_index)}
            if _run_git(["add", "--all"], cwd, temp_env, deadline_s) is None:
                return None
            numstat = _run_git(
                ["diff", "--cached", "--numstat", "-z", "-M", "--no-ext-diff", "--no-textconv", base, "--"],
                cwd,
                temp_env,
                deadline_s,
            )
        return None if numstat is None else _parse_numstat_z(numstat)
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def _parse_numstat_z(output: bytes) -> DiffStats:
    """Sum the records of ``git diff --numstat -z -M``.

    A record is ``added TAB removed TAB path NUL``, or for a rename or copy
    ``added TAB removed TAB NUL old NUL new NUL``; a binary file has ``-`` for both counts. Paths may hold
    tabs, newlines and any bytes, so only the first two tabs of a record split it. Raises ValueError on
    output that is not in this shape.
    """
    if not output:
        return DiffStats(files_changed=0, lines_added=0, lines_removed=0)
    if not output.endswith(b"\0"):
        raise ValueError("numstat -z output does not end with NUL")
    fields = output[:-1].split(b"\0")
    files_changed = lines_added = lines_removed = 0
    position = 0
    while position < len(fields):
        added, removed, path = fields[position].split(b"\t", 2)
        position += 1
        if not path:  # A rename or copy: its old and new paths are the next two fields.
            if position + 2 > len(fields) or not fields[position] or not fields[position + 1]:
                raise ValueError("numstat -z rename record is missing its paths")
            position += 2
        files_changed += 1
        if (added, removed) != (b"-", b"-"):
            lines_added += int(added)
            lines_removed += int(removed)
    return DiffStats(files_changed=files_changed, lines_added=lines_added, lines_removed=lines_removed)


def _git_environment() -> dict[str, str]:
    """The caller's environment, minus repository redirections, plus a stable, lock-free, promptless git."""
    env = {name: value for name, value in os.environ.items() if name not in _REPOSITORY_ENV_VARS}
    env.update(LC_ALL="C", GIT_OPTIONAL_LOCKS="0", GIT_TERMINAL_PROMPT="0", GIT_PAGER="cat")
    return env


def _run_git(args: list[str], cwd: str, env: dict[str, str], deadline_s: float) -> bytes | None:
    """Git's stdout, or None when git is missing, fails, or outlives the deadline (then it is killed)."""
    remaining_s = deadline_s - time.monotonic()
    if remaining_s <= 0:
        return None
    try:
        # Its own process group, so a timeout also kills what git started (filters, fsmonitor hooks)
        # and nothing is left holding our pipe open.
        process = subprocess.Popen(
            ["git", *_GIT_OPTIONS, *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError:
        return None
    try:
        stdout, _ = process.communicate(timeout=remaining_s)
    except subprocess.TimeoutExpired:
        _kill_process_group(process)
        process.communicate()
        return None
    return stdout if process.returncode == 0 else None


def _kill_process_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (AttributeError, OSError):  # No process groups (Windows), or already gone.
        process.kill()
