"""Observation features: what a policy sees, per memcg slot and per host, normalised to [0, 1].

Every feature names the kernel interface it comes from, so the ``"kernel"`` observation mode can keep
only what a real host exposes today (``memory.stat``, ``memory.pressure``, the cgroup knobs, MGLRU
generation sizes, ``/proc/diskstats``); ``"full"`` adds simulator-only views (zswap entry ages).

Rates are squashed with ``x / (x + scale)`` so a feature stays in [0, 1) whatever the rate; shares
are clipped to [0, 1] (a share above 1 can only come from rounding).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..sim import Simulator, StepMetrics
from ..sim.state import Loc
from ..sim.units import PAGE_SIZE

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


def _squash(x: np.ndarray, scale: float) -> np.ndarray:
    x = np.maximum(x, 0.0)
    return x / (x + scale)


class ObservationBuilder:
    """Builds the (H, D) float32 observation from the simulator after a step.

    Layout: for each of the M memcg slots its slot features (``slot_features`` order), then the
    host features. ``feature_names`` lists the D names as ``"<memcg slot>.<feature>"`` and
    ``"host.<feature>"``.
    """

    def __init__(self, sim: Simulator, mode: str = "full") -> None:
        if mode not in OBSERVATION_MODES:
            raise ValueError(f"observation mode {mode!r}: must be one of {list(OBSERVATION_MODES)}")
        self.mode = mode
        keep = (lambda f: f.source != "simulator") if mode == "kernel" else (lambda f: True)
        self.slot_features = tuple(f for f in SLOT_FEATURES if keep(f))
        self.host_features = tuple(f for f in HOST_FEATURES if keep(f))
        self._slot_index = [SLOT_FEATURES.index(f) for f in self.slot_features]
        self._host_index = [HOST_FEATURES.index(f) for f in self.host_features]
        self.num_memcgs = sim.num_memcgs
        slot_names = [*sim.memcg_names, *(f"slot{i}" for i in range(len(sim.memcg_names), sim.num_memcgs))]
        self.feature_names = tuple(
            [f"{slot}.{f.name}" for slot in slot_names for f in self.slot_features]
            + [f"host.{f.name}" for f in self.host_features]
        )
        self.size = len(self.feature_names)

    def build(self, sim: Simulator, metrics: StepMetrics | None, episode_progress: np.ndarray) -> np.ndarray:
        """Observation (H, D) float32 in [0, 1]; ``metrics`` None right after reset."""
        g = sim.gauges()
        st = sim.state
        host = sim.cfg.host
        h, m = sim.num_hosts, sim.num_memcgs
        dram = float(host.dram_bytes)
        footprint = np.maximum(g.footprint_pages, 1.0)
        slot = np.zeros((h, m, len(SLOT_FEATURES)))
        slot[..., 0] = sim.memcg_active[None, :]
        slot[..., 1] = g.memory_current / dram
        slot[..., 2] = g.resident_pages / footprint
        slot[..., 3] = g.zswap_bytes / PAGE_SIZE / footprint
        slot[..., 4] = g.zswap_pages / footprint
        slot[..., 5] = (g.swap_pages + g.zero_pages + g.writeback_pages) / footprint
        per_min = 60.0 / host.step_s
        if metrics is not None:
            refaults = sum(metrics.refault_pages.values())
            slot[..., 6] = _squash(refaults * per_min / footprint, 0.01)
            slot[..., 7] = _squash(metrics.events["zswpout"] * per_min / footprint, 0.01)
            slot[..., 8] = _squash(metrics.events["zswpwb"] * per_min / footprint, 0.01)
        slot[..., 9] = st.psi_some_avg[..., 0] / 100.0
        slot[..., 10] = st.psi_some_avg[..., 1] / 100.0
        slot[..., 11] = st.psi_full_avg[..., 0] / 100.0
        resident_hist, zswap_hist = self._age_histograms(sim, with_zswap=self.mode == "full")
        slot[..., 12:16] = resident_hist / (footprint[..., None] / host.chunk_pages)
        if self.mode == "full":
            zswap_chunks = np.maximum(g.zswap_pages / host.chunk_pages, 1.0)
            slot[..., 16:19] = zswap_hist / zswap_chunks[..., None]
        slot[..., 19] = np.where(np.isfinite(st.memory_high), st.memory_high / dram, 1.0)
        slot[..., 20] = np.where(np.isfinite(st.zswap_max), st.zswap_max / dram, 1.0)
        slot[..., 21] = st.zswap_writeback
        slot *= sim.memcg_active[None, :, None]
        hostf = np.zeros((h, len(HOST_FEATURES)))
        hostf[:, 0] = (dram - g.dram_used_host) / dram
        hostf[:, 1] = g.pool_bytes_host / max(sim.max_pool_bytes, 1.0)
        if metrics is not None:
            hostf[:, 2] = metrics.host_device_utilisation
            hostf[:, 3] = _squash(metrics.host_device_read_latency_us, 1000.0)
            hostf[:, 4] = _squash(metrics.host_write_budget_used, 1.0)
        hostf[:, 5] = episode_progress
        obs = np.concatenate([slot[..., self._slot_index].reshape(h, -1), hostf[:, self._host_index]], axis=1)
        np.clip(obs, 0.0, 1.0, out=obs)
        return obs.astype(np.float32)

    @staticmethod
    def _age_histograms(sim: Simulator, with_zswap: bool) -> tuple[np.ndarray, np.ndarray]:
        """Chunks per memcg by age: resident memory by idle time (``RESIDENT_AGE_EDGES_S``) and
        zswap entries by time since store (``ZSWAP_AGE_EDGES_S``), (H, M, 4) and (H, M, 3).

        Counts "at least this old" per edge with block sums per memcg (each memcg's chunks are
        contiguous), then takes differences: the masks of every edge are written into one boolean
        block and summed per memcg in one call."""
        st, lay = sim.state, sim.layout
        h, m = sim.num_hosts, sim.num_memcgs
        nonempty = lay.block_len > 0
        starts = lay.block_start[nonempty]
        kinds = [(Loc.RESIDENT, st.last_access_s, RESIDENT_AGE_EDGES_S)]
        if with_zswap:
            kinds.append((Loc.ZSWAP, st.zswap_store_s, ZSWAP_AGE_EDGES_S))
        masks = np.empty((sum(len(edges) + 1 for *_, edges in kinds), h, lay.num_chunks), dtype=bool)
        first = 0
        for loc, since, edges in kinds:  # 2 locations x 2-3 edges, not chunks
            where = masks[first]
            np.equal(st.loc, loc, out=where)
            age = sim.now_f32 - since
            for i, edge in enumerate(edges, start=1):
                np.greater_equal(age, np.float32(edge), out=masks[first + i])
                masks[first + i] &= where
            first += len(edges) + 1
        at_least = np.zeros((masks.shape[0], h, m))
        at_least[:, :, nonempty] = np.add.reduceat(masks, starts, axis=2, dtype=np.int32)
        at_least = np.moveaxis(at_least, 0, -1)  # (H, M, masks)
        out = []
        first = 0
        for *_, edges in kinds:
            counts = at_least[..., first : first + len(edges) + 1]
            buckets = counts.copy()
            buckets[..., :-1] -= counts[..., 1:]  # at least e_i but not e_(i+1)
            out.append(buckets)
            first += len(edges) + 1
        if not with_zswap:
            out.append(np.zeros((h, m, len(ZSWAP_AGE_EDGES_S) + 1)))
        return out[0], out[1]

    def markdown_table(self) -> str:
        """The feature table for docstrings and the README."""
        rows = ["| index | feature | meaning | normalisation | kernel source |", "|---|---|---|---|---|"]
        for i, f in enumerate(self.slot_features):
            rows.append(
                f"| slot*{len(self.slot_features)} + {i} | {f.name} | {f.meaning} | {f.normalisation} | {f.source} |"
            )
        base = len(self.slot_features) * self.num_memcgs
        for i, f in enumerate(self.host_features):
            rows.append(f"| {base + i} | host.{f.name} | {f.meaning} | {f.normalisation} | {f.source} |")
        return "\n".join(rows)
