"""Bootstrap root filesystems for real: busybox (fast), Debian-based images (slow).

Needs root (mmdebstrap --mode=root, chroot, mknod) and deb.debian.org over http.
Build trees and tars go to a scratch directory under /var/tmp (override with
DOCKYARD_TEST_SCRATCH), removed after each test even when it fails.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from dockyard.engine.bootstrap import (
    DEFAULT_SOURCE_DATE_EPOCH,
    BuiltRootfs,
    Recipe,
    build_rootfs_tar,
    lookup,
)
from dockyard.engine.bootstrap._tools import mounts_under, remove_tree
from dockyard.errors import ExternalToolFailed

pytestmark = pytest.mark.root

CHROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _require(*tools: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")


@pytest.fixture
def scratch() -> Iterator[Path]:
    base = Path(os.environ.get("DOCKYARD_TEST_SCRATCH", "/var/tmp"))
    path = Path(tempfile.mkdtemp(prefix="dockyard-bootstrap-test-", dir=base))
    try:
        yield path
    finally:
        remove_tree(path)
        assert not path.exists()


def build(recipe: Recipe, scratch: Path, name: str, lines: list[str] | None = None) -> BuiltRootfs:
    out = scratch / "out" / name
    work = scratch / "work"
    result = build_rootfs_tar(
        recipe, out, workdir=work, progress=(lines if lines is not None else []).append
    )
    assert result.path == out and out.is_file()
    assert list(work.iterdir()) == []  # the build tree is gone
    assert [p.name for p in out.parent.iterdir() if p.name.endswith(".tmp")] == []
    return result


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def members(path: Path) -> list[tarfile.TarInfo]:
    with tarfile.open(path) as tf:
        return tf.getmembers()


def check_layer_tar(path: Path) -> dict[str, tarfile.TarInfo]:
    """Docker-style entries: no './' prefix, no device nodes, no /dev content, no host files."""
    entries = members(path)
    by_name = {m.name: m for m in entries}
    assert len(by_name) == len(entries)
    for m in entries:
        assert not m.name.startswith(("./", "/")), m.name
        assert not m.ischr() and not m.isblk() and not m.isfifo(), m.name
        assert not m.name.startswith("dev/"), m.name
        assert m.mtime <= time.time()
        assert "PaxHeaders." not in m.name
    assert by_name["dev"].isdir()
    for host_file in ("etc/resolv.conf", "etc/hostname"):
        assert host_file not in by_name
    return by_name


def extract(tar: Path, dest: Path) -> Path:
    dest.mkdir()
    subprocess.run(["tar", "-xf", str(tar), "-C", str(dest), "--numeric-owner"], check=True)
    return dest


def prepare_chroot(root: Path) -> None:
    """What a container runtime gives /dev: the basic nodes, /dev/fd, /dev/shm."""
    for name, minor in (("null", 3), ("zero", 5), ("random", 8), ("urandom", 9)):
        os.mknod(root / "dev" / name, 0o20666, os.makedev(1, minor))
        os.chmod(root / "dev" / name, 0o666)
    os.symlink("/proc/self/fd", root / "dev" / "fd")
    (root / "dev" / "shm").mkdir(mode=0o1777)
    os.chmod(root / "dev" / "shm", 0o1777)


def in_chroot(root: Path, *argv: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        ["chroot", str(root), *argv],
        env={"PATH": CHROOT_PATH, "LANG": "C.UTF-8", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_busybox_rootfs_reproducible_and_runs(scratch: Path) -> None:
    _require("apt-get", "dpkg-deb", "tar", "chroot")
    recipe = lookup(["busybox"])[0]
    lines: list[str] = []
    first = build(recipe, scratch, "a.tar", lines)
    second = build(recipe, scratch, "b.tar")
    assert sha256(first.path) == sha256(second.path) == first.sha256 == second.sha256
    assert first.diff_id == "sha256:" + first.sha256
    assert first.size == first.path.stat().st_size < 5_000_000
    assert first.package_version.startswith("1:1.35")
    assert "busybox:1.35.0" in recipe.with_version(first.package_version).tags
    assert any("downloading busybox-static" in line for line in lines)
    assert lines[-1].startswith("busybox:latest: done in ")

    by_name = check_layer_tar(first.path)
    for name in ("bin/sh", "bin/ls", "bin/busybox", "etc/passwd", "etc/group", "tmp", "root"):
        assert name in by_name, name
    assert by_name["bin/sh"].issym() and by_name["bin/sh"].linkname == "busybox"
    assert by_name["tmp"].mode == 0o1777
    assert by_name["root"].mode == 0o700
    assert {m.uid for m in by_name.values()} == {0}
    assert {m.mtime for m in by_name.values()} == {DEFAULT_SOURCE_DATE_EPOCH}
    assert [n for n in by_name if n.startswith("dev")] == ["dev"]

    root = extract(first.path, scratch / "root")
    assert in_chroot(root, "/bin/sh", "-c", "echo hi") == "hi\n"
    passwd = (root / "etc/passwd").read_text()
    assert passwd.startswith("root:x:0:0:root:/root:/bin/sh\n")
    assert "nobody:x:65534:65534:" in passwd
    assert in_chroot(root, "/bin/sh", "-c", "id -un; id -u nobody") == "root\n65534\n"


def test_source_date_epoch_is_the_mtime(scratch: Path) -> None:
    _require("apt-get", "dpkg-deb", "tar")
    recipe = lookup(["busybox"])[0]
    out = scratch / "c.tar"
    build_rootfs_tar(
        recipe, out, workdir=scratch / "w", progress=lambda _: None, source_date_epoch=1_234_567
    )
    assert {m.mtime for m in members(out)} == {1_234_567}


def test_failed_build_leaves_nothing(scratch: Path) -> None:
    _require("apt-get", "dpkg-deb", "tar")
    recipe = replace(lookup(["busybox"])[0], include=("dockyard-no-such-package",))
    out = scratch / "out" / "x.tar"
    with pytest.raises(ExternalToolFailed) as info:
        build_rootfs_tar(recipe, out, workdir=scratch / "work", progress=lambda _: None)
    assert "dockyard-no-such-package" in str(info.value)
    assert info.value.hint
    assert list((scratch / "work").iterdir()) == []
    assert list(out.parent.iterdir()) == []


# --- Debian-based images (mmdebstrap, some 15-40 s each) ----------------------------


@pytest.mark.slow
def test_debian_slim_is_byte_reproducible(scratch: Path) -> None:
    _require("mmdebstrap", "tar")
    recipe = lookup(["debian:bookworm-slim"])[0]
    first = build(recipe, scratch, "a.tar")
    second = build(recipe, scratch, "b.tar")
    assert first.sha256 == second.sha256 == sha256(second.path)
    by_name = check_layer_tar(first.path)
    assert "bin" in by_name and "usr/bin/bash" in by_name and "etc/passwd" in by_name
    assert "etc/apt/sources.list" in by_name
    assert not [n for n in by_name if n.startswith("usr/share/man/") and by_name[n].isfile()]
    docs = [n for n in by_name if n.startswith("usr/share/doc/") and by_name[n].isfile()]
    assert docs and all(n.endswith("/copyright") for n in docs)
    assert "etc/dpkg/dpkg.cfg.d/99mmdebstrap" in by_name  # later installs stay slim
    for noisy in ("var/log/dpkg.log", "var/log/apt/history.log", "var/cache/ldconfig/aux-cache"):
        assert noisy not in by_name
    lists = [n for n in by_name if n.startswith("var/lib/apt/lists/") and by_name[n].isfile()]
    assert lists == ["var/lib/apt/lists/lock"]  # no package lists, as in Docker Hub's images
    assert first.size < 200_000_000


@pytest.mark.slow
def test_python_rootfs_runs_python_and_pip(scratch: Path) -> None:
    _require("mmdebstrap", "tar", "chroot")
    recipe = lookup(["python:3.11"])[0]
    result = build(recipe, scratch, "python.tar")
    final = recipe.with_version(result.package_version)
    version = final.config.env_dict()["PYTHON_VERSION"]
    assert f"python:{version}" in final.tags
    by_name = check_layer_tar(result.path)
    assert not [n for n in by_name if n.endswith("EXTERNALLY-MANAGED")]

    root = extract(result.path, scratch / "root")
    prepare_chroot(root)
    out = in_chroot(root, "python", "-c", "import sys, ssl, venv; print(sys.version)")
    assert out.startswith(version + " ")
    assert in_chroot(root, "pip", "--version").startswith("pip ")
    assert in_chroot(root, "python3", "-m", "pip", "--version").startswith("pip ")
    # the .pyc files shipped stay valid: importing does not rewrite them
    marker = time.time()
    in_chroot(root, "python", "-c", "import json, email.parser, http.client")
    rewritten = [
        p for p in (root / "usr/lib/python3.11").rglob("*.pyc") if p.stat().st_mtime >= marker
    ]
    assert rewritten == []


class Server:
    """A daemon started by an entrypoint in a chroot, in its own pid and mount
    namespaces (so the /proc mount and every process go away with it)."""

    def __init__(self, root: Path, argv: Sequence[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._log_file = open(log, "wb")  # closed in stop()
        self.proc = subprocess.Popen(
            [
                "unshare",
                "--fork",
                "--pid",
                "--mount",
                f"--mount-proc={root / 'proc'}",
                "chroot",
                str(root),
                *argv,
            ],
            env={"PATH": CHROOT_PATH, **env},
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 90, after: str = "") -> None:
        """Wait until ``text`` is in the output (only after ``after``'s first line)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.output()
            start = out.find(after) if after else 0
            if start >= 0 and text in out[start:]:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"{text!r} not seen; output:\n{self.output()}")

    def _init_pid(self) -> int | None:
        """The namespace's pid 1 (unshare's child), as the host sees it."""
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                children = f.read().split()
        except OSError:
            return None
        return int(children[0]) if children else None

    def stop(self, sig: int) -> None:
        try:
            pid = self._init_pid()
            if pid is not None:
                os.kill(pid, sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pid = self._init_pid()
                if pid is not None:
                    os.kill(pid, signal.SIGKILL)  # the whole pid namespace dies with it
                self.proc.wait(timeout=30)
        except ProcessLookupError:
            self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._log_file.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_postgres_entrypoint_initialises_and_serves(scratch: Path) -> None:
    _require("mmdebstrap", "tar", "chroot", "unshare")
    recipe = lookup(["postgres:15"])[0]
    result = build(recipe, scratch, "postgres.tar")
    final = recipe.with_version(result.package_version)
    assert final.config.env_dict()["PG_VERSION"] == result.package_version
    by_name = check_layer_tar(result.path)
    assert by_name["usr/local/bin/docker-entrypoint.sh"].mode == 0o755
    assert "var/lib/postgresql/15/main" not in by_name  # Debian's cluster is dropped
    assert "etc/ssl/private/ssl-cert-snakeoil.key" not in by_name
    assert by_name["var/lib/postgresql/data"].isdir()

    root = extract(result.path, scratch / "root")
    prepare_chroot(root)
    env = dict(final.config.env_dict())
    env.pop("PATH")
    port = str(free_port())

    # no password: the official refusal
    refused = subprocess.run(
        ["chroot", str(root), "docker-entrypoint.sh", "postgres"],
        env={"PATH": CHROOT_PATH + ":/usr/lib/postgresql/15/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode != 0
    assert "Database is uninitialized and superuser password is not specified" in refused.stderr
    assert "POSTGRES_PASSWORD" in refused.stderr

    initdb_d = root / "docker-entrypoint-initdb.d"
    (initdb_d / "10-table.sql").write_text("CREATE TABLE greeting (word text);\n")
    (initdb_d / "20-row.sh").write_text(
        '#!/bin/bash\nset -e\npsql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" '
        '--dbname "$POSTGRES_DB" -c "INSERT INTO greeting VALUES (\'hello\')"\n'
    )
    os.chmod(initdb_d / "20-row.sh", 0o755)
    server = Server(
        root,
        ["docker-entrypoint.sh", "postgres"],
        {
            "PATH": CHROOT_PATH + ":/usr/lib/postgresql/15/bin",
            **env,
            "POSTGRES_PASSWORD": "s3cret",
            "POSTGRES_DB": "app",
            "PGPORT": port,
        },
        scratch / "postgres.log",
    )
    try:
        done = "PostgreSQL init process complete; ready for start up."
        server.wait_for(done)
        # the entrypoint's temporary server said "ready" too, before it: wait for the real
        # server's line (pg_isready raced it and saw "rejecting connections")
        server.wait_for("database system is ready to accept connections\n", 60, after=done)
        ready = in_chroot(root, "pg_isready", "-h", "/run/postgresql", "-p", port, "-U", "postgres")
        assert "accepting connections" in ready
        rows = in_chroot(
            root,
            "psql",
            "-h",
            "/run/postgresql",
            "-p",
            port,
            "-U",
            "postgres",
            "-d",
            "app",
            "-Atc",
            "SELECT word FROM greeting",
        )
        assert rows == "hello\n"
        pgdata = root / "var/lib/postgresql/data"
        assert (pgdata / "PG_VERSION").read_text().strip() == "15"
        assert (pgdata.stat().st_mode & 0o777) == 0o700
        assert "host all all all scram-sha-256" in (pgdata / "pg_hba.conf").read_text()
        assert "listen_addresses = '*'" in (pgdata / "postgresql.conf").read_text()
        assert "running /docker-entrypoint-initdb.d/10-table.sql" in server.output()
    finally:
        server.stop(signal.SIGINT)
    assert "database system is shut down" in server.output()
    assert mounts_under(root) == []


@pytest.mark.slow
def test_redis_entrypoint_drops_root_and_protected_mode(scratch: Path) -> None:
    _require("mmdebstrap", "tar", "chroot", "unshare")
    recipe = lookup(["redis:7"])[0]
    result = build(recipe, scratch, "redis.tar")
    by_name = check_layer_tar(result.path)
    assert by_name["data"].isdir()
    root = extract(result.path, scratch / "root")
    prepare_chroot(root)
    port = str(free_port())
    server = Server(
        root,
        ["sh", "-c", 'cd /data && exec docker-entrypoint.sh "$@"', "sh", "--port", port],
        {"PATH": CHROOT_PATH},
        scratch / "redis.log",
    )
    try:
        server.wait_for("Ready to accept connections")
        cli = ["redis-cli", "-p", port]
        assert in_chroot(root, *cli, "ping") == "PONG\n"
        assert in_chroot(root, *cli, "config", "get", "protected-mode") == "protected-mode\nno\n"
        assert in_chroot(root, *cli, "config", "get", "dir") == "dir\n/data\n"
        redis_uid = next(
            int(line.split(":")[2])
            for line in (root / "etc/passwd").read_text().splitlines()
            if line.startswith("redis:")
        )
        pid = server._init_pid()
        assert pid is not None
        assert os.stat(f"/proc/{pid}").st_uid == redis_uid
    finally:
        server.stop(signal.SIGTERM)
    assert (root / "data").stat().st_uid == redis_uid
