"""The shim (per-container supervisor) with real containers (root).

Each test gets a private root/runroot, a unique cgroup parent and a checker that
nothing is left: no shim or container process, no cgroup, no mount, no socket.
The test process is a child subreaper while these tests run, so the detached shims
(and a container whose shim was SIGKILLed) are reaped here instead of by pid 1.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.errors import Conflict, InvalidArgument
from dockyard.oci.runtime_spec import Mount, Resources
from dockyard.runtime import linux
from dockyard.runtime import state as st
from dockyard.runtime.bundle import write_config
from dockyard.runtime.cgroups import Cgroup
from dockyard.runtime.errors import ContainerStartError
from dockyard.runtime.logs import read_logs
from dockyard.runtime.shim_client import (
    DetachDetector,
    ShimClient,
    ShimHandle,
    connect_socket,
    parse_detach_keys,
    spawn_shim,
)
from dockyard.runtime.spec_builder import SpecOptions, build_spec
from tests.integration.test_runtime_helpers import mounts_under, session_rootfs

pytestmark = pytest.mark.root


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return session_rootfs(tmp_path_factory)


@pytest.fixture(scope="module", autouse=True)
def _subreaper() -> Iterator[None]:
    if os.geteuid() != 0:
        yield
        return
    linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
    try:
        yield
    finally:
        linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 0)
        _reap_all()


def _reap_all() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


class Box:
    """One container directory (D), its runroot dir and helpers."""

    def __init__(self, env: Env, cid: str, d: Path, run: Path, cgroup: str) -> None:
        self.env, self.id, self.dir, self.run, self.cgroup = env, cid, d, run, cgroup
        self.client = ShimClient(run, d)
        self.handle: ShimHandle | None = None

    def spawn(self, **kw: object) -> ShimHandle:
        self.handle = spawn_shim(self.dir, self.run, **kw)  # type: ignore[arg-type]
        return self.handle

    def state(self) -> st.State:
        return self.client.state()

    def log_lines(self) -> list[dict[str, str]]:
        path = self.dir / f"{self.id}-json.log"
        return [json.loads(line) for line in path.read_bytes().splitlines()]

    def output(self, stream: str | None = None) -> bytes:
        return b"".join(
            d for s, d, _ in read_logs(str(self.dir), self.id) if stream is None or s == stream
        )

    def wait_status(self, *statuses: str, timeout: float = 10.0) -> st.State:
        deadline = time.monotonic() + timeout
        while True:
            s = self.state()
            if s.status in statuses:
                return s
            if time.monotonic() > deadline:
                raise AssertionError(f"status {s.status}, wanted {statuses}: {s}")
            time.sleep(0.01)


class Env:
    def __init__(self, lower: Path, tmp: Path) -> None:
        self.lower, self.tmp = lower, tmp
        self.parent = f"dockyard-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.boxes: list[Box] = []

    def box(
        self,
        *args: str,
        tty: bool = False,
        open_stdin: bool = False,
        restart: tuple[str, int] = ("no", 0),
        log: tuple[str, str] = ("10m", "3"),
        **kw: Any,
    ) -> Box:
        cid = uuid.uuid4().hex + uuid.uuid4().hex  # 64 hex digits, like Docker's
        d = self.tmp / "root" / "containers" / cid
        for sub in ("rootfs", "upper", "work"):
            (d / sub).mkdir(parents=True)
        run = self.tmp / "run" / "containers" / cid
        cg = f"{self.parent}/{cid[:12]}"
        spec = build_spec(SpecOptions(args=args, hostname="ctr", terminal=tty, cgroups_path=cg))
        write_config(d, spec)
        overlay = Mount(
            "/",
            "overlay",
            "overlay",
            (f"lowerdir={self.lower}", f"upperdir={d / 'upper'}", f"workdir={d / 'work'}"),
        )
        cfg = st.ShimConfig.build(
            cid,
            rootfs_mounts=(overlay,),
            cgroup_path=cg,
            restart_policy=restart[0],
            max_retries=restart[1],
            log_max_size=log[0],
            log_max_file=log[1],
            tty=tty,
            open_stdin=open_stdin,
            **kw,
        )
        st.write_shim_config(str(d), cfg)
        b = Box(self, cid, d, run, cg)
        self.boxes.append(b)
        return b

    def cleanup(self) -> None:
        for b in self.boxes:
            s = b.client.raw_state()
            b.client.cleanup(timeout=5)
            for pid, start in ((s.shim_pid, s.shim_start), (s.pid, s.pid_start)):
                if pid and st.pid_alive(pid, start):
                    os.kill(pid, signal.SIGKILL)
            Cgroup(b.cgroup).remove(kill=True, prune_parents=True)
        deadline = time.monotonic() + 5
        while any(_alive(b) for b in self.boxes) and time.monotonic() < deadline:
            time.sleep(0.01)
        _reap_all()


def _alive(b: Box) -> bool:
    s = b.client.raw_state()
    return st.pid_alive(s.shim_pid, s.shim_start) or st.pid_alive(s.pid, s.pid_start)


@pytest.fixture
def env(busybox_rootfs: Path, tmp_path: Path) -> Iterator[Env]:
    e = Env(busybox_rootfs, tmp_path)
    try:
        yield e
    finally:
        e.cleanup()
    assert not mounts_under(tmp_path) and not mounts_under(busybox_rootfs)
    for b in e.boxes:
        assert not _alive(b), f"process left: {b.client.raw_state()}"
        assert not Cgroup(b.cgroup).exists(), f"cgroup left: {b.cgroup}"
        assert not (b.run / st.SOCKET_NAME).exists()
    assert not Cgroup(e.parent).exists()


def _read_frames(sock: socket.socket, until: bytes, timeout: float = 10.0) -> dict[int, bytes]:
    """Demultiplex Docker frames until ``until`` was seen on stdout or EOF."""
    sock.settimeout(timeout)
    buf, out = b"", {1: b"", 2: b""}
    while until not in out[1]:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
        while len(buf) >= 8:
            stream, n = buf[0], struct.unpack(">I", buf[4:8])[0]
            if len(buf) < 8 + n:
                break
            assert buf[1:4] == b"\0\0\0"
            out[stream] += buf[8 : 8 + n]
            buf = buf[8 + n :]
    return out


def _read_raw(sock: socket.socket, until: bytes, timeout: float = 10.0) -> bytes:
    sock.settimeout(timeout)
    out = b""
    while until not in out:
        chunk = sock.recv(65536)
        if not chunk:
            break
        out += chunk
    return out


# -- the basics ----------------------------------------------------------------------


def test_echo_hello_is_logged_in_json_file_format(env: Env) -> None:
    b = env.box("sh", "-c", "echo hello; echo oops >&2")
    h = b.spawn()
    assert h.pid > 0 and h.shim_pid > 0
    assert b.client.wait() == 0
    s = b.state()
    assert s.status == "exited" and s.exit_code == 0 and s.error == ""
    assert s.started_at <= s.finished_at and s.finished_at.endswith("Z")
    lines = b.log_lines()
    assert sorted((ln["stream"], ln["log"]) for ln in lines) == [
        ("stderr", "oops\n"),
        ("stdout", "hello\n"),
    ]
    raw = (b.dir / f"{b.id}-json.log").read_bytes().splitlines()
    for line, parsed in zip(raw, lines, strict=True):
        assert (
            line
            == (
                f'{{"log":"{parsed["log"][:-1]}\\n","stream":"{parsed["stream"]}",'
                f'"time":"{parsed["time"]}"}}'
            ).encode()
        )
        assert len(parsed["time"]) == len("2024-01-02T03:04:05.123456789Z")
    assert b.output("stdout") == b"hello\n"


@pytest.mark.parametrize("mode", ["fork", "exec"])
def test_exit_codes(env: Env, mode: str) -> None:
    b = env.box("sh", "-c", "exit 3")
    b.spawn(mode=mode)
    assert b.client.wait() == 3
    assert b.state().exit_code == 3


def test_kill_9_of_the_container_is_137(env: Env) -> None:
    b = env.box("sleep", "60")
    h = b.spawn()
    os.kill(h.pid, signal.SIGKILL)
    assert b.client.wait() == 137
    s = b.state()
    assert (s.status, s.exit_code, s.pid) == ("exited", 137, 0)


@pytest.mark.parametrize("mode", ["fork", "exec"])
def test_missing_binary_fails_like_docker_and_leaves_nothing(env: Env, mode: str) -> None:
    b = env.box("nosuchcmd")
    with pytest.raises(ContainerStartError) as e:
        b.spawn(mode=mode)
    msg = 'exec: "nosuchcmd": executable file not found in $PATH'
    assert (e.value.exit_code, str(e.value)) == (127, msg)
    s = b.state()
    assert (s.status, s.exit_code, s.error) == ("created", 127, msg)
    assert not Cgroup(b.cgroup).exists()
    assert not (b.run / st.SOCKET_NAME).exists()


def test_spawning_a_running_container_again_is_a_conflict(env: Env) -> None:
    b = env.box("sleep", "60")
    b.spawn()
    with pytest.raises(Conflict):
        b.spawn()
    assert b.client.stop(timeout=0) == 137


def test_wait_op_blocks_until_exit(env: Env) -> None:
    b = env.box("sleep", "0.3")
    b.spawn()
    assert b.state().status == "running"
    t0 = time.monotonic()
    assert b.client.wait() == 0
    assert time.monotonic() - t0 > 0.1
    assert b.client.wait() == 0  # after the end: from state.json


def test_stop_sends_the_signal_then_kills(env: Env) -> None:
    b = env.box("sh", "-c", "trap 'echo got TERM; exit 7' TERM; while :; do sleep 0.05; done")
    b.spawn()
    time.sleep(0.2)  # let the trap be installed
    assert b.client.stop(timeout=5) == 7
    assert b.output() == b"got TERM\n"
    assert b.state().manually_stopped
    b2 = env.box("sleep", "60")  # pid 1 without a handler ignores SIGTERM: SIGKILL after 0.2s
    b2.spawn()
    t0 = time.monotonic()
    assert b2.client.stop(timeout=0) == 137
    assert time.monotonic() - t0 < 2


# -- attach and tty -------------------------------------------------------------------


def test_attach_to_cat_with_stdin(env: Env) -> None:
    b = env.box("cat", open_stdin=True)
    b.spawn()
    sock, tty = b.client.attach(stdin=True, stdout=True, stderr=True, stdin_once=True)
    assert not tty
    with sock:
        sock.sendall(b"ping 1\n")
        assert _read_frames(sock, b"ping 1\n")[1] == b"ping 1\n"
        sock.sendall(b"ping 2\n")
        sock.shutdown(socket.SHUT_WR)  # stdin_once: the container's stdin closes
        assert _read_frames(sock, b"\0never")[1] == b"ping 2\n"
    assert b.client.wait() == 0
    assert b.output() == b"ping 1\nping 2\n"


def test_attach_at_spawn_sees_all_output(env: Env) -> None:
    b = env.box("sh", "-c", "echo out; echo err >&2")
    h = b.spawn(attach={"stdout": True, "stderr": True})
    assert h.attach_socket is not None
    with h.attach_socket as sock:
        frames = _read_frames(sock, b"\0never")
    assert frames == {1: b"out\n", 2: b"err\n"}
    assert b.client.wait() == 0


def test_tty_output_is_raw_and_resize_changes_stty_size(env: Env) -> None:
    b = env.box("sh", "-c", "read x; tty; stty size", tty=True, open_stdin=True)
    b.spawn()
    sock, tty = b.client.attach(stdin=True, stdout=True)
    assert tty
    with sock:
        b.client.resize(33, 120)
        sock.sendall(b"go\n")
        out = _read_raw(sock, b"33 120")
    lines = out.decode().splitlines()
    assert lines[0] == "go"  # the terminal's echo, raw (no frame header)
    assert lines[1].startswith("/dev/") and lines[2] == "33 120"
    assert b.client.wait() == 0
    assert {ln["stream"] for ln in b.log_lines()} == {"stdout"}


def test_attach_to_stopped_container_is_a_conflict(env: Env) -> None:
    b = env.box("true")
    b.spawn()
    b.client.wait()
    with pytest.raises(Conflict):
        b.client.attach()


# -- restart policies ------------------------------------------------------------------


def test_on_failure_2_restarts_exactly_twice(env: Env) -> None:
    b = env.box("sh", "-c", "echo run; exit 1", restart=("on-failure", 2))
    b.spawn()
    assert b.client.wait() == 1
    s = b.state()
    assert (s.status, s.restart_count, s.exit_code) == ("exited", 2, 1)
    assert b.output() == b"run\n" * 3


def test_a_failed_restart_counts_as_an_exit(env: Env) -> None:
    b = env.box("sh", "-c", "rm /bin/sh; exit 1", restart=("on-failure", 2))
    b.spawn()  # the overlay's upper dir outlives the run: the restart finds no sh
    assert b.client.wait() == 127
    s = b.state()
    assert (s.status, s.restart_count) == ("exited", 2)
    assert s.error == 'exec: "sh": executable file not found in $PATH'


def test_always_restarts_until_stopped(env: Env) -> None:
    b = env.box("sh", "-c", "echo run; sleep 0.1", restart=("always", 0))
    b.spawn()
    assert b.client.wait(condition="next-exit") == 0
    s = b.wait_status("running", "restarting")
    assert s.restart_count >= 1 or s.status == "restarting"
    time.sleep(0.3)
    assert b.client.stop(timeout=1) in (0, 137)
    s = b.state()
    assert s.status == "exited" and s.manually_stopped
    count = s.restart_count
    time.sleep(0.5)
    assert b.state().restart_count == count  # stopped for good


# -- logs ---------------------------------------------------------------------------------


def test_log_rotation_bounds_files_and_keeps_newest(env: Env) -> None:
    script = "i=0; while [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); done"
    b = env.box("sh", "-c", script, log=("1k", "2"))
    b.spawn()
    assert b.client.wait() == 0
    files = sorted(p.name for p in b.dir.iterdir() if "-json.log" in p.name)
    assert files == [f"{b.id}-json.log", f"{b.id}-json.log.1"]
    for name in files:
        assert (b.dir / name).stat().st_size <= 1024
    out = b.output().decode().split()
    assert out[-1] == "line-299"
    assert out == [f"line-{i}" for i in range(300 - len(out), 300)]


def test_follow_logs_until_exit(env: Env) -> None:
    b = env.box("sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.1; done")
    b.spawn()
    got = [d for _, d, _ in read_logs(str(b.dir), b.id, follow=True, tail=1)]
    assert got[-1] == b"3\n" and len(got) in (2, 3)


# -- crash safety --------------------------------------------------------------------------


def test_the_supervisor_is_a_small_fresh_interpreter(env: Env) -> None:
    b = env.box("sleep", "60")
    h = b.spawn()
    b.client._call({"op": "state"})  # served: the supervisor has replaced the bootstrap
    cmdline = Path(f"/proc/{h.shim_pid}/cmdline").read_bytes().split(b"\0")
    assert b"supervise" in cmdline and b"-S" in cmdline
    status = Path(f"/proc/{h.shim_pid}/status").read_text()
    rss_kb = int(next(ln for ln in status.splitlines() if ln.startswith("VmRSS")).split()[1])
    # ~10.5 MB with bytecode, ~12.3 MB when it must compile (PYTHONDONTWRITEBYTECODE);
    # a forked copy of this test process would be far bigger
    assert rss_kb < 14_000, rss_kb
    assert b.client.stop(timeout=0) == 137


def test_kill_9_of_the_shim_leaves_a_repairable_state(env: Env) -> None:
    b = env.box("sleep", "60")
    h = b.spawn()
    os.kill(h.shim_pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while st.pid_alive(h.shim_pid, b.client.raw_state().shim_start):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    raw = b.client.raw_state()
    assert raw.status == "running"  # as the shim left it
    s = b.state()
    assert s.status == "dead" and "shim" in s.error
    assert b.client.pid == h.pid
    assert b.client.stop(timeout=1) == 137  # stop works without a shim: cleanup()
    final = b.client.state()
    assert (final.status, final.exit_code) == ("exited", 137)
    assert not st.pid_alive(raw.pid, raw.pid_start)
    assert not Cgroup(b.cgroup).exists()
    assert not (b.run / st.SOCKET_NAME).exists()
    with pytest.raises(Conflict):
        b.client.signal(signal.SIGTERM)


def test_sigterm_to_the_shim_stops_the_container_without_restart(env: Env) -> None:
    b = env.box("sleep", "60", restart=("always", 0), stop_timeout=0)
    h = b.spawn()
    os.kill(h.shim_pid, signal.SIGTERM)
    s = b.wait_status("exited")
    assert s.exit_code == 137 and not s.manually_stopped
    assert not st.pid_alive(s.pid or h.pid, 0) or not st.pid_alive(h.pid, 0)


# -- more operations -------------------------------------------------------------------


def test_pause_and_unpause(env: Env) -> None:
    b = env.box("sh", "-c", "while :; do echo tick; sleep 0.02; done")
    b.spawn()
    time.sleep(0.1)
    b.client.pause()
    assert b.state().status == "paused"
    with pytest.raises(Conflict):
        b.client.pause()
    time.sleep(0.05)
    n = len(b.log_lines())
    time.sleep(0.2)
    assert len(b.log_lines()) == n  # frozen: no output
    b.client.resume()
    assert b.state().status == "running"
    time.sleep(0.2)
    assert len(b.log_lines()) > n
    b.client.pause()
    assert b.client.stop(timeout=0) == 137  # a paused container can be stopped


def test_update_restart_policy_and_resources_of_a_running_container(env: Env) -> None:
    b = env.box("sh", "-c", "sleep 0.3; exit 1")
    b.spawn()
    b.client.update(restart_policy=("on-failure", 1), resources={"memory": {"limit": 64 << 20}})
    mem = Cgroup(b.cgroup).controller_dir("memory")
    if mem is not None and os.path.exists(f"{mem}/memory.limit_in_bytes"):
        assert Path(f"{mem}/memory.limit_in_bytes").read_text().strip() == str(64 << 20)
    assert b.client.wait() == 1
    assert b.state().restart_count == 1


def test_start_again_after_exit(env: Env) -> None:
    b = env.box("echo", "hi")
    b.spawn()
    assert b.client.wait() == 0
    first = b.state().started_at
    b.spawn()
    assert b.client.wait() == 0
    assert b.state().started_at > first
    assert b.output() == b"hi\nhi\n"


def test_oom_kill_is_recorded(env: Env) -> None:
    b = env.box(
        "sh",
        "-c",
        "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived",
        resources=Resources(memory_limit=8 * 1024 * 1024),
    )
    b.spawn()
    code = b.client.wait(timeout=60)
    s = b.state()
    assert (code, s.oom_killed) == (137, True), (s, b.output())


def test_auto_remove_hook_runs_unless_a_waiter_removes(env: Env, tmp_path: Path) -> None:
    marker = tmp_path / "removed"
    hook = [sys.executable, "-c", "import sys; open(sys.argv[1], 'a').write('x')", str(marker)]
    b = env.box("true", auto_remove=True, cleanup_command=hook)
    b.spawn()
    deadline = time.monotonic() + 10
    while not marker.exists():
        assert time.monotonic() < deadline, "the hook did not run"
        time.sleep(0.01)
    b2 = env.box("sleep", "0.2", auto_remove=True, cleanup_command=hook)
    b2.spawn()
    assert b2.client.wait(remove=True) == 0
    time.sleep(0.3)
    assert marker.read_text() == "x"  # the waiter removes it, not the hook
    b3 = env.box("sleep", "0.3", auto_remove=True, cleanup_command=hook)
    b3.spawn()
    quitter = connect_socket(str(b3.run / st.SOCKET_NAME))
    quitter.sendall(b'{"op": "wait", "remove": true}\n')
    quitter.close()  # gone before the end: the hook removes after all
    assert b3.client.wait() == 0
    deadline = time.monotonic() + 10
    while marker.read_text() != "xx":
        assert time.monotonic() < deadline, "the hook did not run"
        time.sleep(0.01)


def test_exec_mode_attach_at_spawn(env: Env) -> None:
    b = env.box("sh", "-c", "read x; echo got $x", open_stdin=True)
    h = b.spawn(mode="exec", attach={"stdin": True, "stdout": True, "stderr": True})
    assert h.attach_socket is not None
    with h.attach_socket as sock:
        sock.sendall(b"abc\n")
        assert _read_frames(sock, b"got abc\n")[1] == b"got abc\n"
    assert b.client.wait() == 0


def test_signal_op_and_state_op(env: Env) -> None:
    b = env.box(
        "sh",
        "-c",
        "trap 'echo hup' HUP; while :; do sleep 0.02; done",
        restart=("always", 0),
        stop_signal="SIGTERM",
    )
    h = b.spawn()
    time.sleep(0.2)
    b.client.signal("HUP")  # not the stop signal: the policy still applies
    deadline = time.monotonic() + 5
    while b"hup" not in b.output():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert b.state().manually_stopped  # Docker marks any kill
    assert b.client.raw_state().pid == h.pid
    b.client.signal(signal.SIGKILL)
    assert b.client.wait() == 137
    assert b.state().restart_count == 0


# -- pure: the file contract and detach keys ---------------------------------------------


def test_state_and_shim_config_round_trip(tmp_path: Path) -> None:
    s = st.State(id="x", status="running", pid=3, started_at=st.rfc3339_nano(1))
    st.write_state(str(tmp_path), s)
    assert st.read_state(str(tmp_path)) == s
    assert json.loads((tmp_path / "state.json").read_text())["status"] == "running"
    assert st.read_state(str(tmp_path / "none")).status == "created"
    cfg = st.ShimConfig.build(
        "x",
        rootfs_mounts=(Mount("/", "overlay", "overlay", ("a=b",)),),
        cgroup_path="p/x",
        restart_policy="on-failure",
        max_retries=2,
    )
    st.write_shim_config(str(tmp_path), cfg)
    back = st.read_shim_config(str(tmp_path))
    assert back == cfg and back.mounts() == cfg.mounts()
    assert back.mounts()[0].options == ("a=b",)
    with pytest.raises(AttributeError):
        cfg.tty = True


def test_an_unreadable_state_reads_as_dead(tmp_path: Path) -> None:
    """A machine that stopped while the shim wrote state.json may leave it empty (its
    "running" is reported before the fsync): the container reads as dead, with the
    reason, for ps, inspect and rm, instead of failing every listing."""
    d = tmp_path / ("c" * 64)
    d.mkdir()
    for text in ("", '{"status": "runn', "[]", '{"status": "sleeping"}'):
        (d / "state.json").write_text(text)
        s = st.read_state(str(d))
        assert (s.id, s.status) == ("c" * 64, "dead")
        assert "unreadable state.json" in s.error
        client = ShimClient(tmp_path / "run", d)
        assert client.state().status == "dead" and not client.shim_alive()
        assert client.cleanup().status == "dead"  # rm -f goes on from there


def test_the_supervisor_imports_nothing_heavy() -> None:
    import subprocess

    heavy = (
        "dataclasses",
        "typing",
        "ctypes",
        "subprocess",
        "threading",
        "pathlib",
        "dockyard.runtime.executor",
        "dockyard.runtime.cgroups",
        "dockyard.oci.runtime_spec",
        # the stdlib's convenience layers: _util.jsonlite, _util.sock, _util.poll, _signal
        "re",
        "enum",
        "json",
        "socket",
        "selectors",
        "signal",
        "collections",
    )
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import dockyard.runtime.shim; "
            f"print([m for m in {heavy!r} if m in sys.modules])")  # fmt: skip
    src = str(Path(__file__).resolve().parents[2] / "src")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code, src], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    assert out.strip() == "[]"


def test_detach_keys() -> None:
    assert parse_detach_keys() == b"\x10\x11"
    assert parse_detach_keys("ctrl-a,x") == b"\x01x"
    with pytest.raises(InvalidArgument):
        parse_detach_keys("ctrl-1")
    d = DetachDetector()
    assert d.feed(b"ab\x10") == (b"ab", False)  # held back: maybe the start
    assert d.feed(b"c") == (b"\x10c", False)  # not the sequence: passed on
    assert d.feed(b"x\x10\x11y") == (b"x", True)
    assert DetachDetector(b"\x10\x10\x11").feed(b"\x10\x10\x10\x11") == (b"\x10", True)


# -- measurements (loose bounds: a regression guard, not a benchmark) --------------------


@pytest.mark.parametrize("mode", ["fork", "exec"])
def test_spawn_latency(env: Env, mode: str, capsys: pytest.CaptureFixture[str]) -> None:
    import statistics

    running, rm_true = [], []
    for _ in range(30 if mode == "fork" else 10):
        b = env.box("true")
        t0 = time.perf_counter()
        b.spawn(mode=mode)
        running.append(time.perf_counter() - t0)
        code = b.client.wait(remove=True)
        assert code == 0, (code, b.state())
        rm_true.append(time.perf_counter() - t0)
    ms = {k: round(statistics.median(v) * 1000, 1) for k, v in
          (("spawn->running", running), ("run --rm true", rm_true))}  # fmt: skip
    with capsys.disabled():
        print(f"\n{mode} mode, medians: {ms}")
    assert ms["spawn->running"] < 250 and ms["run --rm true"] < 400
