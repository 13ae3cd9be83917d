"""Read what cgroup files print back into numbers, for controllers.

They read the kernel's own formats, so they work the same on the simulated files
(:class:`~.fs.CgroupFS`) and on a real ``/sys/fs/cgroup`` (:class:`~.real.RealCgroupFS`).
"""

from __future__ import annotations

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
