"""The simulated cgroup v2 hierarchy of one host: its memcgs' files, addressed by path.

>>> fs = CgroupFS(sim, host=0)                               # doctest: +SKIP
>>> fs.write("web/memory.reclaim", "512M swappiness=max")    # doctest: +SKIP
>>> fs.read("/sys/fs/cgroup/web/memory.stat")                # doctest: +SKIP

The root cgroup has ``memory.stat`` (the sum over the host's memcgs; kernel and page-cache memory,
``host.other_used_bytes``, are not included) and a directory per memcg (:mod:`.memcg`).
"""

from __future__ import annotations

import os

from zswap_gym.sim import Simulator

from .errors import CgroupAccessError, CgroupNotFoundError
from .lru_gen import render_lru_gen
from .memcg import FILES, Memcg, stat_items
from .parse import as_text, parse_module_bool
from .paths import DEFAULT_ROOT, LRU_GEN_PATH, MEMINFO_PATH, SWAPS_PATH, ZSWAP_PARAMETERS_DIR, split_path
from .procfs import render_meminfo, render_swaps
from .render import render_flat_keyed, render_module_bool

ROOT_FILES = ("memory.stat",)
"""Files of the simulated root cgroup (read-only)."""

HOST_FILES = {
    LRU_GEN_PATH: render_lru_gen,
    MEMINFO_PATH: render_meminfo,
    SWAPS_PATH: render_swaps,
}
"""Read-only host-wide files outside the cgroup tree, by absolute path: what each prints."""


class CgroupFS:
    """A file-like view of one simulated host's memcgs, with the kernel's file names and formats.

    Args:
        sim: the simulator (its state is read and changed in place).
        host: which host of the simulator's batch this view shows.
        root: the mount point paths may start with (``/sys/fs/cgroup`` is always accepted too).
    """

    def __init__(self, sim: Simulator, host: int = 0, root: str = DEFAULT_ROOT) -> None:
        if isinstance(host, bool) or not isinstance(host, int) or not 0 <= host < sim.num_hosts:
            raise ValueError(f"host = {host!r}: the simulator has hosts 0..{sim.num_hosts - 1}")
        self.sim = sim
        self.host = host
        self.root = root

    def __repr__(self) -> str:
        return f"CgroupFS(host={self.host}, memcgs={self.memcgs()})"

    def memcgs(self) -> list[str]:
        """Names of the host's memcgs (the scenario's tenants)."""
        return list(self.sim.memcg_names)

    def memcg(self, name: str) -> Memcg:
        """The directory of memcg ``name``; :class:`~.errors.CgroupNotFoundError` if there is none."""
        return Memcg(self.sim, self.host, name)

    def listdir(self, path: str | os.PathLike[str] = "") -> list[str]:
        """Entries of a directory: the root (memcgs and root files) or a memcg (its files)."""
        text = os.fspath(path)
        if text in ("", "/") or text.rstrip("/") in (self.root.rstrip("/"), DEFAULT_ROOT):
            return [*self.memcgs(), *ROOT_FILES]
        parts = split_path(text, self.root)
        if len(parts) == 1 and parts[0] in self.sim.memcg_names:
            return self.memcg(parts[0]).files()
        raise CgroupNotFoundError(text, "not a directory")

    def exists(self, path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` names a file or memcg directory of this host."""
        try:
            parts = split_path(path, self.root)
        except FileNotFoundError:
            return False
        if len(parts) == 1:
            return parts[0] in ROOT_FILES or parts[0] in self.sim.memcg_names
        return len(parts) == 2 and parts[0] in self.sim.memcg_names and parts[1] in FILES

    def _resolve(self, path: str | os.PathLike[str]) -> tuple[Memcg | None, str]:
        parts = split_path(path, self.root)
        if len(parts) == 1:
            if parts[0] in self.sim.memcg_names:
                raise CgroupNotFoundError(os.fspath(path), "a memcg directory, not a file")
            if parts[0] not in ROOT_FILES:
                raise CgroupNotFoundError(os.fspath(path), f"root cgroup files: {', '.join(ROOT_FILES)}")
            return None, parts[0]
        if len(parts) == 2:
            if parts[0] not in self.sim.memcg_names:
                raise CgroupNotFoundError(os.fspath(path), f"memcgs: {', '.join(self.memcgs())}")
            return self.memcg(parts[0]), parts[1]
        raise CgroupNotFoundError(os.fspath(path), "the simulated hierarchy is one level deep")

    def _zswap_parameter(self, path: str | os.PathLike[str]) -> str | None:
        """The parameter name if ``path`` is a zswap module parameter file, else ``None``."""
        text = os.fspath(path)
        if not text.startswith(ZSWAP_PARAMETERS_DIR + "/"):
            return None
        name = text[len(ZSWAP_PARAMETERS_DIR) + 1 :]
        if name not in self.sim_parameters():
            raise CgroupNotFoundError(text, f"simulated zswap parameters: {', '.join(self.sim_parameters())}")
        return name

    @staticmethod
    def sim_parameters() -> tuple[str, ...]:
        from zswap_gym.sim import ZSWAP_PARAMETERS

        return ZSWAP_PARAMETERS

    def read(self, path: str | os.PathLike[str]) -> str:
        """The text of the file at ``path`` (e.g. ``"web/memory.current"``), as the kernel prints it.

        Besides the cgroup files: ``/sys/module/zswap/parameters/shrinker_enabled`` (``Y``/``N``),
        ``/sys/kernel/debug/lru_gen`` (MGLRU generations per memcg, :mod:`.lru_gen`), ``/proc/meminfo``
        and ``/proc/swaps`` (:mod:`.procfs`)."""
        host_file = HOST_FILES.get(os.fspath(path))
        if host_file is not None:
            return host_file(self.sim, self.host)
        parameter = self._zswap_parameter(path)
        if parameter is not None:
            return render_module_bool(self.sim.get_zswap_parameter(parameter, self.host))
        memcg, name = self._resolve(path)
        if memcg is not None:
            return memcg.read(name)
        return render_flat_keyed(stat_items(self.sim, self.host, list(range(len(self.sim.memcg_names)))))

    def write(self, path: str | os.PathLike[str], text: str | bytes | int) -> int:
        """Write ``text`` to the file at ``path``; returns the length written (see :meth:`Memcg.write`).

        ``/sys/module/zswap/parameters/shrinker_enabled`` takes ``Y``/``N`` (``kstrtobool``)."""
        if os.fspath(path) == LRU_GEN_PATH:
            raise CgroupAccessError(LRU_GEN_PATH, "aging and eviction commands are not simulated; use memory.reclaim")
        if os.fspath(path) in HOST_FILES:
            raise CgroupAccessError(os.fspath(path), "read-only file")
        parameter = self._zswap_parameter(path)
        if parameter is not None:
            raw = as_text(os.fspath(path), text)
            self.sim.set_zswap_parameter(parameter, self.host, parse_module_bool(os.fspath(path), raw))
            return len(raw)
        memcg, name = self._resolve(path)
        if memcg is None:
            raise CgroupAccessError(os.fspath(path), "read-only file")
        return memcg.write(name, text)
