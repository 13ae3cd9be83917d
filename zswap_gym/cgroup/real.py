"""The same interface over a real host's files, so a controller developed on the simulator can drive
a real host.

Every file a controller can name is found below one host root (``/`` on the real host, a temporary
directory laid out like a host in tests), so the backend never reads or writes another host's
files: the memory cgroup tree at ``<host_root>/sys/fs/cgroup`` (cgroup v2, or the v1 memory
controller's hierarchy: :mod:`.hierarchy`), and the host files outside it (``/proc/meminfo``,
``/proc/swaps``, ``/sys/kernel/debug/lru_gen``, ``/sys/module/zswap/parameters/...``:
:mod:`.paths`) at ``<host_root>/<path>``.

Reads and writes go straight to the files; each write is one ``write(2)`` call, as cgroup files
require. The kernel's errors come back as the same exceptions the simulated files raise
(:mod:`.errors`): ``EINVAL`` as :class:`~.errors.CgroupWriteError` (and so does a value that is not
ASCII, before anything is opened), ``EAGAIN`` as :class:`~.errors.ReclaimShortError` (with
``done_bytes = None``: the kernel does not say how much it did), ``ENOENT`` (and a directory where a
file was named) as :class:`~.errors.CgroupNotFoundError`, ``EACCES`` as
:class:`~.errors.CgroupAccessError`; any other error as the ``OSError`` it is.
"""

from __future__ import annotations

import errno
import os

from .errors import CgroupAccessError, CgroupNotFoundError, CgroupWriteError, ReclaimShortError
from .hierarchy import CgroupHierarchy, find_memory_hierarchy
from .parse import as_text, parse_proactive_writeback, parse_reclaim
from .paths import DEFAULT_ROOT, host_path, is_host_file, split_path


class RealMemcg:
    """One real cgroup directory (``name`` may be nested: ``"system.slice/foo.service"``)."""

    def __init__(self, fs: RealCgroupFS, name: str) -> None:
        self.fs = fs
        self.name = name

    def __repr__(self) -> str:
        return f"RealMemcg({self.name!r}, root={self.fs.root!r})"

    def read(self, name: str) -> str:
        return self.fs.read(f"{self.name}/{name}")

    def write(self, name: str, text: str | bytes | int) -> int:
        return self.fs.write(f"{self.name}/{name}", text)


