"""Per-step metrics (docs/model.md §12) and the refault latency distribution.

Every figure is per host and memcg slot, shape (H, M), unless named ``host_*`` (shape (H,)). Bytes
are bytes, times are seconds unless the name ends in ``_us``. No wall-clock time appears here.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, fields

import numpy as np

from .chunk_store import ChunkStore
from .state import COUNTER_NAMES, REFAULT_TIERS, STALL_SOURCES, WRITEBACK_SOURCES
from .units import PAGE_SIZE

__all__ = ["REFAULT_TIERS", "STALL_SOURCES", "StepMetrics", "step_metrics"]

LATENCY_SIGMA = 0.8
"""Spread (sd of log) of one refault's latency around its tier's mean: a unit-mean log-normal gives
p50 = 0.73x and p99 = 4.7x the mean (docs/calibration.md: swap-in p50 87, mean 95, p99 430 us)."""

_COUNTER_INDEX = {name: i for i, name in enumerate(COUNTER_NAMES)}
_GRID_US = np.geomspace(0.5, 2e6, 160)
_LOG_GRID = np.log(_GRID_US)


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    """Standard normal CDF (Abramowitz-Stegun 7.1.26 erf, |error| < 1.5e-7)."""
    z = np.abs(x) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = 1.0 - poly * np.exp(-z * z)
    return 0.5 * (1.0 + np.sign(x) * erf)


def _normal_cdf_in_place(x: np.ndarray) -> np.ndarray:
    """:func:`_normal_cdf` of ``x`` (float64, C-contiguous), bit for bit: the same operations in the
    same order, in three work arrays instead of a temporary per operation (``-z * z`` is ``-(z * z)``
    exactly; sums and products commute exactly). ``x`` is overwritten with the result, returned."""
    z = np.abs(x)
    z /= math.sqrt(2.0)
    t = z * 0.3275911
    t += 1.0
    np.divide(1.0, t, out=t)
    poly = t * 1.061405429  # Horner, innermost coefficient first
    for coefficient in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly += coefficient
        poly *= t
    z *= z
    np.negative(z, out=z)
    np.exp(z, out=z)
    poly *= z
    np.subtract(1.0, poly, out=poly)  # erf(|x| / sqrt 2)
    np.sign(x, out=x)
    x *= poly
    x += 1.0
    x *= 0.5
    return x


@functools.lru_cache(maxsize=64)
def _tier_cdf(mean_us: float) -> np.ndarray:
    """CDF on the grid of one tier's log-normal latency with mean ``mean_us`` (cached: the zswap
    and zero-page tiers have fixed means)."""
    mu = math.log(max(mean_us, 1e-3)) - 0.5 * LATENCY_SIGMA**2
    return _normal_cdf((_LOG_GRID - mu) / LATENCY_SIGMA)


LATENCY_GRID_US = _GRID_US
"""The latency grid (us) of :func:`refault_latency_cdf`: log-spaced from 0.5 us to 2 s, 160 points."""


def refault_latency_cdf(weights: np.ndarray, tier_means_us: np.ndarray) -> np.ndarray:
    """Refaults at or below each :data:`LATENCY_GRID_US` point, (H, grid): the mixture CDF scaled by
    the refault count, for summing over steps (then take quantiles of the sum).

    ``weights`` (H, T) refaults per tier; ``tier_means_us`` (H, T) each tier's mean latency."""
    mu = np.log(np.maximum(tier_means_us, 1e-3)) - 0.5 * LATENCY_SIGMA**2
    tiers = _normal_cdf((_LOG_GRID[None, None, :] - mu[..., None]) / LATENCY_SIGMA)
    return (weights[..., None] * tiers).sum(axis=1)


