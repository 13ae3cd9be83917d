"""The errors a cgroup file gives, as the kernel gives them.

Each is an :class:`OSError` with the kernel's errno, so a controller written against a real
``/sys/fs/cgroup`` (where failed writes raise ``OSError``) handles the simulated files unchanged:

============================= ========== ===============================================================
exception                     errno      when
============================= ========== ===============================================================
:class:`CgroupWriteError`     ``EINVAL`` a malformed value (nothing in the simulation changes)
:class:`CgroupAccessError`    ``EACCES`` writing a read-only file or reading a write-only one
:class:`CgroupNotFoundError`  ``ENOENT`` no such memcg or file
:class:`CgroupHierarchyError` ``ENOENT`` no memory cgroup hierarchy where the real backend looked
:class:`ReclaimShortError`    ``EAGAIN`` ``memory.reclaim`` (or proactive writeback) did less than asked
============================= ========== ===============================================================
"""

from __future__ import annotations

import errno
import os

from zswap_gym.sim.units import format_size


class CgroupWriteError(OSError):
    """A write the kernel rejects with ``-EINVAL``: the message names the file and the value.

    Attributes: ``filename`` (the file as addressed), ``value`` (the text written), ``reason``.
    """

    def __init__(self, filename: str, value: object, reason: str = "") -> None:
        self.value = value
        self.reason = reason
        message = f"{filename}: invalid value {value!r}" + (f": {reason}" if reason else "")
        super().__init__(errno.EINVAL, message)
        self.filename = filename

    def __reduce__(self):
        return type(self), (self.filename, self.value, self.reason)

    def __str__(self) -> str:
        return str(self.strerror)


class CgroupAccessError(PermissionError):
    """Writing a read-only file or reading a write-only one (``-EACCES``, as kernfs refuses the open)."""

    def __init__(self, filename: str, mode: str) -> None:
        self.mode = mode
        message = f"{filename}: {mode} ({os.strerror(errno.EACCES)})"
        super().__init__(errno.EACCES, message)
        self.filename = filename

    def __reduce__(self):
        return type(self), (self.filename, self.mode)

    def __str__(self) -> str:
        return str(self.strerror)


class CgroupNotFoundError(FileNotFoundError):
    """No such memcg or cgroup file (``-ENOENT``); the message names the path and what exists."""

    def __init__(self, filename: str, hint: str = "") -> None:
        self.hint = hint
        message = f"{filename}: no such cgroup file or directory" + (f" ({hint})" if hint else "")
        super().__init__(errno.ENOENT, message)
        self.filename = filename

    def __reduce__(self):
        return type(self), (self.filename, self.hint)

    def __str__(self) -> str:
        return str(self.strerror)


class CgroupHierarchyError(FileNotFoundError):
    """No memory cgroup hierarchy at a cgroup mount (``-ENOENT``): the message says what is there
    instead (cgroup v2 without the memory controller, v1 hierarchies of other controllers, nothing).

    Attributes: ``filename`` (the mount looked at, as a host path) and ``found``.
    """

    def __init__(self, filename: str, found: str) -> None:
        self.found = found
        super().__init__(errno.ENOENT, f"{filename}: not a memory cgroup hierarchy: {found}")
        self.filename = filename

    def __reduce__(self):
        return type(self), (self.filename, self.found)

    def __str__(self) -> str:
        return str(self.strerror)


class ReclaimShortError(BlockingIOError):
    """A proactive reclaim or writeback that did less than asked: the kernel's ``-EAGAIN``.

    The work that was done stays done (as in the kernel). Attributes: ``filename``,
    ``requested_bytes`` (what was asked) and ``done_bytes`` (what was reclaimed or written back;
    ``None`` when unknown, as on a real kernel, which reports only the error).
    """

    def __init__(self, filename: str, requested_bytes: int, done_bytes: int | None, what: str = "reclaimed") -> None:
        self.what = what
        self.requested_bytes = int(requested_bytes)
        self.done_bytes = None if done_bytes is None else int(done_bytes)
        if self.done_bytes is None:
            detail = f"{what} less than the {self.requested_bytes} bytes asked"
        else:
            detail = (
                f"{what} {self.done_bytes} of {self.requested_bytes} bytes asked "
                f"({format_size(self.done_bytes)} of {format_size(self.requested_bytes)})"
            )
        super().__init__(errno.EAGAIN, f"{filename}: {detail} ({os.strerror(errno.EAGAIN)})")
        self.filename = filename

    def __reduce__(self):
        return type(self), (self.filename, self.requested_bytes, self.done_bytes, self.what)

    def __str__(self) -> str:
        return str(self.strerror)
