"""Worker processes that never outlive the process that started them.

A pool's workers are separate processes: if their parent is killed (SIGKILL, OOM killer, a closed
terminal), nothing tells them to stop, and they keep their memory (hundreds of MB each) forever. Every
process pool in melab starts its workers with :func:`die_with_parent` as (part of) the initializer.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

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
