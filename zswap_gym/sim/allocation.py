"""Workloads over time: each tenant's footprint, load and working set step by step.

A tenant follows its schedule (:func:`~.workload.build_schedule`: growth, shrink, diurnal swings,
bursts, working-set shifts). Each step its memory is allocated (``mmap`` and first touch: new chunks
resident, charged to the memcg, with freshly drawn rates and compressibility) or freed (``munmap``:
the pages, their zswap entries and their swap slots go with them) to follow the footprint, and a
working-set shift redraws (or inverts) the access rates of a share of its chunks.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .chunk_store import ChunkStore
from .config import ScenarioConfig
from .generator import draw_attributes
from .lru import ChunkLayout, count_per_memcg, rank_in_block
from .rng import CounterRNG
from .state import Loc
from .workload import AttributeTables, build_schedule, draw_access_rates, invert_rates_by_rank

SCHEDULE_BLOCK = 512
"""Steps of the schedule computed at a time."""


class ScheduleRows(NamedTuple):
    """Each host's schedule for its step, (H, M): the footprint target in whole chunks, the
    access-rate multiplier (float32), the working-set shift fraction and inversion flag."""

    target_chunks: np.ndarray
    rate_multiplier: np.ndarray
    shift_fraction: np.ndarray
    shift_invert: np.ndarray


class Schedule:
    """The tenants' schedule as whole chunks per step, computed a block of steps at a time (a pure
    function of the scenario and the step index; kept for the blocks in use)."""

    def __init__(self, cfg: ScenarioConfig, layout: ChunkLayout, memcg_active: np.ndarray) -> None:
        self.cfg, self.layout, self.memcg_active = cfg, layout, memcg_active
        self._blocks: dict[int, ScheduleRows] = {}

    def _block(self, block: int) -> ScheduleRows:
        """Steps ``block * SCHEDULE_BLOCK`` onwards, each footprint as the whole chunks the step
        allocates to: rounded, capped at the memcg's block of chunk slots, 0 for unused slots."""
        table = self._blocks.get(block)
        if table is None:
            if len(self._blocks) > 8:
                self._blocks.clear()
            raw = build_schedule(self.cfg, SCHEDULE_BLOCK, block * SCHEDULE_BLOCK)
            target = np.minimum(np.floor(raw.size_chunks + 0.5), self.layout.block_len[None, :]) * self.memcg_active
            table = self._blocks[block] = ScheduleRows(
                target, raw.rate_multiplier, raw.shift_fraction, raw.shift_invert
            )
        return table

    def rows(self, step_index: np.ndarray) -> ScheduleRows:
        """Each host's row for its step ``step_index`` (H,)."""
        blocks = step_index // SCHEDULE_BLOCK
        first = int(blocks[0])
        if not np.count_nonzero(blocks != first):  # the usual case: one block for all hosts
            i = step_index - first * SCHEDULE_BLOCK
            return ScheduleRows(*(column[i] for column in self._block(first)))
        h, m = step_index.shape[0], self.layout.num_memcgs
        out = ScheduleRows(
            np.empty((h, m)), np.empty((h, m), dtype=np.float32), np.empty((h, m)), np.empty((h, m), dtype=bool)
        )
        for block in np.unique(blocks):  # hosts reset at different times may be in other blocks
            table = self._block(int(block))
            rows = blocks == block
            i = step_index[rows] - block * SCHEDULE_BLOCK
            for column, source in zip(out, table, strict=True):
                column[rows] = source[i]
        return out


def follow_footprint(
    store: ChunkStore,
    cfg: ScenarioConfig,
    tables: AttributeTables,
    rng: CounterRNG,
    schedule: ScheduleRows,
    t0: np.ndarray,
) -> None:
    """Allocate or free to follow each tenant's footprint (``schedule.target_chunks``); redraw (or
    invert) access rates on a working-set shift. New chunks are first touched at a uniform time in
    the step and charged to the memcg (``mem_cgroup_charge()``)."""
    st, lay = store.state, store.layout
    pages, dt = cfg.host.chunk_pages, cfg.host.step_s
    allocated = lay.block_len - store.chunk_counts()[Loc.ABSENT]  # chunks in use
    delta = schedule.target_chunks - allocated  # chunks to allocate (> 0) or free (< 0)
    if np.count_nonzero(delta):  # a footprint grows or shrinks this step
        if np.count_nonzero(delta > 0):
            absent = st.loc == Loc.ABSENT
            new = absent & (rank_in_block(absent, lay) <= delta[:, lay.owner])
            rows, cols = np.nonzero(new)
            draw_attributes(st, cfg, lay, tables, rng, rows, cols, "alloc_attributes")
            u, _ = rng.pair_at(rows, cols, "alloc_time")
            store.set_loc((rows, cols), Loc.RESIDENT, from_loc=Loc.ABSENT)
            st.last_access_s[rows, cols] = t0[rows].astype(np.float32) + u * np.float32(dt)
            store.tallies.charged_pages += count_per_memcg(new, lay) * pages
        if np.count_nonzero(delta < 0):
            alive = st.loc != Loc.ABSENT
            freed = alive & (rank_in_block(alive, lay) <= -delta[:, lay.owner])
            store.set_loc(freed, Loc.ABSENT)  # munmap: zswap entries and swap slots freed with the pages
    shift = schedule.shift_fraction
    if np.count_nonzero(shift):
        alive = st.loc != Loc.ABSENT
        u = rng.uniform(lay.num_chunks, "shift_pick", active=shift.any(axis=1))
        moved = alive & (u < shift[:, lay.owner])
        inverted = moved & schedule.shift_invert[:, lay.owner]
        if inverted.any():  # the cold set turns hot and the hot set cold
            invert_rates_by_rank(st.rate_hz, inverted, lay.owner)
            moved &= ~inverted
        rows, cols = np.nonzero(moved)
        u_band, u_rate = rng.pair_at(rows, cols, "shift_rate")
        st.rate_hz[rows, cols] = draw_access_rates(lay.owner[cols], tables, u_band, u_rate)
