"""Plain statements of what the env computes each step, for the differential tests of its fast
paths (tests/test_env_speed_paths.py): the observation feature by feature (age histograms as one
mask per edge), the reward terms, and the step info as a dict of arrays.

Each is written to be read, not run in a training loop. The fast versions
(:class:`~.features.ObservationBuilder`, :func:`~.reward.weighted_terms`,
:meth:`~.core.OffloadCore.step_info`) equal them bit for bit.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ..sim import StepMetrics
from ..sim.lru import ChunkLayout
from ..sim.state import STALL_SOURCES, Loc
from ..sim.units import PAGE_SIZE
from .features import HOST_FEATURES, RESIDENT_AGE_EDGES_S, SLOT_FEATURES, ZSWAP_AGE_EDGES_S
from .reward import GiB, RewardConfig


def _squash(x: np.ndarray, scale: float) -> np.ndarray:
    x = np.maximum(x, 0.0)
    return x / (x + scale)


def reference_histograms(st: SimpleNamespace, layout: ChunkLayout, with_zswap: bool) -> tuple[np.ndarray, np.ndarray]:
    """Chunks per memcg by age, (H, M, 4) and (H, M, 3): a mask per edge, summed per memcg block."""
    h, m = st.loc.shape[0], layout.num_memcgs
    now = st.now_s.astype(np.float32)[:, None]
    out = []
    for loc, since, edges in (
        (Loc.RESIDENT, st.last_access_s, RESIDENT_AGE_EDGES_S),
        (Loc.ZSWAP, st.zswap_store_s, ZSWAP_AGE_EDGES_S),
    ):
        at_least = np.zeros((h, m, len(edges) + 1))
        for memcg in range(m):
            block = slice(layout.block_start[memcg], layout.block_start[memcg] + layout.block_len[memcg])
            where = st.loc[:, block] == loc
            age = now - since[:, block]
            at_least[:, memcg, 0] = where.sum(axis=1)
            for i, edge in enumerate(edges, start=1):
                at_least[:, memcg, i] = ((age >= np.float32(edge)) & where).sum(axis=1)
        buckets = at_least.copy()
        buckets[..., :-1] -= at_least[..., 1:]
        out.append(buckets if loc == Loc.RESIDENT or with_zswap else np.zeros_like(buckets))
    return out[0], out[1]


def reference_observation(sim, metrics: StepMetrics | None, progress: np.ndarray, mode: str) -> np.ndarray:
    """The observation (H, D) float32 of ``sim`` after ``metrics`` (None right after a reset), one
    feature at a time as the table in :mod:`.features` states it; ``mode`` "full" or "kernel"."""
    g, st, host = sim.gauges(), sim.state, sim.cfg.host
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
        slot[..., 6] = _squash(sum(metrics.refault_pages.values()) * per_min / footprint, 0.01)
        slot[..., 7] = _squash(metrics.events["zswpout"] * per_min / footprint, 0.01)
        slot[..., 8] = _squash(metrics.events["zswpwb"] * per_min / footprint, 0.01)
    slot[..., 9] = st.psi_some_avg[..., 0] / 100.0
    slot[..., 10] = st.psi_some_avg[..., 1] / 100.0
    slot[..., 11] = st.psi_full_avg[..., 0] / 100.0
    resident, zswap = reference_histograms(st, sim.layout, mode == "full")
    slot[..., 12:16] = resident / (footprint[..., None] / host.chunk_pages)
    slot[..., 16:19] = zswap / np.maximum(g.zswap_pages / host.chunk_pages, 1.0)[..., None]
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
    hostf[:, 5] = progress
    keep = [i for i, f in enumerate(SLOT_FEATURES) if mode == "full" or f.source != "simulator"]
    keep_host = [i for i, f in enumerate(HOST_FEATURES) if mode == "full" or f.source != "simulator"]
    obs = np.concatenate([slot[..., keep].reshape(h, -1), hostf[:, keep_host]], axis=1)
    np.clip(obs, 0.0, 1.0, out=obs)
    return obs.astype(np.float32)


def reference_terms(m: StepMetrics, config: RewardConfig, step_s: float) -> dict[str, np.ndarray]:
    """Each reward term per host, (H,), as :class:`~.reward.RewardConfig` defines it."""
    hours = step_s / 3600.0
    psi_over = (m.psi_some_avg10 > config.psi_target_percent).any(axis=1) * step_s
    k = config.scale
    return {
        "dram": k * config.w_dram * (m.host_dram_saved_bytes / GiB) * hours,
        "stall": -k * config.w_stall * m.stall_total_s.sum(axis=1),
        "cpu": -k * config.w_cpu * m.cpu_total_s.sum(axis=1),
        "ssd": -k * config.w_ssd * (m.host_device_bytes_written / GiB),
        "oom": -k * config.w_oom * m.oom_kills.sum(axis=1),
        "psi": -k * config.w_psi * psi_over,
    }


def reference_step_info(
    now_s: np.ndarray, m: StepMetrics, terms: dict, reclaim: np.ndarray, writeback: np.ndarray
) -> dict:
    """A step's info: the per-host sums of the step's per-memcg figures, the per-memcg figures an
    agent sees, the requests and what they did, each reward term, the clock (no wall time)."""
    refaults = m.refault_pages
    per_memcg = [
        m.footprint_bytes,
        m.stall_total_s,
        *(m.stall_s[k] for k in STALL_SOURCES),
        sum(refaults.values()),
        *refaults.values(),
        m.cpu_total_s,
        m.oom_kills,
    ]
    footprint, stall, *per_host = np.array(per_memcg).sum(axis=2)
    n = len(STALL_SOURCES)
    return {
        "dram_saved_bytes": m.host_dram_saved_bytes,
        "dram_saved_share": m.host_dram_saved_bytes / np.maximum(footprint, 1.0),
        "dram_used_bytes": m.host_dram_used_bytes,
        "stall_s": stall,
        **{f"stall_s.{k}": v for k, v in zip(STALL_SOURCES, per_host[:n], strict=True)},
        "refault_pages": per_host[n],
        **{f"refault_pages.{k}": v for k, v in zip(refaults, per_host[n + 1 : n + 1 + len(refaults)], strict=True)},
        "refault_latency_mean_us": m.refault_latency_mean_us,
        "refault_latency_p99_us": m.refault_latency_p99_us,
        "cpu_s": per_host[-2],
        "swap_bytes_written": m.host_device_bytes_written,
        "swap_bytes_read": m.host_device_bytes_read,
        "device_utilisation": m.host_device_utilisation,
        "zswap_pool_bytes": m.host_zswap_pool_bytes,
        "psi_some_avg10": m.psi_some_avg10,
        "psi_some_avg60": m.psi_some_avg60,
        "psi_full_avg10": m.psi_full_avg10,
        "promotion_rate_per_min": m.promotion_rate_per_min,
        "oom_kills": per_host[-1],
        "reclaim_requested_bytes": reclaim,
        "writeback_requested_bytes": writeback,
        "reclaimed_pages": m.events["pgsteal_proactive"],
        "written_back_pages": m.writeback_pages["proactive"],
        **{f"reward.{k}": v for k, v in terms.items()},
        "sim_time_s": now_s.copy(),
    }
