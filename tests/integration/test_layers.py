"""apply_layer / create_layer on a real filesystem, as root: ownership, devices,
trusted xattrs, whiteouts seen through a real overlayfs mount, hostile archives."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import stat
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard

from dockyard.errors import InvalidArgument, InvalidContent
from dockyard.image.layers import AppliedLayer, apply_layer, create_layer

pytestmark = pytest.mark.root

T0 = 1_600_000_000


# --- helpers ----------------------------------------------------------------------------


def member(name: str, type_: bytes = tarfile.REGTYPE, **kw: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = type_
    info.mtime = T0
    info.mode = 0o755 if type_ == tarfile.DIRTYPE else 0o644
    for key, value in kw.items():
        setattr(info, key, value)
    return info


def make_tar(*members: tarfile.TarInfo | tuple[tarfile.TarInfo, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for m in members:
            info, data = m if isinstance(m, tuple) else (m, b"")
            info.size = len(data) if info.type == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(data) if data else None)
    return buf.getvalue()


def apply(data: bytes, dest: Path, **kw: bool) -> AppliedLayer:
    return apply_layer(io.BytesIO(data), dest, source_name="hostile.tar", **kw)


def xattrs(path: Path) -> dict[str, bytes]:
    names = os.listxattr(path, follow_symlinks=False)
    return {n: os.getxattr(path, n, follow_symlinks=False) for n in sorted(names)}


def snapshot(root: Path) -> dict[str, tuple[object, ...]]:
    """Everything about a tree that a layer carries (hard links as link groups)."""
    first_of_inode: dict[int, str] = {}
    out: dict[str, tuple[object, ...]] = {}
    paths = sorted(p for p in root.rglob("*"))
    for path in paths:
        rel = os.fsencode(path.relative_to(root)).decode("utf-8", "surrogateescape")
        st = os.lstat(path)
        content = None
        if stat.S_ISREG(st.st_mode):
            content = hashlib.sha256(path.read_bytes()).hexdigest()
        group = first_of_inode.setdefault(st.st_ino, rel) if st.st_nlink > 1 else None
        if stat.S_ISDIR(st.st_mode):
            group = None
        out[rel] = (
            stat.S_IFMT(st.st_mode),
            stat.S_IMODE(st.st_mode) if not stat.S_ISLNK(st.st_mode) else None,
            st.st_uid,
            st.st_gid,
            st.st_mtime_ns,
            content,
            os.readlink(path) if stat.S_ISLNK(st.st_mode) else None,
            st.st_rdev if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else None,
            xattrs(path),
            group,
        )
    return out


def is_whiteout(path: Path) -> bool:
    st = os.lstat(path)
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


@pytest.fixture
def mounts() -> Iterator[list[Path]]:
    """Mount points to unmount whatever happens."""
    mounted: list[Path] = []
    yield mounted
    for m in reversed(mounted):
        subprocess.run(["umount", os.fspath(m)], check=False)


def mount_overlay(mounts: list[Path], target: Path, lower: list[Path], **dirs: Path) -> None:
    target.mkdir(exist_ok=True)
    opts = "lowerdir=" + ":".join(os.fspath(p) for p in lower)
    if dirs:
        opts += f",upperdir={dirs['upper']},workdir={dirs['work']}"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, os.fspath(target)], check=True)
    mounts.append(target)


def unmount(mounts: list[Path], target: Path) -> None:
    subprocess.run(["umount", os.fspath(target)], check=True)
    mounts.remove(target)


# --- round trip -------------------------------------------------------------------------


def build_tree(root: Path) -> None:
    """A tree with every kind of entry and metadata a layer keeps."""
    root.mkdir()
    d = root / "d"
    d.mkdir()
    (d / "sticky").mkdir(mode=0o700)
    (d / "sgid").mkdir()
    (root / "empty").mkdir()
    (d / "setuid").write_bytes(b"#!/bin/sh\n")
    (d / "sgid" / "file").write_bytes(b"group file")
    (root / "plain").write_bytes(b"plain\n")
    (root / "readonly").write_bytes(b"ro")
    (root / "big").write_bytes(os.urandom(3 << 20))
    long_dir = root / ("x" * 80) / ("y" * 80)
    long_dir.mkdir(parents=True)
    (long_dir / ("z" * 120)).write_bytes(b"long name")
    (root / os.fsdecode(b"latin1-\xe9t\xe9")).write_bytes(b"not utf-8")
    (root / "abs-link").symlink_to("/etc/passwd")
    (root / "rel-link").symlink_to("../../outside")
    (root / "dangling").symlink_to("nowhere")
    os.link(d / "setuid", root / "hl1")
    os.link(d / "setuid", d / "sgid" / "hl2")
    os.mkfifo(root / "fifo")
    os.mknod(root / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.mknod(root / "loop", stat.S_IFBLK | 0o660, os.makedev(7, 0))

    os.chown(d / "sgid", 1000, 1000)
    os.chown(d / "sgid" / "file", 1234, 5678)
    os.lchown(root / "dangling", 42, 43)
    os.chown(root / "fifo", 7, 8)
    os.chown(root / "big", 70000, 80000)
    os.chmod(d / "sticky", 0o1777)
    os.chmod(d / "sgid", 0o2755)
    os.chmod(d / "setuid", 0o4755)
    os.chmod(d / "sgid" / "file", 0o2644)
    os.chmod(root / "readonly", 0o400)
    os.chmod(root / "fifo", 0o600)
    os.setxattr(root / "plain", "user.comment", b"hello")
    os.setxattr(root / "plain", "user.binary", b"\x00\xff\x01")
    os.setxattr(d, "user.on-a-dir", b"yes")
    os.setxattr(root / "big", "trusted.dockyard-test", b"kept")
    os.setxattr(root / "dangling", "trusted.on-a-symlink", b"1", follow_symlinks=False)
    for i, p in enumerate(sorted(root.rglob("*"), reverse=True)):
        os.utime(p, ns=(T0 * 10**9, (T0 + i) * 10**9), follow_symlinks=False)


def test_round_trip_keeps_everything(tmp_path: Path) -> None:
    build_tree(tmp_path / "src")
    out = io.BytesIO()
    digest = create_layer(tmp_path / "src", out)
    data = out.getvalue()

    applied = apply_layer(io.BytesIO(data), tmp_path / "dst")
    assert applied.diff_id == digest == "sha256:" + hashlib.sha256(data).hexdigest()
    want = snapshot(tmp_path / "src")
    assert snapshot(tmp_path / "dst") == want
    regular = {os.lstat(tmp_path / "src" / p).st_ino: p for p, v in want.items()}
    files = [p for p in regular.values() if want[p][0] == stat.S_IFREG]
    assert applied.size == sum(os.lstat(tmp_path / "src" / p).st_size for p in files)

    # again: same digest; and the layer of the extracted tree is the same bytes
    assert apply_layer(io.BytesIO(data), tmp_path / "again").diff_id == digest
    out2 = io.BytesIO()
    assert create_layer(tmp_path / "dst", out2) == digest
    assert out2.getvalue() == data


def test_compressed_layers_give_the_uncompressed_diff_id(tmp_path: Path) -> None:
    build_tree(tmp_path / "src")
    out = io.BytesIO()
    digest = create_layer(tmp_path / "src", out)
    data = out.getvalue()
    want = snapshot(tmp_path / "src")
    packed = {
        "gzip": gzip.compress(data),
        "zstd": zstandard.ZstdCompressor().compress(data),
        "xz": lzma.compress(data),
        "bzip2": bz2.compress(data),
    }
    for kind, blob in packed.items():
        applied = apply_layer(io.BytesIO(blob), tmp_path / kind)
        assert applied.diff_id == digest, kind
        assert snapshot(tmp_path / kind) == want, kind


def test_directory_times_are_set_after_their_contents(tmp_path: Path) -> None:
    data = make_tar(
        member("d/", tarfile.DIRTYPE, mtime=T0),
        member("other/", tarfile.DIRTYPE, mtime=T0 + 1),
        (member("d/late", mtime=T0 + 5), b"x"),  # written into d after d's entry
        member("d/sub/", tarfile.DIRTYPE, mtime=T0 + 2),
    )
    apply(data, tmp_path / "l")
    assert os.lstat(tmp_path / "l" / "d").st_mtime == T0
    assert os.lstat(tmp_path / "l" / "d" / "sub").st_mtime == T0 + 2


def test_the_root_entry_sets_the_layer_root(tmp_path: Path) -> None:
    data = make_tar(
        member("./", tarfile.DIRTYPE, mode=0o750, uid=3, gid=4, mtime=T0 - 100),
        (member("./f"), b"f"),
    )
    apply(data, tmp_path / "l")
    st = os.lstat(tmp_path / "l")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o750, 3, 4)
    assert st.st_mtime == T0 - 100


def test_later_entries_replace_earlier_ones(tmp_path: Path) -> None:
    data = make_tar(
        (member("x"), b"file"),
        member("x/", tarfile.DIRTYPE, mode=0o700),
        member("y/", tarfile.DIRTYPE),
        (member("y/child"), b"gone"),
        (member("y"), b"now a file"),
        (member("z"), b"first"),
        (member("z", mode=0o600), b"second"),
    )
    dest = tmp_path / "l"
    apply(data, dest)
    assert (dest / "x").is_dir() and stat.S_IMODE(os.lstat(dest / "x").st_mode) == 0o700
    assert (dest / "y").read_bytes() == b"now a file"
    assert (dest / "z").read_bytes() == b"second"


def test_dest_must_be_empty(tmp_path: Path) -> None:
    (tmp_path / "l").mkdir()
    (tmp_path / "l" / "junk").write_text("x")
    with pytest.raises(InvalidArgument, match="not empty"):
        apply(make_tar(member("a")), tmp_path / "l")


def test_truncated_or_corrupt_archives_are_refused(tmp_path: Path) -> None:
    data = make_tar((member("a"), os.urandom(5000)), (member("b"), b"b"))
    with pytest.raises(InvalidContent, match=r"^hostile\.tar is not a valid tar.*end of data"):
        apply(data[:3000], tmp_path / "t1")
    with pytest.raises(InvalidContent, match=r"^hostile\.tar is not a valid gzip stream"):
        apply(gzip.compress(data)[:-20], tmp_path / "t2")
    with pytest.raises(InvalidContent, match=r"^hostile\.tar is not a valid tar archive"):
        apply(b"<html>502 Bad Gateway</html>" * 30, tmp_path / "t3")


# --- whiteouts --------------------------------------------------------------------------


def test_whiteouts_become_overlayfs_whiteouts(tmp_path: Path) -> None:
    data = make_tar(
        member("dir/", tarfile.DIRTYPE),
        (member("dir/keep"), b"k"),
        member("dir/.wh.gone", uid=5, gid=6),
        member("opq/", tarfile.DIRTYPE),
        member("opq/.wh..wh..opq"),
        (member("opq/new"), b"n"),
        member("implicit/.wh..wh..opq"),  # its directory never appears in the tar
        member(".wh.top"),
        member("dir/.wh..wh.plnk"),  # aufs bookkeeping: ignored
    )
    dest = tmp_path / "l"
    apply(data, dest)
    assert is_whiteout(dest / "dir" / "gone")
    assert (os.lstat(dest / "dir" / "gone").st_uid, os.lstat(dest / "dir" / "gone").st_gid) == (
        5,
        6,
    )
    assert is_whiteout(dest / "top")
    assert xattrs(dest / "opq") == {"trusted.overlay.opaque": b"y"}
    assert xattrs(dest / "implicit") == {"trusted.overlay.opaque": b"y"}
    assert xattrs(dest / "dir") == {}
    assert not [p for p in dest.rglob("*") if p.name.startswith(".wh.")]
    assert sorted(p.name for p in (dest / "opq").iterdir()) == ["new"]


def test_whiteout_and_recreation_in_one_layer(tmp_path: Path) -> None:
    data = make_tar(
        member(".wh.d"),
        member("d/", tarfile.DIRTYPE),  # deleted, then made anew: opaque
        (member("d/f"), b"f"),
        (member("f"), b"f"),
        member(".wh.f"),  # the later entry wins
        member(".wh.p"),
        (member("p/child"), b"c"),  # a parent through a whiteout: made an opaque dir
    )
    dest = tmp_path / "l"
    apply(data, dest)
    assert xattrs(dest / "d") == {"trusted.overlay.opaque": b"y"}
    assert is_whiteout(dest / "f")
    assert xattrs(dest / "p") == {"trusted.overlay.opaque": b"y"}


def test_overlay_mount_shows_deletions(tmp_path: Path, mounts: list[Path]) -> None:
    lower = make_tar(
        (member("a"), b"a"),
        (member("b"), b"b"),
        member("dir/", tarfile.DIRTYPE),
        (member("dir/x"), b"x"),
        (member("dir/y"), b"y"),
        member("keep/", tarfile.DIRTYPE),
        (member("keep/k"), b"k"),
    )
    upper = make_tar(
        member(".wh.a"),
        member("dir/", tarfile.DIRTYPE),
        member("dir/.wh..wh..opq"),
        (member("dir/z"), b"z"),
        (member("keep/new"), b"new"),
    )
    apply(lower, tmp_path / "lower")
    apply(upper, tmp_path / "upper")
    merged = tmp_path / "merged"
    mount_overlay(mounts, merged, [tmp_path / "upper", tmp_path / "lower"])
    assert sorted(p.name for p in merged.iterdir()) == ["b", "dir", "keep"]
    assert not (merged / "a").exists()
    assert sorted(p.name for p in (merged / "dir").iterdir()) == ["z"]
    assert sorted(p.name for p in (merged / "keep").iterdir()) == ["k", "new"]


def test_create_layer_from_an_overlay_upper(tmp_path: Path, mounts: list[Path]) -> None:
    lower = make_tar(
        (member("a"), b"a"),
        (member("b"), b"b"),
        member("dir/", tarfile.DIRTYPE),
        (member("dir/x"), b"x"),
    )
    apply(lower, tmp_path / "lower")
    for name in ("upper", "work"):
        (tmp_path / name).mkdir()
    merged = tmp_path / "merged"
    mount_overlay(
        mounts, merged, [tmp_path / "lower"], upper=tmp_path / "upper", work=tmp_path / "work"
    )
    (merged / "a").unlink()
    (merged / "dir" / "x").unlink()
    (merged / "dir").rmdir()
    (merged / "dir").mkdir()
    (merged / "dir" / "z").write_bytes(b"z")
    (merged / "b").write_bytes(b"changed")
    unmount(mounts, merged)
    assert is_whiteout(tmp_path / "upper" / "a")

    out = io.BytesIO()
    digest = create_layer(tmp_path / "upper", out, from_overlay_upper=True)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
        infos = {i.name: i for i in tar.getmembers()}
    assert sorted(infos) == [".wh.a", "b", "dir", "dir/.wh..wh..opq", "dir/z"]
    assert infos[".wh.a"].isreg() and infos[".wh.a"].size == 0
    assert not [k for i in infos.values() for k in i.pax_headers if "trusted.overlay" in k]

    applied = apply_layer(io.BytesIO(out.getvalue()), tmp_path / "diff")
    assert applied.diff_id == digest
    assert is_whiteout(tmp_path / "diff" / "a")
    assert xattrs(tmp_path / "diff" / "dir") == {"trusted.overlay.opaque": b"y"}
    mount_overlay(mounts, merged, [tmp_path / "diff", tmp_path / "lower"])
    assert sorted(p.name for p in merged.iterdir()) == ["b", "dir"]
    assert (merged / "b").read_bytes() == b"changed"
    assert sorted(p.name for p in (merged / "dir").iterdir()) == ["z"]


# --- hostile archives -------------------------------------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory next to the destination, which no layer may touch."""
    path = tmp_path / "outside"
    path.mkdir()
    (path / "victim").write_text("original")
    return path


