"""Small, fast scenarios and accessors for tests that drive :class:`zswap_gym.sim.Simulator` directly.

Scenarios here are shaped for one behaviour each: a few thousand chunks at most, a 4 GiB host by
default, and workloads whose access rates make the test's outcome unambiguous (``COLD`` memory is
never touched within a test's horizon; ``HOT`` memory is touched every step).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from zswap_gym.sim import (
    HostConfig,
    Loc,
    Phase,
    RateBand,
    ScenarioConfig,
    Simulator,
    SwapDeviceConfig,
    TenantConfig,
    WorkloadConfig,
    ZswapConfig,
)
from zswap_gym.sim.units import PAGE_SIZE

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30

COLD = RateBand(share=1.0, lo_hz=1e-10, hi_hz=1e-9)
"""Per-page rates so low that no chunk is touched within hours of simulated time."""
HOT = RateBand(share=1.0, lo_hz=2.0, hi_hz=10.0)
"""Touched every 10 s step (miss probability <= exp(-20))."""


def band(share: float, kind: RateBand) -> RateBand:
    """``kind`` (COLD, HOT or any band) with a different share."""
    return replace(kind, share=share)


def workload(
    size: int = 1 * GiB,
    bands: tuple[RateBand, ...] = (COLD,),
    *,
    ratio: float = 3.0,
    sigma: float = 0.2,
    zero: float = 0.0,
    incompressible: float = 0.0,
    phases: tuple[Phase, ...] = (),
    initial_zswap_idle_s: float | None = None,
    uptime_s: float = 86400.0,
) -> WorkloadConfig:
    return WorkloadConfig(
        size_bytes=size,
        rate_bands=tuple(bands),
        compress_ratio_median=ratio,
        compress_ratio_sigma=sigma,
        zero_filled_share=zero,
        incompressible_share=incompressible,
        phases=tuple(phases),
        initial_zswap_idle_s=initial_zswap_idle_s,
        uptime_s=uptime_s,
    )


def scenario(
    *tenants: TenantConfig,
    dram: int = 4 * GiB,
    chunk_pages: int = 64,
    nr_nodes: int = 1,
    other_used: int = 256 * MiB,
    zswap: ZswapConfig | None = None,
    swap: SwapDeviceConfig | None = None,
    name: str = "test",
) -> ScenarioConfig:
    """A validated one-host scenario; with no tenants, one cold 1 GiB tenant named ``t0``."""
    if not tenants:
        tenants = (TenantConfig(name="t0", workload=workload()),)
    host = HostConfig(
        dram_bytes=dram,
        nr_nodes=nr_nodes,
        chunk_pages=chunk_pages,
        other_used_bytes=other_used,
        zswap=zswap or ZswapConfig(),
        swap=swap or SwapDeviceConfig(),
    )
    return ScenarioConfig(name=name, host=host, tenants=tuple(tenants), max_memcgs=max(2, len(tenants))).validate()


def tenant(name: str = "t0", wl: WorkloadConfig | None = None, **knobs) -> TenantConfig:
    return TenantConfig(name=name, workload=wl or workload(), **knobs)


def make_sim(*tenants: TenantConfig, seed: int = 0, **host_kw) -> Simulator:
    return Simulator(scenario(*tenants, **host_kw), num_hosts=1, seed=seed)


def req(sim: Simulator, value: float, memcg: int = 0) -> np.ndarray:
    """An (H, M) request array: ``value`` for ``memcg`` on every host, 0 elsewhere."""
    out = np.zeros((sim.num_hosts, sim.num_memcgs))
    out[:, memcg] = value
    return out


def counter(sim: Simulator, name: str, memcg: int = 0, host: int = 0) -> float:
    """A cumulative memory.stat / memory.events counter (pages or events)."""
    return float(sim.state.counters[name][host, memcg])


def gauge(sim: Simulator, name: str, memcg: int = 0, host: int = 0) -> float:
    """A per-memcg gauge (``zswap_pages``, ``zswap_bytes``, ``memory_current`` ...)."""
    return float(getattr(sim.gauges(), name)[host, memcg])


def pool_bytes(sim: Simulator, host: int = 0) -> float:
    return float(sim.gauges().pool_bytes_host[host])


def loc_pages(sim: Simulator, loc: int, memcg: int = 0, host: int = 0) -> float:
    """Pages of ``memcg`` at location ``loc`` (a :class:`Loc` value), counted from the chunk array."""
    mine = sim.layout.owner == memcg
    return float(np.count_nonzero(sim.state.loc[host, mine] == loc)) * sim.cfg.host.chunk_pages


def chunk_bytes(sim: Simulator) -> int:
    return sim.cfg.host.chunk_bytes


def pages_of(nbytes: float) -> float:
    return nbytes / PAGE_SIZE


def second_chance_pass(sim: Simulator, memcg: int = 0) -> float:
    """Walk the memcg's whole zswap LRU once looking for something to write back. On an LRU whose
    entries are all referenced (freshly stored), this clears every referenced bit and writes back
    nothing — what the kernel's first writeback pass over new entries does. Returns bytes written."""
    written = sim.zswap_proactive_writeback(req(sim, chunk_bytes(sim), memcg))
    return float(written[0, memcg])


__all__ = [
    "COLD",
    "GiB",
    "HOT",
    "KiB",
    "Loc",
    "MiB",
    "PAGE_SIZE",
    "Phase",
    "RateBand",
    "SwapDeviceConfig",
    "TenantConfig",
    "ZswapConfig",
    "band",
    "chunk_bytes",
    "counter",
    "gauge",
    "loc_pages",
    "make_sim",
    "pages_of",
    "pool_bytes",
    "req",
    "scenario",
    "second_chance_pass",
    "tenant",
    "workload",
]
