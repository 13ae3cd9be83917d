"""Workload generators: what each chunk of a tenant's memory looks like, and how tenants change.

Separate from the dynamics: this module draws per-chunk attributes (access rate, compressed size)
and evaluates each tenant's footprint and load over time; :mod:`.simulator` steps them.

Distributions (documented in :class:`~.config.WorkloadConfig`):

* access rate per page (Hz): mixture of log-uniform bands; a page is touched within ``t`` seconds
  with probability ``1 - exp(-rate * t)``;
* compressed size per page: zero-filled with ``zero_filled_share``, incompressible (4096 B, stored
  as-is) with ``incompressible_share``, otherwise ``4096 / ratio`` with ``log(ratio)`` normal around
  ``log(compress_ratio_median * compressor.ratio_vs_lzo)`` (sd ``compress_ratio_sigma``), at least 32 B.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .config import MAX_RATE_BANDS, HostConfig, ScenarioConfig, WorkloadConfig
from .units import PAGE_SIZE

MIN_COMPRESSED_BYTES = 32.0
"""zsmalloc's smallest size class."""
MAX_BANDS = MAX_RATE_BANDS


def zsmalloc_class_bytes(compressed_bytes: np.ndarray, huge_class_bytes: int) -> np.ndarray:
    """Pool bytes one object of that compressed length occupies: rounded up to zsmalloc's 16-byte
    size classes (minimum 32), and a whole page above the huge-class threshold."""
    rounded = np.ceil(np.maximum(compressed_bytes, MIN_COMPRESSED_BYTES) / 16.0) * 16.0
    return np.where(compressed_bytes > huge_class_bytes, float(PAGE_SIZE), rounded).astype(np.float32)


@dataclass(frozen=True)
class AttributeTables:
    """Per-memcg-slot distribution parameters, padded to (M, MAX_BANDS) for vectorised draws."""

    band_cum_share: np.ndarray  # (M, MAX_BANDS) cumulative share, last = 1
    band_log_lo: np.ndarray  # (M, MAX_BANDS) ln(lo_hz)
    band_log_span: np.ndarray  # (M, MAX_BANDS) ln(hi_hz / lo_hz)
    log_ratio_median: np.ndarray  # (M,)
    log_ratio_sigma: np.ndarray  # (M,)
    zero_share: np.ndarray  # (M,)
    incompressible_share: np.ndarray  # (M,)

    @classmethod
    def build(cls, scenario: ScenarioConfig) -> AttributeTables:
        m = scenario.max_memcgs
        cum = np.ones((m, MAX_BANDS))
        lo = np.zeros((m, MAX_BANDS))
        span = np.zeros((m, MAX_BANDS))
        med = np.zeros(m)
        sig = np.zeros(m)
        zero = np.zeros(m)
        incomp = np.zeros(m)
        scale = scenario.host.compressor.ratio_vs_lzo
        for i, tenant in enumerate(scenario.tenants):
            w = tenant.workload
            if len(w.rate_bands) > MAX_BANDS:
                raise ValueError(f"{tenant.name}: at most {MAX_BANDS} rate bands")
            running = 0.0
            for j, band in enumerate(w.rate_bands):
                running += band.share
                cum[i, j] = running
                lo[i, j] = math.log(band.lo_hz)
                span[i, j] = math.log(band.hi_hz / band.lo_hz)
            cum[i, len(w.rate_bands) - 1 :] = 1.0
            lo[i, len(w.rate_bands) :] = lo[i, len(w.rate_bands) - 1]
            span[i, len(w.rate_bands) :] = span[i, len(w.rate_bands) - 1]
            med[i] = math.log(max(1.0, w.compress_ratio_median * scale))
            sig[i] = w.compress_ratio_sigma
            zero[i] = w.zero_filled_share
            incomp[i] = w.incompressible_share
        return cls(cum, lo, span, med, sig, zero, incomp)


def draw_access_rates(owner: np.ndarray, tables: AttributeTables, u_band: np.ndarray, u_rate: np.ndarray) -> np.ndarray:
    """Per-page access rate (Hz, float32) for chunks of memcg ``owner`` (broadcast to u's shape)."""
    cum = tables.band_cum_share[owner]  # (C, B)
    band = np.zeros(u_band.shape, dtype=np.int64)
    for j in range(MAX_BANDS - 1):  # loop over bands (<= 6), not chunks
        band += u_band >= cum[:, j]
    # Vectorised gather of the band's bounds for (H, C) or (C,) draws.
    lo_tab = tables.band_log_lo[owner]  # (C, B)
    span_tab = tables.band_log_span[owner]
    cols = np.arange(owner.shape[0])
    lo = lo_tab[cols, band]
    span = span_tab[cols, band]
    return np.exp(lo + span * u_rate).astype(np.float32)


def draw_compressed_bytes(
    owner: np.ndarray,
    tables: AttributeTables,
    u_class: np.ndarray,
    u_norm1: np.ndarray,
    u_norm2: np.ndarray,
) -> np.ndarray:
    """Compressed bytes per page (float32): 0 zero-filled, 4096 incompressible, else 4096 / ratio."""
    zero = u_class < tables.zero_share[owner]
    incompressible = (~zero) & (u_class < tables.zero_share[owner] + tables.incompressible_share[owner])
    # Box-Muller normal from two uniforms.
    normal = np.sqrt(-2.0 * np.log(1.0 - u_norm1.astype(np.float64))) * np.cos(2.0 * np.pi * u_norm2)
    log_ratio = tables.log_ratio_median[owner] + tables.log_ratio_sigma[owner] * normal
    compressed = PAGE_SIZE / np.exp(np.maximum(log_ratio, 0.0))
    compressed = np.clip(compressed, MIN_COMPRESSED_BYTES, PAGE_SIZE)
    compressed[zero] = 0.0
    compressed[incompressible] = PAGE_SIZE
    return compressed.astype(np.float32)