def refused(data: bytes, dest: Path, match: str, **kw: bool) -> None:
    with pytest.raises(InvalidContent, match=r"^hostile\.tar: refusing entry " + match):
        apply(data, dest, **kw)


def test_dotdot_escape_is_refused(tmp_path: Path, outside: Path) -> None:
    refused(make_tar((member("../outside/evil"), b"x")), tmp_path / "l", "'../outside/evil'")
    refused(make_tar((member("a/../../outside/evil"), b"x")), tmp_path / "l2", "'a/../")
    assert sorted(p.name for p in outside.iterdir()) == ["victim"]


def test_absolute_paths_stay_inside(tmp_path: Path) -> None:
    name = f"dockyard-test-{os.getpid()}"
    dest = tmp_path / "l"
    apply(make_tar((member(f"/tmp/{name}"), b"x"), (member(f"/../../{name}2"), b"y")), dest)
    assert (dest / "tmp" / name).read_bytes() == b"x"
    assert (dest / f"{name}2").read_bytes() == b"y"
    assert not Path(f"/tmp/{name}").exists() and not Path(f"/{name}2").exists()


def test_writing_through_a_symlink_is_refused(tmp_path: Path, outside: Path) -> None:
    cases: list[list[tarfile.TarInfo | tuple[tarfile.TarInfo, bytes]]] = [
        [
            member("evil", tarfile.SYMTYPE, linkname=os.fspath(outside)),
            (member("evil/victim"), b"x"),
        ],
        [member("evil", tarfile.SYMTYPE, linkname="../outside"), (member("evil/new"), b"x")],
        [member("evil", tarfile.SYMTYPE, linkname="/"), member("evil/sub/", tarfile.DIRTYPE)],
        [
            member("evil", tarfile.SYMTYPE, linkname=os.fspath(outside)),
            member("evil/.wh.victim"),  # a whiteout through it
        ],
        [  # a directory replaced by a symlink, then written into
            member("d/", tarfile.DIRTYPE),
            (member("d/f"), b"f"),
            member("d", tarfile.SYMTYPE, linkname=os.fspath(outside)),
            (member("d/victim"), b"x"),
        ],
    ]
    for i, case in enumerate(cases):
        refused(make_tar(*case), tmp_path / f"l{i}", ".*symlink")
    assert sorted(p.name for p in outside.iterdir()) == ["victim"]
    assert (outside / "victim").read_text() == "original"


