"""One simulated memcg's cgroup files: what each file prints and what a write to it does.

A :class:`Memcg` is one (host, memcg) of a :class:`~zswap_gym.sim.Simulator`. Writes act
immediately, at the simulator's current time, through the simulator's kernel-facing operations
(``memory_reclaim``, ``zswap_proactive_writeback``, ``set_knob``) on that one memcg. A write is
parsed and validated in full before the simulator is touched, so a rejected write changes nothing.

Files (sizes in bytes; counters in pages or events):

================================== ==== ===================================================
file                               mode content
================================== ==== ===================================================
``memory.current``                 r    DRAM charged: resident + under writeback + zswap (compressed)
``memory.stat``                    r    ``key value`` lines, see :data:`STAT_SIZE_KEYS` and :data:`STAT_EVENT_KEYS`
``memory.events``                  r    ``low high max oom oom_kill oom_group_kill`` counts
``memory.pressure``                r    PSI ``some``/``full`` avg10/avg60/avg300 (%) and total (us)
``memory.zswap.current``           r    compressed bytes stored in zswap
``memory.swap.current``            r    swap slots in use (zswap entries included), bytes
``memory.high``, ``memory.max``    rw   limit in bytes or ``max``
``memory.zswap.max``               rw   limit on compressed bytes or ``max``
``memory.swap.max``                rw   limit on swap slots in bytes or ``max``
``memory.zswap.writeback``         rw   ``1`` writeback to disk allowed, ``0`` not
``memory.reclaim``                 w    ``<size> [swappiness=<0..200|max>]`` or ``<size> source=zswap``
``memory.zswap.proactive_writeback`` w  ``[max=<size>] <age_seconds>``
================================== ==== ===================================================

Limits take effect from the next reclaim decision: writing ``memory.high`` or ``memory.max`` below
``memory.current`` does not reclaim at once as the kernel's write handlers do; the simulator's limit
reclaim (and OOM) runs at the end of the current interval.

Chunk granularity. The simulator moves memory in chunks of ``chunk_pages`` pages. A request that is
not a whole number of chunks is rounded to one of its two neighbouring whole numbers of chunks by the
simulator's rounding, which carries the remainder into the next request (so amounts are honoured
on average), and the write counts as short
(``-EAGAIN``, :class:`~.errors.ReclaimShortError`) only if the simulator did less than that rounded
target. A short write therefore always did less than asked, and a write that did less than asked
only by rounding succeeds, as the kernel's own batching makes it reclaim a little more or less than
asked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from zswap_gym.sim import Loc, Simulator
from zswap_gym.sim.units import PAGE_SIZE

from .errors import CgroupAccessError, CgroupNotFoundError, ReclaimShortError
from .parse import (
    ProactiveWritebackRequest,
    ReclaimRequest,
    as_text,
    parse_limit_value,
    parse_proactive_writeback,
    parse_reclaim,
    parse_writeback_flag,
)
from .render import render_flag, render_flat_keyed, render_limit, render_pressure, render_value

STAT_SIZE_KEYS = ("anon", "file", "zswap", "zswapped", "swapcached")
"""``memory.stat`` sizes, bytes: anon (resident anonymous pages), file (0: not modelled), zswap
(compressed bytes stored), zswapped (original bytes of the stored pages), swapcached (pages in the
swap cache under writeback I/O)."""

STAT_EVENT_KEYS = (
    ("workingset_refault_anon", "workingset_refault_anon"),
    ("pgscan", "pgscan"),
    ("pgsteal", "pgsteal"),
    ("pswpin", "pswpin"),
    ("pswpout", "pswpout"),
    ("pgscan_kswapd", "pgscan_kswapd"),
    ("pgscan_direct", "pgscan_direct"),
    ("pgscan_proactive", "pgscan_proactive"),
    ("pgsteal_kswapd", "pgsteal_kswapd"),
    ("pgsteal_direct", "pgsteal_direct"),
    ("pgsteal_proactive", "pgsteal_proactive"),
    ("pgmajfault", "pgfault_major"),
    ("swpin_zero", "swpin_zero"),
    ("swpout_zero", "swpout_zero"),
    ("zswpin", "zswpin"),
    ("zswpout", "zswpout"),
    ("zswpwb", "zswpwb"),
)
"""``memory.stat`` event counters, in pages, in the kernel's order: (kernel key, simulator counter)."""

EVENTS_KEYS = (
    ("low", None),
    ("high", "events_high"),
    ("max", "events_max"),
    ("oom", "events_oom"),
    ("oom_kill", "events_oom_kill"),
    ("oom_group_kill", None),
)
"""``memory.events`` lines: (kernel key, simulator counter or ``None`` for always 0)."""


