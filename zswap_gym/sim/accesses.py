"""The workload's memory accesses in one step, and the faults they take on pages not in DRAM.

A chunk with per-page access rate ``r`` (a Poisson process) is touched in a step of ``dt`` seconds
with probability ``1 - exp(-r dt)``; its first touch comes at ``-ln(1 - u1) / r`` and its last at
``dt - a``, ``a`` drawn from the backward recurrence time conditioned on at least one touch. A touched
chunk that is not resident faults at its first touch (``do_swap_page()``):

* from zswap: ``zswap_load()`` decompresses into a new page and frees the entry (exclusive load);
  the page comes back dirty and must be compressed again on its next eviction;
* from the swap device: a read I/O the task waits for (its latency is the device's, known once the
  device has served the step: :mod:`.swapdev`);
* from the zero map: a zero-filled page, no I/O;
* under writeback: a swap cache hit, the page is simply resident again.

Every refault counts in ``workingset_refault_anon`` and ``pgmajfault`` and is charged to the memcg;
its stall lands in the PSI window of its first touch.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .chunk_store import ChunkStore
from .config import HostConfig
from .lru import blend, flat_nonzero
from .rng import CounterRNG
from .state import Loc

_UNIT24 = np.float32(2.0**-24)
_TWO_P24 = np.float32(2.0**24)


class TouchProbabilities(NamedTuple):
    """Per-chunk touch probabilities for one interval at the access rates ``rate`` (H, C) float32:
    ``p_none`` = exp(-r dt); ``p_touch_x2p24`` = (1 - p_none) * 2**24 and ``p_touch_x2m24`` =
    (1 - p_none) * 2**-24, for draws kept as 24-bit whole numbers (:meth:`CounterRNG.uniform24_pair`)."""

    rate: np.ndarray
    p_none: np.ndarray
    p_touch_x2p24: np.ndarray
    p_touch_x2m24: np.ndarray


class TouchProbabilityCache:
    """:class:`TouchProbabilities` for the last rates seen. Rates change only when chunks are
    allocated or the working set shifts (or diurnal load scales them), so most steps reuse them."""

    def __init__(self) -> None:
        self._last: TouchProbabilities | None = None

    def get(self, rate: np.ndarray, dt: np.float32) -> TouchProbabilities:
        last = self._last
        if last is not None and last.rate.shape == rate.shape and np.array_equal(last.rate, rate):
            return last
        p_none = np.exp(-rate * dt)
        p_touch = 1.0 - p_none
        self._last = TouchProbabilities(rate.copy(), p_none, p_touch * _TWO_P24, p_touch * _UNIT24)
        return self._last


def access_rates(rate_hz: np.ndarray, owner: np.ndarray, rate_multiplier: np.ndarray) -> np.ndarray:
    """Each chunk's access rate this step (H, C) float32: diurnal load and bursts scale the drawn
    rates ``rate_hz`` by the memcg's ``rate_multiplier`` (H, M); without them the rates are as drawn."""
    if not np.count_nonzero(rate_multiplier != 1.0):
        return rate_hz
    return rate_hz * rate_multiplier[:, owner]


