"""The cgroup v2 file interface over the simulator (docs/model.md §13).

Each simulated memcg is a directory of files with the kernel's names and text formats; controllers
read and write them as they would ``/sys/fs/cgroup``:

- :class:`CgroupFS` — one simulated host: ``read(path)``, ``write(path, text)``, ``memcgs()``,
  ``memcg(name)`` (a :class:`Memcg` with ``read(name)`` / ``write(name, text)``);
- :class:`RealCgroupFS` — the same methods over a real host's files (all below one host root; cgroup v2
  or the v1 memory controller, :mod:`.hierarchy`), for running a controller on a real host;
- :mod:`.errors` — the kernel's errors as ``OSError`` subclasses (``EINVAL``, ``EACCES``, ``ENOENT``,
  ``EAGAIN`` for a short reclaim or writeback);
- :mod:`.parse` / :mod:`.render` / :mod:`.readers` — the write formats, the read formats, and
  helpers that turn what files print back into numbers;
- :mod:`.paths` — the host files outside the cgroup tree (``/proc/meminfo``, ``lru_gen``, the zswap
  module parameters), named once; ``PAGE_SIZE`` (4096 bytes, the simulator's) for page counts.
"""

from zswap_gym.sim.units import PAGE_SIZE

from .errors import (
    CgroupAccessError,
    CgroupHierarchyError,
    CgroupNotFoundError,
    CgroupWriteError,
    ReclaimShortError,
)
from .fs import ROOT_FILES, CgroupFS
from .hierarchy import CgroupHierarchy, find_memory_hierarchy
from .interface import CgroupFiles, MemcgFiles
from .memcg import EVENTS_KEYS, FILES, STAT_EVENT_KEYS, STAT_SIZE_KEYS, Memcg
from .parse import (
    SWAPPINESS_ANON_ONLY,
    ProactiveWritebackRequest,
    ReclaimRequest,
    parse_limit_value,
    parse_proactive_writeback,
    parse_reclaim,
    parse_writeback_flag,
)
from .paths import (
    DEFAULT_ROOT,
    LRU_GEN_PATH,
    MEMINFO_PATH,
    SHRINKER_ENABLED_PATH,
    SWAPS_PATH,
    ZSWAP_PARAMETERS_DIR,
)
from .procfs import parse_meminfo, parse_swaps
from .readers import idle_pages_at_least, parse_flat_keyed, parse_lru_gen, parse_pressure, parse_value
from .real import RealCgroupFS, RealMemcg

__all__ = [
    "DEFAULT_ROOT",
    "LRU_GEN_PATH",
    "MEMINFO_PATH",
    "PAGE_SIZE",
    "SHRINKER_ENABLED_PATH",
    "SWAPS_PATH",
    "ZSWAP_PARAMETERS_DIR",
    "EVENTS_KEYS",
    "FILES",
    "ROOT_FILES",
    "STAT_EVENT_KEYS",
    "STAT_SIZE_KEYS",
    "SWAPPINESS_ANON_ONLY",
    "CgroupAccessError",
    "CgroupFS",
    "CgroupFiles",
    "CgroupHierarchy",
    "CgroupHierarchyError",
    "CgroupNotFoundError",
    "CgroupWriteError",
    "Memcg",
    "MemcgFiles",
    "ProactiveWritebackRequest",
    "RealCgroupFS",
    "RealMemcg",
    "ReclaimRequest",
    "ReclaimShortError",
    "find_memory_hierarchy",
    "idle_pages_at_least",
    "parse_flat_keyed",
    "parse_lru_gen",
    "parse_meminfo",
    "parse_swaps",
    "parse_limit_value",
    "parse_pressure",
    "parse_proactive_writeback",
    "parse_reclaim",
    "parse_value",
    "parse_writeback_flag",
]