def test_hardlinks_out_of_the_layer_are_refused(tmp_path: Path, outside: Path) -> None:
    victim = os.fspath(outside / "victim")
    cases = [
        member("h", tarfile.LNKTYPE, linkname="../outside/victim"),
        member("h", tarfile.LNKTYPE, linkname=victim),  # absolute, not in this layer
        member("h", tarfile.LNKTYPE, linkname="/etc/passwd"),
        member("h", tarfile.LNKTYPE, linkname="missing"),
    ]
    for i, case in enumerate(cases):
        refused(make_tar(case), tmp_path / f"l{i}", "'h': hard link target")
    assert os.lstat(victim).st_nlink == 1


def test_hardlink_through_a_symlink_is_refused(tmp_path: Path, outside: Path) -> None:
    data = make_tar(
        member("evil", tarfile.SYMTYPE, linkname=os.fspath(outside)),
        member("h", tarfile.LNKTYPE, linkname="evil/victim"),
    )
    refused(data, tmp_path / "l", "'h': hard link target 'evil/victim'")
    assert os.lstat(outside / "victim").st_nlink == 1


def test_hardlink_to_a_symlink_is_a_symlink(tmp_path: Path, outside: Path) -> None:
    data = make_tar(
        member("s", tarfile.SYMTYPE, linkname=os.fspath(outside)),
        member("h", tarfile.LNKTYPE, linkname="s"),
        (member("h/victim"), b"x"),
    )
    refused(data, tmp_path / "l", "'h/victim'.*symlink")
    assert (outside / "victim").read_text() == "original"


