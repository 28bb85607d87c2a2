"""cp, diff, top, port, stats and update with real containers (root).

busybox is bootstrapped once into a module root; every test removes the containers
it made (also when it fails) and leaves no mount under the root. The runroot is
short: unix socket paths are limited to 108 bytes.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dockyard.cli.main import main
from dockyard.config import EngineConfig
from dockyard.errors import DockyardError
from dockyard.runtime.cgroups import Cgroup, is_v2

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
]

SHADOW = "/etc/shadow"


@dataclass
class Result:
    code: int
    out: str
    err: str


class Dockyard:
    """``dockyard --root R --runroot RR ...``: in-process (``__call__``), or as a
    subprocess (``proc``) where bytes on stdin/stdout or signals matter."""

    def __init__(self, root: Path, runroot: Path) -> None:
        self.root, self.runroot = root, runroot
        self.capsys: pytest.CaptureFixture[str] | None = None
        self.made: list[str] = []

    def __call__(self, *args: str) -> Result:
        assert self.capsys is not None
        self.capsys.readouterr()
        code = main(["--root", str(self.root), "--runroot", str(self.runroot), *args])
        out, err = self.capsys.readouterr()
        return Result(code, out, err)

    def ok(self, *args: str) -> str:
        r = self(*args)
        assert r.code == 0, f"dockyard {' '.join(args)} -> {r.code}\n{r.out}\n{r.err}"
        return r.out

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "dockyard", "--root", str(self.root),
                "--runroot", str(self.runroot), *args]  # fmt: skip

    def proc(self, *args: str, input: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(self.argv(*args), input=input, capture_output=True, timeout=60)

    def run(self, *args: str) -> str:
        """``run -d`` with a fresh name; the name (removed after the test)."""
        name = f"dyct{uuid.uuid4().hex[:8]}"
        self.made.append(name)
        self.ok("run", "-d", "--name", name, *args)
        return name

    def create(self, *args: str) -> str:
        name = f"dyct{uuid.uuid4().hex[:8]}"
        self.made.append(name)
        self.ok("create", "--name", name, *args)
        return name

    def cid(self, name: str) -> str:
        return self.ok("inspect", "-f", "{{.Id}}", name).strip()

    def upper(self, name: str) -> Path:
        """The container's overlay upper dir: what it wrote, seen from the host."""
        return self.root / "overlay" / self.cid(name) / "upper"

    def wait_file(self, name: str, path: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not (self.upper(name) / path.lstrip("/")).exists():
            assert time.monotonic() < deadline, f"{path} never appeared in {name}"
            time.sleep(0.05)

    def mounts(self) -> list[str]:
        with open("/proc/self/mountinfo", encoding="utf-8") as f:
            return [line for line in f if str(self.root) in line]


@pytest.fixture(scope="module")
def dy_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dockyard]:
    root = tmp_path_factory.mktemp("cttools") / "root"
    runroot = Path(tempfile.mkdtemp(prefix="dy", dir="/tmp"))
    d = Dockyard(root, runroot)
    r = subprocess.run(d.argv("bootstrap", "-q", "busybox"), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    try:
        yield d
    finally:
        ids = subprocess.run(d.argv("ps", "-aq", "--no-trunc"), capture_output=True, text=True)
        if ids.stdout.split():
            subprocess.run(d.argv("rm", "-f", *ids.stdout.split()), capture_output=True)
        shutil.rmtree(runroot, ignore_errors=True)
        with contextlib.suppress(DockyardError, OSError):  # the root's own cgroup parent
            Cgroup(EngineConfig.from_env(str(root)).cgroup_parent).remove(timeout=2)
        assert d.mounts() == []


@pytest.fixture
def dy(dy_module: Dockyard, capsys: pytest.CaptureFixture[str]) -> Iterator[Dockyard]:
    dy_module.capsys = capsys
    dy_module.made = []
    try:
        yield dy_module
    finally:
        if dy_module.made:
            dy_module("rm", "-f", *dy_module.made)
        dy_module.capsys = None
        assert dy_module.mounts() == [], "a mount was left under the root"


# A container with files to copy and symlinks that point out of it, if followed on
# the host: /escape -> /, /data/up -> ../../../../etc, /data/sh -> /etc/shadow.
SETUP = (
    "mkdir -p /data/sub && echo hello > /data/sub/f && echo top > /data/top.txt"
    " && ln -s / /escape && ln -s ../../../../etc /data/up && ln -s /etc/shadow /data/sh"
    " && touch /ready"
)


def _prepared(dy: Dockyard, *, running: bool = True) -> str:
    name = dy.run("busybox", "sh", "-c", SETUP + " && sleep 1000")
    dy.wait_file(name, "/ready")
    if not running:
        dy.ok("stop", "-t", "1", name)
    return name


# -- cp: container -> host -----------------------------------------------------------------


@pytest.mark.parametrize("running", [True, False], ids=["running", "stopped"])
def test_cp_out_paths(dy: Dockyard, tmp_path: Path, running: bool) -> None:
    c = _prepared(dy, running=running)
    r = dy("cp", f"{c}:/data/sub/f", str(tmp_path / "f"))
    assert r.code == 0, r.err
    assert (tmp_path / "f").read_text() == "hello\n"
    assert "Successfully copied" in r.err
    # a directory to a new name: the copy takes that name
    dy.ok("cp", "-q", f"{c}:/data", str(tmp_path / "new"))
    assert (tmp_path / "new" / "sub" / "f").read_text() == "hello\n"
    assert os.readlink(tmp_path / "new" / "up") == "../../../../etc"  # a link, as it is
    # into an existing directory: nested
    (tmp_path / "existing").mkdir()
    dy.ok("cp", "-q", f"{c}:/data", str(tmp_path / "existing"))
    assert (tmp_path / "existing" / "data" / "top.txt").read_text() == "top\n"
    # SRC/. copies the contents
    (tmp_path / "contents").mkdir()
    dy.ok("cp", "-q", f"{c}:/data/.", str(tmp_path / "contents"))
    assert (tmp_path / "contents" / "top.txt").exists()
    assert not (tmp_path / "contents" / "data").exists()
    # a file onto an existing file replaces it; a file into a directory keeps its name
    dy.ok("cp", "-q", f"{c}:/data/top.txt", str(tmp_path / "f"))
    assert (tmp_path / "f").read_text() == "top\n"
    dy.ok("cp", "-q", f"{c}:/data/top.txt", str(tmp_path / "existing"))
    assert (tmp_path / "existing" / "top.txt").exists()
    r = dy("cp", f"{c}:/nonexist", str(tmp_path))
    assert r.code == 1
    assert f"Could not find the file /nonexist in container {c}" in r.err
    r = dy("cp", f"{c}:/data", str(tmp_path / "f"))
    assert r.code == 1 and "cannot copy directory" in r.err
    r = dy("cp", f"{c}:/data/top.txt", str(tmp_path / "nodir" / "x"))
    assert r.code == 1 and "does not exist" in r.err


def test_cp_out_owner_and_follow(dy: Dockyard, tmp_path: Path) -> None:
    c = dy.run("busybox", "sh", "-c",
               "echo x > /owned && chown 123:456 /owned && touch /ready && sleep 1000")  # fmt: skip
    dy.wait_file(c, "/ready")
    dy.ok("cp", "-q", f"{c}:/owned", str(tmp_path / "plain"))
    st = os.stat(tmp_path / "plain")
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())
    dy.ok("cp", "-q", "-a", f"{c}:/owned", str(tmp_path / "kept"))
    st = os.stat(tmp_path / "kept")
    assert (st.st_uid, st.st_gid) == (123, 456)


