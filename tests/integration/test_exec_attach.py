"""exec, attach, run -it / -i, start -ai: the CLI as a subprocess, on a pty where a
terminal is needed (root).

One busybox root per module; every container is removed after each test (also when
it fails). The runroot is short (unix socket paths have a 108-byte limit).
"""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
]

TIMEOUT = 30.0


class Dockyard:
    """``python -m dockyard --root R --runroot RR ...`` as a subprocess."""

    def __init__(self, root: Path, runroot: Path) -> None:
        self.root, self.runroot = root, runroot

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "dockyard", "--root", str(self.root),
                "--runroot", str(self.runroot), *args]  # fmt: skip

    def __call__(
        self, *args: str, input: str | None = None, timeout: float = TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args),
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def ok(self, *args: str, input: str | None = None) -> str:
        r = self(*args, input=input)
        assert r.returncode == 0, (
            f"dockyard {' '.join(args)} -> {r.returncode}\n{r.stdout}{r.stderr}"
        )
        return r.stdout

    def status(self, name: str) -> str:
        return self.ok("ps", "-a", "--filter", f"name={name}", "--format", "{{.Status}}").strip()

    def remove_all(self) -> None:
        ids = self("ps", "-aq", "--no-trunc").stdout.split()
        if ids:
            self("rm", "-f", *ids)


class PtySession:
    """A command on a fresh pty (its stdin, stdout and stderr): type, expect, wait."""

    def __init__(self, argv: list[str], rows: int = 30, cols: int = 100) -> None:
        import fcntl
        import termios

        self.master, slave = os.openpty()
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        try:
            self.proc = subprocess.Popen(
                argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True
            )
        finally:
            os.close(slave)
        self.buf = b""
        self.pos = 0  # where the next expect() starts looking

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def _read(self, timeout: float) -> bool:
        """Read what comes within ``timeout``; False at the end of the output."""
        if not select.select([self.master], [], [], timeout)[0]:
            return True
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the process (and all holders of the slave) closed it
            return False
        self.buf += data
        return bool(data)

    def expect(self, pattern: str, timeout: float = 10.0) -> re.Match[bytes]:
        rx = re.compile(pattern.encode())
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.buf, self.pos)
            if m is not None:
                self.pos = m.end()
                return m
            left = deadline - time.monotonic()
            if left <= 0 or (not self._read(min(left, 0.2)) and self.proc.poll() is not None):
                raise AssertionError(f"{pattern!r} not in output: {self.buf[self.pos :]!r}")

    def wait(self, timeout: float = 15.0) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"still running; output: {self.buf!r}")
            self._read(0.05)
        while self._read(0.05) and select.select([self.master], [], [], 0)[0]:
            pass
        return self.proc.returncode

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


@pytest.fixture(scope="module")
def dy_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dockyard]:
    root = tmp_path_factory.mktemp("exec-attach") / "root"
    runroot = Path(tempfile.mkdtemp(prefix="dy", dir="/tmp"))
    dy = Dockyard(root, runroot)
    try:
        dy.ok("bootstrap", "-q", "busybox")
        yield dy
    finally:
        dy.remove_all()
        shutil.rmtree(runroot, ignore_errors=True)


@pytest.fixture
def dy(dy_module: Dockyard) -> Iterator[Dockyard]:
    try:
        yield dy_module
    finally:
        dy_module.remove_all()


@pytest.fixture
def sessions() -> Iterator[list[PtySession]]:
    made: list[PtySession] = []
    try:
        yield made
    finally:
        for s in made:
            s.close()


@pytest.fixture
def name() -> str:
    return f"dyx{uuid.uuid4().hex[:8]}"


@pytest.fixture
def running(dy: Dockyard, name: str) -> str:
    """A running busybox container (its name)."""
    dy.ok("run", "-d", "--name", name, "busybox", "sleep", "1000")
    return name


def _pty(dy: Dockyard, sessions: list[PtySession], *args: str) -> PtySession:
    s = PtySession(dy.argv(*args))
    sessions.append(s)
    return s


PROMPT = r"[#$] "


