"""Safe output: write a temporary sibling, fsync it, rename it into place, fsync the folder.

A crash, a kill, a power loss or an exception while writing never leaves a half-finished (or empty) file
under the final name, and never destroys the previous version of it; a write that fails (a full disk, a
read-only file system) names the file it was writing. Before any work starts, a command checks its outputs
(:func:`check_output_file`, :func:`check_output_dir`) and all its paths together (:func:`check_paths`: real
paths, symbolic links followed, no output equal to or inside an input, no input among the files an output
folder gets), and takes the lock of an output that concurrent runs could share (:func:`output_lock`).
Temporaries that a killed run left behind are removed by the next one (:func:`remove_stale_temporaries`).
"""

from __future__ import annotations

import errno
import fnmatch
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

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
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise _naming(err, path) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _naming(err: OSError, path: Path) -> OSError:
    """``err`` with the file being written in its message (``[Errno 28] No space left on device`` names none)."""
    if str(path) in str(err):
        return err
    reason = err.strerror or str(err)
    if err.errno is None:
        return type(err)(f"cannot write {path}: {reason}")
    return type(err)(err.errno, f"cannot write {path}: {reason}")


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


def real_path(path: str | os.PathLike, flag: str) -> Path:
    """The absolute path with every symbolic link followed; a loop of links is refused by name."""
    try:
        return Path(path).expanduser().resolve()
    except RuntimeError:  # Python < 3.13 reports a loop of symbolic links this way
        raise ValueError(f"{flag} {path}: a loop of symbolic links; point it at a real file or folder") from None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise ValueError(f"{flag} {path}: a loop of symbolic links; point it at a real file or folder") from None
        raise


@dataclass(frozen=True)
class Output:
    """An output of a command, for :func:`check_paths`.

    Attributes
    ----------
    flag : how the command line names it (``--out``).
    path : the file, or the folder.
    writes : for a folder, glob patterns (relative to it, ``/`` separated) of every file the command writes or
        deletes there; None for a file.
    """

    flag: str
    path: str | os.PathLike
    writes: tuple[str, ...] | None = None


def _inside(path: Path, folder: Path) -> bool:
    return path != folder and path.is_relative_to(folder)


def check_paths(inputs: Mapping[str, str | os.PathLike | Iterable[str | os.PathLike] | None],
                outputs: Sequence[Output]) -> None:
    """Refuse, before any work, a command whose outputs would touch its inputs; nothing is created.

    Every path is made real first (symbolic links followed, a loop refused by name), so a link or a relative
    path to an input counts as the input. Then, with the flags that name them in each message:

    - an output equal to an input, or lying inside an input folder (an image folder, a corpus), is refused;
    - an output folder that holds an input among the files it gets (``Output.writes``) is refused: the run
      would overwrite or delete it (``--init R/model.pt --out R``);
    - two outputs that are one file are refused.

    Inputs need not exist (their readers say so); outputs are not checked for being writable here
    (:func:`check_output_file`, :func:`check_output_dir`).

    Parameters
    ----------
    inputs : flag -> path, several paths, or None (absent).
    outputs : the command's outputs; None paths are skipped.

    Raises
    ------
    ValueError naming both paths and their flags.
    """
    given = []
    for flag, value in inputs.items():
        if value is None:
            continue
        for path in [value] if isinstance(value, (str, os.PathLike)) else value:
            given.append((flag, Path(path), real_path(path, flag)))
    seen: dict[Path, str] = {}
    for out in outputs:
        if out.path is None:
            continue
        target = real_path(out.path, out.flag)
        for flag, shown, source in given:
            kind = "folder" if source.is_dir() else "file"
            if target == source:
                raise ValueError(f"{out.flag} {out.path} is also the {flag} {kind}"
                                 f"{'' if Path(out.path) == shown else f' {shown}'}; writing it would destroy that. "
                                 f"Give {out.flag} another name")
            if source.is_dir() and _inside(target, source):
                raise ValueError(f"{out.flag} {out.path} lies inside {flag} {shown}, a folder this command reads; "
                                 f"melab never writes into its inputs. Give {out.flag} a path outside {shown}")
            if out.writes is not None and _inside(source, target):
                name = source.relative_to(target).as_posix()
                pattern = next((p for p in out.writes if fnmatch.fnmatch(name, p)), None)
                if pattern is not None:
                    raise ValueError(f"{flag} {shown} is among the files this command writes or deletes in "
                                     f"{out.flag} {out.path} ({pattern}); it would be lost. Move it out of "
                                     f"{out.path}, or give {out.flag} another folder")
        if target in seen:
            raise ValueError(f"{out.flag} {out.path} is also the {seen[target]} file; give them different names")
        seen[target] = out.flag


LOCK_NAME = ".melab.lock"


@contextmanager
def output_lock(folder: str | os.PathLike, flag: str = "--out", *, wait: bool = False, beside: bool = False,
                what: str = "melab run") -> Iterator[Path]:
    """Hold the lock of an output folder while a run writes there.

    Two runs into one folder would interleave their files. With ``wait=False`` a second run is refused at
    once with a message naming the folder; with ``wait=True`` it says so and waits for the first (for shared
    results such as a corpus, which the first run completes). The lock is the operating system's
    (:class:`filelock.FileLock`), so a killed run releases it.

    Parameters
    ----------
    folder : the output folder.
    flag, what : how messages name the folder and the run that holds it.
    wait : wait for the other run instead of refusing.
    beside : keep the lock file beside the folder (``.<name>.lock``), for a folder that is renamed into place
        whole; by default it is ``<folder>/.melab.lock`` and the folder is made.

    Raises
    ------
    BlockingIOError
        ``wait=False`` and another process holds the lock.
    """
    folder = Path(folder)
    path = folder.with_name(f".{folder.name}.lock") if beside else folder / LOCK_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path, blocking=False)
    try:
        lock.acquire()
    except Timeout:
        if not wait:
            raise BlockingIOError(errno.EWOULDBLOCK, f"{flag} {folder} is in use by another {what} (it holds "
                                  f"{path}); wait for it to finish or give {flag} another folder") from None
        print(f"waiting for another {what} that is writing {folder} ...", file=sys.stderr)
        lock = FileLock(path)
        lock.acquire()
    try:
        yield folder
    finally:
        lock.release()
