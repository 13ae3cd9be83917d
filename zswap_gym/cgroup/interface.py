"""The interface controllers program against, implemented by the simulated and the real cgroup files.

A heuristic controller that uses only these methods runs unchanged on a simulated host
(:class:`~.fs.CgroupFS`) and on a real one (:class:`~.real.RealCgroupFS`). Failed writes raise
``OSError`` with the kernel's errno in both cases (see :mod:`.errors`).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class MemcgFiles(Protocol):
    """One memcg's directory."""

    name: str

    def read(self, name: str) -> str:
        """The text of file ``name`` (e.g. ``"memory.stat"``), with its trailing newline."""
        ...

    def write(self, name: str, text: str | bytes | int) -> int:
        """Write ``text`` to file ``name``; returns the length written."""
        ...


@runtime_checkable
class CgroupFiles(Protocol):
    """A cgroup v2 hierarchy: files addressed by path (``"web/memory.stat"``)."""

    root: str

    def read(self, path: str) -> str:
        """The text of the file at ``path``."""
        ...

    def write(self, path: str, text: str | bytes | int) -> int:
        """Write ``text`` to the file at ``path``; returns the length written."""
        ...

    def memcgs(self) -> list[str]:
        """Names of the memcgs directly below the root."""
        ...

    def memcg(self, name: str) -> MemcgFiles:
        """The directory of memcg ``name``."""
        ...
