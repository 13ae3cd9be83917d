"""Byte sizes as the kernel's cgroup files read and write them.

The kernel parses sizes with ``memparse()``: a decimal integer optionally followed by one of the
binary suffixes K, M, G, T, P, E (case-insensitive, powers of 1024). ``"max"`` means no limit.
"""

from __future__ import annotations

import re

PAGE_SIZE = 4096
"""Bytes in one base page (x86-64 ``PAGE_SIZE``)."""

_SUFFIX_SHIFT = {"": 0, "k": 10, "m": 20, "g": 30, "t": 40, "p": 50, "e": 60}
_SIZE_RE = re.compile(r"^\s*(\d+)\s*([kKmMgGtTpPeE]?)[bB]?\s*$")


class SizeError(ValueError):
    """A size string that ``memparse()`` would not accept."""


def parse_size(text: str | int, *, what: str = "size") -> int:
    """Parse ``"512M"``, ``"1G"``, ``"4096"`` (bytes) into bytes, like the kernel's ``memparse()``.

    ``what`` names the field or file in the error message. Integers are returned unchanged if
    non-negative.
    """
    if isinstance(text, bool):
        raise SizeError(f"{what}: expected a size such as '512M', got {text!r}")
    if isinstance(text, int):
        if text < 0:
            raise SizeError(f"{what}: size must be >= 0 bytes, got {text}")
        return text
    if isinstance(text, float) and text.is_integer() and text >= 0:
        return int(text)
    if not isinstance(text, str):
        raise SizeError(f"{what}: expected a size such as '512M', got {text!r}")
    match = _SIZE_RE.match(text)
    if match is None:
        raise SizeError(
            f"{what}: {text!r} is not a size (a whole number of bytes with an optional K/M/G/T suffix, e.g. '512M')"
        )
    return int(match.group(1)) << _SUFFIX_SHIFT[match.group(2).lower()]


def parse_limit(text: str | int | None, *, what: str = "limit") -> int | None:
    """Parse a cgroup limit: a size, or ``"max"``/``None`` for no limit (returned as ``None``)."""
    if text is None:
        return None
    if isinstance(text, str) and text.strip() == "max":
        return None
    return parse_size(text, what=what)


def format_limit(value_bytes: int | None) -> str:
    """Format a limit as the kernel prints it: bytes, or ``max`` when unlimited."""
    return "max" if value_bytes is None else str(int(value_bytes))


def format_size(value_bytes: float) -> str:
    """Human-readable binary size for reports (``"1.5 GiB"``); not a kernel format."""
    value = float(value_bytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024.0 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024.0
    raise AssertionError("unreachable")
