"""Shared helpers for the runtime integration tests (no tests in here).

Each module declares two thin fixtures over :func:`session_rootfs` and
:func:`bench_fixture`. A busybox rootfs is built once per session from Debian's busybox-static
package; each container gets an overlay over it (exercising rootfs_mounts),
its stdout/stderr in files, a unique cgroup parent, and is killed, reaped and
checked for leftover mounts whatever happens.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dockyard.oci.runtime_spec import Mount, RuntimeSpec
from dockyard.runtime.cgroups import Cgroup
from dockyard.runtime.executor import start_container
from dockyard.runtime.spec_builder import SpecOptions, build_spec

PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n"
GROUP = "root:x:0:\nnogroup:x:65534:\n"


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")


def build_busybox_rootfs(base: Path) -> Path:
    """``base``/busybox-rootfs: bin/busybox + applet symlinks, etc/passwd, etc/group.
    Built once (idempotent), reused by every module of the session."""
    rootfs = base / "busybox-rootfs"
    if (rootfs / ".done").exists():
        return rootfs
    work = base / "busybox-deb"
    work.mkdir(exist_ok=True)
    if not list(work.glob("busybox-static_*.deb")):
        p = subprocess.run(
            ["apt-get", "download", "busybox-static"],
            cwd=work,
            capture_output=True,
            text=True,
            check=False,
        )
        if p.returncode != 0 or not list(work.glob("busybox-static_*.deb")):
            pytest.skip(f"cannot download busybox-static: {p.stderr.strip()[-300:]}")
    deb = next(work.glob("busybox-static_*.deb"))
    subprocess.run(["dpkg", "-x", str(deb), str(work / "x")], check=True)
    shutil.rmtree(rootfs, ignore_errors=True)
    (rootfs / "bin").mkdir(parents=True)
    (rootfs / "etc").mkdir()
    (rootfs / "tmp").mkdir(mode=0o1777)
    shutil.copy2(work / "x/bin/busybox", rootfs / "bin/busybox")
    applets = subprocess.run(
        [str(rootfs / "bin/busybox"), "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    for a in applets:
        if a != "busybox" and "/" not in a:
            (rootfs / "bin" / a).symlink_to("busybox")
    (rootfs / "etc/passwd").write_text(PASSWD)
    (rootfs / "etc/group").write_text(GROUP)
    (rootfs / ".done").write_text("")
    return rootfs


def mounts_under(path: Path) -> list[str]:
    """Mount points in this (the host's) mount namespace at or below ``path``."""
    prefix = str(path)
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mnt = line.split()[4]
            if mnt == prefix or mnt.startswith(prefix + "/"):
                out.append(mnt)
    return out


def unique_parent() -> str:
    return f"dockyard-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@dataclass
class Result:
    code: int  # like os.waitstatus_to_exitcode: negative = killed by that signal
    out: str
    err: str


@dataclass
class Bench:
    """One test's workspace: overlays over the shared rootfs, processes to reap,
    cgroups to remove."""

    lower: Path
    tmp: Path
    pids: list[int] = field(default_factory=list)
    cgroups: list[Cgroup] = field(default_factory=list)
    n: int = 0

    def bundle(self) -> tuple[Path, tuple[Mount, ...]]:
        """A fresh bundle dir with an empty rootfs dir and the overlay mount for it."""
        self.n += 1
        b = self.tmp / f"b{self.n}"
        for d in ("rootfs", "upper", "work"):
            (b / d).mkdir(parents=True)
        return b, (
            Mount(
                "/",
                "overlay",
                "overlay",
                (f"lowerdir={self.lower}", f"upperdir={b / 'upper'}", f"workdir={b / 'work'}"),
            ),
        )

    def spec(self, *args: str, **kw: object) -> RuntimeSpec:
        kw.setdefault("hostname", "ctr")
        return build_spec(SpecOptions(args=args, **kw))  # type: ignore[arg-type]

    def cgroup(self, spec: RuntimeSpec | None = None) -> Cgroup:
        cg = Cgroup(f"{unique_parent()}/c")
        self.cgroups.append(cg)
        cg.create(spec.linux.resources if spec is not None else None)
        return cg

    def start(self, spec: RuntimeSpec, **kw: object) -> tuple[int, Path]:
        """Start in the background; stdout/stderr go to files in the bundle."""
        b, rm = self.bundle()
        out = os.open(b / "out", os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
        err = os.open(b / "err", os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
        null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        try:
            kw.setdefault("stdio", (null, out, err))
            pid = start_container(b, spec, rootfs_mounts=rm, **kw)  # type: ignore[arg-type]
        finally:
            for fd in (out, err, null):
                os.close(fd)
        self.pids.append(pid)
        return pid, b

    def wait(self, pid: int, timeout: float = 20.0) -> int:
        deadline = time.monotonic() + timeout
        while True:
            got, status = os.waitpid(pid, os.WNOHANG)
            if got == pid:
                self.pids.remove(pid)
                return os.waitstatus_to_exitcode(status)
            if time.monotonic() > deadline:
                raise AssertionError(f"container {pid} did not exit within {timeout}s")
            time.sleep(0.005)

    def run(self, spec: RuntimeSpec, timeout: float = 20.0, **kw: object) -> Result:
        pid, b = self.start(spec, **kw)
        code = self.wait(pid, timeout)
        return Result(code, (b / "out").read_text(), (b / "err").read_text())

    def cleanup(self) -> None:
        for pid in list(self.pids):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        self.pids.clear()
        for cg in self.cgroups:
            cg.remove(kill=True, prune_parents=True)


def session_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Body of each module's session-scoped ``busybox_rootfs`` fixture."""
    require_root()
    return build_busybox_rootfs(tmp_path_factory.getbasetemp())


def bench_fixture(busybox_rootfs: Path, tmp_path: Path) -> Iterator[Bench]:
    """Body of each module's ``bench`` fixture: cleans up and checks nothing is left."""
    b = Bench(busybox_rootfs, tmp_path)
    try:
        yield b
    finally:
        b.cleanup()
    left = mounts_under(tmp_path) + mounts_under(busybox_rootfs)
    assert not left, f"mounts left behind on the host: {left}"
    for cg in b.cgroups:
        assert not cg.exists(), f"cgroup left behind: {cg.dirs}"
