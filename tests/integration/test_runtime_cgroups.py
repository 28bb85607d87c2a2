"""Per-container cgroups with real containers: limits, stats, pause, removal (root)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.errors import Conflict
from dockyard.runtime.cgroups import Cgroup, is_v2
from dockyard.runtime.executor import kill
from tests.integration.test_runtime_helpers import (
    Bench,
    bench_fixture,
    session_rootfs,
    unique_parent,
)

pytestmark = pytest.mark.root


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return session_rootfs(tmp_path_factory)


@pytest.fixture
def bench(busybox_rootfs: Path, tmp_path: Path) -> Iterator[Bench]:
    yield from bench_fixture(busybox_rootfs, tmp_path)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def test_limits_show_in_the_cgroup_and_inside(bench: Bench) -> None:
    spec = bench.spec(
        "sh",
        "-c",
        "cat /sys/fs/cgroup/pids/pids.max "
        "/sys/fs/cgroup/memory/memory.limit_in_bytes; cat /proc/self/cgroup",
        memory=64 << 20,
        pids_limit=20,
        cpus=0.5,
    )
    cg = bench.cgroup(spec)
    if cg.version == 1:
        d = {c: cg.controller_dir(c) for c in ("memory", "pids", "cpu")}
        assert _read(f"{d['memory']}/memory.limit_in_bytes") == str(64 << 20)
        assert _read(f"{d['pids']}/pids.max") == "20"
        assert _read(f"{d['cpu']}/cpu.cfs_quota_us") == "50000"
        assert _read(f"{d['cpu']}/cpu.cfs_period_us") == "100000"
    r = bench.run(spec, cgroup=cg)
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[:2] == ["20", str(64 << 20)]
    # cgroup namespace: the container sees its own cgroup as the root
    assert all(ln.endswith(":/") for ln in lines[2:]), lines


def test_pids_limit_stops_a_fork_bomb(bench: Bench) -> None:
    # ash gives up in the subshell at the first failed fork; pid 1 then reports the count
    # and exits, and the kernel kills the rest of the pid namespace
    spec = bench.spec(
        "sh",
        "-c",
        "(i=0; while [ $i -lt 30 ]; do sleep 5 & i=$((i+1)); done); "
        "read n < /sys/fs/cgroup/pids/pids.current; echo $n",
        pids_limit=8,
    )
    cg = bench.cgroup(spec)
    r = bench.run(spec, cgroup=cg)
    assert "can't fork" in r.err
    assert 1 < int(r.out.split()[-1]) <= 8


def test_memory_limit_kills_a_hog(bench: Bench) -> None:
    spec = bench.spec(
        "sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived", memory=16 << 20
    )
    cg = bench.cgroup(spec)
    r = bench.run(spec, cgroup=cg, timeout=60)
    assert "survived" not in r.out
    assert r.code in (-9, 137, 1), (r.code, r.err)


def test_stats_freeze_thaw_and_remove(bench: Bench) -> None:
    spec = bench.spec("sh", "-c", "while :; do echo x >> /tmp/n; done", pids_limit=10)
    cg = bench.cgroup(spec)
    pid, b = bench.start(spec, cgroup=cg)
    assert cg.pids() == [pid]
    time.sleep(0.3)
    s = cg.stats()
    assert s.memory_usage > 0 and s.cpu_usage_ns > 0
    assert s.pids_current == 1 and s.pids_limit == 10
    counter = b / "upper/tmp/n"
    cg.freeze()
    assert cg.frozen()
    before = counter.stat().st_size
    time.sleep(0.2)
    assert counter.stat().st_size == before  # nothing runs while paused
    cg.thaw()
    assert not cg.frozen()
    time.sleep(0.2)
    assert counter.stat().st_size > before
    with pytest.raises(Conflict):
        cg.remove(timeout=0.2)  # still running
    kill(pid, signal.SIGKILL)
    assert bench.wait(pid) == -9
    cg.remove(prune_parents=True)
    assert not cg.exists()
    assert not any(os.path.exists(os.path.dirname(d)) for d in cg.dirs)


def test_remove_with_kill_while_frozen(bench: Bench) -> None:
    spec = bench.spec("sleep", "60")
    cg = bench.cgroup(spec)
    pid, _ = bench.start(spec, cgroup=cg)
    cg.freeze()
    cg.remove(kill=True, prune_parents=True)
    assert bench.wait(pid) == -9
    assert not cg.exists()


def test_cgroup2_hierarchy(bench: Bench) -> None:
    """The v2 code path on the host's cgroup2 mount (hybrid hosts have it at /unified)."""
    root = "/sys/fs/cgroup" if is_v2() else "/sys/fs/cgroup/unified"
    if not is_v2(root):
        pytest.skip("no cgroup2 hierarchy")
    cg = Cgroup(f"{unique_parent()}/c", root=root)
    bench.cgroups.append(cg)
    cg.create()
    assert cg.version == 2
    pid, _ = bench.start(bench.spec("sleep", "60"), cgroup=cg)
    assert cg.pids() == [pid]
    with open(f"/proc/{pid}/cgroup") as f:
        assert f"0::/{cg.path}" in f.read().splitlines()
    cg.freeze()
    assert cg.frozen()
    cg.thaw()
    cg.remove(kill=True, prune_parents=True)
    assert bench.wait(pid) == -9
    assert not cg.exists()


def _children() -> set[int]:
    out: set[int] = set()
    for tid in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{tid}/children") as f:
            out.update(int(p) for p in f.read().split())
    return out


def test_while_starting_runs_with_the_child_and_a_failure_leaves_none(bench: Bench) -> None:
    # start_container(while_starting=): the caller's own work, done while the child
    # sets the container up; should it fail, the child is killed and reaped
    seen: list[int] = []
    r = bench.run(bench.spec("true"), while_starting=seen.append)
    assert r.code == 0, r.err
    assert len(seen) == 1 and seen[0] > 0

    def fail(_: int) -> None:
        raise RuntimeError("hook failed")

    cg = bench.cgroup()
    before = _children()
    with pytest.raises(RuntimeError, match="hook failed"):
        bench.start(bench.spec("sleep", "60"), cgroup=cg, while_starting=fail)
    assert _children() == before
    assert cg.pids() == []
