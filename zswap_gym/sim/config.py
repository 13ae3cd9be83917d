"""Typed, validated configuration of a simulated host and its tenants.

Every number has its unit in its name or docstring. Defaults come from ``docs/calibration.md``; each is a
parameter a scenario may override. An invalid value raises :class:`ConfigError` naming the field and
the allowed range. Scenarios are YAML files under ``configs/scenarios/`` (see :mod:`.scenario_io`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from .units import PAGE_SIZE

GiB = 1 << 30
MiB = 1 << 20
MAX_RATE_BANDS = 6
"""Access-rate bands per workload (the vectorised draw pads every tenant to this many)."""


class ConfigError(ValueError):
    """An invalid configuration value; the message names the field and what is allowed."""


def _check_range(
    where: str,
    name: str,
    value: float,
    lo: float,
    hi: float = math.inf,
    *,
    lo_open: bool = False,
) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where}.{name} = {value!r}: must be a number")
    if not math.isfinite(value) and not (hi == math.inf and value == math.inf):
        raise ConfigError(f"{where}.{name} = {value!r}: must be finite")
    too_low = value <= lo if lo_open else value < lo
    if too_low or value > hi:
        left = "(" if lo_open else "["
        right = "]" if hi != math.inf else ")"
        raise ConfigError(f"{where}.{name} = {value!r}: must be in {left}{lo}, {hi}{right}")


def _check_int(where: str, name: str, value: object, lo: int, hi: float = math.inf) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}.{name} = {value!r}: must be a whole number in [{lo}, {hi}]")
    _check_range(where, name, value, lo, hi)


def _check_optional_bytes(where: str, name: str, value: int | None, lo: int = 0) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}.{name} = {value!r}: must be a whole number of bytes or 'max'")
    _check_range(where, name, value, lo)


# --------------------------------------------------------------------------------------------------
# Host hardware and kernel parameters
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SwapDeviceConfig:
    """The swap device behind zswap (an NVMe SSD by default).

    Latency of a swap-in grows with utilisation as in an M/M/1 queue: ``read_latency_us / (1 - rho)``,
    where ``rho`` includes queued writeback (writes are asynchronous but share the device).
    """

    capacity_bytes: int = 64 * GiB
    """Size of the swap area (slots = capacity / 4 KiB)."""
    read_iops: float = 400_000.0
    """Random 4 KiB reads per second the device sustains."""
    write_iops: float = 150_000.0
    """Random 4 KiB writes per second the device sustains."""
    read_bandwidth_bytes_per_s: float = 3.0e9
    write_bandwidth_bytes_per_s: float = 1.5e9
    read_latency_us: float = 80.0
    """Unloaded device time of one 4 KiB random read (NVMe QD1: 60-100 us, docs/calibration.md)."""
    write_budget_bytes_per_day: float = 86.4e9
    """Endurance budget: bytes that may be written per day (TMO held ~1 MB/s per host)."""

    def validate(self, where: str = "host.swap") -> None:
        _check_int(where, "capacity_bytes", self.capacity_bytes, 0)
        _check_range(where, "read_iops", self.read_iops, 0, lo_open=True)
        _check_range(where, "write_iops", self.write_iops, 0, lo_open=True)
        _check_range(where, "read_bandwidth_bytes_per_s", self.read_bandwidth_bytes_per_s, 0, lo_open=True)
        _check_range(where, "write_bandwidth_bytes_per_s", self.write_bandwidth_bytes_per_s, 0, lo_open=True)
        _check_range(where, "read_latency_us", self.read_latency_us, 0, 1e6, lo_open=True)
        _check_range(where, "write_budget_bytes_per_day", self.write_budget_bytes_per_day, 0, lo_open=True)


COMPRESSOR_PRESETS: dict[str, dict[str, float]] = {
    # Per-4 KiB costs and the ratio relative to lzo (zram fio benchmarks and the Intel zswap study,
    # docs/calibration.md). ratio_vs_lzo scales a workload's lzo compression ratio.
    "lz4": {"compress_us_per_page": 3.0, "decompress_us_per_page": 1.7, "ratio_vs_lzo": 2.6 / 2.8},
    "lzo-rle": {"compress_us_per_page": 5.0, "decompress_us_per_page": 2.2, "ratio_vs_lzo": 2.7 / 2.8},
    "lzo": {"compress_us_per_page": 6.0, "decompress_us_per_page": 2.4, "ratio_vs_lzo": 1.0},
    "zstd": {"compress_us_per_page": 42.0, "decompress_us_per_page": 11.0, "ratio_vs_lzo": 3.4 / 2.8},
}


@dataclass(frozen=True)
class CompressorConfig:
    """The zswap compressor: CPU cost per 4 KiB page and its compression ratio relative to lzo."""

    name: str = "lzo"
    compress_us_per_page: float = 6.0
    decompress_us_per_page: float = 2.4
    ratio_vs_lzo: float = 1.0

    @classmethod
    def preset(cls, name: str) -> CompressorConfig:
        if name not in COMPRESSOR_PRESETS:
            raise ConfigError(f"host.compressor.name = {name!r}: must be one of {sorted(COMPRESSOR_PRESETS)}")
        return cls(name=name, **COMPRESSOR_PRESETS[name])

    def validate(self, where: str = "host.compressor") -> None:
        _check_range(where, "compress_us_per_page", self.compress_us_per_page, 0, 1e4)
        _check_range(where, "decompress_us_per_page", self.decompress_us_per_page, 0, 1e4)
        _check_range(where, "ratio_vs_lzo", self.ratio_vs_lzo, 0.1, 10)


@dataclass(frozen=True)
class ZswapConfig:
    """Global zswap parameters (``/sys/module/zswap/parameters``) and allocator constants."""

    enabled: bool = True
    max_pool_percent: float = 20.0
    """Pool limit as a share of DRAM (kernel default 20)."""
    accept_threshold_percent: float = 90.0
    """Once full, stores are rejected until the pool falls below this share of the limit (default 90)."""
    shrinker_enabled: bool = False
    """The memcg-aware zswap shrinker (default off unless CONFIG_ZSWAP_SHRINKER_DEFAULT_ON)."""
    entry_metadata_bytes: int = 72
    """DRAM per stored page outside the pool: ``struct zswap_entry`` plus its xarray slot."""
    zsmalloc_huge_class_bytes: int = 3264
    """zsmalloc objects above this size take a whole 4 KiB page (the huge class)."""
    stats_flush_us: float = 10.0
    """CPU per store for the forced memcg stats flush in ``obj_cgroup_may_zswap()`` when a
    ``memory.zswap.max`` other than 0 or max is set (the seed thread calls it "pretty expensive";
    uncertain, a parameter)."""

    def validate(self, where: str = "host.zswap") -> None:
        _check_range(where, "max_pool_percent", self.max_pool_percent, 0, 100)
        _check_range(where, "accept_threshold_percent", self.accept_threshold_percent, 0, 100)
        _check_range(where, "entry_metadata_bytes", self.entry_metadata_bytes, 0, PAGE_SIZE)
        _check_range(where, "zsmalloc_huge_class_bytes", self.zsmalloc_huge_class_bytes, 32, PAGE_SIZE)
        _check_range(where, "stats_flush_us", self.stats_flush_us, 0, 1e5)


@dataclass(frozen=True)
class HostConfig:
    """One machine: DRAM, NUMA nodes, the swap device, zswap and the control interval."""

    dram_bytes: int = 16 * GiB
    nr_nodes: int = 1
    """NUMA nodes: an over-``memory.zswap.max`` store writes back at most one entry per node."""
    chunk_pages: int = 1024
    """4 KiB pages simulated as one unit (accessed, reclaimed, compressed and refaulted together)."""
    step_s: float = 10.0
    """Simulated seconds per step (one control interval)."""
    other_used_bytes: int = 1 * GiB
    """DRAM used by the kernel and page cache, not modelled page by page."""
    watermark_min_percent: float = 1.0
    """Free DRAM below this share triggers direct reclaim (charged to the allocating memcgs)."""
    watermark_low_percent: float = 1.5
    """Free DRAM below this share wakes kswapd (background reclaim, not charged to any memcg)."""
    watermark_high_percent: float = 2.0
    """kswapd reclaims until free DRAM is back above this share."""
    page_fault_us: float = 13.0
    """Fault handling per refaulted page, besides decompression or I/O (docs/calibration.md: ~16-19 us mean
    zswap refault with lzo on a VM, of which ~2.4 us is decompression)."""
    reclaim_us_per_page: float = 0.5
    """CPU to scan, isolate and unmap one page during reclaim (besides compression)."""
    swap: SwapDeviceConfig = field(default_factory=SwapDeviceConfig)
    zswap: ZswapConfig = field(default_factory=ZswapConfig)
    compressor: CompressorConfig = field(default_factory=CompressorConfig)

    @property
    def chunk_bytes(self) -> int:
        return self.chunk_pages * PAGE_SIZE

    def validate(self, where: str = "host") -> None:
        _check_range(where, "dram_bytes", self.dram_bytes, 64 * MiB)
        _check_int(where, "dram_bytes", self.dram_bytes, 64 * MiB)
        _check_int(where, "nr_nodes", self.nr_nodes, 1, 64)
        _check_int(where, "chunk_pages", self.chunk_pages, 1, 1 << 20)
        _check_int(where, "other_used_bytes", self.other_used_bytes, 0)
        _check_range(where, "step_s", self.step_s, 0.1, 3600)
        _check_range(where, "other_used_bytes", self.other_used_bytes, 0, self.dram_bytes)
        _check_range(where, "watermark_min_percent", self.watermark_min_percent, 0, 50)
        _check_range(where, "watermark_low_percent", self.watermark_low_percent, self.watermark_min_percent, 50)
        _check_range(where, "watermark_high_percent", self.watermark_high_percent, self.watermark_low_percent, 50)
        _check_range(where, "page_fault_us", self.page_fault_us, 0, 1e4)
        _check_range(where, "reclaim_us_per_page", self.reclaim_us_per_page, 0, 1e4)
        self.swap.validate(f"{where}.swap")
        self.zswap.validate(f"{where}.zswap")
        self.compressor.validate(f"{where}.compressor")


# --------------------------------------------------------------------------------------------------
# Workloads
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateBand:
    """A share of a workload's memory whose per-page access rate is log-uniform in [lo_hz, hi_hz]."""

    share: float
    lo_hz: float
    hi_hz: float

    def validate(self, where: str) -> None:
        _check_range(where, "share", self.share, 0, 1)
        _check_range(where, "lo_hz", self.lo_hz, 0, 1e6, lo_open=True)
        _check_range(where, "hi_hz", self.hi_hz, self.lo_hz, 1e6)


