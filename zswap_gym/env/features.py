"""Observation features: what a policy sees, per memcg slot and per host, normalised to [0, 1].

Every feature names the kernel interface it comes from, so the ``"kernel"`` observation mode can keep
only what a real host exposes today (``memory.stat``, ``memory.pressure``, the cgroup knobs, MGLRU
generation sizes, ``/proc/diskstats``); ``"full"`` adds simulator-only views (zswap entry ages).

Rates are squashed with ``x / (x + scale)`` so a feature stays in [0, 1) whatever the rate; shares
are clipped to [0, 1] (a share above 1 can only come from rounding).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..sim import Simulator, StepMetrics
from ..sim.state import Loc
from ..sim.units import PAGE_SIZE

if TYPE_CHECKING:
    from ..sim.gauges import Gauges

RESIDENT_AGE_EDGES_S = (60.0, 300.0, 1800.0)
"""Idle-age buckets of resident memory: < 1 min, 1-5 min, 5-30 min, >= 30 min (MGLRU generations)."""
ZSWAP_AGE_EDGES_S = (300.0, 1800.0)
"""Time-in-zswap buckets of stored memory: < 5 min, 5-30 min, >= 30 min (not exposed by the kernel)."""


@dataclass(frozen=True)
class Feature:
    name: str
    meaning: str
    normalisation: str
    source: str
    """Kernel interface it comes from; ``"simulator"`` if no kernel exposes it."""


SLOT_FEATURES: tuple[Feature, ...] = (
    Feature("slot_used", "1 if the memcg slot holds a tenant, else 0", "0/1", "cgroupfs"),
    Feature("memory_current", "memory.current", "/ DRAM", "memory.current"),
    Feature("anon_resident", "resident anonymous memory", "/ footprint", "memory.stat:anon"),
    Feature("zswap_pool", "compressed bytes in zswap", "/ footprint", "memory.stat:zswap"),
    Feature("zswapped", "original bytes stored in zswap", "/ footprint", "memory.stat:zswapped"),
    Feature(
        "swap_device",
        "pages on the swap device (incl. zero pages, in flight)",
        "/ footprint",
        "memory.swap.current - memory.stat:zswapped",
    ),
    Feature(
        "refault_rate",
        "refaulted pages per minute / footprint",
        "x / (x + 0.01)",
        "memory.stat:workingset_refault_anon",
    ),
    Feature("zswpout_rate", "pages stored into zswap per minute / footprint", "x / (x + 0.01)", "memory.stat:zswpout"),
    Feature(
        "zswpwb_rate", "pages written back from zswap per minute / footprint", "x / (x + 0.01)", "memory.stat:zswpwb"
    ),
    Feature("psi_some_avg10", "memory.pressure some avg10", "% / 100", "memory.pressure"),
    Feature("psi_some_avg60", "memory.pressure some avg60", "% / 100", "memory.pressure"),
    Feature("psi_full_avg10", "memory.pressure full avg10", "% / 100", "memory.pressure"),
    Feature("resident_idle_lt_1m", "resident memory idle < 1 min", "/ footprint", "lru_gen"),
    Feature("resident_idle_1_5m", "resident memory idle 1-5 min", "/ footprint", "lru_gen"),
    Feature("resident_idle_5_30m", "resident memory idle 5-30 min", "/ footprint", "lru_gen"),
    Feature("resident_idle_ge_30m", "resident memory idle >= 30 min", "/ footprint", "lru_gen"),
    Feature("zswap_age_lt_5m", "zswap entries stored < 5 min ago", "/ zswapped", "simulator"),
    Feature("zswap_age_5_30m", "zswap entries stored 5-30 min ago", "/ zswapped", "simulator"),
    Feature("zswap_age_ge_30m", "zswap entries stored >= 30 min ago", "/ zswapped", "simulator"),
    Feature("memory_high", "memory.high (1 = max)", "/ DRAM, max -> 1", "memory.high"),
    Feature("zswap_max", "memory.zswap.max (1 = max)", "/ DRAM, max -> 1", "memory.zswap.max"),
    Feature("zswap_writeback", "memory.zswap.writeback", "0/1", "memory.zswap.writeback"),
)

HOST_FEATURES: tuple[Feature, ...] = (
    Feature("dram_free", "free DRAM", "/ DRAM", "/proc/meminfo:MemFree"),
    Feature("zswap_pool_fill", "zswap pool size / pool limit", "clip [0, 1]", "/sys/kernel/debug/zswap"),
    Feature("device_utilisation", "swap device utilisation this step", "0..1", "/proc/diskstats"),
    Feature("device_read_latency", "mean swap-in read latency", "us / (us + 1000)", "/proc/diskstats"),
    Feature("write_budget_used", "bytes written / the step's write budget", "x / (x + 1)", "/proc/diskstats"),
    Feature("episode_progress", "steps taken / episode length", "0..1", "controller clock"),
)

OBSERVATION_MODES = ("full", "kernel")


def observation_features(mode: str = "full") -> tuple[tuple[Feature, ...], tuple[Feature, ...]]:
    """The slot features and the host features of observation ``mode``, in observation order:
    ``"full"`` has them all, ``"kernel"`` only those a kernel exposes (source not ``"simulator"``)."""
    if mode not in OBSERVATION_MODES:
        raise ValueError(f"observation mode {mode!r}: must be one of {list(OBSERVATION_MODES)}")
    keep = (lambda f: f.source != "simulator") if mode == "kernel" else (lambda f: True)
    return tuple(f for f in SLOT_FEATURES if keep(f)), tuple(f for f in HOST_FEATURES if keep(f))


def observation_size(mode: str, num_memcgs: int) -> str:
    """The observation's length D for ``num_memcgs`` slots, worked out: ``"8 x 22 + 6 = 182"``."""
    slot, host = observation_features(mode)
    return f"{num_memcgs} x {len(slot)} + {len(host)} = {num_memcgs * len(slot) + len(host)}"


