"""The figures that sum up one episode of one host (what ``zswap-gym run`` prints).

Everything is accumulated step by step from the env's :class:`~zswap_gym.sim.StepMetrics`, so a
summary costs a few array operations per step and no stored trajectory.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from zswap_gym.sim import StepMetrics
from zswap_gym.sim.metrics import LATENCY_GRID_US, refault_latency_cdf

GiB = float(1 << 30)


@dataclass(frozen=True)
class EpisodeSummary:
    """One host's episode in figures. Shares in percent; means are over the episode's steps."""

    steps: int
    duration_s: float
    """Simulated seconds."""
    episode_return: float
    """Sum of the env's rewards (with the reward weights of the run)."""
    dram_saved_percent: float
    """DRAM saved against the all-resident host, % of the tenants' footprint (mean over steps)."""
    dram_saved_gib: float
    """DRAM saved, GiB (mean over steps)."""
    stall_s: float
    """Memory stall, task-seconds over the episode (refaults, direct reclaim, memory.high sleeps)."""
    stall_percent: float
    """Memory stall as % of the tenants' task time (stall / (tasks x duration))."""
    psi_some_avg10_mean: float
    """PSI memory some avg10 (%) of the most-pressured memcg, mean over steps."""
    psi_some_avg10_max: float
    """PSI memory some avg10 (%), the highest any memcg reached."""
    refault_latency_mean_us: float
    """Mean latency of one refault (zswap decompression, swap-in or zero page), us."""
    refault_latency_p99_us: float
    """99th percentile latency of one refault over the whole episode, us."""
    refaults: float
    """Pages faulted back (zswap, swap and zero pages)."""
    promotion_rate_percent_per_min: float
    """Pages faulted back per minute, % of the footprint (Google's promotion rate)."""
    ssd_write_mb_s: float
    """Bytes written to the swap device per second, MB/s (10^6 bytes)."""
    cpu_percent: float
    """CPU spent on compression, decompression, flushes and reclaim, % of one core."""
    oom_kills: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


SUMMARY_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("dram_saved_percent", "DRAM saved %", "{:.1f}"),
    ("stall_percent", "stall %", "{:.3f}"),
    ("psi_some_avg10_mean", "PSI some %", "{:.2f}"),
    ("refault_latency_mean_us", "refault mean us", "{:.0f}"),
    ("refault_latency_p99_us", "refault p99 us", "{:.0f}"),
    ("promotion_rate_percent_per_min", "promotion %/min", "{:.3f}"),
    ("ssd_write_mb_s", "SSD MB/s", "{:.2f}"),
    ("cpu_percent", "CPU %", "{:.2f}"),
    ("oom_kills", "OOM kills", "{:.0f}"),
    ("episode_return", "return", "{:.1f}"),
)
"""(field, column heading, format) of the summary table, in the order ``zswap-gym run`` prints them."""


class SummaryAccumulator:
    """Adds up one host's steps into an :class:`EpisodeSummary`.

    Args:
        host: which host of the batched metrics to read.
        nr_tasks: the tenants' task count (for the stall share).
        step_s: simulated seconds per step.
    """

    def __init__(self, host: int, nr_tasks: int, step_s: float) -> None:
        self.host = host
        self.nr_tasks = nr_tasks
        self.step_s = step_s
        self.steps = 0
        self.total_return = 0.0
        self.sums: dict[str, float] = dict.fromkeys(
            ("saved_share", "saved_bytes", "stall", "psi_mean", "refaults", "latency_sum", "footprint", "written")
            + ("cpu", "ooms"),
            0.0,
        )
        self.psi_max = 0.0
        self.latency_cdf = np.zeros(LATENCY_GRID_US.shape)

    def add(self, m: StepMetrics, reward: float) -> None:
        """One step's metrics and reward."""
        h, s = self.host, self.sums
        footprint = float(m.footprint_bytes[h].sum())
        s["saved_share"] += float(m.host_dram_saved_bytes[h]) / max(footprint, 1.0)
        s["saved_bytes"] += float(m.host_dram_saved_bytes[h])
        s["footprint"] += footprint
        s["stall"] += float(m.stall_total_s[h].sum())
        psi = float(m.psi_some_avg10[h].max())
        s["psi_mean"] += psi
        self.psi_max = max(self.psi_max, psi)
        weights = np.array([m.refault_pages[t][h].sum() for t in ("zswap", "swap", "zero")])
        n = float(weights.sum())
        s["refaults"] += n
        tier_means = m.host_refault_tier_mean_us[h]
        s["latency_sum"] += float(weights @ tier_means)
        if n > 0:
            self.latency_cdf += refault_latency_cdf(weights[None], tier_means[None])[0]
        s["written"] += float(m.host_device_bytes_written[h])
        s["cpu"] += float(m.cpu_total_s[h].sum())
        s["ooms"] += float(m.oom_kills[h].sum())
        self.total_return += float(reward)
        self.steps += 1

    def summary(self) -> EpisodeSummary:
        s, n = self.sums, max(self.steps, 1)
        duration = self.steps * self.step_s
        refaults = s["refaults"]
        if refaults > 0:
            p99 = float(LATENCY_GRID_US[int(np.argmax(self.latency_cdf >= 0.99 * refaults))])
        else:
            p99 = 0.0
        mean_footprint_pages = s["footprint"] / n / 4096.0
        minutes = duration / 60.0
        return EpisodeSummary(
            steps=self.steps,
            duration_s=duration,
            episode_return=self.total_return,
            dram_saved_percent=100.0 * s["saved_share"] / n,
            dram_saved_gib=s["saved_bytes"] / n / GiB,
            stall_s=s["stall"],
            stall_percent=100.0 * s["stall"] / max(self.nr_tasks * duration, 1e-9),
            psi_some_avg10_mean=s["psi_mean"] / n,
            psi_some_avg10_max=self.psi_max,
            refault_latency_mean_us=s["latency_sum"] / refaults if refaults > 0 else 0.0,
            refault_latency_p99_us=p99,
            refaults=refaults,
            promotion_rate_percent_per_min=(
                100.0 * refaults / max(mean_footprint_pages, 1.0) / max(minutes, 1e-9) if self.steps else 0.0
            ),
            ssd_write_mb_s=s["written"] / max(duration, 1e-9) / 1e6,
            cpu_percent=100.0 * s["cpu"] / max(duration, 1e-9),
            oom_kills=s["ooms"],
        )