PHASE_KINDS = ("growth", "shrink", "diurnal", "shift", "burst")


@dataclass(frozen=True)
class Phase:
    """A change of a workload over time.

    ======== ==================================================================================
    kind     meaning (fields used)
    ======== ==================================================================================
    growth   footprint grows linearly by ``size_delta_bytes`` over [start_s, start_s+duration_s]
    shrink   footprint shrinks linearly by ``size_delta_bytes`` over the same window (frees)
    diurnal  footprint x (1 + size_amplitude sin) and access rates x (1 + rate_amplitude sin),
             period ``period_s``, from ``start_s`` on
    shift    at ``start_s`` a ``fraction`` of the memory draws fresh access rates (the working
             set moves: some cold memory turns hot); with ``invert`` the chosen memory instead
             swaps rates by rank (its coldest pages take its hottest pages' rates and the
             reverse), so its cold set turns hot and its hot set cold, the rates' distribution
             unchanged
    burst    during the window, access rates x ``rate_multiplier`` and ``size_delta_bytes`` more
    ======== ==================================================================================
    """

    kind: str
    start_s: float = 0.0
    duration_s: float = 0.0
    size_delta_bytes: int = 0
    period_s: float = 86400.0
    size_amplitude: float = 0.0
    rate_amplitude: float = 0.0
    fraction: float = 0.0
    rate_multiplier: float = 1.0
    invert: bool = False

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    def validate(self, where: str) -> None:
        if self.kind not in PHASE_KINDS:
            raise ConfigError(f"{where}.kind = {self.kind!r}: must be one of {list(PHASE_KINDS)}")
        _check_range(where, "start_s", self.start_s, 0)
        _check_range(where, "duration_s", self.duration_s, 0)
        _check_int(where, "size_delta_bytes", self.size_delta_bytes, 0)
        _check_range(where, "period_s", self.period_s, 1, lo_open=False)
        _check_range(where, "size_amplitude", self.size_amplitude, 0, 0.95)
        _check_range(where, "rate_amplitude", self.rate_amplitude, 0, 0.95)
        _check_range(where, "fraction", self.fraction, 0, 1)
        _check_range(where, "rate_multiplier", self.rate_multiplier, 0, 1e4, lo_open=True)
        if not isinstance(self.invert, bool):
            raise ConfigError(f"{where}.invert = {self.invert!r}: must be true or false")
        if self.invert and self.kind != "shift":
            raise ConfigError(f"{where}.invert: only a shift phase can invert rates, not a {self.kind} phase")
        if self.kind in ("growth", "shrink", "burst") and self.duration_s <= 0:
            raise ConfigError(f"{where}.duration_s = {self.duration_s!r}: a {self.kind} phase needs > 0")