def feature_table(mode: str = "full", num_memcgs: int = 8) -> str:
    """The Markdown table of the observation's features (index, name, meaning, normalisation,
    kernel source) for ``num_memcgs`` slots: the env docstring's table."""
    slot, host = observation_features(mode)
    rows = ["| index | feature | meaning | normalisation | kernel source |", "|---|---|---|---|---|"]
    for i, f in enumerate(slot):
        rows.append(f"| slot*{len(slot)} + {i} | {f.name} | {f.meaning} | {f.normalisation} | {f.source} |")
    base = len(slot) * num_memcgs
    for i, f in enumerate(host):
        rows.append(f"| {base + i} | host.{f.name} | {f.meaning} | {f.normalisation} | {f.source} |")
    return "\n".join(rows)


_RESIDENT_EDGES_F32 = tuple(np.float32(e) for e in RESIDENT_AGE_EDGES_S)
_ZSWAP_EDGES_F32 = tuple(np.float32(e) for e in ZSWAP_AGE_EDGES_S)
_SQUASHED_HOST_SCALES = np.array([[1000.0], [1.0]])
"""``x / (x + scale)`` scales of the host features device_read_latency (us) and write_budget_used."""

# Rows of the slot block past the features: sources that are combined into a feature.
_ZERO_PAGES, _WRITEBACK_PAGES, _REFAULT_TIERS = len(SLOT_FEATURES), len(SLOT_FEATURES) + 1, len(SLOT_FEATURES) + 2


