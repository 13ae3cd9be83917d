"""The swap device: bandwidth, IOPS, queueing latency, a write backlog across steps, wear.

Per step and host: swap-ins are synchronous reads (a faulting task waits); writes (zswap writeback,
rejected stores, direct swap-out) are asynchronous and queue. The device serves reads first and
spends what time is left on writes; unserved writes stay queued as a backlog into the next step. A
swap-in waits ``read_latency_us / (1 - rho)`` on average (M/M/1), ``rho`` counting the step's reads,
its queued writes and the backlog, so writeback bursts slow swap-ins. A page under writeback keeps
its 4 KiB of DRAM until its write completes (FIFO).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import SwapDeviceConfig
from .units import PAGE_SIZE

MAX_UTILISATION = 0.99
"""Utilisation is capped here for the latency formula (a saturated device: ~100x base latency)."""


def read_seconds_per_page(dev: SwapDeviceConfig) -> float:
    """Device time one 4 KiB read occupies: the slower of its IOPS and bandwidth limits."""
    return max(1.0 / dev.read_iops, PAGE_SIZE / dev.read_bandwidth_bytes_per_s)


def write_seconds_per_page(dev: SwapDeviceConfig) -> float:
    return max(1.0 / dev.write_iops, PAGE_SIZE / dev.write_bandwidth_bytes_per_s)


@dataclass
class DeviceStep:
    """What the device did in one step, per host (H,)."""

    pages_written: np.ndarray
    utilisation: np.ndarray
    read_latency_us: np.ndarray


def serve_step(
    dev: SwapDeviceConfig,
    step_s: float,
    read_pages: np.ndarray,
    backlog_pages: np.ndarray,
) -> tuple[DeviceStep, np.ndarray]:
    """Serve one step's reads and as much of the write queue as time allows.

    ``backlog_pages`` (H,) includes this step's new writes. Returns the step's figures and the new
    backlog (H,).
    """
    read_time = read_pages * read_seconds_per_page(dev)
    per_write = write_seconds_per_page(dev)
    write_demand = backlog_pages * per_write
    rho = np.minimum((read_time + write_demand) / step_s, MAX_UTILISATION)
    write_time = np.maximum(step_s - read_time, 0.0)
    written = np.minimum(backlog_pages, np.floor(write_time / per_write))
    latency = dev.read_latency_us / (1.0 - rho)
    return DeviceStep(written, rho, latency), backlog_pages - written
