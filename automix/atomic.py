"""Atomic file writes: a temporary file in the destination folder, renamed over the destination when complete.

A reader (or a killed run) never sees a half-written file: either the old file or the new one exists, and a
failed write leaves no temporary behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path, suffix: str | None = None):
    """Yield a temporary path next to ``path``; on success it replaces ``path``, on error it is removed.

    Args:
        path: destination file.
        suffix: suffix of the temporary file (default: the destination's, so writers that look at the extension,
            e.g. soundfile or ``np.savez``, pick the right format).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix if suffix is None else suffix,
                               dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600: the written file would be private to its owner
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def refuse_existing(path, overwrite: bool, instead: str = "another file name") -> None:
    """A user's file is never replaced without being asked: raise unless ``path`` is new or ``overwrite``.

    Raises:
        FileExistsError: naming ``path``, ``--overwrite`` and ``instead`` (e.g. ``"another --output"``).
    """
    path = Path(path)
    if not overwrite and (path.exists() or path.is_symlink()):
        raise FileExistsError(f"{path}: exists; add --overwrite to replace it, or choose {instead}")


def atomic_write_bytes(path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
