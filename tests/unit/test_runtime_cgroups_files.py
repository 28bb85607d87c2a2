"""Cgroup limit and stats file formats, against a fake cgroup tree in a temp dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument
from dockyard.oci.runtime_spec import Resources
from dockyard.runtime.cgroups import Cgroup
from dockyard.runtime.mounts import parse_options

V1_FILES = {
    "memory": ["memory.limit_in_bytes", "memory.usage_in_bytes"],
    "cpu": ["cpu.cfs_period_us", "cpu.cfs_quota_us", "cpu.shares"],
    "cpuacct": ["cpuacct.usage"],
    "pids": ["pids.max", "pids.current", "cgroup.procs"],
    "freezer": ["freezer.state"],
    "blkio": ["blkio.throttle.io_service_bytes_recursive"],
    "devices": ["devices.allow", "devices.deny"],
}


def fake_v1(root: Path, rel: str) -> None:
    for ctrl, files in V1_FILES.items():
        d = root / ctrl / rel
        d.mkdir(parents=True)
        for f in files:
            (d / f).write_text("")


def test_v1_limits_and_stats(tmp_path: Path) -> None:
    fake_v1(tmp_path, "p/c1")
    cg = Cgroup("/p/c1/", root=str(tmp_path), version=1)
    assert len(cg.dirs) == 7
    cg.create(
        Resources(
            memory_limit=64 << 20, cpu_quota=50000, cpu_period=100000, cpu_shares=512, pids_limit=20
        )
    )
    d = tmp_path
    assert (d / "memory/p/c1/memory.limit_in_bytes").read_text() == str(64 << 20)
    assert (d / "cpu/p/c1/cpu.cfs_quota_us").read_text() == "50000"
    assert (d / "cpu/p/c1/cpu.cfs_period_us").read_text() == "100000"
    assert (d / "cpu/p/c1/cpu.shares").read_text() == "512"
    assert (d / "pids/p/c1/pids.max").read_text() == "20"
    assert (d / "devices/p/c1/devices.deny").read_text() == "a"
    (d / "memory/p/c1/memory.usage_in_bytes").write_text("12345\n")
    (d / "cpuacct/p/c1/cpuacct.usage").write_text("999\n")
    (d / "pids/p/c1/pids.current").write_text("3\n")
    (d / "blkio/p/c1/blkio.throttle.io_service_bytes_recursive").write_text(
        "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:16 Read 10\nTotal 12298\n"
    )
    (d / "cgroup.procs").write_text("")
    (d / "pids/p/c1/cgroup.procs").write_text("10\n11\n")
    s = cg.stats()
    assert (s.memory_usage, s.memory_limit, s.cpu_usage_ns) == (12345, 64 << 20, 999)
    assert (s.pids_current, s.pids_limit) == (3, 20)
    assert (s.blkio_read_bytes, s.blkio_write_bytes) == (4106, 8192)
    assert cg.pids() == [10, 11]


def test_v1_unlimited(tmp_path: Path) -> None:
    fake_v1(tmp_path, "p/c2")
    cg = Cgroup("p/c2", root=str(tmp_path), version=1)
    cg.set_resources(Resources(memory_limit=-1, pids_limit=0, cpu_quota=-1))
    assert (tmp_path / "memory/p/c2/memory.limit_in_bytes").read_text() == "-1"
    assert (tmp_path / "pids/p/c2/pids.max").read_text() == "max"
    assert (tmp_path / "cpu/p/c2/cpu.cfs_quota_us").read_text() == "-1"
    (tmp_path / "memory/p/c2/memory.limit_in_bytes").write_text("9223372036854771712")
    (tmp_path / "pids/p/c2/pids.max").write_text("max")
    s = cg.stats()
    assert s.memory_limit is None and s.pids_limit is None


def test_v2_limits_and_stats(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpu io memory pids\n")
    (tmp_path / "cgroup.subtree_control").write_text("")
    d = tmp_path / "p/c3"
    d.mkdir(parents=True)
    for f in ("memory.max", "cpu.max", "cpu.weight", "pids.max"):
        (d / f).write_text("")
    (tmp_path / "p/cgroup.controllers").write_text("cpu io memory pids\n")
    (tmp_path / "p/cgroup.subtree_control").write_text("")
    cg = Cgroup("p/c3", root=str(tmp_path))
    assert cg.version == 2 and cg.dirs == (str(d),)
    cg.create(
        Resources(
            memory_limit=1 << 20, cpu_quota=25000, cpu_period=100000, cpu_shares=1024, pids_limit=7
        )
    )
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+memory +cpu +pids +io"
    assert (d / "memory.max").read_text() == str(1 << 20)
    assert (d / "cpu.max").read_text() == "25000 100000"
    assert (d / "cpu.weight").read_text() == "39"
    assert (d / "pids.max").read_text() == "7"
    (d / "memory.current").write_text("100\n")
    (d / "cpu.stat").write_text("usage_usec 7\nuser_usec 5\n")
    (d / "pids.current").write_text("2\n")
    (d / "io.stat").write_text("8:0 rbytes=10 wbytes=20 rios=1 wios=2\n")
    s = cg.stats()
    assert (s.memory_usage, s.memory_limit, s.cpu_usage_ns) == (100, 1 << 20, 7000)
    assert (s.pids_current, s.pids_limit, s.blkio_read_bytes, s.blkio_write_bytes) == (2, 7, 10, 20)


@pytest.mark.parametrize("path", ["", "/", "a/../b", "a//b", "./a"])
def test_bad_paths(path: str) -> None:
    with pytest.raises(InvalidArgument):
        Cgroup(path, root="/nonexistent", version=1)


def test_parse_mount_options() -> None:
    from dockyard.runtime import linux as L

    flags, prop, data = parse_options(["nosuid", "noexec", "ro", "mode=755", "size=1m", "rprivate"])
    assert flags == L.MS_NOSUID | L.MS_NOEXEC | L.MS_RDONLY
    assert prop == L.MS_PRIVATE | L.MS_REC
    assert data == "mode=755,size=1m"
    assert parse_options(["ro", "rw", "rbind"])[0] == L.MS_BIND | L.MS_REC
