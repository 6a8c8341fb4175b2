"""Safe output: write a temporary sibling, fsync it, rename it into place, fsync the folder.

A crash, a kill, a power loss or an exception while writing never leaves a half-finished (or empty) file
under the final name, and never destroys the previous version of it. Output paths are checked before any
work starts (:func:`check_output_file`, :func:`check_output_dir`), and temporaries that a killed run left
behind are removed by the next one (:func:`remove_stale_temporaries`).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TMP_MARK = ".tmp-"  # temporaries are named <something>.tmp-<pid>[<suffix>]


def fsync_path(path: str | os.PathLike) -> None:
    """Flush a file's (or a folder's) data and metadata to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it, rename it to ``path`` and fsync the folder.

    On error the temporary is deleted. The temporary name keeps the suffix (``.npz``, ``.mp4``, ...), since
    writers such as ``np.savez`` and OpenCV pick the format from it. Parent folders are created. Without the
    two fsyncs a power loss shortly after the rename can leave an empty file under the final name.

    Example: ``with atomic_path("out.csv") as tmp: table.to_csv(tmp)``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}{TMP_MARK}{os.getpid()}{path.suffix}")
    try:
        yield tmp
        fsync_path(tmp)
        os.replace(tmp, path)
        fsync_path(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically; returns ``Path(path)``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` is running (its temporaries are in use)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_temporaries(folder: str | os.PathLike, prefix: str = "") -> list[Path]:
    """Delete the temporaries (files or folders ``<prefix>*.tmp-<pid>*``) in ``folder`` whose process is dead.

    A run that was killed cannot clean up after itself; the next run calls this. Temporaries of live
    processes (a concurrent run) are left alone. Returns the paths removed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    pattern = re.compile(re.escape(prefix) + r".*" + re.escape(TMP_MARK) + r"(\d+)")
    removed = []
    for entry in folder.iterdir():
        match = pattern.match(entry.name)
        if match is None or int(match.group(1)) == os.getpid() or pid_alive(int(match.group(1))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _check_creatable(folder: Path, flag: str, shown: Path) -> None:
    """Raise unless the folders up to ``folder`` exist or can be made, and files can be written there."""
    base = _nearest_existing(folder)
    path = shown
    if not base.is_dir():
        raise NotADirectoryError(f"{flag} {path}: {base} is a file, not a folder")
    try:  # os.access says yes to root even on read-only or virtual file systems, so try for real
        with tempfile.TemporaryFile(dir=base):
            pass
    except OSError as err:
        raise PermissionError(f"{flag} {path}: cannot write in {base} ({err.strerror})") from None


def check_output_file(path: str | os.PathLike, flag: str = "--out") -> Path:
    """Check, before any work, that ``path`` can be written as a file; nothing is created.

    Raises
    ------
    IsADirectoryError : ``path`` is a folder.
    NotADirectoryError, PermissionError : its folder cannot be made or written.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{flag} {path} is a folder; give a file name (e.g. {path / 'out.csv'})")
    _check_creatable(path.parent, flag, path)
    return path


def check_output_dir(path: str | os.PathLike, flag: str = "--out") -> Path:
    """Check, before any work, that ``path`` is (or can be made) a writable folder; nothing is created.

    Raises
    ------
    NotADirectoryError : ``path`` (or a parent) is a file.
    PermissionError : it cannot be written.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{flag} {path} is a file, not a folder; give a folder (or delete the file)")
    _check_creatable(path, flag, path)
    return path
