"""Directory trees laid out like a host, for the real-file backend's tests, and a guard proving that
nothing outside such a tree is touched."""

from __future__ import annotations

import builtins
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from zswap_gym.cgroup import (
    LRU_GEN_PATH,
    MEMINFO_PATH,
    SHRINKER_ENABLED_PATH,
    SWAPS_PATH,
    CgroupAccessError,
    CgroupFS,
)
from zswap_gym.sim import Simulator, load_scenario

HOST_FILES = (MEMINFO_PATH, SWAPS_PATH, LRU_GEN_PATH, SHRINKER_ENABLED_PATH)


def stepped_host(seed: int = 5, steps: int = 15) -> CgroupFS:
    """The simulated files of the ``default`` scenario's host after ``steps`` steps of 0.5 % reclaim."""
    sim = Simulator(load_scenario("default"), num_hosts=1, seed=seed)
    zeros = np.zeros((1, sim.num_memcgs))
    for _ in range(steps):
        sim.step(reclaim_bytes=0.005 * sim.gauges().memory_current, writeback_bytes=zeros)
    return CgroupFS(sim)


def snapshot_host(fs: CgroupFS, host_root: Path) -> Path:
    """Write what the simulated host's files print into ``host_root``, laid out like a cgroup v2 host
    (``sys/fs/cgroup/<memcg>/...``, ``proc/meminfo``, ``proc/swaps``, ``sys/kernel/debug/lru_gen``,
    ``sys/module/zswap/parameters/shrinker_enabled``); write-only files are empty. Returns the
    cgroup root."""
    root = host_root / "sys" / "fs" / "cgroup"
    root.mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids\n")
    (root / "memory.stat").write_text(fs.read("memory.stat"))
    for name in fs.memcgs():
        memcg = fs.memcg(name)
        (root / name).mkdir()
        for file in memcg.files():
            try:
                text = memcg.read(file)
            except CgroupAccessError:
                text = ""  # write-only: memory.reclaim, memory.zswap.proactive_writeback
            (root / name / file).write_text(text)
    for path in HOST_FILES:
        target = host_root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(fs.read(path))
    return root


@contextmanager
def only_below(allowed: Path) -> Iterator[list[str]]:
    """Within the block, opening, listing or stat-ing a path outside ``allowed`` fails the test
    (nothing is opened); yields the paths touched inside it, in order."""
    touched: list[str] = []
    prefix = os.fspath(allowed) + os.sep

    def checked(real):
        def call(path, *args, **kwargs):
            if not isinstance(path, int):
                text = os.path.abspath(os.fspath(path))
                if not text.startswith(prefix):
                    pytest.fail(f"touched {text}, outside {allowed}")
                touched.append(text)
            return real(path, *args, **kwargs)

        return call

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(builtins, "open", checked(builtins.open))
        for name in ("open", "stat", "scandir", "listdir"):
            mp.setattr(os, name, checked(getattr(os, name)))
        yield touched