class _Scratch:
    """Arrays an :class:`ObservationBuilder` keeps between calls for one simulator's batch: the
    observation's features in its layout (float64), the age masks (bool) and counts of the
    histograms, and what indexes them. Views into these are made here, so a copy of the builder
    (``copy.deepcopy``, pickle) drops its scratch and makes it again rather than copy views as
    separate arrays."""

    def __init__(self, sim: Simulator, mode: str) -> None:
        h, m, lay = sim.num_hosts, sim.num_memcgs, sim.layout
        self.key = (h, lay, sim.memcg_active)
        n_slot = len(SLOT_FEATURES) * m
        self.block = np.empty((h, n_slot + len(HOST_FEATURES)))
        self.block_slot = self.block[:, :n_slot].reshape(h, m, len(SLOT_FEATURES))
        self.block_host = self.block[:, n_slot:]
        assert np.shares_memory(self.block_slot, self.block)  # a view, not a copy
        self.used = np.broadcast_to(sim.memcg_active, (h, m))  # a view: follows memcg_active
        self.zeros = np.zeros((h, m))
        # The narrowest count type that holds a whole block: summing bools casts every element.
        longest = int(lay.block_len.max(initial=0))
        self.count_dtype = next(t for t in (np.int16, np.int32, np.int64) if longest <= np.iinfo(t).max)
        # One mask per age edge over every chunk of every host, plus a padding chunk never set, so
        # that a block sum per (host, memcg), empty blocks included, starts at a valid index (an
        # empty block's sum is one chunk, of the next block, zeroed below, or the padding).
        c = lay.num_chunks
        n_masks = len(RESIDENT_AGE_EDGES_S) + (len(ZSWAP_AGE_EDGES_S) if mode == "full" else 0)
        self.masks = np.zeros((n_masks, h * c + 1), dtype=bool)
        self.mask_rows = [mask[: h * c].reshape(h, c) for mask in self.masks]  # (H, C) views
        self.block_starts = (np.arange(h)[:, None] * c + lay.block_start[None, :]).ravel()
        self.counts_shape = (n_masks, h, m)
        # 1 for memcgs with chunks, 0 for empty ones; None if none is empty.
        self.nonempty = None if (lay.block_len > 0).all() else (lay.block_len > 0).astype(self.count_dtype)
        self.where = np.empty((h, c), dtype=bool)
        self.age = np.empty((h, c), dtype=np.float32)
        # Chunks at least each edge old, after the memcg's total: [resident, >= 1, 5, 30 min, 0,
        # zswap, >= 5, 30 min, 0]; each bucket is a row minus the next (the zero rows stay zero).
        self.at_least = np.zeros((len(RESIDENT_AGE_EDGES_S) + len(ZSWAP_AGE_EDGES_S) + 4, h, m))

    def fits(self, sim: Simulator) -> bool:
        """Made for ``sim`` (same batch size, chunk layout and active-memcg array)?"""
        h, lay, active = self.key
        return h == sim.num_hosts and lay is sim.layout and active is sim.memcg_active