# -- cp: host -> container -------------------------------------------------------------------


@pytest.mark.parametrize("running", [True, False], ids=["running", "stopped"])
def test_cp_in_paths(dy: Dockyard, tmp_path: Path, running: bool) -> None:
    c = _prepared(dy, running=running)
    src = tmp_path / "src"
    (src / "inner").mkdir(parents=True)
    (src / "inner" / "a.txt").write_text("A")
    (src / "b.txt").write_text("B")
    os.chown(src / "b.txt", 1234, 1234)
    up = dy.upper(c)
    dy.ok("cp", "-q", str(src / "b.txt"), f"{c}:/tmp/")
    assert (up / "tmp" / "b.txt").read_text() == "B"
    assert os.stat(up / "tmp" / "b.txt").st_uid == 0  # copied in: root's
    dy.ok("cp", "-q", "-a", str(src / "b.txt"), f"{c}:/tmp/kept")
    assert os.stat(up / "tmp" / "kept").st_uid == 1234  # -a: the source's
    dy.ok("cp", "-q", str(src), f"{c}:/tmp")  # nested
    assert (up / "tmp" / "src" / "inner" / "a.txt").read_text() == "A"
    dy.ok("cp", "-q", f"{src}/.", f"{c}:/tmp/contents")  # a new directory with the contents
    assert (up / "tmp" / "contents" / "b.txt").exists()
    assert not (up / "tmp" / "contents" / "src").exists()
    r = dy("cp", str(src / "b.txt"), f"{c}:/newdir/")
    assert r.code == 1 and r.err.strip() == "no such directory"
    r = dy("cp", str(src / "b.txt"), f"{c}:/no/such/place")
    assert r.code == 1 and "Could not find the file" in r.err
    r = dy("cp", str(tmp_path / "missing"), f"{c}:/tmp")
    assert r.code == 1 and "no such file or directory" in r.err
    # into /data/up (-> ../../../../etc): the container's /etc, never the host's
    dy.ok("cp", "-q", str(src / "b.txt"), f"{c}:/data/up/")
    assert (up / "etc" / "b.txt").exists()
    assert not Path("/etc/b.txt").exists()