@dataclass(frozen=True)
class WorkloadConfig:
    """What a tenant's anonymous memory looks like and how it changes.

    Access rates are per page and Poisson (a page is touched within ``t`` seconds with probability
    ``1 - exp(-rate * t)``), drawn from a mixture of log-uniform bands. Compressed sizes are
    log-normal around ``compress_ratio_median`` (an lzo ratio; the compressor rescales it), with shares
    of zero-filled and incompressible pages.
    """

    size_bytes: int = 8 * GiB
    """Anonymous footprint at time 0."""
    rate_bands: tuple[RateBand, ...] = (
        RateBand(share=0.55, lo_hz=0.05, hi_hz=5.0),
        RateBand(share=0.45, lo_hz=1e-6, hi_hz=1e-2),
    )
    compress_ratio_median: float = 3.0
    compress_ratio_sigma: float = 0.35
    """Spread of the log of the compression ratio across chunks."""
    zero_filled_share: float = 0.1
    """Share of pages that are zero-filled (Meta fleet: 10-20 % of stored pages)."""
    incompressible_share: float = 0.0
    """Share of pages that do not compress (stored as-is, 4 KiB, when writeback is allowed)."""
    uptime_s: float = 86400.0
    """How long the workload ran before time 0: caps the idle age of never-touched pages."""
    initial_zswap_idle_s: float | None = None
    """If set, memory idle longer than this at time 0 starts in zswap (a steady-state tenant
    whose earlier reclaim already compressed its cold memory)."""
    phases: tuple[Phase, ...] = ()

    def validate(self, where: str) -> None:
        _check_int(where, "size_bytes", self.size_bytes, 0)
        if not self.rate_bands or len(self.rate_bands) > MAX_RATE_BANDS:
            raise ConfigError(
                f"{where}.rate_bands: {len(self.rate_bands)} bands; "
                f"at least one and at most {MAX_RATE_BANDS} are needed"
            )
        for i, band in enumerate(self.rate_bands):
            band.validate(f"{where}.rate_bands[{i}]")
        total = sum(b.share for b in self.rate_bands)
        if abs(total - 1.0) > 1e-6:
            raise ConfigError(f"{where}.rate_bands: shares sum to {total:.6g}, must sum to 1")
        _check_range(where, "compress_ratio_median", self.compress_ratio_median, 1.0, 100)
        _check_range(where, "compress_ratio_sigma", self.compress_ratio_sigma, 0, 3)
        _check_range(where, "zero_filled_share", self.zero_filled_share, 0, 1)
        _check_range(where, "incompressible_share", self.incompressible_share, 0, 1)
        if self.zero_filled_share + self.incompressible_share > 1:
            raise ConfigError(
                f"{where}: zero_filled_share + incompressible_share = "
                f"{self.zero_filled_share + self.incompressible_share:.6g}, must be <= 1"
            )
        _check_range(where, "uptime_s", self.uptime_s, 0)
        if self.initial_zswap_idle_s is not None:
            _check_range(where, "initial_zswap_idle_s", self.initial_zswap_idle_s, 0)
        for i, phase in enumerate(self.phases):
            phase.validate(f"{where}.phases[{i}]")

    def peak_size_bytes(self) -> float:
        """Largest footprint the phases can reach (sizes chunk capacity)."""
        size = float(self.size_bytes)
        growth = sum(p.size_delta_bytes for p in self.phases if p.kind == "growth")
        burst = max((p.size_delta_bytes for p in self.phases if p.kind == "burst"), default=0)
        diurnal = 1.0 + max((p.size_amplitude for p in self.phases if p.kind == "diurnal"), default=0.0)
        return (size + growth + burst) * diurnal


