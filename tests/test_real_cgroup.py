"""The real-host backend (:class:`~zswap_gym.cgroup.RealCgroupFS`) on directory trees laid out like a
host: every file a controller touches is below the host root, the memory cgroup hierarchy is told
apart from the others, and its errors are the simulated files' errors.

No test here touches the machine's own /sys or /proc: each builds its tree in ``tmp_path``."""

from __future__ import annotations

import errno
import os
import pickle
from pathlib import Path

import pytest
from helpers_host import only_below, snapshot_host, stepped_host  # tests/ is on sys.path under pytest

from zswap_gym.cgroup import (
    LRU_GEN_PATH,
    MEMINFO_PATH,
    SHRINKER_ENABLED_PATH,
    SWAPS_PATH,
    CgroupAccessError,
    CgroupFS,
    CgroupHierarchyError,
    CgroupNotFoundError,
    CgroupWriteError,
    RealCgroupFS,
)
from zswap_gym.policy import make_policy

STEP_S = 10.0


@pytest.fixture(scope="module")
def simulated() -> CgroupFS:
    return stepped_host()


def tree_files(root: Path) -> dict[str, str]:
    return {str(p): p.read_text() for p in root.rglob("*") if p.is_file()}


# ------------------------------------------------------------------------------------------------
# One host root for every file (issue 11, point 11)
# ------------------------------------------------------------------------------------------------

HOST_FILES_READ = {
    "katalyst": {LRU_GEN_PATH},
    "google-coldage": {LRU_GEN_PATH},
    "damon-reclaim": {LRU_GEN_PATH, MEMINFO_PATH},
    "shrinker": {SHRINKER_ENABLED_PATH},
    "senpai-oomd": {MEMINFO_PATH, SWAPS_PATH},
}
"""The baselines that read host files outside the cgroup tree, and which."""


def test_the_guard_refuses_a_path_outside_the_tree(tmp_path):
    with only_below(tmp_path), pytest.raises(pytest.fail.Exception, match="outside"):
        open(MEMINFO_PATH).close()


@pytest.mark.parametrize("name", sorted(HOST_FILES_READ))
def test_every_file_a_baseline_touches_is_below_the_host_root(simulated, tmp_path, name):
    """Each baseline runs its reset and two minutes of control() on a tree laid out like a host: it
    reads its host files from the tree, writes its reclaim there, and opens, lists or stats nothing
    outside ``tmp_path``; the shrinker's write of the zswap parameter lands in the tree."""
    root = snapshot_host(simulated, tmp_path)
    policy = make_policy(name)
    with only_below(tmp_path) as touched:
        fs = RealCgroupFS(host_root=tmp_path)
        policy.reset(fs, STEP_S)
        for step in range(13):
            policy.control(fs, step * STEP_S)
    for path in HOST_FILES_READ[name]:
        assert str(tmp_path / path.lstrip("/")) in touched
    assert (root / "web" / "memory.reclaim").read_text() != ""
    shrinker_enabled = (tmp_path / SHRINKER_ENABLED_PATH.lstrip("/")).read_text().strip()
    assert shrinker_enabled == ("Y" if name == "shrinker" else "N")


def test_host_paths_cannot_climb_out_of_the_host_root(simulated, tmp_path):
    snapshot_host(simulated, tmp_path)
    fs = RealCgroupFS(host_root=tmp_path)
    assert fs.path_of(MEMINFO_PATH) == str(tmp_path / "proc" / "meminfo")
    for path in ("/proc/../../etc/passwd", "/sys/module/../../../etc/shadow", "web/../../../proc/meminfo"):
        with pytest.raises(CgroupNotFoundError):
            fs.path_of(path)


# ------------------------------------------------------------------------------------------------
# cgroup v2, cgroup v1, neither (issue 11, point 12)
# ------------------------------------------------------------------------------------------------


