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
from typing import NamedTuple

import numpy as np

from .chunk_store import ChunkStore
from .config import SwapDeviceConfig
from .lru import select_in_order
from .state import Loc
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


class DeviceTotals(NamedTuple):
    """The swap device's step (:class:`DeviceStep`), each host's swap-in latency (us) and the bytes
    it wrote and read, (H,)."""

    dev: DeviceStep
    swapin_us: np.ndarray
    bytes_written: np.ndarray
    bytes_read: np.ndarray


def device_step(store: ChunkStore) -> DeviceTotals:
    """The swap device serves the step's swap-ins and queued writes: completed writes free their
    pages (``end_page_writeback()``, in queue order); swap-ins stall their tasks for the fault and
    the device's read latency, in the PSI windows they faulted in."""
    st, host, acc = store.state, store.host, store.tallies
    read_pages = np.add.reduce(acc.refault_pages["swap"], axis=1)
    dev, backlog = serve_step(host.swap, host.step_s, read_pages, st.device_backlog_pages)
    st.device_backlog_pages = backlog
    in_flight_chunks = np.add.reduce(store.chunk_counts()[Loc.WRITEBACK], axis=1)
    if np.count_nonzero(in_flight_chunks) and np.count_nonzero(dev.pages_written):
        done_chunks = store.round_chunks(dev.pages_written / host.chunk_pages, "round_device")
        # end_page_writeback(): the page is freed, the slot keeps the data.
        if np.count_nonzero(done_chunks >= in_flight_chunks) == store.num_hosts:
            store.complete_all_writeback()  # the device kept up: every queued write completed
        else:
            in_flight = st.loc == Loc.WRITEBACK
            done = select_in_order(in_flight, st.lru_seq, done_chunks, store.layout, per_host=True)
            store.set_loc(done, Loc.SWAP, from_loc=Loc.WRITEBACK)
    bytes_written = dev.pages_written * PAGE_SIZE
    bytes_read = read_pages * PAGE_SIZE
    st.device_bytes_written += bytes_written
    st.device_bytes_read += bytes_read
    swapin_us = host.page_fault_us + dev.read_latency_us
    # Without swap-ins (none on any host) the stall terms below add zeros.
    if np.count_nonzero(read_pages):
        acc.stall_s["swap_refault"] += acc.refault_pages["swap"] * swapin_us[:, None] * 1e-6
        acc.window_stall_s += acc.window_swapin_pages * swapin_us[:, None, None] * 1e-6
    return DeviceTotals(dev, swapin_us, bytes_written, bytes_read)
