"""Worker processes that end with the process that started them.

A pool worker blocked on its task queue never learns that its parent was killed (SIGKILL runs no
cleanup), so it would live on as an orphan holding memory, and keep the forkserver and the resource
tracker alive with it. :func:`exit_with_parent`, called first thing in a worker (a pool's
``initializer``), ends the worker when its parent dies:

* on Linux the kernel sends it SIGKILL (``prctl(PR_SET_PDEATHSIG)``) when its parent exits;
* everywhere a daemon thread checks twice a second that the parent is still its parent and that the
  owner (the process that asked for the pool, which for a forkserver worker is not the parent) is
  still alive, and ends the process otherwise.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading

PR_SET_PDEATHSIG = 1
"""``prctl`` option: the signal the kernel sends this process when its parent exits (linux/prctl.h)."""

WATCH_INTERVAL_S = 0.5
"""How often the watchdog thread checks the parent and the owner, s."""


def _start_time(pid: int) -> str | None:
    """An identity for process ``pid`` that a reused pid does not share: its start time in clock ticks
    (``/proc/<pid>/stat`` field 22), ``""`` where there is no ``/proc``, None if it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rpartition(")")[2].split()
    except FileNotFoundError:
        return None if os.path.isdir("/proc/self") else ("" if _signalable(pid) else None)
    except OSError:
        return ""
    if not fields or fields[0] in ("Z", "X"):  # a dead process waiting to be reaped
        return None
    return fields[19] if len(fields) > 19 else ""


def _signalable(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _set_parent_death_signal(sig: int) -> bool:
    """Ask the kernel to send ``sig`` when this process's parent exits (Linux only); False where not."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent_pid: int, owner_pid: int, owner_start: str, interval_s: float) -> None:
    event = threading.Event()
    while not event.wait(interval_s):
        if os.getppid() != parent_pid or _start_time(owner_pid) != owner_start:
            os._exit(1)  # the parent or the owner is gone: nobody will read this worker's results


def exit_with_parent(owner_pid: int | None = None, *, interval_s: float = WATCH_INTERVAL_S) -> None:
    """End this process when its parent exits, or when process ``owner_pid`` (default: the parent) does.

    Call it at the start of a worker process (e.g. a ``ProcessPoolExecutor`` initializer, with
    ``os.getpid()`` of the pool's creator as ``owner_pid``).
    """
    parent_pid = os.getppid()
    owner_pid = parent_pid if owner_pid is None else int(owner_pid)
    _set_parent_death_signal(signal.SIGKILL)
    owner_start = _start_time(owner_pid)
    if owner_start is None or os.getppid() != parent_pid:  # it died before the death signal was armed
        os._exit(1)
    threading.Thread(
        target=_watch,
        args=(parent_pid, owner_pid, owner_start, interval_s),
        name="zswap-gym-exit-with-parent",
        daemon=True,
    ).start()
