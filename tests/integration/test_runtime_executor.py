"""The built-in runtime, as a user of `docker run` would notice it (root, real kernel)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.errors import NotFound
from dockyard.oci.runtime_spec import Process, User
from dockyard.runtime import caps
from dockyard.runtime.cgroups import Cgroup
from dockyard.runtime.executor import ChildAhead, ContainerStartError, exec_in_container, kill
from dockyard.runtime.spec_builder import SpecOptions, bind_mount, build_process, tmpfs_mount
from dockyard.runtime.users import resolve_user
from tests.integration.test_runtime_helpers import (
    Bench,
    bench_fixture,
    session_rootfs,
)

pytestmark = pytest.mark.root


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return session_rootfs(tmp_path_factory)


@pytest.fixture
def bench(busybox_rootfs: Path, tmp_path: Path) -> Iterator[Bench]:
    yield from bench_fixture(busybox_rootfs, tmp_path)


DOCKER_CAPEFF = "00000000a80425fb"


def _status(text: str, key: str) -> str:
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return line.split()[1]
    raise AssertionError(f"{key} not in {text!r}")


def test_pid_namespace_shows_only_the_containers_processes(bench: Bench) -> None:
    r = bench.run(bench.spec("ps", "-o", "pid,args"))
    assert r.code == 0, r.err
    rows = [ln.split(None, 1) for ln in r.out.strip().splitlines()[1:]]
    assert rows == [["1", "ps -o pid,args"]]
    r = bench.run(bench.spec("ls", "/proc"))
    assert [p for p in r.out.split() if p.isdigit()] == ["1"]


def test_hostname_env_and_cwd(bench: Bench) -> None:
    r = bench.run(
        bench.spec(
            "sh",
            "-c",
            "hostname; pwd; env | sort",
            hostname="web-1",
            cwd="/srv/app",
            env=("FOO=bar",),
        )
    )
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == "web-1" and lines[1] == "/srv/app"
    assert {"FOO=bar", "HOSTNAME=web-1", "HOME=/"} <= set(lines)
    assert any(ln.startswith("PATH=/usr/local/sbin:") for ln in lines)


def test_default_capabilities_match_docker(bench: Bench) -> None:
    r = bench.run(bench.spec("cat", "/proc/self/status"))
    assert r.code == 0, r.err
    assert _status(r.out, "CapEff") == DOCKER_CAPEFF
    assert _status(r.out, "CapPrm") == DOCKER_CAPEFF
    assert _status(r.out, "CapBnd") == DOCKER_CAPEFF
    assert _status(r.out, "CapInh") == _status(r.out, "CapAmb") == "0000000000000000"
    assert _status(r.out, "SigIgn") == "0000000000000000"  # Python's SIGPIPE ignore is undone
    assert _status(r.out, "NoNewPrivs") == "0"


def test_cap_drop_and_no_new_privileges(bench: Bench) -> None:
    r = bench.run(
        bench.spec(
            "cat",
            "/proc/self/status",
            cap_drop=("ALL",),
            cap_add=("NET_BIND_SERVICE",),
            no_new_privileges=True,
        )
    )
    assert _status(r.out, "CapEff") == f"{1 << caps.CAP_NUMBERS['CAP_NET_BIND_SERVICE']:016x}"
    assert _status(r.out, "NoNewPrivs") == "1"


def test_proc_sys_is_read_only_and_paths_are_masked(bench: Bench) -> None:
    r = bench.run(bench.spec("sh", "-c", "echo x > /proc/sys/kernel/domainname"))
    assert r.code != 0 and "Read-only file system" in r.err
    script = (
        "for p in /proc/kcore /proc/keys /proc/timer_list /proc/acpi /sys/firmware; do "
        "[ -e $p ] && echo $p $(cat $p 2>/dev/null | wc -c) $(ls -A $p | wc -l); done"
    )
    r = bench.run(bench.spec("sh", "-c", script))
    assert r.code == 0, r.err
    seen = {ln.split()[0]: ln.split()[1:] for ln in r.out.splitlines()}
    for path, (size, _entries) in seen.items():
        if path in ("/proc/acpi", "/sys/firmware"):
            assert _entries == "0", f"{path} not masked: {r.out}"
        else:
            assert size == "0", f"{path} not masked: {r.out}"
    assert "/proc/keys" in seen  # exists on this kernel (kcore does not always)
    if os.path.exists("/proc/kcore"):
        assert "/proc/kcore" in seen


def test_read_only_root(bench: Bench) -> None:
    r = bench.run(
        bench.spec(
            "sh", "-c", "touch /x; echo rc=$?; touch /dev/shm/ok && echo shm", readonly_rootfs=True
        )
    )
    assert "rc=1" in r.out and "Read-only file system" in r.err
    assert "shm" in r.out.splitlines()


def test_user_nobody(bench: Bench, busybox_rootfs: Path) -> None:
    ru = resolve_user(busybox_rootfs, "nobody")
    r = bench.run(
        bench.spec(
            "sh", "-c", "id -u; id -g; grep CapEff /proc/self/status", user=ru.user, home=ru.home
        )
    )
    assert r.out.split()[:2] == ["65534", "65534"]
    assert r.out.split()[-1] == "0000000000000000"
    # the same, resolved inside the container (its own /etc/passwd)
    r = bench.run(
        bench.spec("sh", "-c", "id -u; echo $HOME; grep CapEff /proc/self/status", home=None),
        resolve_user="nobody",
    )
    assert r.out.split() == ["65534", "/nonexistent", "CapEff:", "0000000000000000"]


def test_unknown_user(bench: Bench) -> None:
    with pytest.raises(ContainerStartError) as e:
        bench.run(bench.spec("true"), resolve_user="xyz")
    assert e.value.exit_code == 125
    assert str(e.value) == "unable to find user xyz: no matching entries in passwd file"


@pytest.mark.parametrize(
    "cmd, code",
    [
        (("sh", "-c", "exit 42"), 42),
        (("true",), 0),
        # pid 1 is immune to SIGKILL from inside (Docker too)
        (("sh", "-c", "kill -9 $$; exit 3"), 3),
    ],
)
def test_exit_codes_propagate(bench: Bench, cmd: tuple[str, ...], code: int) -> None:
    assert bench.run(bench.spec(*cmd)).code == code


@pytest.mark.parametrize(
    "cmd, code, msg",
    [
        ("nosuchcmd", 127, 'exec: "nosuchcmd": executable file not found in $PATH'),
        ("/bin/nope", 127, 'exec: "/bin/nope": stat /bin/nope: no such file or directory'),
        ("/etc/passwd", 126, 'exec: "/etc/passwd": permission denied'),
        ("/etc", 126, 'exec: "/etc": permission denied'),
    ],
)
def test_exec_failures_have_dockers_code_and_message(
    bench: Bench, cmd: str, code: int, msg: str
) -> None:
    with pytest.raises(ContainerStartError) as e:
        bench.run(bench.spec(cmd))
    assert (e.value.exit_code, str(e.value)) == (code, msg)
    assert not bench.pids  # the failed child was reaped


def test_exec_in_container_joins_its_namespaces(bench: Bench) -> None:
    spec = bench.spec("sleep", "60", hostname="joined")
    pid, b = bench.start(spec)
    out = b / "exec-out"
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        proc = build_process(
            SpecOptions(
                args=("sh", "-c", "hostname; ps -o pid,args; id -u"), user=User(65534, 65534)
            )
        )
        child = exec_in_container(pid, proc, stdio=(fd, fd, fd))
    finally:
        os.close(fd)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "joined"
    assert "1 sleep 60" in [" ".join(ln.split()) for ln in lines]
    assert lines[-1] == "65534"
    with pytest.raises(ContainerStartError) as e:
        exec_in_container(pid, Process(args=("nosuchcmd",)))
    assert e.value.exit_code == 127
    kill(pid, signal.SIGKILL)
    assert bench.wait(pid) == -9
    with pytest.raises(NotFound):
        kill(pid, signal.SIGTERM)


def test_callers_pid_namespace_is_restored(bench: Bench) -> None:
    assert bench.run(bench.spec("true")).code == 0
    assert os.readlink("/proc/self/ns/pid_for_children") == os.readlink("/proc/self/ns/pid")
    assert bench.run(bench.spec("true")).code == 0  # a second container (restart) works


def test_network_namespace_none_and_joined(bench: Bench) -> None:
    r = bench.run(bench.spec("ls", "/sys/class/net"))
    assert r.out.split() == ["lo"]
    a, _ = bench.start(bench.spec("sleep", "60"))
    r = bench.run(bench.spec("readlink", "/proc/self/ns/net", network=f"/proc/{a}/ns/net"))
    assert r.out.strip() == os.readlink(f"/proc/{a}/ns/net")
    r = bench.run(bench.spec("readlink", "/proc/self/ns/net", network="host"))
    assert r.out.strip() == os.readlink("/proc/self/ns/net")


def test_sysctl(bench: Bench) -> None:
    r = bench.run(
        bench.spec("cat", "/proc/sys/net/ipv4/ip_forward", sysctls=(("net.ipv4.ip_forward", "1"),))
    )
    assert r.out.strip() == "1", r.err


def test_bind_and_tmpfs_mounts(bench: Bench, tmp_path: Path) -> None:
    host = tmp_path / "hostdir"
    host.mkdir()
    (host / "f").write_text("from host\n")
    spec = bench.spec(
        "sh",
        "-c",
        "cat /data/f; touch /data/g; echo rc=$?; "
        "touch /scratch/x && grep ' /scratch ' /proc/mounts",
        mounts=(bind_mount(str(host), "/data", readonly=True), tmpfs_mount("/scratch", "size=1m")),
    )
    r = bench.run(spec)
    assert r.out.splitlines()[0] == "from host"
    assert "rc=1" in r.out and "Read-only file system" in r.err
    assert "tmpfs rw,nosuid,nodev,noexec" in r.out
    assert not (host / "g").exists()


def test_writes_go_to_the_overlay_upper_dir(bench: Bench, busybox_rootfs: Path) -> None:
    pid, b = bench.start(bench.spec("sh", "-c", "echo hi > /etc/new; rm /bin/vi"))
    assert bench.wait(pid) == 0
    assert (b / "upper/etc/new").read_text() == "hi\n"
    assert not (busybox_rootfs / "etc/new").exists()
    assert (busybox_rootfs / "bin/vi").is_symlink()


def test_terminal(bench: Bench) -> None:
    m, s = os.openpty()
    try:
        pid, _ = bench.start(
            bench.spec("sh", "-c", "tty; [ -t 0 ] && echo isatty", terminal=True), stdio=(s, s, s)
        )
        os.close(s)
        s = -1
        out = b""
        while True:
            try:
                chunk = os.read(m, 4096)
            except OSError:  # EIO: the last slave fd closed
                break
            if not chunk:
                break
            out += chunk
        assert bench.wait(pid) == 0
    finally:
        os.close(m)
        if s >= 0:
            os.close(s)
    assert out.decode().split() == ["/dev/console", "isatty"]


def test_container_keeps_running_and_sigterm_without_handler(bench: Bench) -> None:
    pid, _ = bench.start(bench.spec("sleep", "60"))
    kill(pid, signal.SIGTERM)  # pid 1 without a handler: ignored, as in Docker
    time.sleep(0.2)
    assert os.waitpid(pid, os.WNOHANG) == (0, 0)
    kill(pid, signal.SIGKILL)
    assert bench.wait(pid) == -9


# -- a child forked ahead (the pending shim's: ChildAhead) --------------------------------


def test_a_child_forked_ahead_becomes_the_containers_process(bench: Bench) -> None:
    spec = bench.spec("sh", "-c", "echo pid $$; exec sleep 30")
    cg = bench.cgroup(spec)
    ahead = ChildAhead(cg)
    wait_until_in(cg, ahead.pid)  # joined while it waits for its plan
    pid, b = bench.start(spec, cgroup=cg, ahead=ahead)
    assert pid == ahead.pid
    deadline = time.monotonic() + 5
    while (b / "out").read_text() != "pid 1\n":
        assert time.monotonic() < deadline, (b / "out").read_text()
        time.sleep(0.01)
    assert Path(f"/proc/{pid}/cmdline").read_bytes() == b"sleep\x0030\x00"
    assert cg.pids() == [pid]
    kill(pid, signal.SIGKILL)
    assert bench.wait(pid) == -signal.SIGKILL


def test_a_child_ahead_that_died_or_does_not_fit_gives_way_to_a_fork(bench: Bench) -> None:
    spec = bench.spec("echo", "hi")
    cg = bench.cgroup(spec)
    dead = ChildAhead(cg)
    os.kill(dead.pid, signal.SIGKILL)
    os.waitid(os.P_PID, dead.pid, os.WEXITED | os.WNOWAIT)  # dead, not reaped: the start does
    r = bench.run(spec, cgroup=cg, ahead=dead)
    assert (r.code, r.out) == (0, "hi\n")
    with pytest.raises(ChildProcessError):
        os.waitpid(dead.pid, os.WNOHANG)
    elsewhere = ChildAhead(bench.cgroup(spec))  # another cgroup than the start's
    r = bench.run(spec, cgroup=cg, ahead=elsewhere)
    assert (r.code, r.out) == (0, "hi\n")
    with pytest.raises(ChildProcessError):  # killed and reaped: not the container's
        os.waitpid(elsewhere.pid, os.WNOHANG)


def test_a_cancelled_child_ahead_leaves_its_cgroup_empty(bench: Bench) -> None:
    cg = bench.cgroup()
    ahead = ChildAhead(cg)
    wait_until_in(cg, ahead.pid)
    ahead.cancel()
    ahead.cancel()  # idempotent
    assert cg.pids() == []
    with pytest.raises(ChildProcessError):
        os.waitpid(ahead.pid, os.WNOHANG)


def wait_until_in(cg: Cgroup, pid: int) -> None:
    deadline = time.monotonic() + 5
    while pid not in cg.pids():
        assert time.monotonic() < deadline, f"{pid} never joined {cg.path}"
        time.sleep(0.005)
