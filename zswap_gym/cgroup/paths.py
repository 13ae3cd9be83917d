"""Where the files a controller touches live on a host, and how ``"web/memory.stat"`` and
``"/sys/fs/cgroup/web/memory.stat"`` name one file.

The host files outside the cgroup tree are named here once, by their absolute path on the host
(:data:`MEMINFO_PATH`, :data:`SWAPS_PATH`, :data:`LRU_GEN_PATH`, :data:`ZSWAP_PARAMETERS_DIR`,
:data:`SHRINKER_ENABLED_PATH`); the simulated interface answers these paths and the real one finds
them under its host root (:class:`~.real.RealCgroupFS`).

A cgroup path is relative to the cgroup mount. Accepted spellings of the same file:
``"web/memory.stat"``, ``"/web/memory.stat"`` (the cgroup path, as ``/proc/<pid>/cgroup`` prints it)
and ``"<root>/web/memory.stat"`` for the interface's mount point ``root`` or the standard
``/sys/fs/cgroup``. A bare file name (``"memory.stat"``) is a file of the root cgroup.
"""

from __future__ import annotations

import os
import posixpath

from .errors import CgroupNotFoundError

DEFAULT_ROOT = "/sys/fs/cgroup"
"""Where cgroup v2 is mounted on a standard Linux system."""

MEMINFO_PATH = "/proc/meminfo"
"""Host memory and swap totals (``fs/proc/meminfo.c``), :mod:`.procfs`."""
SWAPS_PATH = "/proc/swaps"
"""Swap devices and their use (``mm/swapfile.c`` ``swap_show``), :mod:`.procfs`."""
LRU_GEN_PATH = "/sys/kernel/debug/lru_gen"
"""MGLRU generations per memcg (debugfs), :mod:`.lru_gen`."""
ZSWAP_PARAMETERS_DIR = "/sys/module/zswap/parameters"
"""The zswap module parameters (``mm/zswap.c`` ``module_param_named``)."""
SHRINKER_ENABLED_PATH = f"{ZSWAP_PARAMETERS_DIR}/shrinker_enabled"
"""The zswap shrinker switch, ``Y``/``N`` (default ``N``)."""

HOST_FILE_DIRS = ("/proc/", "/sys/kernel/debug/", "/sys/module/")
"""Absolute path prefixes of host files outside the cgroup tree; any other path is a cgroup path."""


def is_host_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a host file outside the cgroup tree (``/proc/meminfo`` ...)."""
    return os.fspath(path).startswith(HOST_FILE_DIRS)


def host_path(host_root: str, path: str) -> str:
    """Where host path ``path`` (absolute: ``"/proc/meminfo"``) is in a filesystem whose ``/`` is
    ``host_root`` (``"/"`` for the real host, a test's temporary directory otherwise).

    Raises :class:`~.errors.CgroupNotFoundError` for a relative path or one that climbs with ``..``,
    so nothing outside ``host_root`` is ever named."""
    parts = path.split("/")
    if not path.startswith("/") or ".." in parts:
        raise CgroupNotFoundError(path, "not an absolute host path without '..'")
    return os.path.join(host_root, *(p for p in parts if p and p != "."))


def split_path(path: str | os.PathLike[str], root: str = DEFAULT_ROOT) -> tuple[str, ...]:
    """The components of ``path`` below the cgroup mount: ``("web", "memory.stat")``.

    Raises :class:`~.errors.CgroupNotFoundError` for an empty path or one that climbs out of the
    mount (``..``).
    """
    text = os.fspath(path)
    for prefix in sorted({posixpath.normpath(root), DEFAULT_ROOT}, key=len, reverse=True):
        if text == prefix or text.startswith(prefix + "/"):
            text = text[len(prefix) :]
            break
    parts = tuple(p for p in text.split("/") if p and p != ".")
    if not parts or ".." in parts:
        raise CgroupNotFoundError(os.fspath(path), "not a file below the cgroup mount")
    return parts