def stat_items(sim: Simulator, host: int, memcgs: list[int]) -> list[tuple[str, float]]:
    """``memory.stat`` of the sum of ``memcgs`` on ``host``, in the kernel's order (bytes, pages)."""
    g = sim.gauges()
    counters = sim.state.counters

    def total(array: np.ndarray) -> float:
        return float(array[host, memcgs].sum())

    sizes = {
        "anon": total(g.resident_pages) * PAGE_SIZE,
        "file": 0.0,
        "zswap": total(g.zswap_bytes),
        "zswapped": total(g.zswap_pages) * PAGE_SIZE,
        "swapcached": total(g.writeback_pages) * PAGE_SIZE,
    }
    items = [(key, sizes[key]) for key in STAT_SIZE_KEYS]
    items += [(key, total(counters[name])) for key, name in STAT_EVENT_KEYS]
    return items


@dataclass(frozen=True)
class FileSpec:
    """One cgroup file: how it prints (``read``), how a write is parsed (``parse``, pure: it must
    raise before anything acts) and what the parsed write does (``apply``)."""

    read: Callable[[Memcg], str] | None = None
    parse: Callable[[str, str | bytes | int], Any] | None = None
    apply: Callable[[Memcg, Any, str], None] | None = None


def _limit_file(knob: str) -> FileSpec:
    return FileSpec(
        read=lambda cg: render_limit(cg.sim.get_knob(knob, cg.host, cg.index)),
        parse=parse_limit_value,
        apply=lambda cg, value, _filename: cg.sim.set_knob(knob, cg.host, cg.index, value),
    )


def _apply_reclaim(cg: Memcg, request: ReclaimRequest, filename: str) -> None:
    if request.source == "zswap":
        cg.zswap_writeback(request.nbytes, filename=filename)
    else:
        cg.reclaim(request.nbytes, request.swappiness, filename=filename)


def _apply_proactive_writeback(cg: Memcg, request: ProactiveWritebackRequest, filename: str) -> None:
    cg.zswap_writeback_older_than(request.min_age_s, request.max_bytes, filename=filename)


def _read_pressure(cg: Memcg) -> str:
    st, h, m = cg.sim.state, cg.host, cg.index
    return render_pressure(
        st.psi_some_avg[h, m], st.psi_full_avg[h, m], st.psi_some_total_us[h, m], st.psi_full_total_us[h, m]
    )


def _read_events(cg: Memcg) -> str:
    counters = cg.sim.state.counters
    return render_flat_keyed(
        (key, 0.0 if name is None else counters[name][cg.host, cg.index]) for key, name in EVENTS_KEYS
    )


FILES: dict[str, FileSpec] = {
    "memory.current": FileSpec(read=lambda cg: render_value(cg.sim.gauges().memory_current[cg.host, cg.index])),
    "memory.stat": FileSpec(read=lambda cg: render_flat_keyed(stat_items(cg.sim, cg.host, [cg.index]))),
    "memory.events": FileSpec(read=_read_events),
    "memory.pressure": FileSpec(read=_read_pressure),
    "memory.zswap.current": FileSpec(read=lambda cg: render_value(cg.sim.gauges().zswap_bytes[cg.host, cg.index])),
    "memory.swap.current": FileSpec(
        read=lambda cg: render_value(cg.sim.gauges().swap_slot_pages[cg.host, cg.index] * PAGE_SIZE)
    ),
    "memory.high": _limit_file("memory.high"),
    "memory.max": _limit_file("memory.max"),
    "memory.zswap.max": _limit_file("memory.zswap.max"),
    "memory.swap.max": _limit_file("memory.swap.max"),
    "memory.zswap.writeback": FileSpec(
        read=lambda cg: render_flag(cg.sim.get_knob("memory.zswap.writeback", cg.host, cg.index)),
        parse=parse_writeback_flag,
        apply=lambda cg, value, _filename: cg.sim.set_knob("memory.zswap.writeback", cg.host, cg.index, value),
    ),
    "memory.reclaim": FileSpec(parse=lambda filename, text: parse_reclaim(text, filename), apply=_apply_reclaim),
    "memory.zswap.proactive_writeback": FileSpec(
        parse=lambda filename, text: parse_proactive_writeback(text, filename), apply=_apply_proactive_writeback
    ),
}
"""Every file of a simulated memcg directory, by name."""


