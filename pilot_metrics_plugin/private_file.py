"""Files the plugin writes for a user (an export, the dashboard page): they hold task ids, paths and costs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def private_file(path: Path, buffering: int = -1) -> Iterator[BinaryIO]:
    """``path`` opened for writing bytes, created with mode 0600, through a private temporary file beside it
    that replaces ``path`` only when the block completes (else it is removed and ``path`` left as it was)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb", buffering=buffering) as out:
            yield out
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