def test_hardlinks_inside_the_layer_work(tmp_path: Path) -> None:
    data = make_tar(
        member("etc/", tarfile.DIRTYPE),
        (member("etc/passwd"), b"root:x:0:0::/root:/bin/sh\n"),
        member("a", tarfile.LNKTYPE, linkname="/etc/passwd"),  # absolute = in the layer
        member("b", tarfile.LNKTYPE, linkname="./etc/../etc/passwd"),
    )
    dest = tmp_path / "l"
    applied = apply(data, dest)
    assert os.lstat(dest / "etc" / "passwd").st_nlink == 3
    assert os.path.samefile(dest / "a", dest / "b")
    assert applied.size == len(b"root:x:0:0::/root:/bin/sh\n")


def test_bad_whiteouts_and_names_are_refused(tmp_path: Path) -> None:
    refused(make_tar(member("d/.wh..")), tmp_path / "l1", "'d/.wh..': whiteout of nothing")
    refused(make_tar(member(".wh.")), tmp_path / "l2", "'.wh.': whiteout of nothing")
    nul = member("placeholder")
    nul.pax_headers = {"path": "a\0b"}
    refused(make_tar(nul), tmp_path / "l3", "'a\\\\x00b'")
    refused(make_tar(member("./", tarfile.SYMTYPE, linkname="/")), tmp_path / "l4", "'./'")


def test_devices(tmp_path: Path) -> None:
    null = member("null", tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666)
    whiteout = member("gone", tarfile.CHRTYPE, devmajor=0, devminor=0)
    apply(make_tar(null, whiteout), tmp_path / "l1")
    st = os.lstat(tmp_path / "l1" / "null")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
    assert stat.S_IMODE(st.st_mode) == 0o666
    refused(
        make_tar(null), tmp_path / "l2", "'null': device nodes are not allowed", allow_devices=False
    )
    apply(make_tar(whiteout), tmp_path / "l3", allow_devices=False)
    assert is_whiteout(tmp_path / "l3" / "gone")