@dataclass(frozen=True)
class TenantConfig:
    """One memory cgroup: its initial cgroup knobs and its workload. Limits are bytes; None = max."""

    name: str
    workload: WorkloadConfig = field(default_factory=WorkloadConfig)
    memory_high_bytes: int | None = None
    memory_max_bytes: int | None = None
    zswap_max_bytes: int | None = None
    zswap_writeback: bool = True
    swap_max_bytes: int | None = None
    nr_tasks: int = 8
    """Runnable tasks: PSI ``some`` is the share of time at least one is stalled, ``full`` all."""

    def validate(self, where: str) -> None:
        if not isinstance(self.name, str) or not self.name or "/" in self.name:
            raise ConfigError(f"{where}.name = {self.name!r}: must be a non-empty name without '/'")
        _check_optional_bytes(where, "memory_high_bytes", self.memory_high_bytes)
        _check_optional_bytes(where, "memory_max_bytes", self.memory_max_bytes)
        _check_optional_bytes(where, "zswap_max_bytes", self.zswap_max_bytes)
        _check_optional_bytes(where, "swap_max_bytes", self.swap_max_bytes)
        if not isinstance(self.zswap_writeback, bool):
            raise ConfigError(f"{where}.zswap_writeback = {self.zswap_writeback!r}: must be true or false")
        _check_int(where, "nr_tasks", self.nr_tasks, 1, 4096)
        self.workload.validate(f"{where}.workload")


