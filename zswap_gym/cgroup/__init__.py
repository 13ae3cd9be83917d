"""The cgroup v2 file interface over the simulator (docs/model.md §13).

Each simulated memcg is a directory of files with the kernel's names and text formats; controllers
read and write them as they would ``/sys/fs/cgroup``:

- :class:`CgroupFS` — one simulated host: ``read(path)``, ``write(path, text)``, ``memcgs()``,
  ``memcg(name)`` (a :class:`Memcg` with ``read(name)`` / ``write(name, text)``);
- :class:`RealCgroupFS` — the same methods over real files, for running a controller on a real host;
- :mod:`.errors` — the kernel's errors as ``OSError`` subclasses (``EINVAL``, ``EACCES``, ``ENOENT``,
  ``EAGAIN`` for a short reclaim or writeback);
- :mod:`.parse` / :mod:`.render` / :mod:`.readers` — the write formats, the read formats, and
  helpers that turn what files print back into numbers.
"""

from .errors import CgroupAccessError, CgroupNotFoundError, CgroupWriteError, ReclaimShortError
from .fs import ROOT_FILES, ZSWAP_PARAMETERS_DIR, CgroupFS
from .interface import CgroupFiles, MemcgFiles
from .lru_gen import LRU_GEN_PATH
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
from .paths import DEFAULT_ROOT
from .procfs import MEMINFO_PATH, SWAPS_PATH, parse_meminfo, parse_swaps
from .readers import idle_pages_at_least, parse_flat_keyed, parse_lru_gen, parse_pressure, parse_value
from .real import RealCgroupFS, RealMemcg

__all__ = [
    "DEFAULT_ROOT",
    "LRU_GEN_PATH",
    "MEMINFO_PATH",
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
    "CgroupNotFoundError",
    "CgroupWriteError",
    "Memcg",
    "MemcgFiles",
    "ProactiveWritebackRequest",
    "RealCgroupFS",
    "RealMemcg",
    "ReclaimRequest",
    "ReclaimShortError",
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
