"""``/sys/kernel/debug/lru_gen``: the multi-gen LRU's generations per memcg, in the kernel's format.

The kernel prints, per memcg and NUMA node, each generation from the oldest (``min_gen_nr``) to the
youngest (``max_gen_nr``) with its age (ms since the generation was created) and its anon and file
page counts (Documentation/admin-guide/mm/multigen_lru.rst)::

    memcg     1 /web
     node     0
            0     600000      12345           0
            1      60000     234567           0

The simulator's reclaim order is a finer MGLRU: a resident chunk's generation is its half-octave idle
age bin (:func:`zswap_gym.sim.lru.age_bins`), and ``memory.reclaim`` takes the oldest generation
first. So a page in the generation printed with age ``a`` ms has been idle less than ``a`` ms and at
least the next younger generation's age; the oldest generation's age is its oldest page's idle time.
Generations between the oldest and youngest non-empty ones are printed even when empty, as the
kernel prints every generation between ``min_seq`` and ``max_seq``. File pages are not modelled (0).
"""

from __future__ import annotations

import numpy as np

from zswap_gym.sim import Loc, Simulator
from zswap_gym.sim.lru import AGE_BINS, age_bins


def bin_upper_age_s(b: np.ndarray | int) -> np.ndarray:
    """Upper idle-age edge (s) of half-octave bin ``b``: ages in bin b are below 2**((b+1)/2) - 1."""
    return np.exp2((np.asarray(b, dtype=np.float64) + 1.0) / 2.0) - 1.0


def lru_gen_pages(sim: Simulator, host: int) -> tuple[np.ndarray, np.ndarray]:
    """Resident pages per (memcg slot, generation bin) of ``host``, (M, AGE_BINS), and the oldest
    idle age (s) per memcg slot, (M,)."""
    st, layout = sim.state, sim.layout
    resident = st.loc[host] == Loc.RESIDENT
    idle = sim.now_f32[host, 0] - st.last_access_s[host]
    bins = age_bins(idle).astype(np.int64)
    owner = layout.owner[resident]
    counts = np.bincount(owner * AGE_BINS + bins[resident], minlength=layout.num_memcgs * AGE_BINS)
    oldest = np.zeros(layout.num_memcgs)
    np.maximum.at(oldest, owner, idle[resident].astype(np.float64))
    pages = counts.reshape(layout.num_memcgs, AGE_BINS) * float(sim.cfg.host.chunk_pages)
    return pages, oldest


def render_lru_gen(sim: Simulator, host: int) -> str:
    """The text of ``/sys/kernel/debug/lru_gen`` for ``host`` (every memcg, node 0)."""
    pages, oldest = lru_gen_pages(sim, host)
    lines: list[str] = []
    for slot, name in enumerate(sim.memcg_names):
        lines.append(f"memcg {slot + 1:5d} /{name}")
        lines.append(f" node {0:5d}")
        present = np.flatnonzero(pages[slot])
        if present.size == 0:
            continue
        young, old = int(present.min()), int(present.max())
        for gen, b in enumerate(range(old, young - 1, -1)):  # oldest generation first
            age_s = oldest[slot] if b == old else float(bin_upper_age_s(b))
            lines.append(f" {gen:10d} {round(age_s * 1000):10d} {int(pages[slot, b]):10d} {0:10d}")
    return "\n".join(lines) + "\n"