@dataclass(frozen=True)
class ScenarioConfig:
    """A named host with its tenants: the unit the simulator, env and benchmark run."""

    name: str = "default"
    description: str = ""
    shaped_after: str = ""
    """The published figure or deployment this scenario is shaped after."""
    host: HostConfig = field(default_factory=HostConfig)
    tenants: tuple[TenantConfig, ...] = (TenantConfig(name="workload"),)
    max_memcgs: int = 8
    """Memcg slots per host (unused slots are masked)."""
    episode_steps: int = 360
    """Steps in one episode (360 x 10 s = 1 hour by default)."""

    def validate(self, where: str | None = None) -> ScenarioConfig:
        """Check every field (``ConfigError`` naming it otherwise) and return ``self``.

        ``where`` prefixes the messages (default ``scenario[<name>]``; a file loader passes the file)."""
        if where is None:
            where = f"scenario[{self.name}]"
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError(f"{where}.name = {self.name!r}: must be a non-empty text")
        self.host.validate(f"{where}.host")
        _check_int(where, "max_memcgs", self.max_memcgs, 1, 256)
        _check_int(where, "episode_steps", self.episode_steps, 1)
        if not self.tenants:
            raise ConfigError(f"{where}.tenants: at least one tenant is needed")
        if len(self.tenants) > self.max_memcgs:
            raise ConfigError(
                f"{where}.tenants: {len(self.tenants)} tenants, must be <= max_memcgs = {self.max_memcgs}"
            )
        names = [t.name for t in self.tenants]
        if len(set(names)) != len(names):
            raise ConfigError(f"{where}.tenants: names must be unique, got {names}")
        for i, tenant in enumerate(self.tenants):
            tenant.validate(f"{where}.tenants[{i}]")
        total = sum(t.workload.size_bytes for t in self.tenants) + self.host.other_used_bytes
        if total > self.host.dram_bytes:
            raise ConfigError(
                f"{where}: tenants' initial size_bytes plus host.other_used_bytes = {total} bytes, "
                f"must be <= host.dram_bytes = {self.host.dram_bytes} (everything starts resident)"
            )
        return self

    def replace(self, **changes: Any) -> ScenarioConfig:
        """A copy with top-level fields changed (validated)."""
        from dataclasses import replace

        return replace(self, **changes).validate()

    def with_chunk_pages(self, chunk_pages: int) -> ScenarioConfig:
        """The same scenario simulated at another chunk size (the fidelity/speed knob)."""
        from dataclasses import replace

        return replace(self, host=replace(self.host, chunk_pages=chunk_pages)).validate()


def field_names(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]
