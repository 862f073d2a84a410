"""diff_stats counts what an execution changed in a real git repository, and leaves the repository as is."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from hookspecs.diffstats import diff_stats, snapshot_base
from hookspecs.payloads import DiffStats

# The empty tree's id is the hash of the object header "tree 0" and a NUL (an empty body).
EMPTY_TREE_SHA1 = hashlib.sha1(b"tree 0\0").hexdigest()
EMPTY_TREE_SHA256 = hashlib.sha256(b"tree 0\0").hexdigest()


@pytest.fixture(autouse=True)
def _hermetic_git(hermetic_git: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only each test's own repo config counts (conftest's hermetic_git), and the tests' own `git status`
    must not refresh the index either, or comparing it would prove nothing."""
    monkeypatch.setenv("GIT_OPTIONAL_LOCKS", "0")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def write(repo: Path, name: str, content: str | bytes) -> None:
    data = content.encode() if isinstance(content, str) else content
    (repo / name).parent.mkdir(parents=True, exist_ok=True)
    (repo / name).write_bytes(data)


def make_repo(root: Path, files: dict[str, str | bytes], *init_args: str) -> Path:
    """A repository whose first commit holds `files` (no commit at all when `files` is empty)."""
    root.mkdir()
    git(root, "init", "-q", *init_args)
    git(root, "config", "user.name", "Test User")
    git(root, "config", "user.email", "test@example.com")
    for name, content in files.items():
        write(root, name, content)
    if files:
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "base")
    return root


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


TEN_LINES = "".join(f"line {n}\n" for n in range(1, 11))


