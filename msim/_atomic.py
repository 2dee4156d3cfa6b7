"""Atomic file writes: an interrupted write leaves the old file or the new one, never a torn one."""

import contextlib
import os
import pathlib
import tempfile
from collections.abc import Iterator
from typing import IO


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[IO[bytes]]:
    """Open a binary file that replaces ``path`` only once it is completely written.

    The data go to a temporary file in the same folder (so the final rename stays on one file
    system), which is flushed to disk and then moved over ``path`` with `os.replace`, an atomic
    operation. If the block raises, the temporary file is removed and ``path`` is untouched.

    Example:
        ```python
        with msim.io.atomic_write("figure.png") as f:
            fig.savefig(f, format="png")
        ```
    """
    path = pathlib.Path(path)
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"Cannot write {path}: the folder {folder} does not exist.")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file private (0600); give it the mode a plain open() would have.
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise
