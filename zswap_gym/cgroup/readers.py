"""Read what cgroup files print back into numbers, for controllers.

They read the kernel's own formats, so they work the same on the simulated files
(:class:`~.fs.CgroupFS`) and on a real ``/sys/fs/cgroup`` (:class:`~.real.RealCgroupFS`).
"""

from __future__ import annotations

import math
import re

_PSI_LINE_RE = re.compile(r"^(some|full) avg10=(\d+\.\d{2}) avg60=(\d+\.\d{2}) avg300=(\d+\.\d{2}) total=(\d+)$")


def parse_flat_keyed(text: str) -> dict[str, int]:
    """``memory.stat`` / ``memory.events``: ``{"anon": 123, ...}`` (bytes for sizes, else counts)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, _, value = line.partition(" ")
        out[key] = int(value)
    return out


def parse_value(text: str) -> int | None:
    """A single-value file: an integer (bytes, or a 0/1 flag), or ``None`` for ``max``."""
    token = text.strip()
    return None if token == "max" else int(token)


def parse_pressure(text: str) -> dict[str, dict[str, float]]:
    """``memory.pressure``: ``{"some": {"avg10": 0.0, "avg60": ..., "avg300": ..., "total": us},
    "full": {...}}``; averages in percent, ``total`` in microseconds."""
    out: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        match = _PSI_LINE_RE.match(line)
        if match is None:
            raise ValueError(f"not a PSI line: {line!r}")
        kind, avg10, avg60, avg300, total = match.groups()
        out[kind] = {"avg10": float(avg10), "avg60": float(avg60), "avg300": float(avg300), "total": int(total)}
    return out


def parse_lru_gen(text: str) -> dict[str, list[tuple[int, float, int]]]:
    """``/sys/kernel/debug/lru_gen``: per memcg path (``"/web"``), its generations oldest first as
    ``(gen_nr, age_s, nr_anon_pages)`` (all nodes merged in the order printed)."""
    out: dict[str, list[tuple[int, float, int]]] = {}
    current: list[tuple[int, float, int]] | None = None
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        if fields[0] == "memcg":
            current = out.setdefault(fields[2] if len(fields) > 2 else "/", [])
        elif fields[0] == "node":
            continue
        elif current is not None and len(fields) >= 4 and fields[0].isdigit():
            current.append((int(fields[0]), int(fields[1]) / 1000.0, int(fields[2])))
        else:
            raise ValueError(f"not an lru_gen line: {line!r}")
    return out


def idle_pages_at_least(generations: list[tuple[int, float, int]], age_s: float) -> float:
    """Pages of one memcg idle at least ``age_s`` seconds, from its lru_gen generations (oldest first).

    A generation printed with age ``a`` holds pages idle less than ``a`` and at least the next
    younger generation's age; a generation straddling ``age_s`` counts in proportion (log-linear
    within the generation, as the generations are log-spaced)."""
    total = 0.0
    for i, (_, age, pages) in enumerate(generations):
        lower = generations[i + 1][1] if i + 1 < len(generations) else 0.0
        if lower >= age_s:
            total += pages
        elif age > age_s:
            lo, hi = math.log1p(lower), math.log1p(age)
            total += pages * (hi - math.log1p(age_s)) / (hi - lo) if hi > lo else 0.0
    return total
