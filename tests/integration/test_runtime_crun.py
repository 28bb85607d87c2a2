"""``--runtime crun`` / ``--runtime runc``: the same bundle under the shim, through
the CLI (root). Each runtime that is installed runs the same tests; each test
checks that nothing is left: no mount under the root, no cgroup, no process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.runtime import state as st
from tests.conftest import CLI
from tests.integration.test_run_flags import (
    CGROUP_V1,
    Site,
    inspect,
    make_cli,
    make_site,
    wait_until,
)
from tests.integration.test_runtime_helpers import mounts_under

RUNTIMES = [r for r in ("crun", "runc") if shutil.which(r)]

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(not RUNTIMES, reason="neither crun nor runc is installed"),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from make_site(tmp_path_factory)


@pytest.fixture
def dy(site: Site, capsys: pytest.CaptureFixture[str]) -> Iterator[CLI]:
    yield from make_cli(site, capsys)
    assert not mounts_under(site.root / "containers"), "a rootfs stayed mounted"


@pytest.fixture(params=RUNTIMES)
def rt(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def cgroup_dirs(site: Site, cid: str) -> list[Path]:
    return [d / site.config.cgroup_parent / cid for d in CGROUP_V1.iterdir() if d.is_dir()]


def shim_state(site: Site, cid: str) -> st.State:
    return st.read_state(str(site.root / "containers" / cid))


def assert_gone(site: Site, cid: str, pid: int) -> None:
    assert not mounts_under(site.root / "containers" / cid)
    assert not [d for d in cgroup_dirs(site, cid) if d.exists()]
    assert pid == 0 or not st.pid_alive(pid, None)


def test_run_prints_and_returns_the_code(dy: CLI, rt: str) -> None:
    assert dy.ok("run", "--rm", "--runtime", rt, "busybox", "echo", "hi") == "hi\n"
    r = dy("run", "--rm", "--runtime", rt, "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (r.code, r.out, r.err) == (3, "out\n", "err\n")
    r = dy("run", "--rm", "--runtime", rt, "busybox", "nosuchcmd")
    assert r.code == 127 and "nosuchcmd" in r.err, r


def test_same_isolation_and_seccomp(dy: CLI, rt: str) -> None:
    script = (
        "hostname; grep -E '^(CapEff|Seccomp):' /proc/self/status; "
        "unshare -m true 2>/dev/null || echo no-unshare; id -u"
    )
    ours = dy.ok("run", "--rm", "-h", "same", "busybox", "sh", "-c", script)
    theirs = dy.ok("run", "--rm", "-h", "same", "--runtime", rt, "busybox", "sh", "-c", script)
    assert theirs == ours
    assert "Seccomp:\t2" in theirs and "no-unshare" in theirs
    free = dy.ok("run", "--rm", "--runtime", rt, "--security-opt", "seccomp=unconfined",
                 "busybox", "grep", "^Seccomp:", "/proc/self/status")  # fmt: skip
    assert free.split() == ["Seccomp:", "0"]
    assert dy.ok("run", "--rm", "--runtime", rt, "-u", "nobody", "busybox", "id", "-u") == "65534\n"


def test_detached_ps_exec_stop_rm(dy: CLI, site: Site, rt: str) -> None:
    cid = dy.ok("run", "-d", "--runtime", rt, "busybox", "sleep", "100").strip()
    s = shim_state(site, cid)
    assert s.status == "running" and st.pid_alive(s.pid, s.pid_start)
    assert cid in dy.ok("ps", "-q", "--no-trunc")
    assert inspect(dy, cid, "{{.HostConfig.Runtime}}") in (rt, "")
    assert mounts_under(site.root / "containers" / cid)  # the rootfs, on the host
    assert [d for d in cgroup_dirs(site, cid) if d.exists()]
    assert dy.ok("exec", cid, "grep", "^Seccomp:", "/proc/self/status").split() == ["Seccomp:", "2"]
    assert "sleep 100" in dy.ok("exec", cid, "ps")
    dy.ok("stop", "-t", "1", cid)
    assert inspect(dy, cid, "{{.State.Status}} {{.State.ExitCode}}") == "exited 137"
    assert not mounts_under(site.root / "containers" / cid)
    dy.ok("rm", cid)
    assert_gone(site, cid, s.pid)


def test_tty_logs_and_restart(dy: CLI, site: Site, rt: str) -> None:
    cid = dy.ok("run", "-d", "-t", "--runtime", rt, "busybox", "sh", "-c", "tty; echo $TERM")
    cid = cid.strip()
    assert dy.ok("wait", cid) == "0\n"
    assert dy.ok("logs", cid).replace("\r", "").split() == ["/dev/pts/0", "xterm"]
    dy.ok("rm", cid)
    cid = dy.ok("run", "-d", "--restart", "on-failure:1", "--runtime", rt, "busybox",
                "sh", "-c", "echo ran; exit 2").strip()  # fmt: skip
    fmt = "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}"
    wait_until(lambda: inspect(dy, cid, fmt) == "exited 1 2", what="one restart")
    assert dy.ok("logs", cid).split() == ["ran", "ran"]
    assert not mounts_under(site.root / "containers" / cid)
    dy.ok("rm", cid)
    assert_gone(site, cid, 0)


def test_shim_killed_then_rm_cleans_up(dy: CLI, site: Site, rt: str) -> None:
    cid = dy.ok("run", "-d", "--runtime", rt, "busybox", "sleep", "100").strip()
    s = shim_state(site, cid)
    os.kill(s.shim_pid, signal.SIGKILL)
    wait_until(lambda: not st.pid_alive(s.shim_pid, s.shim_start), what="the shim to die")
    assert inspect(dy, cid, "{{.State.Status}}") == "dead"
    assert mounts_under(site.root / "containers" / cid)  # left behind by the crash
    dy.ok("rm", "-f", cid)
    deadline = time.monotonic() + 5
    while st.pid_alive(s.pid, s.pid_start) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert_gone(site, cid, s.pid)


def test_system_restore_unmounts_a_stale_rootfs(dy: CLI, site: Site, rt: str) -> None:
    cid = dy.ok("run", "-d", "--runtime", rt, "busybox", "sleep", "100").strip()
    s = shim_state(site, cid)
    os.kill(s.shim_pid, signal.SIGKILL)
    os.kill(s.pid, signal.SIGKILL)
    # both: a SIGKILL lands when the process leaves the kernel (the shim may be in
    # its state fsync, just after it reported the start); a live shim is restored
    wait_until(lambda: not st.pid_alive(s.shim_pid, s.shim_start), what="the shim to die")
    wait_until(lambda: not st.pid_alive(s.pid, s.pid_start), what="the container to die")
    dy.ok("system", "restore")
    assert inspect(dy, cid, "{{.State.Status}}") == "exited"
    assert not mounts_under(site.root / "containers" / cid)
    dy.ok("rm", cid)
    assert_gone(site, cid, s.pid)


def test_unknown_runtime(dy: CLI) -> None:
    r = dy("run", "--rm", "--runtime", "foo", "busybox", "true")
    assert r.code == 125 and "unknown or invalid runtime name: foo" in r.err
    r = dy("create", "--runtime", "foo", "busybox")
    assert r.code == 125 and "unknown or invalid runtime name: foo" in r.err
    assert dy.ok("ps", "-a", "-q") == ""


def test_shim_config_records_the_runtime(dy: CLI, site: Site, rt: str) -> None:
    cid = dy.ok("create", "--runtime", rt, "busybox", "true").strip()
    cfg = json.loads((site.root / "containers" / cid / "shim.json").read_text())
    assert cfg["runtime"] == rt and cfg["seccomp_filter"].endswith(".bpf")
    dy.ok("rm", cid)
