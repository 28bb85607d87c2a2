"""Copy-up into volumes as root: owners, set-id bits, xattrs, devices, overlay sources."""

from __future__ import annotations

import os
import sqlite3
import stat
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard._util.db import open_db
from dockyard.storage import hostmount
from dockyard.storage.copyup import copy_image_content
from dockyard.storage.snapshots import Snapshotter
from dockyard.storage.volumes import VolumeStore

pytestmark = pytest.mark.root

# security.capability, VFS_CAP_REVISION_2 with the effective flag: CAP_NET_BIND_SERVICE.
CAP_NET_BIND = struct.pack("<IIIII", 0x02000001, 1 << 10, 0, 0, 0)


@pytest.fixture
def base(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    try:
        yield tmp_path
    finally:
        root = os.path.realpath(tmp_path)
        left = [m.mount_point for m in hostmount.read_mountinfo() if m.mount_point.startswith(root)]
        for point in sorted(left, reverse=True):
            subprocess.run(["umount", "-l", point], check=False)
        assert not left, f"mounts left behind: {left}"


@pytest.fixture
def conn(base: Path) -> Iterator[sqlite3.Connection]:
    c = open_db(base / "state.db")
    try:
        yield c
    finally:
        c.close()


def _postgres_like(src: Path) -> None:
    """/var/lib/postgresql/data as an image has it: owned by 999, mode 0700."""
    (src / "base").mkdir(parents=True)
    (src / "base" / "PG_VERSION").write_text("15\n")
    (src / "bin").mkdir()
    (src / "bin" / "ping").write_bytes(b"\x7fELF")
    (src / "bin" / "su").write_bytes(b"\x7fELF")
    os.chown(src / "bin" / "su", 0, 0)
    os.chmod(src / "bin" / "su", 0o4755)
    os.chown(src / "bin" / "ping", 0, 0)
    os.chmod(src / "bin" / "ping", 0o755)
    os.setxattr(src / "bin" / "ping", "security.capability", CAP_NET_BIND)
    (src / "note").write_text("x")
    os.setxattr(src / "note", "user.origin", b"image")
    os.setxattr(src / "note", "trusted.mark", b"t")
    os.mknod(src / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.chmod(src / "null", 0o666)
    os.symlink("base/PG_VERSION", src / "version")
    os.lchown(src / "version", 999, 998)
    for p in (src / "base", src / "base" / "PG_VERSION", src / "note"):
        os.chown(p, 999, 999)
    os.chown(src, 999, 999)
    os.chmod(src, 0o700)


def test_copy_keeps_owners_setid_xattrs_and_devices(base: Path) -> None:
    src = base / "image" / "var" / "lib" / "postgresql" / "data"
    _postgres_like(src)
    assert os.getxattr(src / "bin" / "ping", "security.capability") == CAP_NET_BIND
    dest = base / "vol"
    dest.mkdir(mode=0o755)
    assert copy_image_content(src, dest)
    st = dest.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (999, 999, 0o700)
    pg = (dest / "base" / "PG_VERSION").stat()
    assert (pg.st_uid, pg.st_gid) == (999, 999)
    assert stat.S_IMODE((dest / "bin" / "su").stat().st_mode) == 0o4755
    assert os.getxattr(dest / "bin" / "ping", "security.capability") == CAP_NET_BIND
    assert os.getxattr(dest / "note", "user.origin") == b"image"
    assert os.getxattr(dest / "note", "trusted.mark") == b"t"
    null = os.lstat(dest / "null")
    assert stat.S_ISCHR(null.st_mode) and null.st_rdev == os.makedev(1, 3)
    assert stat.S_IMODE(null.st_mode) == 0o666
    link = os.lstat(dest / "version")
    assert stat.S_ISLNK(link.st_mode) and (link.st_uid, link.st_gid) == (999, 998)


def test_copy_from_a_containers_merged_view_into_a_volume(
    base: Path, conn: sqlite3.Connection
) -> None:
    bottom, top = base / "layers" / "1" / "diff", base / "layers" / "2" / "diff"
    data = bottom / "var" / "lib" / "app"
    data.mkdir(parents=True)
    (data / "seed.db").write_bytes(b"s" * 1000)
    (data / "stale").write_text("deleted by the next layer")
    os.chown(data, 1000, 1000)
    os.chown(data / "seed.db", 1000, 1000)
    (top / "var" / "lib" / "app").mkdir(parents=True)
    os.chown(top / "var" / "lib" / "app", 1000, 1000)
    os.mknod(top / "var" / "lib" / "app" / "stale", stat.S_IFCHR, os.makedev(0, 0))
    (top / "var" / "lib" / "app" / "config").write_text("k=v\n")

    snap = Snapshotter(base / "snapshots")
    snap.prepare("c1", [top, bottom])
    volumes = VolumeStore(base, conn)
    vol = volumes.create(anonymous=True)
    assert vol.host_path is not None
    with snap.mount_on_host("c1") as merged:
        assert copy_image_content(merged / "var" / "lib" / "app", vol.host_path)
        # A second container mounting the same, now filled, volume copies nothing.
        assert not copy_image_content(merged / "var" / "lib" / "app", vol.host_path)
    assert sorted(os.listdir(vol.host_path)) == ["config", "seed.db"]
    assert vol.host_path.stat().st_uid == 1000
    assert (vol.host_path / "seed.db").stat().st_uid == 1000
    assert volumes.usage(vol.name) == 1000 + 4
    volumes.remove(vol.name)
    snap.remove("c1")