def refault_latency_quantile(weights: np.ndarray, tier_means_us: np.ndarray, q: float) -> np.ndarray:
    """Quantile ``q`` (us) of a mixture of log-normal tiers, per (host, memcg).

    ``weights`` (H, M, T) refaults per tier (zswap, swap, zero page); ``tier_means_us`` (H, T) each
    host's mean latency per tier. Zero where there were no refaults. The grid is log-spaced from
    0.5 us to 2 s (160 points), so the result is one of its points: the first whose mixture CDF
    reaches ``q`` (the first point if none does). Equals :func:`~.reference.reference_quantile`.
    """
    total = weights.sum(axis=-1)
    share = weights / np.maximum(total, 1e-300)[..., None]
    present = weights.reshape(-1, weights.shape[-1]).any(axis=0).tolist()  # tiers with a refault anywhere
    shared = (tier_means_us == tier_means_us[:1]).all(axis=0).tolist()  # one mean for every host
    # A tier nobody refaulted from would add exactly 0 to every row: it is skipped. The first
    # tier's products start the sum (0 + x is x), the others add in tier order, as on a zeroed CDF.
    cdf = None
    for t, (used, cached) in enumerate(zip(present, shared, strict=True)):
        if not used:
            continue
        if cached:
            tier = _tier_cdf(float(tier_means_us[0, t]))
        else:
            mu = np.log(np.maximum(tier_means_us[:, t], 1e-3)) - 0.5 * LATENCY_SIGMA**2
            x = _LOG_GRID - mu[:, None]
            x /= LATENCY_SIGMA
            tier = _normal_cdf_in_place(x)[:, None, :]
        if cdf is None:
            cdf = share[..., t, None] * tier
        else:
            cdf += share[..., t, None] * tier
    if cdf is None:  # no refaults at all
        return np.zeros(total.shape)
    idx = (cdf >= q).argmax(axis=-1)
    return np.where(total > 0, _GRID_US[idx], 0.0)