class ObservationBuilder:
    """Builds the (H, D) float32 observation from the simulator after a step (bit for bit
    :func:`~.reference.reference_observation`, computed in stacked blocks).

    Layout: for each of the M memcg slots its slot features (``slot_features`` order), then the
    host features. ``feature_names`` lists the D names as ``"<memcg slot>.<feature>"`` and
    ``"host.<feature>"``.

    The sources of every slot feature are stacked in one call into a feature-major block (one
    (H, M) row per feature, the row's numerator), and features sharing an operation take it
    together (all the shares of the footprint in one division); at this size a numpy call costs
    far more than its arithmetic. One clip then writes the observation.
    """

    def __init__(self, sim: Simulator, mode: str = "full") -> None:
        self.slot_features, self.host_features = observation_features(mode)
        self.mode = mode
        self._slot_index = [SLOT_FEATURES.index(f) for f in self.slot_features]
        self._host_index = [HOST_FEATURES.index(f) for f in self.host_features]
        self.num_memcgs = sim.num_memcgs
        # Columns of the observation in the block of every feature; None: all of them, in order.
        columns = [i * len(SLOT_FEATURES) + j for i in range(sim.num_memcgs) for j in self._slot_index]
        columns += [len(SLOT_FEATURES) * sim.num_memcgs + j for j in self._host_index]
        self._columns = None if columns == list(range(len(columns))) else np.array(columns)
        slot_names = [*sim.memcg_names, *(f"slot{i}" for i in range(len(sim.memcg_names), sim.num_memcgs))]
        self.feature_names = tuple(
            [f"{slot}.{f.name}" for slot in slot_names for f in self.slot_features]
            + [f"host.{f.name}" for f in self.host_features]
        )
        self.size = len(self.feature_names)
        self._scratch: _Scratch | None = None

    def __getstate__(self) -> dict[str, object]:
        return {**self.__dict__, "_scratch": None}  # made again on the next build (see _Scratch)

    def build(self, sim: Simulator, metrics: StepMetrics | None, episode_progress: np.ndarray) -> np.ndarray:
        """Observation (H, D) float32 in [0, 1]; ``metrics`` None right after reset."""
        sc = self._scratch
        if sc is None or not sc.fits(sim):
            sc = self._scratch = _Scratch(sim, self.mode)
        g = sim.gauges()
        st = sim.state
        host = sim.cfg.host
        dram = float(host.dram_bytes)
        footprint = np.maximum(g.footprint_pages, 1.0)
        fill_later = sc.zeros  # rows computed below
        if metrics is None:
            zswpout = zswpwb = fill_later
            tiers: list[np.ndarray] = []
        else:
            zswpout, zswpwb = metrics.event("zswpout"), metrics.event("zswpwb")
            tiers = list(metrics.refault_pages.values())
        # Row i: the numerator of SLOT_FEATURES[i], then the extra sources.
        slot = np.array(
            [
                sc.used,
                g.memory_current,
                g.resident_pages,
                g.zswap_bytes,
                g.zswap_pages,
                g.swap_pages,
                fill_later,  # refaults of every tier
                zswpout,
                zswpwb,
                st.psi_some_avg[..., 0],
                st.psi_some_avg[..., 1],
                st.psi_full_avg[..., 0],
                *[fill_later] * (len(RESIDENT_AGE_EDGES_S) + len(ZSWAP_AGE_EDGES_S) + 2),  # age histograms
                st.memory_high,
                st.zswap_max,
                st.zswap_writeback,
                g.zero_pages,  # _ZERO_PAGES
                g.writeback_pages,  # _WRITEBACK_PAGES
                *tiers,  # _REFAULT_TIERS...
            ],
            dtype=np.float64,
        )
        np.divide(slot[3], PAGE_SIZE, out=slot[3])  # zswap bytes in pages
        device = slot[5]  # swap + zero pages + pages under writeback
        np.add(device, slot[_ZERO_PAGES], out=device)
        np.add(device, slot[_WRITEBACK_PAGES], out=device)
        rates = slot[6:9]  # refault, zswpout, zswpwb
        if metrics is not None:
            # Every tier's refaults summed from 0, as sum() does (a sum from initial=0.0 along
            # the first axis is that, bit for bit).
            np.add.reduce(slot[_REFAULT_TIERS:], axis=0, initial=0.0, out=slot[6])
            np.multiply(rates, 60.0 / host.step_s, out=rates)  # per minute
        np.divide(slot[2:9], footprint, out=slot[2:9])  # shares of the footprint (and rates)
        if metrics is None:
            rates.fill(0.0)
        else:
            np.maximum(rates, 0.0, out=rates)
            np.divide(rates, rates + 0.01, out=rates)
        np.divide(slot[9:12], 100.0, out=slot[9:12])  # PSI percent
        self._age_histograms(sim, sc, g, footprint, slot[12:16], slot[16:19])
        np.divide(slot[1], dram, out=slot[1])
        limits = slot[19:21]  # memory.high, memory.zswap.max: "max" (not finite) -> 1
        np.divide(limits, dram, out=limits)
        # "max" (inf / DRAM) -> 1; a finite limit above DRAM would be clipped to 1 below all the same.
        np.minimum(limits, 1.0, out=limits)
        features = slot[: len(SLOT_FEATURES)]
        np.multiply(features, sim.memcg_active, out=features)
        hostf = np.array(
            [
                g.dram_used_host,
                g.pool_bytes_host,
                fill_later[:, 0] if metrics is None else metrics.host_device_utilisation,
                fill_later[:, 0] if metrics is None else metrics.host_device_read_latency_us,
                fill_later[:, 0] if metrics is None else metrics.host_write_budget_used,
                episode_progress,
            ],
            dtype=np.float64,
        )
        free = hostf[0]
        np.subtract(dram, free, out=free)
        np.divide(free, dram, out=free)
        np.divide(hostf[1], max(sim.max_pool_bytes, 1.0), out=hostf[1])
        squashed = hostf[3:5]  # read latency, write budget used
        np.maximum(squashed, 0.0, out=squashed)
        np.divide(squashed, squashed + _SQUASHED_HOST_SCALES, out=squashed)
        sc.block_slot[...] = features.transpose(1, 2, 0)
        sc.block_host[...] = hostf.T
        block = sc.block if self._columns is None else sc.block[:, self._columns]
        # Clipped in float64, then cast: np.clip keeps the sign of a zero, the cast rounds once.
        block.clip(0.0, 1.0, out=block)
        return block.astype(np.float32)

    def _age_histograms(
        self, sim: Simulator, sc: _Scratch, g: Gauges, footprint: np.ndarray, resident: np.ndarray, zswap: np.ndarray
    ) -> None:
        """Shares of memory by age, written into ``resident`` (4, H, M) (resident memory by idle
        time, ``RESIDENT_AGE_EDGES_S``, as a share of ``footprint``, pages >= 1) and, in
        ``"full"`` mode, ``zswap`` (3, H, M) (zswap entries by time since store,
        ``ZSWAP_AGE_EDGES_S``, as a share of the memcg's zswap entries); zeros in ``zswap`` otherwise.

        Counts the chunks "at least this old" per edge with block sums per memcg (each memcg's
        chunks are contiguous), the masks of every edge in one boolean block summed in one call,
        then takes differences, starting from the memcg's chunks in that location (the gauges, which
        always equal a recount of the chunk arrays: tests/test_gauges.py).
        Ages are float32 differences from the host clock, as everywhere in the simulator."""
        st = sim.state
        pages = sim.cfg.host.chunk_pages
        where, age = sc.where, sc.age
        # One clock for every host (the usual case) subtracts a scalar: several times faster than
        # broadcasting a column, and the same float32 values.
        clock = st.now_s.tolist()
        now = np.float32(clock[0]) if clock.count(clock[0]) == len(clock) else st.now_s.astype(np.float32)[:, None]
        kinds = [(Loc.RESIDENT, st.last_access_s, _RESIDENT_EDGES_F32)]
        if self.mode == "full":
            kinds.append((Loc.ZSWAP, st.zswap_store_s, _ZSWAP_EDGES_F32))
        rows = iter(sc.mask_rows)
        for loc, since, edges in kinds:  # 2 locations x 2-3 edges, not chunks
            np.equal(st.loc, loc, out=where)
            np.subtract(now, since, out=age)
            # Age 0 outside the location: below every edge (all > 0), so each mask is "in the
            # location and at least this old" without a pass per edge to combine them.
            np.multiply(age, where, out=age)
            for edge in edges:
                np.greater_equal(age, edge, out=next(rows))
        counts = np.add.reduceat(sc.masks, sc.block_starts, axis=1, dtype=sc.count_dtype)
        counts = counts.reshape(sc.counts_shape)  # (masks, H, M)
        if sc.nonempty is not None:
            counts *= sc.nonempty  # an empty block summed one chunk of the next block
        at_least = sc.at_least
        n = len(RESIDENT_AGE_EDGES_S)
        np.divide(g.resident_pages, pages, out=at_least[0])
        at_least[1 : 1 + n] = counts[:n]
        np.subtract(at_least[: n + 1], at_least[1 : n + 2], out=resident)
        np.divide(resident, footprint / pages, out=resident)
        if self.mode != "full":
            zswap.fill(0.0)
            return
        z, k = n + 2, len(ZSWAP_AGE_EDGES_S)
        np.divide(g.zswap_pages, pages, out=at_least[z])
        at_least[z + 1 : z + 1 + k] = counts[n:]
        np.subtract(at_least[z : z + k + 1], at_least[z + 1 : z + k + 2], out=zswap)
        np.divide(zswap, np.maximum(at_least[z], 1.0), out=zswap)

    def markdown_table(self) -> str:
        """The feature table of this builder's mode and slots (:func:`feature_table`)."""
        return feature_table(self.mode, self.num_memcgs)