def test_cp_volume_of_created_container(dy: Dockyard, tmp_path: Path) -> None:
    vol = f"dyctv{uuid.uuid4().hex[:6]}"
    c = dy.create("-v", f"{vol}:/vol", "busybox", "cat", "/vol/file")
    (tmp_path / "file").write_text("in the volume\n")
    try:
        dy.ok("cp", "-q", str(tmp_path / "file"), f"{c}:/vol/")
        assert (dy.root / "volumes" / vol / "_data" / "file").exists()
        dy.ok("start", c)
        dy.ok("wait", c)
        assert dy.ok("logs", c) == "in the volume\n"
    finally:
        dy("rm", "-f", c)
        dy("volume", "rm", vol)


def test_cp_read_only_rootfs(dy: Dockyard, tmp_path: Path) -> None:
    c = dy.run("--read-only", "busybox", "sleep", "1000")
    (tmp_path / "x").write_text("x")
    r = dy("cp", str(tmp_path / "x"), f"{c}:/")
    assert r.code == 1 and "container rootfs is marked read-only" in r.err


# -- cp: escapes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("running", [True, False], ids=["running", "stopped"])
def test_cp_symlinks_stay_inside(dy: Dockyard, tmp_path: Path, running: bool) -> None:
    c = _prepared(dy, running=running)
    up = dy.upper(c)
    host_shadow = Path(SHADOW).read_bytes()
    image_shadow = None
    for src in ("/escape/etc/shadow", "/data/up/shadow", "/escape/../../../etc/shadow"):
        out = tmp_path / f"r{uuid.uuid4().hex[:6]}"
        dy.ok("cp", "-q", f"{c}:{src}", str(out))
        data = out.read_bytes()
        assert data.startswith(b"root:") and data != host_shadow, src
        image_shadow = image_shadow or data
        assert data == image_shadow
    dy.ok("cp", "-q", "-L", f"{c}:/data/sh", str(tmp_path / "followed"))
    assert (tmp_path / "followed").read_bytes() == image_shadow
    dy.ok("cp", "-q", f"{c}:/data/sh", str(tmp_path / "link"))
    assert os.readlink(tmp_path / "link") == "/etc/shadow"  # the link itself
    # writes through the links land inside the container
    tag = uuid.uuid4().hex[:8]
    (tmp_path / "payload").write_text("pwned")
    dy.ok("cp", "-q", str(tmp_path / "payload"), f"{c}:/escape/tmp/pw{tag}")
    dy.ok("cp", "-q", str(tmp_path / "payload"), f"{c}:/data/up/pw{tag}")
    dy.ok("cp", "-q", str(tmp_path / "payload"), f"{c}:/escape/../../../tmp/pw2{tag}")
    for host, inside in (
        (f"/tmp/pw{tag}", f"tmp/pw{tag}"),
        (f"/etc/pw{tag}", f"etc/pw{tag}"),
        (f"/tmp/pw2{tag}", f"tmp/pw2{tag}"),
    ):
        assert not Path(host).exists()
        assert (up / inside).read_text() == "pwned"
    # a symlink destination is followed inside the container too
    dy.ok("cp", "-q", str(tmp_path / "payload"), f"{c}:/escape")
    assert (up / "payload").exists()