def touch_times(
    touch: TouchProbabilities, u1_24: np.ndarray, u2_24: np.ndarray, t_end: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Which chunks an interval ending at ``t_end`` (H,) touches (H, C) bool, allocated or not, and
    each one's last touch time (H, C) float32 s (meaningless where not touched); ``u2_24`` is used up."""
    touched = u1_24 < touch.p_touch_x2p24
    # since_last = -ln(p_none + u2 p_touch) / r; the last touch t_end - since_last, in place.
    last = u2_24
    last *= touch.p_touch_x2m24
    last += touch.p_none
    np.maximum(last, np.float32(1e-30), out=last)
    np.log(last, out=last)
    last /= touch.rate
    last += t_end.astype(np.float32)[:, None]
    return touched, last


def step_accesses(
    store: ChunkStore,
    rng: CounterRNG,
    touch_cache: TouchProbabilityCache,
    rate_multiplier: np.ndarray,
    t0: np.ndarray,
    psi_windows: int,
    draws: tuple[np.ndarray, np.ndarray] | None = None,
) -> None:
    """Touch chunks for the interval from ``t0`` (H,); fault back the touched ones not resident.
    ``draws``: the step's access draws when made ahead (``rng.peek24_pair``); the stream moves past
    them here either way."""
    st, host = store.state, store.host
    rate = access_rates(st.rate_hz, store.layout.owner, rate_multiplier)
    # u1, u2 as 24-bit whole numbers: the 2**-24 scale is folded into the cached constants.
    if draws is None:
        u1_24, u2_24 = rng.uniform24_pair(store.layout.num_chunks, "access")
    else:
        u1_24, u2_24 = draws
        rng.advance("access")
    touch = touch_cache.get(rate, np.float32(host.step_s))
    touched, last = touch_times(touch, u1_24, u2_24, t0 + host.step_s)
    touched &= st.loc != Loc.ABSENT
    st.last_access_s = blend(touched, last, st.last_access_s)
    faults = flat_nonzero(touched & (st.loc != Loc.RESIDENT))
    if faults.size:
        first_touch_s = -np.log1p(-(u1_24.reshape(-1)[faults] * _UNIT24)) / rate.reshape(-1)[faults]
        window = np.minimum((first_touch_s / (host.step_s / psi_windows)).astype(np.int64), psi_windows - 1)
        fault_in(store, faults, window, psi_windows)


def fault_in(store: ChunkStore, faults: np.ndarray, window: np.ndarray, psi_windows: int) -> None:
    """``do_swap_page()`` for the chunks ``faults`` (flat indices), each in PSI window ``window``:
    zswap load, swap-in or zero page by where each chunk is; all of them resident afterwards."""
    st, host, acc = store.state, store.host, store.tallies
    pages = host.chunk_pages
    h, m = store.num_hosts, store.num_memcgs
    # Faulted pages per (host, memcg, PSI window, location they came from), in one count.
    came_from = st.loc.reshape(-1)[faults]
    source_key = (store.memcg_keys[faults] * psi_windows + window) * Loc.COUNT + came_from
    shape = (h, m, psi_windows, Loc.COUNT)
    by_source = np.bincount(source_key, minlength=math.prod(shape)).reshape(shape) * float(pages)
    from_zswap = by_source[..., Loc.ZSWAP]
    from_swap = by_source[..., Loc.SWAP]
    from_zero = by_source[..., Loc.SWAP_ZERO]
    # zswap_load(): fault + decompress; the entry is freed (exclusive load), the page dirty.
    zswap_us = zswap_load_us(host)
    acc.window_stall_s += from_zswap * zswap_us * 1e-6 + from_zero * host.page_fault_us * 1e-6
    acc.window_swapin_pages += from_swap
    # Pages per (tier, host, memcg), tiers in REFAULT_TIERS order (zswap, swap, zero: Loc order).
    by_tier = np.add.reduce(by_source[..., Loc.ZSWAP : Loc.SWAP_ZERO + 1], axis=-2).transpose(2, 0, 1)
    acc.refault_by_tier += by_tier
    z, s, zr = by_tier[0], by_tier[1], by_tier[2]
    refaulted = z + s + zr  # whole pages: exact
    acc.stall_s["zswap_refault"] += z * zswap_us * 1e-6 + zr * host.page_fault_us * 1e-6
    acc.charged_pages += refaulted
    c = st.counters
    c["zswpin"] += z
    c["pswpin"] += s
    c["swpin_zero"] += zr
    c["workingset_refault_anon"] += refaulted
    c["pgfault_major"] += refaulted
    c["cpu_decompress_s"] += z * host.compressor.decompress_us_per_page * 1e-6
    st.nr_disk_swapins += s
    store.set_loc(faults, Loc.RESIDENT, from_loc=came_from)  # a page under writeback is a swap cache hit


def zswap_load_us(host: HostConfig) -> float:
    """Mean latency of a refault from zswap, us: the fault and one page's decompression."""
    return host.page_fault_us + host.compressor.decompress_us_per_page