# -- run -it / -i ----------------------------------------------------------------------


def test_run_it_shell(dy: Dockyard, sessions: list[PtySession]) -> None:
    s = _pty(dy, sessions, "run", "-it", "--rm", "busybox", "sh")
    s.expect(PROMPT)
    s.send(b"echo $((6*7))\r")
    s.expect(r"\r\n42\r\n")
    s.send(b"tty\r")
    s.expect(r"/dev/(pts/\d+|console)\r\n")
    s.send(b"stty size\r")
    s.expect(r"30 100\r\n")  # the container's terminal has the size of ours
    s.send(b"exit 3\r")
    assert s.wait() == 3


def test_run_it_detach_then_attach(dy: Dockyard, sessions: list[PtySession], name: str) -> None:
    s = _pty(dy, sessions, "run", "-it", "--name", name, "busybox", "sh")
    s.expect(PROMPT)
    s.send(b"export X=kept\r")
    s.expect(PROMPT)
    s.send(b"\x10\x11")  # ctrl-p ctrl-q
    assert s.wait() == 0
    assert dy.status(name).startswith("Up")
    a = _pty(dy, sessions, "attach", name)
    time.sleep(0.2)
    a.send(b"echo $X-$((40+2))\r")
    a.expect(r"kept-42\r\n")
    a.send(b"exit 5\r")
    assert a.wait() == 5
    assert dy.status(name).startswith("Exited (5)")


def test_attach_detach_keys_message(dy: Dockyard, sessions: list[PtySession], name: str) -> None:
    dy.ok("run", "-dit", "--name", name, "busybox", "sh")
    a = _pty(dy, sessions, "attach", name)
    time.sleep(0.2)
    a.send(b"echo hello\r")
    a.expect(r"\r\nhello\r\n")
    a.send(b"\x10\x11")
    a.expect("read escape sequence")
    assert a.wait() == 1  # as Docker's CLI
    assert dy.status(name).startswith("Up")


def test_attach_stopped_container(dy: Dockyard, name: str) -> None:
    dy.ok("create", "--name", name, "busybox", "true")
    r = dy("attach", name)
    assert r.returncode == 1
    assert "You cannot attach to a stopped container, start it first" in r.stderr


def test_attach_without_tty_sig_proxy(dy: Dockyard, name: str) -> None:
    script = 'trap "echo got INT; exit 12" INT; echo ready; while true; do sleep 0.1; done'
    dy.ok("run", "-d", "--name", name, "busybox", "sh", "-c", script)
    deadline = time.monotonic() + 10
    while "ready" not in dy.ok("logs", name) and time.monotonic() < deadline:
        time.sleep(0.05)
    p = subprocess.Popen(dy.argv("attach", name), stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=TIMEOUT)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert "got INT" in out
    assert p.returncode == 12


def test_run_i_pipes_stdin(dy: Dockyard) -> None:
    r = dy("run", "-i", "--rm", "busybox", "cat", input="hi\n")
    assert (r.returncode, r.stdout) == (0, "hi\n")


def test_run_without_i_ignores_stdin(dy: Dockyard) -> None:
    r = dy("run", "--rm", "busybox", "cat", input="hi\n")
    assert (r.returncode, r.stdout) == (0, "")


def test_run_i_binary_stdin_is_not_a_detach(dy: Dockyard) -> None:
    r = dy("run", "-i", "--rm", "busybox", "wc", "-c", input="a\x10\x11b")
    assert (r.returncode, r.stdout.strip()) == (0, "4")


def test_run_it_needs_a_terminal(dy: Dockyard) -> None:
    r = dy("run", "-it", "--rm", "busybox", "true", input="")
    assert r.returncode == 1
    assert "the input device is not a TTY" in r.stderr


def test_start_ai(dy: Dockyard, sessions: list[PtySession], name: str) -> None:
    dy.ok("create", "-it", "--name", name, "busybox", "sh")
    s = _pty(dy, sessions, "start", "-ai", name)
    s.expect(PROMPT)
    s.send(b"echo $((7*6))\r")
    s.expect(r"\r\n42\r\n")
    s.send(b"exit 9\r")
    assert s.wait() == 9