@pytest.mark.parametrize("running", [True, False], ids=["running", "stopped"])
def test_cp_stdin_tar_cannot_escape(dy: Dockyard, running: bool) -> None:
    c = _prepared(dy, running=running)
    tag = uuid.uuid4().hex[:8]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        link = tarfile.TarInfo("lnk")
        link.type, link.linkname = tarfile.SYMTYPE, "/"
        tar.addfile(link)
        for name in (f"lnk/tmp/t{tag}", f"lnk/etc/t{tag}"):
            info = tarfile.TarInfo(name)
            info.size = 3
            tar.addfile(info, io.BytesIO(b"bad"))
    r = dy.proc("cp", "-", f"{c}:/tmp", input=buf.getvalue())
    assert r.returncode == 0, r.stderr
    up = dy.upper(c)
    assert os.readlink(up / "tmp" / "lnk") == "/"
    assert (up / "tmp" / f"t{tag}").read_bytes() == b"bad"
    assert (up / "etc" / f"t{tag}").read_bytes() == b"bad"
    assert not Path(f"/tmp/t{tag}").exists() and not Path(f"/etc/t{tag}").exists()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(f"../../../../../tmp/u{tag}")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    r = dy.proc("cp", "-", f"{c}:/data", input=buf.getvalue())
    assert r.returncode == 1
    assert not Path(f"/tmp/u{tag}").exists()


# -- cp: tar streams ---------------------------------------------------------------------------


def test_cp_streams(dy: Dockyard) -> None:
    c = _prepared(dy)
    r = dy.proc("cp", f"{c}:/data", "-")
    assert r.returncode == 0, r.stderr
    assert r.stderr == b""  # no progress line with a stream
    with tarfile.open(fileobj=io.BytesIO(r.stdout)) as tar:
        names = tar.getnames()
        assert tar.extractfile("data/sub/f").read() == b"hello\n"  # type: ignore[union-attr]
    assert {"data", "data/sub", "data/sub/f", "data/up", "data/sh"} <= set(names)
    r = dy.proc("cp", f"{c}:/data/.", "-")
    with tarfile.open(fileobj=io.BytesIO(r.stdout)) as tar:
        assert "./top.txt" in tar.getnames()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("dir/streamed")
        info.size, info.uid = 2, 4321
        tar.addfile(info, io.BytesIO(b"ok"))
    r = dy.proc("cp", "-a", "-", f"{c}:/tmp", input=buf.getvalue())
    assert r.returncode == 0, r.stderr
    made = dy.upper(c) / "tmp" / "dir" / "streamed"
    assert made.read_bytes() == b"ok" and os.stat(made).st_uid == 4321
    r = dy.proc("cp", "-", f"{c}:/data/top.txt", input=buf.getvalue())
    assert r.returncode == 1 and b"must be a directory" in r.stderr
    r = dy.proc("cp", "-", f"{c}:/tmp", input=b"not a tar at all" * 64)
    assert r.returncode == 1 and b"Error processing tar file" in r.stderr


def test_cp_usage_errors(dy: Dockyard) -> None:
    assert dy("cp", "a").code == 1
    r = dy("cp", "/a", "/b")
    assert r.code == 1 and "must specify at least one container source" in r.err
    r = dy("cp", "x:/a", "y:/b")
    assert r.code == 1 and "copying between containers is not supported" in r.err
    r = dy("cp", "nosuch:/a", "/tmp")
    assert r.code == 1 and "No such container: nosuch" in r.err


# -- diff ------------------------------------------------------------------------------------------


