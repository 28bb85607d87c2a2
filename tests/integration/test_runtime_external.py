"""The same bundle run by crun: a cross-check of the spec the builder makes (root)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.errors import ExternalToolFailed, NotFound
from dockyard.runtime.external import ExternalRuntime
from dockyard.runtime.spec_builder import SpecOptions, build_spec
from tests.integration.test_runtime_helpers import (
    Bench,
    bench_fixture,
    mounts_under,
    session_rootfs,
    unique_parent,
)

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(shutil.which("crun") is None, reason="crun is not installed"),
]


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return session_rootfs(tmp_path_factory)


@pytest.fixture
def bench(busybox_rootfs: Path, tmp_path: Path) -> Iterator[Bench]:
    yield from bench_fixture(busybox_rootfs, tmp_path)


# crun 1.8.1 refuses hybrid cgroups while cgroup2 owns a controller ("cgroups in hybrid
# mode not supported, drop all controllers from cgroupv2"). Rather than change the host,
# run crun in a private mount namespace where /sys/fs/cgroup/unified is not mounted.
WRAPPER = """#!/bin/sh
exec unshare -m sh -c 'umount -l /sys/fs/cgroup/unified 2>/dev/null; exec crun "$@"' crun "$@"
"""


@pytest.fixture
def crun(tmp_path: Path) -> ExternalRuntime:
    binary = "crun"
    ctl = "/sys/fs/cgroup/unified/cgroup.controllers"
    if os.path.exists(ctl) and Path(ctl).read_text().strip():
        binary = str(tmp_path / "crun-wrapper")
        Path(binary).write_text(WRAPPER)
        os.chmod(binary, 0o755)
    return ExternalRuntime(binary, root=str(tmp_path / "crun-state"))


@pytest.fixture
def host_rootfs(busybox_rootfs: Path, tmp_path: Path) -> Iterator[Path]:
    """An overlay mounted on the host (external runtimes need the rootfs mounted)."""
    b = tmp_path / "bundle"
    for d in ("rootfs", "upper", "work"):
        (b / d).mkdir(parents=True)
    subprocess.run(
        [
            "mount",
            "-t",
            "overlay",
            "overlay",
            "-o",
            f"lowerdir={busybox_rootfs},upperdir={b / 'upper'},workdir={b / 'work'}",
            str(b / "rootfs"),
        ],
        check=True,
    )
    try:
        yield b
    finally:
        subprocess.run(["umount", str(b / "rootfs")], check=True)
    assert not mounts_under(tmp_path)


def _wait_stopped(rt: ExternalRuntime, cid: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while rt.state(cid).status != "stopped":
        assert time.monotonic() < deadline, "container did not stop"
        time.sleep(0.02)


def _rm_cgroup_parent(parent: str) -> None:
    root = "/sys/fs/cgroup"
    for ctrl in os.listdir(root):
        d = f"{root}/{ctrl}/{parent}"
        if os.path.isdir(d):
            os.rmdir(d)


def test_same_bundle_with_crun(bench: Bench, crun: ExternalRuntime, host_rootfs: Path) -> None:
    script = (
        "hostname; grep CapEff /proc/self/status; ps -o pid,comm; ls /sys/class/net; "
        "(echo x > /proc/sys/kernel/domainname) 2>/dev/null || echo ro; "
        "cat /sys/fs/cgroup/pids/pids.max; wc -c < /proc/keys; id"
    )
    opts = dict(hostname="crossed", pids_limit=9)
    parent = unique_parent()
    spec = build_spec(
        SpecOptions(
            args=("sh", "-c", script),
            rootfs=str(host_rootfs / "rootfs"),
            cgroups_path=f"/{parent}/c",
            **opts,
        )
    )  # type: ignore[arg-type]
    out = host_rootfs / "out"
    cid = f"dyt-{uuid.uuid4().hex[:8]}"
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    try:
        pid = crun.run(cid, host_rootfs, spec, stdio=(null, fd, fd))
        assert pid > 0
        _wait_stopped(crun, cid)
    finally:
        os.close(fd)
        os.close(null)
        crun.delete(cid, force=True)
        _rm_cgroup_parent(parent)
    theirs = out.read_text()
    ours = bench.run(
        bench.spec("sh", "-c", script, **opts), cgroup=bench.cgroup(bench.spec("true", **opts))
    )
    assert (ours.out, ours.err) == (theirs, "")
    assert theirs.split()[0] == "crossed" and "00000000a80425fb" in theirs


def test_lifecycle_and_errors(crun: ExternalRuntime, host_rootfs: Path) -> None:
    spec = build_spec(SpecOptions(args=("sleep", "60"), rootfs=str(host_rootfs / "rootfs")))
    cid = f"dyt-{uuid.uuid4().hex[:8]}"
    try:
        pid = crun.create(cid, host_rootfs, spec)
        st = crun.state(cid)
        assert (st.status, st.pid, st.id) == ("created", pid, cid)
        crun.start(cid)
        assert crun.state(cid).status == "running"
        crun.kill(cid, signal.SIGKILL)
        _wait_stopped(crun, cid)
        with pytest.raises(ExternalToolFailed):
            crun.create(cid, host_rootfs)  # the id is taken
    finally:
        crun.delete(cid, force=True)
    with pytest.raises(NotFound):
        crun.state(cid)
    crun.delete(cid)  # deleting a missing container is not an error
    bad = build_spec(SpecOptions(args=("nosuchcmd",), rootfs=str(host_rootfs / "rootfs")))
    with pytest.raises(ExternalToolFailed, match="nosuchcmd"):
        crun.run(f"dyt-{uuid.uuid4().hex[:8]}", host_rootfs, bad)
