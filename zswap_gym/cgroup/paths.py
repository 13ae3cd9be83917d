"""Cgroup paths: how ``"web/memory.stat"`` and ``"/sys/fs/cgroup/web/memory.stat"`` name one file.

A path is relative to the cgroup v2 mount. Accepted spellings of the same file:
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
