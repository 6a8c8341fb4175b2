"""Atomic file writes: write a temporary sibling, then ``os.replace`` it into place.

A crash, a kill or an exception while writing never leaves a half-finished file under the final name,
and never destroys the previous version of it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``, on error delete it.

    The temporary name keeps the suffix (``.npz``, ``.mp4``, ...), since writers such as
    ``np.savez`` and OpenCV pick the format from it. Parent folders are created.

    Example: ``with atomic_path("out.csv") as tmp: table.to_csv(tmp)``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically; returns ``Path(path)``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)
