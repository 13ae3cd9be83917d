"""Small helpers the baselines share for reading and writing cgroup files.

They only format and parse the kernel's text formats, so a controller built on them runs the same on
the simulated files and on a real ``/sys/fs/cgroup``.
"""

from __future__ import annotations

from collections.abc import Sequence

from zswap_gym.cgroup import PAGE_SIZE, CgroupFiles, ReclaimShortError, parse_flat_keyed, parse_pressure, parse_value


def target_memcgs(fs: CgroupFiles, memcgs: Sequence[str] | None) -> list[str]:
    """The memcgs a controller drives: the names in ``memcgs``, or every memcg of the host if ``None``."""
    return list(fs.memcgs()) if memcgs is None else list(memcgs)


def write_reclaim(fs: CgroupFiles, memcg: str, nbytes: float, extra: str = "") -> bool:
    """Write ``"<nbytes> <extra>"`` to ``<memcg>/memory.reclaim`` (nothing if under one page).

    Returns ``False`` if the kernel answered ``-EAGAIN`` (reclaimed less than asked: what was done
    stays done), as Senpai and oomd treat that error; ``True`` otherwise."""
    amount = int(nbytes)
    if amount < PAGE_SIZE:
        return True
    text = f"{amount} {extra}".strip()
    try:
        fs.write(f"{memcg}/memory.reclaim", text)
    except ReclaimShortError:
        return False
    return True


def memory_current(fs: CgroupFiles, memcg: str) -> int:
    """``memory.current`` of ``memcg``, bytes."""
    return int(parse_value(fs.read(f"{memcg}/memory.current")) or 0)


def memory_stat(fs: CgroupFiles, memcg: str) -> dict[str, int]:
    """``memory.stat`` of ``memcg`` (sizes in bytes, events in pages)."""
    return parse_flat_keyed(fs.read(f"{memcg}/memory.stat"))


def memory_pressure(fs: CgroupFiles, memcg: str) -> dict[str, dict[str, float]]:
    """``memory.pressure`` of ``memcg``: ``{"some"|"full": {"avg10", "avg60", "avg300" (%), "total" (us)}}``."""
    return parse_pressure(fs.read(f"{memcg}/memory.pressure"))


def limit(fs: CgroupFiles, memcg: str, knob: str) -> int | None:
    """A limit file (``memory.high`` ...) of ``memcg`` in bytes, ``None`` for ``max``."""
    return parse_value(fs.read(f"{memcg}/{knob}"))