def test_diff(dy: Dockyard) -> None:
    c = dy.run("busybox", "sh", "-c",
               "touch /added && rm /etc/group && echo x >> /etc/passwd && touch /ready"
               " && sleep 1000")  # fmt: skip
    dy.wait_file(c, "/ready")
    lines = dy.ok("diff", c).splitlines()
    for want in ("A /added", "C /etc", "D /etc/group", "C /etc/passwd", "A /ready"):
        assert want in lines
    assert dy("diff").code == 1
    assert dy("diff", "nosuch").code == 1


# -- top -------------------------------------------------------------------------------------------


def test_top(dy: Dockyard) -> None:
    c = dy.run("busybox", "sleep", "1000")
    out = dy.ok("top", c).splitlines()
    assert out[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert len(out) == 2
    row = out[1].split()
    assert row[0] == "root" and row[5] == "?" and row[6] == "00:00:00"
    assert out[1].rstrip().endswith("sleep 1000")
    assert out[0].startswith("UID" + " " * 17 + "PID")  # 20-wide columns, as Docker's
    out = dy.ok("top", c, "-o", "pid,args").splitlines()
    assert out[0].split() == ["PID", "COMMAND"]
    assert len(out) == 2 and out[1].split()[1:] == ["sleep", "1000"]
    dy.ok("stop", "-t", "1", c)
    r = dy("top", c)
    assert r.code == 1 and "is not running" in r.err


# -- port ------------------------------------------------------------------------------------------


def test_port(dy: Dockyard) -> None:
    c = dy.run("-p", "127.0.0.1::80", "busybox", "sleep", "1000")
    r = dy("port", c)
    assert r.code == 0 and re.fullmatch(r"80/tcp -> 127\.0\.0\.1:\d+\n", r.out), r
    r = dy("port", c, "80")
    assert r.code == 0 and r.out.startswith("127.0.0.1:")
    r = dy("port", c, "53/udp")
    assert r.code == 1
    assert r.err == f"Error: No public port '53/udp' published for {c}\n"
    stopped = dy.create("-p", "127.0.0.1::80", "busybox", "true")
    assert dy("port", stopped).out == ""


# -- stats -----------------------------------------------------------------------------------------


def test_stats_no_stream(dy: Dockyard) -> None:
    busy = dy.run("-m", "64m", "busybox", "sh", "-c", "while :; do :; done")
    idle = dy.run("busybox", "sleep", "1000")
    stopped = dy.create("busybox", "true")
    t0 = time.monotonic()
    out = dy.ok("stats", "--no-stream")
    took = time.monotonic() - t0
    assert took < 1.6, took
    lines = out.splitlines()
    assert lines[0].split() == [
        "CONTAINER", "ID", "NAME", "CPU", "%", "MEM", "USAGE", "/", "LIMIT", "MEM", "%",
        "NET", "I/O", "BLOCK", "I/O", "PIDS",
    ]  # fmt: skip
    rows = {line.split()[1]: line.split() for line in lines[1:]}
    assert set(rows) == {busy, idle}
    cpu = float(rows[busy][2].rstrip("%"))
    assert cpu > 20.0, rows[busy]
    assert rows[busy][3:6] == [rows[busy][3], "/", "64MiB"]
    assert rows[idle][-1] == "1" and rows[idle][-6] == "/"  # NET I/O: eth0 on the bridge
    fmt = "{{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.NetIO}} {{.PIDs}}"
    out = dy.ok("stats", "--no-stream", "--all", "--format", fmt)
    assert f"{stopped} 0.00% 0B / 0B 0B / 0B 0" in out.splitlines()
    out = dy.ok("stats", "--no-stream", "--no-trunc", "--format", "{{.ID}}", idle)
    assert out.strip() == dy.cid(idle)
    out = dy.ok("stats", "--no-stream", "--format", "json", idle)
    row = json.loads(out)
    assert row["Name"] == idle and row["PIDs"] == "1" and row["MemPerc"].endswith("%")
    r = dy("stats", "--no-stream", "nosuch")
    assert r.code == 1 and "No such container: nosuch" in r.err


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_stats_stream_redraws(dy: Dockyard) -> None:
    c = dy.run("busybox", "sleep", "1000")
    # with: its pipes are closed even when it fails (else a later test's collector
    # finds them and pytest reports the ResourceWarning there). SIGINT as a terminal
    # gives it: a suite started in the background (sh's `&`) ignores SIGINT, and so,
    # rightly, would stats.
    with subprocess.Popen(dy.argv("stats", c), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          preexec_fn=_default_sigint) as p:  # fmt: skip
        try:
            time.sleep(3.2)
            p.send_signal(signal.SIGINT)
            out, _err = p.communicate(timeout=10)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert p.returncode == 0
    frames = out.decode().split("\033[2J\033[H")
    assert len(frames) >= 3  # the first (empty) piece, then one frame a second
    assert all(c in frame for frame in frames[1:])


# -- update ----------------------------------------------------------------------------------------


def _cgroup(dy: Dockyard, name: str) -> Cgroup:
    cfg = json.loads((dy.root / "containers" / dy.cid(name) / "shim.json").read_text())
    return Cgroup(cfg["cgroup"]["path"])


def _read(cg: Cgroup, controller: str, v1: str, v2: str) -> str:
    d = cg.controller_dir(controller)
    assert d is not None
    return Path(d, v2 if cg.version == 2 else v1).read_text().strip()


def _limits(dy: Dockyard, name: str) -> tuple[str, str, str]:
    cg = _cgroup(dy, name)
    return (
        _read(cg, "memory", "memory.limit_in_bytes", "memory.max"),
        _read(cg, "cpu", "cpu.cfs_quota_us", "cpu.max").split()[0],
        _read(cg, "pids", "pids.max", "pids.max"),
    )


def test_update_running_and_persisted(dy: Dockyard) -> None:
    c = dy.run("-m", "32m", "busybox", "sleep", "1000")
    out = dy.ok("update", "-m", "300m", "--cpus", "0.5", "--pids-limit", "50",
                "--restart", "on-failure:3", c)  # fmt: skip
    assert out == f"{c}\n"
    assert _limits(dy, c) == (str(300 << 20), "50000", "50")  # above the old swap limit too
    cfg = json.loads((dy.root / "containers" / dy.cid(c) / "shim.json").read_text())
    assert cfg["restart_policy"] == {"name": "on-failure", "max_retries": 3}
    assert cfg["cgroup"]["resources"]["memory"] == {"limit": 300 << 20}
    policy = dy.ok("inspect", "-f", "{{json .HostConfig.RestartPolicy}}", c)
    assert json.loads(policy) == {"Name": "on-failure", "MaximumRetryCount": 3}
    # a later start uses them
    dy.ok("stop", "-t", "1", c)
    dy.ok("update", "--pids-limit", "-1", "--cpus", "0.25", c)  # stopped: recorded only
    dy.ok("start", c)
    assert _limits(dy, c) == (str(300 << 20), "25000", "max")


def test_update_errors(dy: Dockyard) -> None:
    c = dy.run("busybox", "sleep", "1000")
    r = dy("update", c)
    assert r.code == 1 and "you must provide one or more flags" in r.err
    r = dy("update", "-m", "1m", c)
    assert r.code == 1 and "Minimum memory limit allowed is 6MB" in r.err
    r = dy("update", "--memory-swap", "100m", "-m", "200m", c)
    assert r.code == 1 and "memoryswap limit should be larger than memory limit" in r.err
    r = dy("update", "--cpus", "1000", c)
    assert r.code == 1 and "Range of CPUs is from 0.01" in r.err
    r = dy("update", "-m", "64m", c, "nosuch")
    assert r.code == 1 and r.out == f"{c}\n" and "No such container: nosuch" in r.err
    rm = dy.run("--rm", "busybox", "sleep", "1000")
    r = dy("update", "--restart", "always", rm)
    assert r.code == 1 and "AutoRemove is enabled" in r.err


@pytest.mark.skipif(is_v2(), reason="cgroup v1: the kernel refuses with EBUSY")
def test_update_memory_below_usage_passes_the_kernel_error(dy: Dockyard) -> None:
    fill = "dd if=/dev/zero of=/dev/shm/f bs=1M count=40 && touch /ready && sleep 1000"
    c = dy.run("busybox", "sh", "-c", fill)
    dy.wait_file(c, "/ready")
    r = dy("update", "-m", "10m", c)
    assert r.code == 1
    assert "Cannot update container" in r.err and "busy" in r.err
    assert "hint:" in r.err