def test_an_unchanged_repository_counts_nothing(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project", {"a.txt": "one\ntwo\n"})
    base = snapshot_base(repo)

    assert diff_stats(repo, base) == DiffStats(files_changed=0, lines_added=0, lines_removed=0)


def test_the_base_is_the_commit_at_head(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project", {"a.txt": "one\n"})

    assert snapshot_base(repo) == git(repo, "rev-parse", "HEAD").strip()


def test_a_modified_file_counts_its_added_and_removed_lines(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project", {"a.txt": "one\ntwo\nthree\nfour\nfive\n"})
    base = snapshot_base(repo)
    write(repo, "a.txt", "one\nTWO\nthree\nfour\nfive\nsix\nseven\neight\n")

    # line 2 changed (+1 -1), 3 lines appended (+3): +4 -1 in 1 file.
    assert diff_stats(repo, base) == DiffStats(files_changed=1, lines_added=4, lines_removed=1)


def test_a_file_added_and_committed_by_the_agent_is_counted(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project", {"a.txt": "one\n"})
    base = snapshot_base(repo)
    write(repo, "b.txt", "x\ny\nz\n")
    commit_all(repo, "agent adds b.txt")

    # b.txt is new with 3 lines: 1 file, +3 -0.
    assert diff_stats(repo, base) == DiffStats(files_changed=1, lines_added=3, lines_removed=0)


def test_a_deleted_file_counts_all_its_lines_as_removed(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project", {"a.txt": "one\n", "gone.txt": "1\n2\n3\n4\n5\n"})
    base = snapshot_base(repo)
    (repo / "gone.txt").unlink()

    # gone.txt had 5 lines: 1 file, +0 -5.
    assert diff_stats(repo, base) == DiffStats(files_changed=1, lines_added=0, lines_removed=5)


def test_an_untracked_file_is_counted_as_added(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project", {"a.txt": "one\n"})
    base = snapshot_base(repo)
    write(repo, "notes.md", "# Notes\nnever added to git\n")

    # notes.md, never staged, has 2 lines: 1 file, +2 -0.
    assert diff_stats(repo, base) == DiffStats(files_changed=1, lines_added=2, lines_removed=0)


def test_an_ignored_file_is_not_counted(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project", {".gitignore": "*.log\n", "a.txt": "one\n"})
    base = snapshot_base(repo)
    write(repo, "build.log", "".join(f"log line {n}\n" for n in range(10)))

    # build.log matches *.log: nothing counted.
    assert diff_stats(repo, base) == DiffStats(files_changed=0, lines_added=0, lines_removed=0)


def test_a_changed_binary_file_counts_as_one_file_with_no_lines(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project", {"logo.bin": b"\x00\x01\x02\n" * 50})
    base = snapshot_base(repo)
    write(repo, "logo.bin", b"\x00\x03\x04\n" * 60)

    # NUL bytes make it binary; numstat gives "-\t-": 1 file, +0 -0.
    assert diff_stats(repo, base) == DiffStats(files_changed=1, lines_added=0, lines_removed=0)


def test_a_renamed_file_counts_once_with_its_line_changes(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project", {"old.py": TEN_LINES})
    base = snapshot_base(repo)
    (repo / "old.py").unlink()
    write(repo, "new.py", TEN_LINES.replace("line 5\n", "line five\n"))

    # 9 of 10 lines kept (90% similar, above -M's 50%): one rename, line 5 changed = 1 file, +1 -1
    # (not a deletion of 10 lines plus an addition of 10).
    assert diff_stats(repo, base) == DiffStats(files_changed=1, lines_added=1, lines_removed=1)


def test_agent_commits_and_an_uncommitted_change_on_top_are_all_counted(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project", {"a.txt": "alpha\nbeta\n", "b.txt": "one\ntwo\nthree\n"})
    base = snapshot_base(repo)
    write(repo, "a.txt", "alpha\nbeta\ngamma\ndelta\n")
    commit_all(repo, "agent commit 1")
    write(repo, "c.txt", "new\n")
    commit_all(repo, "agent commit 2")
    write(repo, "b.txt", "one\nTWO\nthree\n")

    # a.txt +2 (commit 1), c.txt +1 (commit 2), b.txt +1 -1 (uncommitted): 3 files, +4 -1.
    assert diff_stats(repo, base) == DiffStats(files_changed=3, lines_added=4, lines_removed=1)


def test_a_repository_without_commits_has_the_empty_tree_as_base(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project", {})

    assert snapshot_base(repo) == EMPTY_TREE_SHA1


def test_a_repository_without_commits_counts_every_file_as_added(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project", {})
    base = snapshot_base(repo)
    write(repo, "main.py", "import sys\n\nprint(sys.argv)\n")
    write(repo, "README.md", "hello\n")

    # main.py 3 lines + README.md 1 line: 2 files, +4 -0.
    assert diff_stats(repo, base) == DiffStats(files_changed=2, lines_added=4, lines_removed=0)


def test_a_sha256_repository_without_commits_uses_its_own_empty_tree(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project", {}, "--object-format=sha256")
    base = snapshot_base(repo)
    write(repo, "a.txt", "one\ntwo\n")

    assert base == EMPTY_TREE_SHA256
    # a.txt, 2 lines: 1 file, +2 -0.
    assert diff_stats(repo, base) == DiffStats(files_changed=1, lines_added=2, lines_removed=0)


def test_a_path_outside_any_repository_has_no_base(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()

    assert snapshot_base(plain) is None


def test_a_path_that_does_not_exist_has_no_base(tmp_path: Path) -> None:
    assert snapshot_base(tmp_path / "missing") is None


def test_without_a_base_there_are_no_stats(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project", {"a.txt": "one\n"})

    assert diff_stats(repo, None) is None


def test_a_base_git_does_not_know_gives_no_stats(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project", {"a.txt": "one\n"})

    assert diff_stats(repo, "0" * 40) is None


def test_a_base_that_is_not_an_object_id_is_refused(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project", {"a.txt": "one\n"})
    write(repo, "a.txt", "two\n")

    assert diff_stats(repo, "--output=stolen.txt") is None
    assert not (repo / "stolen.txt").exists()


def test_without_git_on_the_path_there_is_no_base_and_no_stats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path / "project", {"a.txt": "one\n"})
    head = git(repo, "rev-parse", "HEAD").strip()
    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))

    assert snapshot_base(repo) is None
    assert diff_stats(repo, head) is None


def test_a_file_name_with_a_space_a_newline_and_unicode_is_counted_once(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project", {"a.txt": "one\n"})
    base = snapshot_base(repo)
    write(repo, "my notes\nrésumé ✓.txt", "first\nsecond\nthird\n")

    # one new file with 3 lines: 1 file, +3 -0.
    assert diff_stats(repo, base) == DiffStats(files_changed=1, lines_added=3, lines_removed=0)


def test_a_rename_between_names_with_spaces_newlines_and_unicode_counts_once(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project", {"old name\nüber.py": TEN_LINES, "z.txt": "z\n"})
    base = snapshot_base(repo)
    (repo / "old name\nüber.py").unlink()
    write(repo, "new\tname\n✓.py", TEN_LINES.replace("line 2\n", "line two\n"))
    write(repo, "z.txt", "z\nzz\n")

    # the rename record spans three NUL-separated fields: 1 file, +1 -1 (line 2 changed);
    # then z.txt +1: 2 files, +2 -1.
    assert diff_stats(repo, base) == DiffStats(files_changed=2, lines_added=2, lines_removed=1)


def test_git_status_and_the_index_are_unchanged_after_diff_stats(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project", {"a.txt": "1\n2\n", "b.txt": "b\n"})
    base = snapshot_base(repo)
    write(repo, "a.txt", "1\n2\n3\n")
    git(repo, "add", "a.txt")  # staged: a.txt with 3 lines
    write(repo, "a.txt", "1\n2\n3\n4\n")  # and a 4th line, unstaged: "MM"
    (repo / "b.txt").unlink()  # " D"
    write(repo, "c.txt", "c\n")  # "??"
    index = repo / ".git" / "index"
    status_before = git(repo, "status", "--porcelain=v1", "-z")
    index_before = (index.read_bytes(), index.stat().st_mtime_ns)

    stats = diff_stats(repo, base)

    # a.txt +2 (lines 3 and 4), b.txt -1, c.txt +1: 3 files, +3 -1.
    assert stats == DiffStats(files_changed=3, lines_added=3, lines_removed=1)
    assert git(repo, "status", "--porcelain=v1", "-z") == status_before
    assert status_before == "MM a.txt\0 D b.txt\0?? c.txt\0"
    assert (index.read_bytes(), index.stat().st_mtime_ns) == index_before


def test_changes_outside_the_project_subdirectory_are_counted(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "monorepo", {"app/main.py": "print(1)\n", "docs/guide.md": "guide\n"})
    app = repo / "app"
    base = snapshot_base(app)
    write(repo, "docs/guide.md", "guide\nmore\n")

    # docs/guide.md +1, outside app/ but in the same work tree: 1 file, +1 -0.
    assert diff_stats(app, base) == DiffStats(files_changed=1, lines_added=1, lines_removed=0)


def test_a_git_dir_inherited_from_the_environment_does_not_redirect_the_stats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = make_repo(tmp_path / "other", {"x.txt": "x\n"})
    repo = make_repo(tmp_path / "project", {"a.txt": "one\n"})
    head = git(repo, "rev-parse", "HEAD").strip()
    write(repo, "a.txt", "one\ntwo\n")
    # As when the host runs inside a git hook of another repository.
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))

    assert snapshot_base(repo) == head
    # a.txt +1 in the project itself: 1 file, +1 -0.
    assert diff_stats(repo, head) == DiffStats(files_changed=1, lines_added=1, lines_removed=0)


@pytest.mark.skipif(shutil.which("sleep") is None, reason="needs a sleep command for the slow filter")
def test_a_git_command_that_outlives_the_timeout_is_killed_and_gives_no_stats(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project", {".gitattributes": "*.txt filter=slow\n", "a.txt": "one\n"})
    base = snapshot_base(repo)
    # A clean filter that takes 30 s: `git add` runs it on the changed a.txt.
    git(repo, "config", "filter.slow.clean", "sleep 30; cat")
    write(repo, "a.txt", "one\ntwo\n")

    started_s = time.monotonic()
    stats = diff_stats(repo, base, timeout_s=1.0)
    elapsed_s = time.monotonic() - started_s

    assert stats is None
    assert elapsed_s < 10