@dataclass
class StepMetrics:
    """What one step did. (H, M) per memcg slot unless the name starts with ``host_``."""

    memory_current_bytes: np.ndarray
    anon_resident_bytes: np.ndarray
    zswap_bytes: np.ndarray
    """Compressed bytes charged to the memcg (memory.stat ``zswap``)."""
    zswapped_bytes: np.ndarray
    """Original bytes of the pages stored in zswap (memory.stat ``zswapped``)."""
    swap_bytes: np.ndarray
    """Swap slots in use, bytes (memory.swap.current; includes zswap-backed slots)."""
    dram_bytes: np.ndarray
    """DRAM the memcg occupies: resident pages, pages under writeback, its zswap pool share."""
    footprint_bytes: np.ndarray
    """All of the workload's anonymous memory, wherever it is (the all-resident baseline)."""
    dram_saved_bytes: np.ndarray
    stall_s: dict[str, np.ndarray]
    """Memory stall task-seconds in the step, by source (STALL_SOURCES)."""
    refault_pages: dict[str, np.ndarray]
    """Pages faulted back this step, by tier: zswap, swap, zero."""
    cpu_s: dict[str, np.ndarray]
    """CPU seconds this step: compress, decompress, flush, reclaim."""
    writeback_pages: dict[str, np.ndarray]
    """Pages written back from zswap this step, by path."""
    psi_some_avg10: np.ndarray
    psi_some_avg60: np.ndarray
    psi_full_avg10: np.ndarray
    psi_some_stall_s: np.ndarray
    """Wall seconds in the step with at least one task stalled (PSI some)."""
    oom_kills: np.ndarray
    host_dram_used_bytes: np.ndarray
    host_dram_free_bytes: np.ndarray
    host_dram_saved_bytes: np.ndarray
    host_zswap_pool_bytes: np.ndarray
    host_zswap_pool_limit_bytes: np.ndarray
    host_device_utilisation: np.ndarray
    host_device_read_latency_us: np.ndarray
    host_device_bytes_written: np.ndarray
    host_device_bytes_read: np.ndarray
    host_device_backlog_bytes: np.ndarray
    host_write_budget_used: np.ndarray
    """Bytes written this step as a share of the device's write budget for the step's duration."""
    host_refault_tier_mean_us: np.ndarray
    """(H, 3) mean latency of one refault from each tier this step (zswap, swap, zero page), us."""
    _increments: np.ndarray = field(repr=False)
    """(len(COUNTER_NAMES), H, M) every counter's increment in the step (behind ``events``)."""
    _refault_by_tier: np.ndarray = field(repr=False)
    """(len(REFAULT_TIERS), H, M) the ``refault_pages`` arrays as one block."""
    _step_s: float = field(repr=False)
    """The step's length (s)."""

    # Computed on first read (nothing in the training loop needs them): refault_latency_mean_us,
    # promotion_rate_per_min, events, refault_latency_p99_us.
    LAZY = ("refault_latency_mean_us", "events", "promotion_rate_per_min", "refault_latency_p99_us")

    @functools.cached_property
    def events(self) -> dict[str, np.ndarray]:
        """Per-step increments of every memory.stat / memory.events counter (pages or events)."""
        return dict(zip(COUNTER_NAMES, self._increments, strict=True))

    def event(self, name: str) -> np.ndarray:
        """``events[name]`` without making the dict (the row of the increments block)."""
        return self._increments[_COUNTER_INDEX[name]]

    @functools.cached_property
    def refault_latency_mean_us(self) -> np.ndarray:
        """Mean latency of the step's refaults (us) per memcg: the tiers' mean latencies weighted
        by their refaults (summed in tier order); 0 (0 / 1) without refaults."""
        by_tier = self._refault_by_tier
        n_refaults = np.add.reduce(by_tier, axis=0)  # whole pages: exact
        latency_sum = np.add.reduce(by_tier * self.host_refault_tier_mean_us.T[:, :, None], axis=0)
        return latency_sum / np.maximum(n_refaults, 1.0)

    @functools.cached_property
    def promotion_rate_per_min(self) -> np.ndarray:
        """Pages faulted back from zswap or swap per minute, as a share of the footprint (refaults
        per footprint page; 0 for an empty footprint)."""
        footprint_pages = self.footprint_bytes / PAGE_SIZE  # exact: whole pages times 4 KiB
        promotion = np.add.reduce(self._refault_by_tier, axis=0) / np.maximum(footprint_pages, 1.0)
        promotion *= footprint_pages > 0
        promotion *= 60.0 / self._step_s
        return promotion

    @functools.cached_property
    def refault_latency_p99_us(self) -> np.ndarray:
        """99th percentile of the step's refault latency (us) per memcg, zero without refaults:
        the mixture of the tiers' log-normals (:func:`refault_latency_quantile`). Computed on first
        read — nothing in the step loop needs it; summaries take the episode's p99 from the summed
        latency CDF instead."""
        weights = np.stack([self.refault_pages[tier] for tier in REFAULT_TIERS], axis=-1)
        p99 = np.zeros(weights.shape[:-1])
        if np.count_nonzero(weights):
            p99[...] = refault_latency_quantile(weights, self.host_refault_tier_mean_us, 0.99)
        return p99

    @property
    def stall_total_s(self) -> np.ndarray:
        return sum(self.stall_s.values())  # type: ignore[return-value]

    @property
    def cpu_total_s(self) -> np.ndarray:
        return sum(self.cpu_s.values())  # type: ignore[return-value]

    def host(self, i: int) -> dict[str, object]:
        """Host ``i``'s metrics as plain Python lists and floats (for ``info`` and JSON)."""
        out: dict[str, object] = {}
        for name in self._public_names():
            value = getattr(self, name)
            if isinstance(value, dict):
                out[name] = {k: v[i].tolist() for k, v in value.items()}
            else:
                out[name] = value[i].tolist()
        return out

    @classmethod
    def _public_names(cls) -> list[str]:
        """Every figure's name: the public fields, then the ones computed on first read."""
        return [f.name for f in fields(cls) if not f.name.startswith("_")] + list(cls.LAZY)

    def all_arrays(self) -> dict[str, np.ndarray]:
        """Every array, flattened names (``stall_s.zswap_refault``)."""
        out: dict[str, np.ndarray] = {}
        for name in self._public_names():
            value = getattr(self, name)
            if isinstance(value, dict):
                for k, v in value.items():
                    out[f"{name}.{k}"] = v
            else:
                out[name] = value
        return out


