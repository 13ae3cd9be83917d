"""The same interface over real cgroup files (``/sys/fs/cgroup``), so a controller developed on the
simulator can drive a real host.

Reads and writes go straight to the files; each write is one ``write(2)`` call, as cgroup files
require. The kernel's errors come back as the same exceptions the simulated files raise: ``EINVAL``
as :class:`~.errors.CgroupWriteError`, ``EAGAIN`` as :class:`~.errors.ReclaimShortError` (with
``done_bytes = None``: the kernel does not say how much it did), ``ENOENT`` and ``EACCES`` as
``FileNotFoundError`` and ``PermissionError``.
"""

from __future__ import annotations

import errno
import os

from .errors import CgroupWriteError, ReclaimShortError
from .parse import as_text, parse_proactive_writeback, parse_reclaim
from .paths import DEFAULT_ROOT, split_path


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
    """Real cgroup v2 files under ``root``, with the read/write methods of :class:`~.fs.CgroupFS`.

    Args:
        root: the cgroup v2 mount point (a temporary directory tree in tests).
    """

    def __init__(self, root: str | os.PathLike[str] = DEFAULT_ROOT) -> None:
        self.root = os.fspath(root)

    def __repr__(self) -> str:
        return f"RealCgroupFS(root={self.root!r})"

    def path_of(self, path: str | os.PathLike[str]) -> str:
        """The filesystem path of a cgroup path (``"web/memory.stat"`` -> ``<root>/web/memory.stat``).

        ``/sys/module/zswap/parameters/...`` names the module parameter file itself."""
        if os.fspath(path).startswith(("/sys/module/zswap/parameters/", "/sys/kernel/debug/", "/proc/")):
            return os.fspath(path)
        return os.path.join(self.root, *split_path(path, self.root))

    def memcgs(self) -> list[str]:
        """Cgroup directories directly below the root, sorted."""
        return sorted(entry.name for entry in os.scandir(self.root) if entry.is_dir(follow_symlinks=False))

    def memcg(self, name: str) -> RealMemcg:
        """The cgroup directory ``name``; ``FileNotFoundError`` if it does not exist."""
        target = self.path_of(name)
        if not os.path.isdir(target):
            raise FileNotFoundError(errno.ENOENT, f"{name}: no such cgroup directory", target)
        return RealMemcg(self, "/".join(split_path(name, self.root)))

    def listdir(self, path: str | os.PathLike[str] = "") -> list[str]:
        text = os.fspath(path)
        target = self.root if text in ("", "/") else self.path_of(text)
        return sorted(os.listdir(target))

    def exists(self, path: str | os.PathLike[str]) -> bool:
        try:
            return os.path.exists(self.path_of(path))
        except FileNotFoundError:
            return False

    def read(self, path: str | os.PathLike[str]) -> str:
        """The text of the file at ``path``."""
        with open(self.path_of(path), encoding="ascii") as f:
            return f.read()

    def write(self, path: str | os.PathLike[str], text: str | bytes | int) -> int:
        """Write ``text`` to the file at ``path`` in one ``write(2)``; returns the length written."""
        target = self.path_of(path)
        raw = as_text(os.fspath(path), text)
        data = raw.encode("ascii")
        fd = os.open(target, os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(fd, data)
        except OSError as err:
            raise self._kernel_error(os.fspath(path), raw, err) from err
        finally:
            os.close(fd)
        return len(raw)

    @staticmethod
    def _kernel_error(path: str, raw: str, err: OSError) -> OSError:
        """The interface's exception for a kernel error on writing ``raw`` to ``path``."""
        if err.errno == errno.EINVAL:
            return CgroupWriteError(path, raw, os.strerror(errno.EINVAL))
        if err.errno == errno.EAGAIN:
            name = path.rstrip("/").rsplit("/", 1)[-1]
            try:
                if name == "memory.zswap.proactive_writeback":
                    asked = parse_proactive_writeback(raw, path).max_bytes or 0
                else:
                    asked = parse_reclaim(raw, path).nbytes
            except CgroupWriteError:
                asked = 0
            return ReclaimShortError(path, asked, None)
        return err
