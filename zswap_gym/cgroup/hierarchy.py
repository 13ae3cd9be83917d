"""Which memory cgroup hierarchy a host has mounted, told from the files at its cgroup mount.

Documentation/admin-guide/cgroup-v2.rst and cgroup-v1/memory.rst:

* **cgroup v2** (the unified hierarchy): the mount's root cgroup has ``cgroup.controllers``, listing
  the controllers available there; the memcgs are the directories below it when ``memory`` is one
  of them (on a hybrid host the memory controller is bound to v1 and cgroup2 lists none).
* **cgroup v1**: each controller has its own hierarchy, by convention a directory of the mount named
  after it (``blkio/``, ``cpu/``, ``memory/`` ...); the memory controller's has
  ``memory.usage_in_bytes`` at its root, and the memcgs are the directories below it.

Anything else (only other controllers' hierarchies, cgroup v2 without the memory controller,
nothing) is not a memory cgroup hierarchy: :func:`find_memory_hierarchy` raises
:class:`~.errors.CgroupHierarchyError` naming what it found.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import CgroupHierarchyError
from .paths import DEFAULT_ROOT, host_path

V2_CONTROLLERS_FILE = "cgroup.controllers"
"""At the root of a cgroup v2 hierarchy: the controllers available there, space-separated."""
V1_MEMORY_DIR = "memory"
"""Where the cgroup v1 memory controller's hierarchy is mounted, below the cgroup mount."""
V1_MEMORY_FILE = "memory.usage_in_bytes"
"""At the root of a cgroup v1 memory hierarchy (v2 has ``memory.current`` instead)."""


@dataclass(frozen=True)
class CgroupHierarchy:
    """A host's memory cgroup hierarchy.

    Attributes:
        version: 2 (cgroup2 with the memory controller) or 1 (the v1 memory controller's hierarchy).
        mount: its root cgroup's directory as a host path (``/sys/fs/cgroup``, ``/sys/fs/cgroup/memory``).
    """

    version: int
    mount: str

    def __str__(self) -> str:
        if self.version == 2:
            return f"cgroup v2 at {self.mount}"
        return f"cgroup v1 memory controller at {self.mount}"


def find_memory_hierarchy(host_root: str = "/", mount: str = DEFAULT_ROOT) -> CgroupHierarchy:
    """The memory cgroup hierarchy at host path ``mount`` of the filesystem whose ``/`` is
    ``host_root``: cgroup v2 if the mount has ``cgroup.controllers`` listing ``memory``, else v1 if it
    has ``memory/memory.usage_in_bytes``; otherwise :class:`~.errors.CgroupHierarchyError`."""
    top = host_path(host_root, mount)
    controllers = _v2_controllers(top)
    if controllers is not None:
        if "memory" in controllers:
            return CgroupHierarchy(2, mount)
        listed = " ".join(controllers) or "none"
        raise CgroupHierarchyError(mount, f"cgroup v2 without the memory controller (cgroup.controllers: {listed})")
    if os.path.isfile(os.path.join(top, V1_MEMORY_DIR, V1_MEMORY_FILE)):
        return CgroupHierarchy(1, f"{mount.rstrip('/')}/{V1_MEMORY_DIR}")
    raise CgroupHierarchyError(mount, _what_is_there(top))


def _v2_controllers(top: str) -> list[str] | None:
    """The controllers in ``<top>/cgroup.controllers``; ``None`` if there is no such file."""
    try:
        with open(os.path.join(top, V2_CONTROLLERS_FILE), encoding="ascii") as f:
            return f.read().split()
    except FileNotFoundError:
        return None


def _what_is_there(top: str) -> str:
    """What a directory that is no memory cgroup hierarchy holds, in a few words."""
    if not os.path.isdir(top):
        return "no such directory"
    names = sorted(entry.name for entry in os.scandir(top) if entry.is_dir())
    found = f"it holds {', '.join(n + '/' for n in names)}" if names else "it holds no directories"
    return (
        f"no {V2_CONTROLLERS_FILE} (not cgroup v2) and no {V1_MEMORY_DIR}/{V1_MEMORY_FILE} "
        f"(no cgroup v1 memory controller); {found}"
    )
