"""Atomic file writes: a unique temporary name in the target's folder, then ``os.replace``.

Every file poissongrad writes (caches, job stores, checkpoints, reports, figures) goes through
here, so several processes writing the same path at once each replace it whole: a reader sees
the old file or one complete new one, never a half-written one, and no writer fails because
another one renamed "its" temporary file first. New files get the usual permissions
(0666 less the umask), not ``mkstemp``'s 0600.

Examples
--------
>>> import tempfile, pathlib
>>> target = pathlib.Path(tempfile.mkdtemp()) / "note.txt"
>>> atomic_write(target, "hello")
>>> target.read_text()
'hello'
>>> with atomic_path(target) as tmp:
...     _ = tmp.write_text("bye")
>>> target.read_text()
'bye'
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "atomic_write"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """A unique temporary path next to ``path``; on a clean exit it replaces ``path``.

    Write the whole file to the yielded path (``np.savez``, ``torch.save``, ``savefig``, …);
    ``suffix`` keeps an extension that such writers insist on (e.g. ``".npz"``). On an
    exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{suffix}")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: str | Path, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8, or bytes) to ``path`` atomically, flushed to disk."""
    payload = data.encode() if isinstance(data, str) else data
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
