"""Host-wide files controllers read besides the cgroup tree: ``/proc/meminfo`` and ``/proc/swaps``.

Printed in the kernel's formats (``fs/proc/meminfo.c``: ``Key:  <kB> kB``; ``mm/swapfile.c``:
``swap_show``) from one simulated host. Only the lines the simulator has a value for are printed:

================ ===================================================================
``MemTotal``     the host's DRAM
``MemFree``      DRAM not used by the tenants, their zswap pool or other kernel/page-cache memory
``MemAvailable`` same as ``MemFree`` (page cache is not modelled, so nothing more is reclaimable)
``SwapTotal``    the swap device's capacity
``SwapFree``     swap slots not in use (every zswap entry holds a slot, as in the kernel)
``Zswap``        the zswap pool's compressed size
``Zswapped``     original size of the pages stored in zswap
================ ===================================================================
"""

from __future__ import annotations

from zswap_gym.sim import Simulator
from zswap_gym.sim.units import PAGE_SIZE

SWAP_DEVICE_NAME = "/dev/nvme0n1p3"
"""The simulated swap partition's name in ``/proc/swaps``."""


def _kib(nbytes: float) -> int:
    return int(max(nbytes, 0.0)) // 1024


def render_meminfo(sim: Simulator, host: int) -> str:
    """``/proc/meminfo`` of ``host``: ``Key:  value kB`` lines."""
    g = sim.gauges()
    total = sim.cfg.host.dram_bytes
    free = total - float(g.dram_used_host[host])
    swap_total = sim.cfg.host.swap.capacity_bytes
    swap_used = float(g.swap_slot_pages[host].sum()) * PAGE_SIZE
    items = (
        ("MemTotal", total),
        ("MemFree", free),
        ("MemAvailable", free),
        ("SwapTotal", swap_total),
        ("SwapFree", swap_total - swap_used),
        ("Zswap", float(g.pool_bytes_host[host])),
        ("Zswapped", float(g.zswap_pages[host].sum()) * PAGE_SIZE),
    )
    return "".join(f"{key + ':':<16}{_kib(value):>8} kB\n" for key, value in items)


def render_swaps(sim: Simulator, host: int) -> str:
    """``/proc/swaps`` of ``host``: one partition, sizes in KiB."""
    g = sim.gauges()
    size = _kib(sim.cfg.host.swap.capacity_bytes)
    used = _kib(float(g.swap_slot_pages[host].sum()) * PAGE_SIZE)
    header = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
    return header + f"{SWAP_DEVICE_NAME:<40}partition\t{size}\t{used}\t\t-2\n"


def parse_meminfo(text: str) -> dict[str, int]:
    """``/proc/meminfo`` as ``{key: bytes}``."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        fields = rest.split()
        if not fields:
            continue
        value = int(fields[0])
        out[key.strip()] = value * 1024 if len(fields) > 1 and fields[1] == "kB" else value
    return out


def parse_swaps(text: str) -> list[dict[str, object]]:
    """``/proc/swaps`` as a list of ``{"filename", "type", "size_bytes", "used_bytes", "priority"}``."""
    rows: list[dict[str, object]] = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 5:
            continue
        rows.append(
            {
                "filename": fields[0],
                "type": fields[1],
                "size_bytes": int(fields[2]) * 1024,
                "used_bytes": int(fields[3]) * 1024,
                "priority": int(fields[4]),
            }
        )
    return rows