def expected_compressed_bytes(w: WorkloadConfig, host: HostConfig) -> float:
    """Mean compressed bytes per page of a workload (for converting byte targets to chunks)."""
    ratio = w.compress_ratio_median * host.compressor.ratio_vs_lzo
    mean_ratio_inv = math.exp(-math.log(ratio) + 0.5 * w.compress_ratio_sigma**2)
    normal_share = 1.0 - w.zero_filled_share - w.incompressible_share
    return normal_share * PAGE_SIZE * min(1.0, mean_ratio_inv) + w.incompressible_share * PAGE_SIZE


def expected_idle_share(w: WorkloadConfig, idle_s: float, grid: int = 4096) -> float:
    """Expected share of a steady workload's pages not touched for ``idle_s`` seconds (the "cold
    share" of docs/calibration.md), from its rate bands: sum over bands of share * E[exp(-rate * idle_s)]."""
    total = 0.0
    for band in w.rate_bands:
        x = np.linspace(math.log(band.lo_hz), math.log(band.hi_hz), grid)
        total += band.share * float(np.mean(np.exp(-np.exp(x) * idle_s)))
    return total


@dataclass(frozen=True)
class ScheduleTables:
    """Each tenant's footprint (chunks) and access-rate multiplier per step, precomputed, (S, M)."""

    size_chunks: np.ndarray  # (S, M) float64 target footprint in chunks at the end of each step
    rate_multiplier: np.ndarray  # (S, M) float32
    shift_fraction: np.ndarray  # (S, M) share of memory redrawing its access rate during the step
    shift_invert: np.ndarray  # (S, M) bool: that share swaps rates by rank instead of redrawing


def build_schedule(scenario: ScenarioConfig, num_steps: int, first_step: int = 0) -> ScheduleTables:
    """Evaluate every tenant's phases at the end of steps ``first_step .. first_step+num_steps-1``."""
    host = scenario.host
    m = scenario.max_memcgs
    t_end = (np.arange(first_step, first_step + num_steps) + 1.0) * host.step_s
    t_start = t_end - host.step_s
    size = np.zeros((num_steps, m))
    rate = np.ones((num_steps, m), dtype=np.float64)
    shift = np.zeros((num_steps, m))
    invert = np.zeros((num_steps, m), dtype=bool)
    for i, tenant in enumerate(scenario.tenants):
        w = tenant.workload
        bytes_t = np.full(num_steps, float(w.size_bytes))
        size_factor = np.ones(num_steps)
        for p in w.phases:
            progress = np.clip((t_end - p.start_s) / max(p.duration_s, 1e-9), 0.0, 1.0)
            active = (t_end > p.start_s) & (t_end <= p.end_s)
            if p.kind == "growth":
                bytes_t += p.size_delta_bytes * progress
            elif p.kind == "shrink":
                bytes_t -= p.size_delta_bytes * progress
            elif p.kind == "diurnal":
                on = t_end >= p.start_s
                wave = np.sin(2.0 * np.pi * (t_end - p.start_s) / p.period_s)
                size_factor *= np.where(on, 1.0 + p.size_amplitude * wave, 1.0)
                rate[:, i] *= np.where(on, 1.0 + p.rate_amplitude * wave, 1.0)
            elif p.kind == "burst":
                bytes_t += np.where(active, p.size_delta_bytes, 0.0)
                rate[:, i] *= np.where(active, p.rate_multiplier, 1.0)
            elif p.kind == "shift":
                fires = (t_start <= p.start_s) & (p.start_s < t_end)
                shift[:, i] = np.maximum(shift[:, i], np.where(fires, p.fraction, 0.0))
                invert[:, i] |= fires & p.invert
        size[:, i] = np.maximum(bytes_t * size_factor, 0.0) / host.chunk_bytes
    return ScheduleTables(size, rate.astype(np.float32), shift, invert)


def invert_rates_by_rank(rate_hz: np.ndarray, chosen: np.ndarray, owner: np.ndarray) -> None:
    """Within each (host, memcg), give the ``chosen`` chunks each other's rates in reversed rank order:
    the k-th coldest takes the k-th hottest's rate (in place on ``rate_hz``, (H, C)). The chosen
    chunks' rate distribution is unchanged; its cold end and hot end trade places."""
    rows, cols = np.nonzero(chosen)
    if rows.size == 0:
        return
    group = rows.astype(np.int64) * (int(owner.max()) + 1) + owner[cols]
    rates = rate_hz[rows, cols]
    order = np.lexsort((cols, rates, group))  # by group, then rate ascending (ties by slot)
    sorted_group = group[order]
    starts = np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]])
    ends = np.r_[starts[1:], sorted_group.size]
    run = np.repeat(np.arange(starts.size), ends - starts)
    position = np.arange(sorted_group.size)
    mirrored = starts[run] + ends[run] - 1 - position  # the same rank counted from the other end
    new = np.empty_like(rates)
    new[order] = rates[order][mirrored]
    rate_hz[rows, cols] = new
