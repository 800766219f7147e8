"""Worker processes that end with their parent, whatever ends the parent (SIGKILL included).

Pass :func:`die_with_parent` as the initializer of every process pool lrcore creates::

    ProcessPoolExecutor(n, mp_context=mp.get_context("spawn"), initializer=die_with_parent)

Two mechanisms, both set up in the worker:

- Linux: ``prctl(PR_SET_PDEATHSIG, ...)`` (via ctypes). The kernel signals the worker the
  moment its parent goes. The kernel ties this to the parent *thread* that started the
  worker, and ``ProcessPoolExecutor`` starts spawn workers from whichever thread calls
  ``submit`` (a Streamlit script thread ends after every rerun). So the signal is SIGKILL only
  when the parent's main thread started the worker (``/proc/PPID/task/PPID/children`` lists
  it); otherwise it is SIGUSR1 with a handler that exits only if the parent process is gone
  (a thread's end is ignored).
- Everywhere: a daemon thread polls every ``POLL_S`` seconds whether the parent is gone
  (``os.getppid()`` changed, or multiprocessing's parent sentinel says so) and ends the worker.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
import threading

POLL_S = 0.5  # the fallback's polling period
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
EXIT_ORPHAN = 1  # a worker's exit status when it ends because its parent is gone


def die_with_parent() -> None:
    """Pool initializer: end this worker (exit status 1, no cleanup) when its parent ends.

    Call it in the worker (``initializer=die_with_parent``). Harmless in a process that is no
    worker (it then watches that process's parent). Returns at once; never raises.
    """
    ppid = os.getppid()
    _pdeathsig(ppid)
    if _parent_gone(ppid):  # the parent went before the kernel was told to watch it
        os._exit(EXIT_ORPHAN)
    threading.Thread(
        target=_watch, args=(ppid,), name="lrcore-die-with-parent", daemon=True
    ).start()


def _parent_gone(ppid: int) -> bool:
    if os.getppid() != ppid:  # re-parented to init or a subreaper: the parent is gone
        return True
    parent = multiprocessing.parent_process()  # None outside a multiprocessing child
    try:
        return parent is not None and not parent.is_alive()
    except (OSError, ValueError):
        return False


def _watch(ppid: int) -> None:
    stop = threading.Event()
    while not stop.wait(POLL_S):
        if _parent_gone(ppid):
            os._exit(EXIT_ORPHAN)


def _pdeathsig(ppid: int) -> bool:
    """Ask the kernel for a signal when the parent ends (Linux only); True if set."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return False
    if _started_by_main_thread(ppid):
        sig = signal.SIGKILL
    else:
        if threading.current_thread() is not threading.main_thread():
            return False  # signal handlers can only be set from the main thread
        signal.signal(signal.SIGUSR1, lambda *_: _parent_gone(ppid) and os._exit(EXIT_ORPHAN))
        sig = signal.SIGUSR1
    return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0


def _started_by_main_thread(ppid: int) -> bool:
    """Whether the parent's main thread is the one that started this process."""
    try:
        with open(f"/proc/{ppid}/task/{ppid}/children") as f:
            return str(os.getpid()) in f.read().split()
    except OSError:
        return False
