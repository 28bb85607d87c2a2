"""Overlay snapshots on a real kernel: mounts, whiteouts, diff, host mounts, crash clean-up."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.errors import Conflict
from dockyard.oci.runtime_spec import Mount
from dockyard.storage import hostmount
from dockyard.storage.overlay import PAGE_LIMIT, options_length
from dockyard.storage.snapshots import SHARED_INIT, Snapshotter, clean_stale_mounts

pytestmark = pytest.mark.root


def _entries(root: Path) -> list[str]:
    """What the store holds besides the init layer every snapshot shares (it stays)."""
    return sorted(n for n in os.listdir(root) if n != SHARED_INIT)


def _mounts_under(path: Path) -> list[str]:
    base = os.path.realpath(path)
    return [
        m.mount_point for m in hostmount.read_mountinfo() if hostmount.is_under(m.mount_point, base)
    ]


@pytest.fixture
def base(tmp_path: Path) -> Iterator[Path]:
    """The test's tmp dir; whatever is still mounted in it afterwards is unmounted and
    fails the test."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    try:
        yield tmp_path
    finally:
        left = _mounts_under(tmp_path)
        for point in sorted(left, reverse=True):
            subprocess.run(["umount", "-l", point], check=False)
        assert not left, f"mounts left behind: {left}"


def _whiteout(path: Path) -> None:
    os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(0, 0))


def _opaque(path: Path) -> None:
    os.setxattr(path, "trusted.overlay.opaque", b"y")


def _image(base: Path) -> list[Path]:
    """Two layers, top first. The top layer deletes /etc/motd and replaces /opt."""
    bottom, top = base / "layers" / "1" / "diff", base / "layers" / "2" / "diff"
    for d in ("etc", "usr/bin", "opt/old", "var/lib/app"):
        (bottom / d).mkdir(parents=True)
    (bottom / "etc" / "motd").write_text("welcome\n")
    (bottom / "etc" / "hostname").write_text("base\n")
    (bottom / "usr" / "bin" / "tool").write_text("#!/bin/sh\n")
    (bottom / "opt" / "old" / "file").write_text("old\n")
    (bottom / "var" / "lib" / "app" / "seed").write_text("seed\n")
    for d in ("etc", "opt/new"):
        (top / d).mkdir(parents=True)
    (top / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    _whiteout(top / "etc" / "motd")
    _opaque(top / "opt")
    (top / "opt" / "new" / "file").write_text("new\n")
    return [top, bottom]


def _mount8(m: Mount, target: Path) -> None:
    """Mount a description the way an operator would, with mount(8)."""
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", m.type, m.source, "-o", ",".join(m.options), str(target)],
        check=True,
        capture_output=True,
    )


def _umount8(target: Path) -> None:
    subprocess.run(["umount", str(target)], check=True)


def test_overlay_from_the_host_and_diff(base: Path) -> None:
    lowers = _image(base)
    snap = Snapshotter(base / "snapshots")
    (m,) = snap.prepare("c1", lowers)
    merged = base / "merged"
    _mount8(m, merged)
    try:
        # The image's files, and the init layer's mount points.
        assert sorted(os.listdir(merged / "etc")) == [
            "hostname",
            "hosts",
            "mtab",
            "passwd",
            "resolv.conf",
        ]
        assert (merged / "etc" / "hostname").read_text() == ""  # the init layer's
        assert sorted(os.listdir(merged / "opt")) == ["new"]
        assert (merged / "usr" / "bin" / "tool").read_text() == "#!/bin/sh\n"
        (merged / "etc" / "hostname").write_text("web-1\n")  # change a lower file
        os.unlink(merged / "etc" / "passwd")  # delete a lower file
        (merged / "srv" / "app").mkdir(parents=True)  # add
        (merged / "srv" / "app" / "main.py").write_text("print()\n")
        shutil.rmtree(merged / "var" / "lib" / "app")  # delete and recreate a dir
        (merged / "var" / "lib" / "app").mkdir()
        (merged / "var" / "lib" / "app" / "fresh").write_text("1")
        (merged / "etc" / "motd").write_text("back\n")  # re-add a path a layer deleted
    finally:
        _umount8(merged)
    upper = snap.upper_dir("c1")
    assert (upper / "srv" / "app" / "main.py").read_text() == "print()\n"
    assert os.lstat(upper / "etc" / "passwd").st_rdev == 0
    assert stat.S_ISCHR(os.lstat(upper / "etc" / "passwd").st_mode)
    assert not (lowers[1] / "srv").exists()
    assert (lowers[1] / "etc" / "hostname").read_text() == "base\n"
    assert [str(c) for c in snap.diff("c1")] == [
        "C /etc",
        "C /etc/hostname",
        "A /etc/motd",
        "D /etc/passwd",
        "A /srv",
        "A /srv/app",
        "A /srv/app/main.py",
        "C /var/lib",
        "D /var/lib/app",
        "A /var/lib/app/fresh",
    ]
    assert snap.usage("c1") == len("web-1\n") + len("print()\n") + 1 + len("back\n")

    # Mounted again, the container's changes are all there.
    with snap.mount_on_host("c1") as where:
        assert (where / "etc" / "hostname").read_text() == "web-1\n"
        assert not (where / "var" / "lib" / "app" / "seed").exists()
    snap.remove("c1")
    assert _entries(snap.root) == []
    assert (lowers[0] / "etc" / "passwd").exists() and (lowers[1] / "etc" / "motd").exists()