def test_start_ai_pipe(dy: Dockyard, name: str) -> None:
    dy.ok("create", "-i", "--name", name, "busybox", "cat")
    r = dy("start", "-ai", name, input="piped\n")
    assert (r.returncode, r.stdout) == (0, "piped\n")


# -- exec ------------------------------------------------------------------------------


def test_exec_hostname(dy: Dockyard, running: str) -> None:
    cid = dy.ok("inspect", "-f", "{{.Id}}", running).strip()
    assert dy.ok("exec", running, "cat", "/etc/hostname") == cid[:12] + "\n"


def test_exec_env_workdir_user(dy: Dockyard, running: str, tmp_path: Path) -> None:
    assert dy.ok("exec", "-e", "A=1", running, "sh", "-c", "echo $A") == "1\n"
    env_file = tmp_path / "env"
    env_file.write_text("B=2\nA=0\n")
    out = dy.ok("exec", "--env-file", str(env_file), "-e", "A=3", running, "sh", "-c", "echo $A$B")
    assert out == "32\n"
    assert dy.ok("exec", "-w", "/tmp", running, "pwd") == "/tmp\n"
    assert dy.ok("exec", "-u", "nobody", running, "id", "-u") == "65534\n"
    env = dy.ok("exec", running, "env").splitlines()
    assert "HOME=/root" in env
    assert any(e.startswith("PATH=") for e in env)
    assert not any(e.startswith("TERM=") for e in env)


def test_exec_exit_codes(dy: Dockyard, running: str) -> None:
    assert dy("exec", running, "sh", "-c", "exit 5").returncode == 5
    r = dy("exec", running, "nosuchcmd")
    assert r.returncode == 127
    assert 'exec: "nosuchcmd": executable file not found in $PATH' in r.stderr
    assert r.stderr.startswith("OCI runtime exec failed")
    assert dy("exec", running, "/etc").returncode == 126
    assert dy("exec", running, "sh", "-c", "kill -9 $$").returncode == 137


def test_exec_stdin(dy: Dockyard, running: str) -> None:
    assert dy.ok("exec", "-i", running, "cat", input="in\n") == "in\n"
    assert dy.ok("exec", running, "cat", input="in\n") == ""


def test_exec_it(dy: Dockyard, sessions: list[PtySession], running: str) -> None:
    s = _pty(dy, sessions, "exec", "-it", running, "sh")
    s.expect(PROMPT)
    s.send(b"tty\r")
    s.expect(r"\r\n/dev/pts/\d+\r\n")
    s.send(b"echo $TERM $((6*7))\r")
    s.expect(r"\r\nxterm 42\r\n")
    s.send(b"stty size\r")
    s.expect(r"30 100\r\n")
    s.send(b"exit 4\r")
    assert s.wait() == 4


def test_exec_detach(dy: Dockyard, running: str) -> None:
    t0 = time.monotonic()
    r = dy("exec", "-d", running, "sleep", "5")
    assert (r.returncode, r.stdout) == (0, "")
    assert time.monotonic() - t0 < 3
    assert "sleep 5" in dy.ok("exec", running, "ps")


def test_exec_not_running(dy: Dockyard, name: str) -> None:
    cid = dy.ok("create", "--name", name, "busybox", "true").strip()
    r = dy("exec", name, "true")
    assert r.returncode == 1
    assert f"Error response from daemon: container {cid} is not running" in r.stderr


def test_exec_paused(dy: Dockyard, running: str) -> None:
    cid = dy.ok("inspect", "-f", "{{.Id}}", running).strip()
    dy.ok("pause", running)
    try:
        r = dy("exec", running, "true")
    finally:
        dy.ok("unpause", running)
    assert r.returncode == 1
    assert f"Container {cid} is paused, unpause the container before exec" in r.stderr


def test_exec_usage(dy: Dockyard, running: str) -> None:
    r = dy("exec", running)
    assert r.returncode == 1
    assert "requires at least 2 arguments" in r.stderr
