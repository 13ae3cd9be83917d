"""Parsers for what the kernel accepts when a cgroup file is written. Pure: text in, request out.

Every parser validates the whole value before anything acts on it, and raises
:class:`~.errors.CgroupWriteError` (``EINVAL``) naming the file and the value otherwise. Like the
kernel (``strstrip()``), leading and trailing whitespace, including the newline ``echo`` appends, is
ignored. Sizes are ``memparse()`` sizes: a decimal number of bytes with an optional K/M/G/T/P/E suffix
(powers of 1024, either case). The kernel's hexadecimal and octal forms (``0x10``, ``010``) are not
accepted here: they are rejected rather than misread.

Formats (all byte amounts are rounded down to whole 4 KiB pages, as the kernel counts them):

================================== =============================================================
file                               accepted value
================================== =============================================================
``memory.high``, ``memory.max``,   ``<size>`` or ``max``
``memory.zswap.max``,
``memory.swap.max``
``memory.zswap.writeback``         ``0`` or ``1``
``memory.reclaim``                 ``<size>``; ``<size> swappiness=<0..200|max>``;
                                   ``<size> source=zswap`` (proactive zswap writeback, v5 series)
``memory.zswap.proactive_writeback`` ``[max=<size>] <age_seconds>`` (v1 series: entries stored at
                                   least ``age_seconds`` ago, at most ``max`` bytes)
================================== =============================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from zswap_gym.sim.units import PAGE_SIZE, parse_size

from .errors import CgroupWriteError

MIN_SWAPPINESS = 0
MAX_SWAPPINESS = 200
SWAPPINESS_ANON_ONLY = MAX_SWAPPINESS + 1
"""``swappiness=max`` (the kernel's ``SWAPPINESS_ANON_ONLY``): reclaim anonymous memory only."""
PAGE_COUNTER_MAX_PAGES = ((1 << 63) - 1) // PAGE_SIZE
"""The kernel's ``PAGE_COUNTER_MAX``: a limit of this many pages or more reads back as ``max``."""
MAX_WRITE_BYTES = (1 << 64) - 1
"""Sizes above ``u64`` are rejected (``memparse()`` would silently overflow)."""

_WHITESPACE = " \t\n\v\f\r"
_MEMPARSE_RE = re.compile(r"(?:0|[1-9][0-9]*)[KMGTPE]?", re.IGNORECASE)
_DECIMAL_RE = re.compile(r"[+-]?[0-9]+")

LimitFile = Literal["memory.high", "memory.max", "memory.zswap.max", "memory.swap.max"]


@dataclass(frozen=True)
class ReclaimRequest:
    """A parsed ``memory.reclaim`` write.

    ``nbytes``: bytes to reclaim (whole pages). ``swappiness``: 0..200, :data:`SWAPPINESS_ANON_ONLY`
    for ``max``, or ``None`` for the memcg's own. ``source``: ``"lru"`` for ordinary reclaim,
    ``"zswap"`` for proactive writeback of ``nbytes`` of stored pages (original size) to disk.
    """

    nbytes: int
    swappiness: int | None = None
    source: Literal["lru", "zswap"] = "lru"


@dataclass(frozen=True)
class ProactiveWritebackRequest:
    """A parsed ``memory.zswap.proactive_writeback`` write (v1 form).

    ``min_age_s``: write back only entries stored at least this many seconds ago.
    ``max_bytes``: at most this many bytes of stored pages (original size, whole pages);
    ``None`` means no byte limit.
    """

    min_age_s: int
    max_bytes: int | None = None


def as_text(filename: str, value: str | bytes | int) -> str:
    """The text of a write: ``str`` as is, ``bytes`` decoded as ASCII, an ``int`` in decimal."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("ascii")
        except UnicodeDecodeError:
            raise CgroupWriteError(filename, value, "not ASCII text") from None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"{filename}: write text (str, bytes or int), got {type(value).__name__}")


def strip(text: str) -> str:
    """The kernel's ``strstrip()``: drop leading and trailing whitespace (and ``echo``'s newline)."""
    return text.strip(_WHITESPACE)


def parse_memparse(filename: str, token: str, *, value: str | None = None) -> int:
    """Bytes from one ``memparse()`` token (``"512M"``, ``"1g"``, ``"4096"``).

    ``value`` is the whole written text, quoted in the error (defaults to ``token``).
    """
    quoted = token if value is None else value
    if not _MEMPARSE_RE.fullmatch(token):
        if token.lower() == "max":
            raise CgroupWriteError(filename, quoted, "'max' is not accepted here; give a size such as '512M'")
        if token.startswith("-"):
            raise CgroupWriteError(filename, quoted, "a size cannot be negative")
        raise CgroupWriteError(
            filename, quoted, "not a size (decimal bytes with an optional K/M/G/T/P/E suffix, e.g. '512M')"
        )
    nbytes = parse_size(token, what=filename)
    if nbytes > MAX_WRITE_BYTES:
        raise CgroupWriteError(filename, quoted, f"size above {MAX_WRITE_BYTES} bytes")
    return nbytes


def whole_pages(nbytes: int) -> int:
    """``nbytes`` rounded down to whole 4 KiB pages, in bytes (the kernel's ``bytes / PAGE_SIZE``)."""
    return (nbytes // PAGE_SIZE) * PAGE_SIZE


def parse_limit_value(filename: str, text: str | bytes | int) -> int | None:
    """A limit (``memory.high``, ``memory.max``, ``memory.zswap.max``, ``memory.swap.max``):
    bytes rounded down to pages, or ``None`` for ``max`` (``page_counter_memparse()``)."""
    raw = as_text(filename, text)
    token = strip(raw)
    if token == "max":
        return None
    if not token:
        raise CgroupWriteError(filename, raw, "empty; give a size such as '512M' or 'max'")
    if any(c in token for c in _WHITESPACE):
        raise CgroupWriteError(filename, raw, "one value expected: a size such as '512M', or 'max'")
    nbytes = parse_memparse(filename, token, value=raw)
    pages = nbytes // PAGE_SIZE
    if pages >= PAGE_COUNTER_MAX_PAGES:
        return None
    return pages * PAGE_SIZE


def parse_writeback_flag(filename: str, text: str | bytes | int) -> bool:
    """``memory.zswap.writeback``: ``1`` lets zswap write back to disk, ``0`` forbids it."""
    raw = as_text(filename, text)
    token = strip(raw)
    if not _DECIMAL_RE.fullmatch(token) or int(token) not in (0, 1):
        raise CgroupWriteError(filename, raw, "must be 0 or 1")
    return int(token) == 1


_KSTRTOBOOL = {"y": True, "1": True, "on": True, "n": False, "0": False, "off": False}


def parse_module_bool(filename: str, text: str | bytes | int) -> bool:
    """A boolean module parameter (``/sys/module/zswap/parameters/shrinker_enabled``), as the
    kernel's ``kstrtobool`` reads it: ``Y``/``y``/``1``/``on`` or ``N``/``n``/``0``/``off``."""
    raw = as_text(filename, text)
    token = strip(raw).lower()
    value = _KSTRTOBOOL.get(token[:1] if token[:1] in "yn" else token)
    if value is None:
        raise CgroupWriteError(filename, raw, "must be Y, N, 1, 0, on or off")
    return value


def _parse_swappiness(filename: str, raw: str, value: str) -> int:
    if value == "max":
        return SWAPPINESS_ANON_ONLY
    if not _DECIMAL_RE.fullmatch(value) or not MIN_SWAPPINESS <= int(value) <= MAX_SWAPPINESS:
        raise CgroupWriteError(
            filename, raw, f"swappiness must be an integer in [{MIN_SWAPPINESS}, {MAX_SWAPPINESS}] or 'max'"
        )
    return int(value)


def parse_reclaim(text: str | bytes | int, filename: str = "memory.reclaim") -> ReclaimRequest:
    """``memory.reclaim``: ``"<size>"``, ``"<size> swappiness=<0..200|max>"`` or ``"<size> source=zswap"``.

    Options may repeat (the last one counts, as in the kernel); ``swappiness`` and ``source=zswap``
    do not combine (swappiness chooses between LRU lists; zswap writeback has none).
    """
    raw = as_text(filename, text)
    tokens = strip(raw).split()
    if not tokens:
        raise CgroupWriteError(filename, raw, "empty; give a size such as '1G'")
    nbytes = parse_memparse(filename, tokens[0], value=raw)
    swappiness: int | None = None
    source: Literal["lru", "zswap"] = "lru"
    for token in tokens[1:]:
        key, sep, value = token.partition("=")
        if key == "swappiness" and sep:
            swappiness = _parse_swappiness(filename, raw, value)
        elif key == "source" and sep:
            if value != "zswap":
                raise CgroupWriteError(filename, raw, f"unknown source {value!r}; the only source is 'zswap'")
            source = "zswap"
        else:
            raise CgroupWriteError(
                filename, raw, f"unknown option {token!r}; options are swappiness=<0..200|max> and source=zswap"
            )
    if source == "zswap" and swappiness is not None:
        raise CgroupWriteError(filename, raw, "swappiness does not apply to source=zswap")
    return ReclaimRequest(nbytes=whole_pages(nbytes), swappiness=swappiness, source=source)


def parse_proactive_writeback(
    text: str | bytes | int, filename: str = "memory.zswap.proactive_writeback"
) -> ProactiveWritebackRequest:
    """``memory.zswap.proactive_writeback``: ``"[max=<size>] <age_seconds>"``.

    ``age_seconds`` is a whole number of seconds (>= 0); ``max=`` may appear once, before or after it.
    """
    raw = as_text(filename, text)
    tokens = strip(raw).split()
    if not tokens:
        raise CgroupWriteError(filename, raw, "empty; give '[max=<size>] <age_seconds>'")
    max_bytes: int | None = None
    age_s: int | None = None
    for token in tokens:
        if token.startswith("max="):
            if max_bytes is not None:
                raise CgroupWriteError(filename, raw, "max= given twice")
            max_bytes = whole_pages(parse_memparse(filename, token[len("max=") :], value=raw))
        elif _DECIMAL_RE.fullmatch(token):
            if age_s is not None:
                raise CgroupWriteError(filename, raw, "one age in seconds expected")
            if int(token) < 0:
                raise CgroupWriteError(filename, raw, "age_seconds cannot be negative")
            age_s = int(token)
        else:
            raise CgroupWriteError(filename, raw, f"unexpected {token!r}; the form is '[max=<size>] <age_seconds>'")
    if age_s is None:
        raise CgroupWriteError(filename, raw, "age_seconds missing; the form is '[max=<size>] <age_seconds>'")
    return ProactiveWritebackRequest(min_age_s=age_s, max_bytes=max_bytes)