def test_single_layer_and_scratch_mount(base: Path) -> None:
    (top, _) = _image(base)
    snap = Snapshotter(base / "snapshots")
    snap.prepare("one", [top], init=False)
    snap.prepare("scratch", [], init=False)
    with snap.mount_on_host("one") as where:
        assert (where / "etc" / "passwd").exists()
        assert not (where / "etc" / "motd").exists()  # a whiteout over nothing hides nothing
    with snap.mount_on_host("scratch") as where:
        assert os.listdir(where) == []
        (where / "hello").write_text("hi")
    assert [str(c) for c in snap.diff("scratch")] == ["A /hello"]
    for key in ("one", "scratch"):
        snap.remove(key)
    assert _entries(snap.root) == []


def test_mount_on_host_unmounts_even_on_error(base: Path) -> None:
    snap = Snapshotter(base / "snapshots")
    snap.prepare("c1", _image(base))
    target = base / "elsewhere"
    with pytest.raises(RuntimeError), snap.mount_on_host("c1", target) as where:
        assert where == target and (where / "etc" / "passwd").exists()
        raise RuntimeError("boom")
    assert _mounts_under(base) == []
    # Busy (a process has its cwd inside): detached rather than left mounted.
    with snap.mount_on_host("c1") as where:
        proc = subprocess.Popen(["sleep", "30"], cwd=where)
    try:
        assert _mounts_under(base) == []
    finally:
        proc.kill()
        proc.wait()
    snap.remove("c1")


def test_long_options_fall_back_to_links_and_mount(base: Path) -> None:
    lowers = []
    for i in range(100):
        d = base / ("long-layer-path-" * 6) / f"{i:03d}" / "diff"
        d.mkdir(parents=True)
        (d / f"f{i:03d}").write_text(str(i))
        lowers.append(d)
    lowers.reverse()  # top first: layer 099 on top
    (lowers[0] / "f000").write_text("top wins")
    links = Path(tempfile.mkdtemp(prefix="dyl", dir="/tmp"))
    try:
        snap = Snapshotter(base / "snapshots", link_dir=links)
        (m,) = snap.prepare("c" * 64, lowers)
        assert sum(len(str(p)) for p in lowers) > PAGE_LIMIT
        assert options_length(m.options) <= PAGE_LIMIT
        merged = base / "merged"
        _mount8(m, merged)
        try:
            assert len([n for n in os.listdir(merged) if n.startswith("f")]) == 100
            assert (merged / "f000").read_text() == "top wins"
            assert (merged / "f050").read_text() == "50"
        finally:
            _umount8(merged)
        snap.remove("c" * 64)
        for d in lowers:
            d.rmdir() if not any(d.iterdir()) else shutil.rmtree(d)
        snap.clean_stale()
        assert os.listdir(links) == []  # links to removed layers are cleaned
    finally:
        shutil.rmtree(links, ignore_errors=True)


def test_clean_stale_mounts_after_a_crash(base: Path) -> None:
    lowers = _image(base)
    snap = Snapshotter(base / "snapshots")
    for key in ("c1", "c2", "c3"):
        snap.prepare(key, lowers)
    # What a process killed inside mount_on_host leaves: mounts at <key>/merged
    # (c1 twice, stacked; c3 is a running container's rootfs the engine keeps).
    for key in ("c1", "c1", "c2", "c3"):
        target = snap.root / key / "merged"
        target.mkdir(exist_ok=True)
        hostmount.mount(snap.mounts(key)[0], target)
    sub = snap.root / "c2" / "merged" / "srv"
    sub.mkdir()
    _mount8(Mount("/srv", "tmpfs", "tmpfs", ("size=1m",)), sub)
    assert len(_mounts_under(snap.root)) == 5
    try:
        done = clean_stale_mounts(snap.root, keep=["c3"])
        assert sorted(done) == sorted(
            [str(snap.root / "c1" / "merged"), str(snap.root / "c2" / "merged"), str(sub)]
        )
        assert _mounts_under(snap.root) == [str(snap.root / "c3" / "merged")]
        snap.clean_stale()
        assert _mounts_under(snap.root) == []
    finally:
        hostmount.unmount_under(snap.root)
    for key in ("c1", "c2", "c3"):
        snap.remove(key)
    assert _entries(snap.root) == []


def test_remove_unmounts_its_own_mounts_but_refuses_a_foreign_one(base: Path) -> None:
    snap = Snapshotter(base / "snapshots")
    snap.prepare("c1", _image(base))
    merged = snap.root / "c1" / "merged"
    merged.mkdir()
    hostmount.mount(snap.mounts("c1")[0], merged)
    foreign = base / "rootfs"  # e.g. an external runtime's rootfs of a running container
    _mount8(snap.mounts("c1")[0], foreign)
    try:
        with pytest.raises(Conflict, match=f"mounted at {foreign}"):
            snap.remove("c1")
    finally:
        _umount8(foreign)
    snap.remove("c1")
    assert _mounts_under(base) == [] and _entries(snap.root) == []


def test_interrupted_prepare_and_remove_are_cleaned(base: Path) -> None:
    snap = Snapshotter(base / "snapshots")
    lowers = _image(base)
    snap.prepare("c1", lowers)
    os.rename(snap.root / "c1", snap.root / ".del-00000000-c1")
    (snap.root / ".tmp-00000000-c2" / "upper").mkdir(parents=True)
    _whiteout(snap.root / ".tmp-00000000-c2" / "upper" / "x")
    snap.clean_stale()
    assert _entries(snap.root) == []