_CPU_COUNTER_ROWS = [
    COUNTER_NAMES.index(k) for k in ("cpu_compress_s", "cpu_decompress_s", "cpu_flush_s", "cpu_reclaim_s")
]
"""Rows of the counter block behind ``StepMetrics.cpu_s`` (compress, decompress, flush, reclaim)."""


def step_metrics(
    store: ChunkStore,
    increments: np.ndarray,
    device,
    some_s: np.ndarray,
    tier_means_us: np.ndarray,
) -> StepMetrics:
    """The step's :class:`StepMetrics` from the store's gauges and tallies at its end.

    ``increments`` (len(COUNTER_NAMES), H, M): every counter's change in the step; ``device``: the
    device's :class:`~.swapdev.DeviceTotals`; ``some_s`` (H, M): PSI some seconds;
    ``tier_means_us`` (H, 3): the mean latency of a refault from zswap, swap and the zero map (the
    swap column is the step's, from the device)."""
    st, host, acc = store.state, store.host, store.tallies
    dev = device.dev
    g = store.gauges()
    pages = host.chunk_pages
    footprint = g.footprint_pages * PAGE_SIZE
    saved = footprint - g.dram_bytes
    writeback_pages = iter(acc.writeback_by_source * pages)
    budget_step = host.swap.write_budget_bytes_per_day * host.step_s / 86400.0
    written = device.bytes_written
    cpu = increments[_CPU_COUNTER_ROWS]
    return StepMetrics(
        memory_current_bytes=g.memory_current,
        anon_resident_bytes=g.resident_pages * PAGE_SIZE,
        zswap_bytes=g.zswap_bytes,
        zswapped_bytes=g.zswap_pages * PAGE_SIZE,
        swap_bytes=g.swap_slot_pages * PAGE_SIZE,
        dram_bytes=g.dram_bytes,
        footprint_bytes=footprint,
        dram_saved_bytes=saved,
        stall_s=dict(acc.stall_s),
        refault_pages=dict(acc.refault_pages),
        cpu_s={"compress": cpu[0], "decompress": cpu[1], "flush": cpu[2], "reclaim": cpu[3]},
        writeback_pages={name: next(writeback_pages) for name in WRITEBACK_SOURCES},
        psi_some_avg10=st.psi_some_avg[..., 0].copy(),
        psi_some_avg60=st.psi_some_avg[..., 1].copy(),
        psi_full_avg10=st.psi_full_avg[..., 0].copy(),
        psi_some_stall_s=some_s,
        oom_kills=acc.oom_kills,
        host_dram_used_bytes=g.dram_used_host,
        host_dram_free_bytes=host.dram_bytes - g.dram_used_host,
        host_dram_saved_bytes=np.add.reduce(saved, axis=1),
        host_zswap_pool_bytes=g.pool_bytes_host,
        host_zswap_pool_limit_bytes=np.full(store.num_hosts, store.max_pool_bytes),
        host_device_utilisation=dev.utilisation,
        host_device_read_latency_us=dev.read_latency_us,
        host_device_bytes_written=written,
        host_device_bytes_read=device.bytes_read,
        host_device_backlog_bytes=st.device_backlog_pages * PAGE_SIZE,
        host_write_budget_used=written / budget_step,
        host_refault_tier_mean_us=tier_means_us,
        _increments=increments,
        _refault_by_tier=acc.refault_by_tier,
        _step_s=host.step_s,
    )