def make_v1_tree(host_root: Path, controllers=("blkio", "cpu", "memory")) -> Path:
    """A cgroup v1 host: one hierarchy per controller below ``sys/fs/cgroup``, memcgs web and sidecar
    in each; returns the mount."""
    mount = host_root / "sys" / "fs" / "cgroup"
    for controller in controllers:
        for cgroup in ("", "web", "sidecar"):
            (mount / controller / cgroup).mkdir(parents=True, exist_ok=True)
            (mount / controller / cgroup / "cgroup.procs").write_text("")
    if "memory" in controllers:
        (mount / "memory" / "memory.usage_in_bytes").write_text("4294967296\n")
        (mount / "memory" / "web" / "memory.usage_in_bytes").write_text("1073741824\n")
        (mount / "memory" / "web" / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    return mount


def test_on_cgroup_v1_the_memcgs_are_the_memory_controllers_cgroups(tmp_path):
    mount = make_v1_tree(tmp_path)
    fs = RealCgroupFS(host_root=tmp_path)
    assert (fs.hierarchy.version, fs.hierarchy.mount) == (1, "/sys/fs/cgroup/memory")
    assert fs.root == str(mount / "memory")
    assert fs.memcgs() == ["sidecar", "web"]
    assert "cgroup v1 memory controller at /sys/fs/cgroup/memory" in repr(fs)
    assert fs.read("web/memory.usage_in_bytes") == "1073741824\n"
    assert fs.read("/sys/fs/cgroup/memory/web/memory.usage_in_bytes") == "1073741824\n"
    assert fs.memcg("web").read("memory.limit_in_bytes") == "9223372036854771712\n"
    with pytest.raises(CgroupNotFoundError):
        fs.read("web/memory.current")  # a v2 file


def test_on_cgroup_v2_the_memcgs_are_the_directories_below_the_mount(simulated, tmp_path):
    root = snapshot_host(simulated, tmp_path)
    fs = RealCgroupFS(host_root=tmp_path)
    assert (fs.hierarchy.version, fs.hierarchy.mount, fs.root) == (2, "/sys/fs/cgroup", str(root))
    assert fs.memcgs() == sorted(simulated.memcgs())
    assert "cgroup v2 at /sys/fs/cgroup" in repr(fs)


def test_v1_hierarchies_without_the_memory_controller_are_refused_naming_them(tmp_path):
    make_v1_tree(tmp_path, controllers=("blkio", "cpu", "pids"))
    with pytest.raises(CgroupHierarchyError, match="not a memory cgroup hierarchy") as info:
        RealCgroupFS(host_root=tmp_path)
    assert "blkio/, cpu/, pids/" in str(info.value) and "/sys/fs/cgroup" in str(info.value)
    assert info.value.errno == errno.ENOENT


def test_cgroup_v2_without_the_memory_controller_is_refused_naming_its_controllers(tmp_path):
    mount = tmp_path / "sys" / "fs" / "cgroup"
    mount.mkdir(parents=True)
    (mount / "cgroup.controllers").write_text("cpu io pids\n")
    with pytest.raises(CgroupHierarchyError, match=r"cgroup v2 without the memory controller.*cpu io pids"):
        RealCgroupFS(host_root=tmp_path)


def test_a_host_root_without_a_cgroup_mount_is_refused(tmp_path):
    with pytest.raises(CgroupHierarchyError, match="no such directory"):
        RealCgroupFS(host_root=tmp_path)


def test_the_hierarchy_error_pickles():
    err = CgroupHierarchyError("/sys/fs/cgroup", "it holds blkio/")
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is type(err) and str(copy) == str(err) and copy.found == err.found


# ------------------------------------------------------------------------------------------------
# The simulated files' errors (issue 11, point 13)
# ------------------------------------------------------------------------------------------------


def call(fs, operation: str, path: str, value=None):
    if operation == "read":
        return fs.read(path)
    if operation == "write":
        return fs.write(path, value)
    return fs.memcg(path)


@pytest.mark.parametrize(
    ("operation", "path", "value", "expected"),
    [
        ("write", "web/memory.high", "1G\u00e9", CgroupWriteError),
        ("write", "web/memory.high", "\u4e00G", CgroupWriteError),
        ("write", "web/memory.reclaim", b"1G\xff", CgroupWriteError),
        ("write", SHRINKER_ENABLED_PATH, b"Y\xff", CgroupWriteError),
        ("read", "web/memory.bogus", None, CgroupNotFoundError),
        ("write", "web/memory.bogus", "1G", CgroupNotFoundError),
        ("read", "nosuch/memory.current", None, CgroupNotFoundError),
        ("write", "nosuch/memory.high", "1G", CgroupNotFoundError),
        ("memcg", "nosuch", None, CgroupNotFoundError),
        ("read", "web", None, CgroupNotFoundError),
    ],
)
def test_the_real_files_raise_the_simulated_files_errors(simulated, tmp_path, operation, path, value, expected):
    root = snapshot_host(simulated, tmp_path)
    before = tree_files(root)
    real = RealCgroupFS(host_root=tmp_path)
    with pytest.raises(expected) as sim_error:
        call(simulated, operation, path, value)
    with pytest.raises(expected) as real_error:
        call(real, operation, path, value)
    assert real_error.value.errno == sim_error.value.errno
    assert path.split("/")[0] in str(real_error.value)
    assert tree_files(root) == before  # nothing written, nothing truncated


@pytest.mark.parametrize(
    ("operation", "err_no", "expected", "mode"),
    [
        ("read", errno.EACCES, CgroupAccessError, "not readable"),
        ("write", errno.EACCES, CgroupAccessError, "not writable"),
        ("read", errno.ENOENT, CgroupNotFoundError, "web/memory.reclaim"),
    ],
)
def test_the_kernels_open_errors_become_the_interfaces(
    simulated, tmp_path, monkeypatch, operation, err_no, expected, mode
):
    """kernfs refuses to open a write-only file for reading (``EACCES``), as the simulated
    ``memory.reclaim`` does; a file that vanishes between lookup and open is ``ENOENT``."""
    snapshot_host(simulated, tmp_path)
    real = RealCgroupFS(host_root=tmp_path)

    def refused(path, *args, **kwargs):
        raise OSError(err_no, os.strerror(err_no), os.fspath(path))

    monkeypatch.setattr("builtins.open" if operation == "read" else "zswap_gym.cgroup.real.os.open", refused)
    with pytest.raises(expected, match=mode) as info:
        call(real, operation, "web/memory.reclaim", "1G")
    assert info.value.errno == err_no
