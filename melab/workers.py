"""Worker processes that never outlive the process that started them, and fail like it.

A pool's workers are separate processes: if their parent is killed (SIGKILL, OOM killer, a closed
terminal), nothing tells them to stop, and they keep their memory (hundreds of MB each) forever. Every
process pool in melab starts its workers with :func:`die_with_parent` as (part of) the initializer, and
runs its jobs through :func:`map_processes`: an error in a worker reaches the caller as the same kind of
exception, with the job it was working on (which video, which fold) leading its message
(:func:`with_context`), after every other worker was stopped.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _watch_parent(parent_pid: int, period_s: float) -> None:
    while os.getppid() == parent_pid:
        time.sleep(period_s)
    os._exit(1)


def die_with_parent(parent_pid: int, period_s: float = 1.0) -> None:
    """Make the calling (worker) process end when ``parent_pid`` dies.

    On Linux the kernel sends SIGKILL at the parent's death (``prctl(PR_SET_PDEATHSIG)``); elsewhere a
    daemon thread polls the parent id every ``period_s`` seconds. A parent that died before this call
    (the worker has been re-parented already) ends the worker at once.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    else:
        threading.Thread(target=_watch_parent, args=(parent_pid, period_s), daemon=True).start()
    if os.getppid() != parent_pid:
        os._exit(1)


def with_context(err: BaseException, where: str) -> BaseException:
    """``err`` as the same kind of exception with ``where`` (the video, fold or file) leading its message.

    A worker's ``ValueError("no face found in frames 0–49 ...")`` reaches the user as ``ValueError("video
    clip.mp4: no face found ...")``: the command line reports it like any other error instead of a traceback
    from the pool. A message that names ``where`` already is kept as it is; an exception type that cannot be
    rebuilt from a message becomes a ``RuntimeError`` of the same text.
    """
    message = str(err)
    if where in message:
        return err
    if isinstance(err, OSError):
        reason = err.strerror or message
        return type(err)(err.errno, f"{where}: {reason}") if err.errno is not None else type(err)(f"{where}: {reason}")
    try:
        new = type(err)(f"{where}: {message}")
    except Exception:  # an exception class with another signature
        return RuntimeError(f"{where}: {type(err).__name__}: {message}")
    return new if str(new) == f"{where}: {message}" else RuntimeError(f"{where}: {type(err).__name__}: {message}")


def worker_died(who: str, exitcode: int | None, remedy: str) -> ChildProcessError:
    """The error for a worker process that ended without sending its result.

    ``who`` (e.g. "a worker process computing video clip.mp4") was killed by a signal (``exitcode`` < 0, most often
    the out-of-memory killer), ended with ``exitcode``, or died in a way not known (None); ``remedy`` says what to
    try. A :class:`ChildProcessError` is an ``OSError``, so the command line reports it like any other error.
    """
    if exitcode is not None and exitcode < 0:
        return ChildProcessError(f"{who} was killed by signal {-exitcode} (out of memory?); {remedy}")
    if exitcode is None:
        return ChildProcessError(f"{who} died (killed by the system, perhaps out of memory); {remedy}")
    return ChildProcessError(f"{who} ended without its result (exit code {exitcode}). Worker processes start by "
                             "importing the main module: a script that starts them must do so under `if __name__ == "
                             f"\"__main__\":`; or {remedy}")


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel what has not started and end the workers now (their half-written temporaries are the caller's)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # terminate_workers() from Python 3.14
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join()


def map_processes(fn: Callable, jobs: Sequence, names: Sequence[str], *, processes: int,
                  initializer: Callable | None = None, initargs: tuple = (),
                  start_method: str | None = None) -> Iterator[tuple[int, object]]:
    """``fn(job)`` for every job in worker processes; yields ``(index, result)`` as each one finishes.

    Workers die with this process (:func:`die_with_parent` runs before ``initializer``). At the first failure
    the jobs not started are cancelled, the running workers terminated, and the error raised here as the same
    kind of exception with the job's name leading its message (:func:`with_context`). A worker that died (the
    system killed it, e.g. out of memory) raises :class:`ChildProcessError`.

    Parameters
    ----------
    fn : a module-level function (it is sent to the workers by reference).
    jobs : its arguments, one per job (picklable).
    names : how messages name each job, e.g. ``"video EP01_01 (EP01_01.mp4)"``.
    processes : worker processes.
    initializer, initargs : run once in every worker, after :func:`die_with_parent`.
    start_method : ``"spawn"``, ``"fork"``, ... (default: the platform's).
    """
    context = multiprocessing.get_context(start_method)
    pool = ProcessPoolExecutor(processes, mp_context=context, initializer=_init,
                               initargs=(os.getpid(), initializer, initargs))
    futures = {pool.submit(fn, job): i for i, job in enumerate(jobs)}
    pending = set(futures)
    try:
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for future in sorted(done, key=futures.get):
                i = futures[future]
                try:
                    result = future.result()
                except BrokenProcessPool:
                    running = ", ".join(names[futures[f]] for f in sorted(pending | {future}, key=futures.get)[:3])
                    # the pool terminates the other workers at once, so their exit codes do not say which died how
                    raise worker_died(f"a worker process computing {running}", None, "try fewer processes") from None
                except Exception as err:
                    raise with_context(err, names[i]) from err
                yield i, result
    except BaseException:
        _stop(pool)
        raise
    pool.shutdown()


def _init(parent_pid: int, initializer: Callable | None, initargs: tuple) -> None:
    die_with_parent(parent_pid)
    if initializer is not None:
        initializer(*initargs)