class RealCgroupFS:
    """A real host's memory cgroups and host files, with the read/write methods of :class:`~.fs.CgroupFS`.

    Every path resolves below ``host_root``, the directory that stands for the host's ``/``:

    * a host file (a path under ``/proc/``, ``/sys/kernel/debug/`` or ``/sys/module/``, e.g.
      ``/sys/module/zswap/parameters/shrinker_enabled``) is ``<host_root>/<path>``;
    * anything else is a cgroup path (``"web/memory.stat"``, ``"/web/memory.stat"``,
      ``"/sys/fs/cgroup/web/memory.stat"`` or the file's path below :attr:`root`), a file of the
      memory cgroup hierarchy found at ``<host_root>/sys/fs/cgroup`` on construction: cgroup v2 there,
      else the v1 memory controller's ``memory/`` (:func:`~.hierarchy.find_memory_hierarchy`; a
      mount with neither raises :class:`~.errors.CgroupHierarchyError` saying what is there).

    Paths that climb with ``..`` are refused (:class:`~.errors.CgroupNotFoundError`). On cgroup v1
    the memcgs have v1's files (``memory.usage_in_bytes``; no ``memory.current``, ``memory.reclaim``
    or ``memory.zswap.*``), so a controller written for v2 gets ``CgroupNotFoundError`` there.

    ``RealCgroupFS()`` is the real host; ``RealCgroupFS(host_root=tmp_path)`` a test tree with
    ``tmp_path/sys/fs/cgroup/...``, ``tmp_path/proc/meminfo`` and so on.

    Args:
        host_root: the host's ``/`` (default the real one; a directory laid out like a host in tests).

    Attributes:
        host_root: as given, absolute.
        hierarchy: the memory cgroup hierarchy found (``version`` 2 or 1, ``mount`` as a host path).
        root: the directory of its root cgroup on this filesystem (``<host_root><hierarchy.mount>``).
    """

    def __init__(self, *, host_root: str | os.PathLike[str] = "/") -> None:
        self.host_root = os.path.abspath(os.fspath(host_root))
        self.hierarchy: CgroupHierarchy = find_memory_hierarchy(self.host_root, DEFAULT_ROOT)
        self.root = host_path(self.host_root, self.hierarchy.mount)

    def __repr__(self) -> str:
        return f"RealCgroupFS(host_root={self.host_root!r}: {self.hierarchy})"

    def path_of(self, path: str | os.PathLike[str]) -> str:
        """The file on this filesystem that ``path`` names: ``"web/memory.stat"`` ->
        ``<root>/web/memory.stat``, ``"/proc/meminfo"`` -> ``<host_root>/proc/meminfo``."""
        text = os.fspath(path)
        if is_host_file(text):
            return host_path(self.host_root, text)
        return os.path.join(self.root, *self._cgroup_parts(text))

    def _cgroup_parts(self, path: str) -> tuple[str, ...]:
        """The components of a cgroup path below the root cgroup (see :func:`~.paths.split_path`);
        a path below :attr:`root` on this filesystem is accepted too."""
        if path == self.root or path.startswith(self.root + "/"):
            path = path[len(self.root) :]
        return split_path(path, self.hierarchy.mount)

    def memcgs(self) -> list[str]:
        """Cgroup directories directly below the root cgroup, sorted."""
        return sorted(entry.name for entry in os.scandir(self.root) if entry.is_dir(follow_symlinks=False))

    def memcg(self, name: str) -> RealMemcg:
        """The cgroup directory ``name``; :class:`~.errors.CgroupNotFoundError` if it does not exist."""
        if not os.path.isdir(self.path_of(name)):
            raise CgroupNotFoundError(name, f"no such cgroup directory; memcgs: {', '.join(self.memcgs())}")
        return RealMemcg(self, "/".join(self._cgroup_parts(name)))

    def listdir(self, path: str | os.PathLike[str] = "") -> list[str]:
        """Entries of a cgroup directory (the root cgroup for ``""``), sorted."""
        text = os.fspath(path)
        target = self.root if text in ("", "/") else self.path_of(text)
        try:
            return sorted(os.listdir(target))
        except OSError as err:
            raise self._kernel_error(text, err) from err

    def exists(self, path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` names an existing file or directory."""
        try:
            return os.path.exists(self.path_of(path))
        except FileNotFoundError:
            return False

    def read(self, path: str | os.PathLike[str]) -> str:
        """The text of the file at ``path``."""
        target = self.path_of(path)
        try:
            with open(target, encoding="ascii") as f:
                return f.read()
        except OSError as err:
            raise self._kernel_error(os.fspath(path), err) from err

    def write(self, path: str | os.PathLike[str], text: str | bytes | int) -> int:
        """Write ``text`` to the file at ``path`` in one ``write(2)``; returns the length written.

        Files are never created (cgroup and module parameter files exist or the write fails)."""
        target = self.path_of(path)
        raw = as_text(os.fspath(path), text)
        try:
            data = raw.encode("ascii")
        except UnicodeEncodeError:
            raise CgroupWriteError(os.fspath(path), raw, "not ASCII text") from None
        try:
            fd = os.open(target, os.O_WRONLY | os.O_TRUNC)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        except OSError as err:
            raise self._kernel_error(os.fspath(path), err, raw) from err
        return len(raw)

    @staticmethod
    def _kernel_error(path: str, err: OSError, raw: str | None = None) -> OSError:
        """The interface's exception for a kernel error on ``path`` (on writing ``raw``, or on reading
        if ``raw`` is ``None``); errors without a counterpart come back unchanged."""
        if err.errno == errno.ENOENT:
            return CgroupNotFoundError(path, f"no {err.filename}" if err.filename else "")
        if err.errno == errno.EISDIR:
            return CgroupNotFoundError(path, "a cgroup directory, not a file")
        if err.errno == errno.EACCES:
            return CgroupAccessError(path, "not readable" if raw is None else "not writable")
        if raw is not None and err.errno == errno.EINVAL:
            return CgroupWriteError(path, raw, os.strerror(errno.EINVAL))
        if raw is not None and err.errno == errno.EAGAIN:
            return ReclaimShortError(path, _asked_bytes(path, raw), None)
        return err


def _asked_bytes(path: str, raw: str) -> int:
    """The bytes a short reclaim or proactive writeback asked for (0 if the text does not say)."""
    name = path.rstrip("/").rsplit("/", 1)[-1]
    try:
        if name == "memory.zswap.proactive_writeback":
            return parse_proactive_writeback(raw, path).max_bytes or 0
        return parse_reclaim(raw, path).nbytes
    except CgroupWriteError:
        return 0