class Memcg:
    """The cgroup directory of one simulated memcg: ``read(name)`` and ``write(name, text)``.

    Args:
        sim: the simulator.
        host: host index in the simulator's batch.
        name: the memcg's name (a tenant of the scenario).
    """

    def __init__(self, sim: Simulator, host: int, name: str) -> None:
        if not 0 <= host < sim.num_hosts:
            raise ValueError(f"host = {host}: the simulator has hosts 0..{sim.num_hosts - 1}")
        try:
            self.index = sim.memcg_index(name)
        except KeyError:
            raise CgroupNotFoundError(name, f"memcgs: {', '.join(sim.memcg_names)}") from None
        self.sim = sim
        self.host = host
        self.name = name

    def __repr__(self) -> str:
        return f"Memcg({self.name!r}, host={self.host}, slot={self.index})"

    def files(self) -> list[str]:
        """The file names in this memcg's directory."""
        return list(FILES)

    def _spec(self, name: str) -> FileSpec:
        spec = FILES.get(name)
        if spec is None:
            raise CgroupNotFoundError(f"{self.name}/{name}", f"files: {', '.join(FILES)}")
        return spec

    def read(self, name: str) -> str:
        """The text of file ``name`` (e.g. ``"memory.stat"``), as the kernel prints it."""
        spec = self._spec(name)
        if spec.read is None:
            raise CgroupAccessError(f"{self.name}/{name}", "write-only file")
        return spec.read(self)

    def write(self, name: str, text: str | bytes | int) -> int:
        """Write ``text`` to file ``name``; returns the length written, like ``os.write``.

        Raises :class:`~.errors.CgroupWriteError` for a malformed value (nothing changes),
        :class:`~.errors.ReclaimShortError` when a reclaim or writeback did less than asked.
        """
        filename = f"{self.name}/{name}"
        spec = self._spec(name)
        if spec.parse is None or spec.apply is None:
            raise CgroupAccessError(filename, "read-only file")
        raw = as_text(filename, text)
        request = spec.parse(filename, raw)  # raises before anything acts
        spec.apply(self, request, filename)
        return len(raw)

    # ------------------------------------------------------------------------------------------
    # What the writes do, in bytes (also callable directly)
    # ------------------------------------------------------------------------------------------

    def _one(self, value: float) -> np.ndarray:
        """An (H, M) request with ``value`` at this memcg and 0 elsewhere."""
        request = np.zeros((self.sim.num_hosts, self.sim.num_memcgs))
        request[self.host, self.index] = value
        return request

    def _chunk_target(self, nbytes: float, site: str) -> int:
        """``nbytes`` rounded to whole chunks as the simulator rounds (carrying the remainder of the
        rounding ``site``), in bytes."""
        chunk = self.sim.cfg.host.chunk_bytes
        if nbytes % chunk == 0:
            return int(nbytes)
        return int(self.sim.store.round_chunks(self._one(nbytes / chunk), site)[self.host, self.index]) * chunk

    def reclaim(self, nbytes: int, swappiness: int | None = None, *, filename: str | None = None) -> int:
        """``memory.reclaim``: reclaim ``nbytes`` from the cold end of the LRU into zswap (or swap).

        ``swappiness`` 0 reclaims no anonymous memory (so nothing: file memory is not modelled).
        Returns bytes taken off the LRU; raises :class:`~.errors.ReclaimShortError` if short.
        """
        filename = filename or f"{self.name}/memory.reclaim"
        if nbytes <= 0:
            return 0
        target = self._chunk_target(nbytes, "round_reclaim")
        if target == 0:
            return 0
        done = int(self.sim.memory_reclaim(self._one(target), swappiness)[self.host, self.index])
        if done < target:
            raise ReclaimShortError(filename, nbytes, done, what="reclaimed")
        return done

    def zswap_writeback(self, nbytes: int, *, filename: str | None = None) -> int:
        """``memory.reclaim "<nbytes> source=zswap"``: write back ``nbytes`` of stored pages (original
        size) from the old end of the zswap LRU, second chance applied. Returns bytes written back;
        raises :class:`~.errors.ReclaimShortError` if short."""
        filename = filename or f"{self.name}/memory.reclaim"
        if nbytes <= 0:
            return 0
        target = self._chunk_target(nbytes, "round_writeback_proactive")
        if target == 0:
            return 0
        done = int(self.sim.zswap_proactive_writeback(self._one(target))[self.host, self.index])
        if done < target:
            raise ReclaimShortError(filename, nbytes, done, what="wrote back")
        return done

    def zswap_bytes_older_than(self, min_age_s: float) -> int:
        """Bytes (original size) of this memcg's zswap entries stored at least ``min_age_s`` ago."""
        sim, st = self.sim, self.sim.state
        in_block = sim.layout.owner == self.index
        row = st.loc[self.host] == Loc.ZSWAP
        old = (sim.now_f32 - st.zswap_store_s[self.host]) >= np.float32(min_age_s)
        return int(np.count_nonzero(row & old & in_block)) * sim.cfg.host.chunk_bytes

    def zswap_writeback_older_than(
        self, min_age_s: float, max_bytes: int | None = None, *, filename: str | None = None
    ) -> int:
        """``memory.zswap.proactive_writeback "[max=<max_bytes>] <min_age_s>"``: write back entries
        stored at least ``min_age_s`` seconds ago, at most ``max_bytes`` (``None``: all of them).

        What is asked is ``min(max_bytes, bytes of entries that old)``; an entry whose referenced bit
        is set is rotated instead (second chance), so right after a store this returns short.
        Returns bytes written back; raises :class:`~.errors.ReclaimShortError` if short.
        """
        filename = filename or f"{self.name}/memory.zswap.proactive_writeback"
        eligible = self.zswap_bytes_older_than(min_age_s)
        asked = eligible if max_bytes is None else min(int(max_bytes), eligible)
        if asked <= 0:
            return 0
        target = self._chunk_target(asked, "round_writeback_proactive")
        if target == 0:
            return 0
        done = int(
            self.sim.zswap_proactive_writeback(self._one(target), min_age_s=float(min_age_s))[self.host, self.index]
        )
        if done < target:
            raise ReclaimShortError(filename, asked, done, what="wrote back")
        return done
