"""Snapshotter without root: directories, mount descriptions, option lengths, diff basics."""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.errors import AlreadyExists, InvalidArgument, NotFound, Unsupported
from dockyard.storage.hostmount import parse_mountinfo, split_options
from dockyard.storage.overlay import (
    PAGE_LIMIT,
    Change,
    changes,
    options_length,
    overlay_options,
    short_link_name,
)
from dockyard.storage.snapshots import SHARED_INIT, Snapshotter

EXTRA = ("index=off", "redirect_dir=off", "metacopy=off")


def _layers(base: Path, n: int, name_len: int = 8) -> list[Path]:
    out = []
    for i in range(n):
        d = base / f"{i:04d}{'x' * max(0, name_len - 4)}" / "diff"
        d.mkdir(parents=True)
        (d / f"f{i}").write_text(str(i))
        out.append(d)
    return out


def _opt(options: tuple[str, ...], key: str) -> str:
    (value,) = [o.split("=", 1)[1] for o in options if o.startswith(key + "=")]
    return value


@pytest.fixture
def snap(tmp_path: Path) -> Snapshotter:
    return Snapshotter(tmp_path / "snapshots", extra_options=EXTRA)


def test_prepare_returns_the_overlay_root_mount(snap: Snapshotter, tmp_path: Path) -> None:
    top, bottom = _layers(tmp_path / "layers", 2)
    (m,) = snap.prepare("c1", [top, bottom])
    assert (m.destination, m.type, m.source) == ("/", "overlay", "overlay")
    d = snap.root / "c1"
    assert m.options == (
        f"lowerdir={d / 'init'}:{top}:{bottom}",
        f"upperdir={d / 'upper'}",
        f"workdir={d / 'work'}",
        *EXTRA,
    )
    assert (d / "upper").is_dir() and (d / "work").is_dir()
    assert snap.mounts("c1") == [m]
    assert snap.lower_dirs("c1") == [top, bottom]
    assert snap.upper_dir("c1") == d / "upper"
    assert snap.keys() == ["c1"]
    # nothing half-made: only the init layer every snapshot shares (c1/init links to it)
    assert [p.name for p in snap.root.iterdir() if p.name.startswith(".")] == [SHARED_INIT]
    assert os.readlink(d / "init") == f"../{SHARED_INIT}"


def test_upper_root_takes_the_image_roots_mode(snap: Snapshotter, tmp_path: Path) -> None:
    (layer,) = _layers(tmp_path / "layers", 1)
    layer.chmod(0o750)
    snap.prepare("c1", [layer])
    assert (snap.upper_dir("c1").stat().st_mode & 0o7777) == 0o750


def test_single_layer_and_scratch(snap: Snapshotter, tmp_path: Path) -> None:
    (layer,) = _layers(tmp_path / "layers", 1)
    (m,) = snap.prepare("one", [layer], init=False)
    assert _opt(m.options, "lowerdir") == str(layer)
    (m,) = snap.prepare("scratch", [], init=False)
    empty = snap.root / "scratch" / "empty"
    assert _opt(m.options, "lowerdir") == str(empty)
    assert empty.is_dir() and not list(empty.iterdir())
    assert snap.lower_dirs("scratch") == []
    (m,) = snap.prepare("scratch-init", [])
    assert _opt(m.options, "lowerdir") == str(snap.root / "scratch-init" / "init")


def test_init_layer_is_dockers(snap: Snapshotter, tmp_path: Path) -> None:
    os.umask(old := os.umask(0o077))
    try:
        snap.prepare("c1", _layers(tmp_path / "layers", 1))
    finally:
        os.umask(old)
    init = snap.root / "c1" / "init"
    found = {
        str(p.relative_to(init)): "link" if p.is_symlink() else "dir" if p.is_dir() else "file"
        for p in init.rglob("*")
    }
    assert found == {
        ".dockerenv": "file",
        "dev": "dir",
        "dev/console": "file",
        "dev/pts": "dir",
        "dev/shm": "dir",
        "etc": "dir",
        "etc/hostname": "file",
        "etc/hosts": "file",
        "etc/mtab": "link",
        "etc/resolv.conf": "file",
        "proc": "dir",
        "sys": "dir",
    }
    assert os.readlink(init / "etc" / "mtab") == "/proc/mounts"
    for p in [init, *init.rglob("*")]:
        if not p.is_symlink():
            assert stat.S_IMODE(p.stat().st_mode) == 0o755, p
    assert stat.S_IMODE(snap.upper_dir("c1").stat().st_mode) == 0o755
    assert list(snap.diff("c1")) == []


def test_prepare_errors(snap: Snapshotter, tmp_path: Path) -> None:
    (layer,) = _layers(tmp_path / "layers", 1)
    snap.prepare("c1", [layer])
    with pytest.raises(AlreadyExists):
        snap.prepare("c1", [layer])
    with pytest.raises(NotFound, match="layer directory"):
        snap.prepare("c2", [tmp_path / "nope"])
    for bad in ("", "../x", "a/b", ".tmp-x", "l"):
        with pytest.raises(InvalidArgument):
            snap.prepare(bad, [layer])
    with pytest.raises(NotFound):
        snap.mounts("c2")
    with pytest.raises(NotFound):
        snap.remove("c2")
    with pytest.raises(InvalidArgument):
        Snapshotter(tmp_path / "a,b")


def test_too_many_layers_for_overlay(snap: Snapshotter, tmp_path: Path) -> None:
    layers = [tmp_path] * 501
    with pytest.raises(Unsupported, match="at most 500"):
        snap.prepare("c1", layers)


def test_option_length_counts_the_data_string() -> None:
    opts = overlay_options(["/a", "/b"], "/u", "/w", ("index=off",))
    assert opts == ("lowerdir=/a:/b", "upperdir=/u", "workdir=/w", "index=off")
    assert options_length(opts) == len("lowerdir=/a:/b,upperdir=/u,workdir=/w,index=off")
    with pytest.raises(InvalidArgument):
        overlay_options(["/a:b"], "/u", "/w")
    with pytest.raises(InvalidArgument):
        overlay_options([], "/u", "/w")


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A link dir with a short path (pytest's tmp paths are ~70 bytes long)."""
    d = Path(tempfile.mkdtemp(prefix="dyl", dir="/tmp"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_long_options_fall_back_to_short_links(tmp_path: Path, short_dir: Path) -> None:
    snap = Snapshotter(tmp_path / "snapshots", link_dir=short_dir / "l", extra_options=EXTRA)
    # 120 layers under 150-byte paths: ~18 KB of lowerdir, more than four pages.
    layers = _layers(tmp_path / ("deep" * 10) / "layers", 120, name_len=60)
    direct = overlay_options([str(p) for p in layers], "/u", "/w", EXTRA)
    assert options_length(direct) > 4 * PAGE_LIMIT
    (m,) = snap.prepare("c" * 64, layers)
    assert options_length(m.options) <= PAGE_LIMIT
    lowers = _opt(m.options, "lowerdir").split(":")
    assert len(lowers) == 121  # and the init layer on top
    for link, layer in zip(lowers, [snap.root / ("c" * 64) / "init", *layers], strict=True):
        assert os.path.dirname(link) == str(short_dir / "l")
        assert os.readlink(link) == str(layer)
        assert len(os.path.basename(link)) == 8
    # The description is stable, and the links come back if deleted.
    for link in lowers:
        os.unlink(link)
    assert snap.mounts("c" * 64) == [m]
    assert all(os.path.islink(p) for p in lowers)


@pytest.mark.parametrize(
    ("link_dir", "layers"), [("/var/lib/dockyard/snapshots/l", 95), ("/run/dockyard/l", 150)]
)
def test_layer_capacity_of_the_link_fallback(link_dir: str, layers: int) -> None:
    snap_dir = "/var/lib/dockyard/snapshots/" + "c" * 64
    links = [f"{link_dir}/{short_link_name(str(i))}" for i in range(layers)]
    opts = overlay_options(links, f"{snap_dir}/upper", f"{snap_dir}/work", EXTRA)
    assert options_length(opts) <= PAGE_LIMIT
    # ... while the layer paths themselves fit only ~40 layers.
    paths = [f"/var/lib/dockyard/layers/{i:064x}/diff" for i in range(layers)]
    assert options_length(overlay_options(paths, "/u", "/w")) > PAGE_LIMIT


def test_options_that_cannot_fit_even_with_links(tmp_path: Path) -> None:
    snap = Snapshotter(tmp_path / ("r" * 200), extra_options=EXTRA)
    layers = _layers(tmp_path / "layers", 30)
    layers = layers * 15  # 450 lowers, each link ~250 bytes
    with pytest.raises(Unsupported, match="4095") as info:
        snap.prepare("c1", layers)
    assert info.value.hint is not None and "shorter --root" in info.value.hint
    assert not (snap.root / "c1").exists()


def test_paths_overlay_cannot_take_get_links(snap: Snapshotter, tmp_path: Path) -> None:
    odd = tmp_path / "odd:dir,1" / "diff"
    odd.mkdir(parents=True)
    (m,) = snap.prepare("c1", [odd], init=False)
    link = _opt(m.options, "lowerdir")
    assert ":" not in link and os.readlink(link) == str(odd)


def test_short_link_names_are_stable() -> None:
    a = short_link_name("/var/lib/dockyard/layers/abc/diff")
    assert a == short_link_name("/var/lib/dockyard/layers/abc/diff")
    assert len(a) == 8 and a.isalnum() and a.islower()
    assert short_link_name("/x", 12).startswith(short_link_name("/x"))


def test_short_link_collision_takes_a_longer_name(snap: Snapshotter, tmp_path: Path) -> None:
    target = str(tmp_path)
    (snap.root / "l").mkdir(parents=True)
    os.symlink("/somewhere/else", snap.root / "l" / short_link_name(target))
    link = snap._link(target)
    assert os.path.basename(link) == short_link_name(target, 12)
    assert os.readlink(link) == target


def test_remove_leaves_nothing(snap: Snapshotter, tmp_path: Path) -> None:
    (layer,) = _layers(tmp_path / "layers", 1)
    snap.prepare("c1", [layer])
    (snap.upper_dir("c1") / "file").write_text("x")
    snap.remove("c1")
    assert sorted(p.name for p in snap.root.iterdir()) == [SHARED_INIT]  # the store's own
    assert layer.is_dir() and (layer / "f0").exists()


def test_clean_stale_removes_half_made_and_dangling(snap: Snapshotter, tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    snap.root.mkdir()
    (snap.root / ".tmp-00000000-c1" / "upper").mkdir(parents=True)
    (snap.root / ".del-00000000-c2" / "upper").mkdir(parents=True)
    snap._link(str(gone))
    kept = snap._link(str(tmp_path))
    gone.rmdir()
    snap.clean_stale()
    assert sorted(p.name for p in snap.root.iterdir()) == ["l"]
    assert [p.name for p in (snap.root / "l").iterdir()] == [os.path.basename(kept)]


def test_usage_counts_upper_like_docker(snap: Snapshotter, tmp_path: Path) -> None:
    (layer,) = _layers(tmp_path / "layers", 1)
    snap.prepare("c1", [layer])
    upper = snap.upper_dir("c1")
    (upper / "a").write_bytes(b"x" * 1000)
    os.link(upper / "a", upper / "hard")
    (upper / "d").mkdir()
    (upper / "d" / "b").write_bytes(b"y" * 24)
    os.symlink("a", upper / "link")
    assert snap.usage("c1") == 1000 + 24 + 1


def test_diff_adds_and_changes(snap: Snapshotter, tmp_path: Path) -> None:
    # Whiteouts and opaque dirs need root: tests/integration/test_storage_snapshots.py.
    layer = tmp_path / "layer"
    (layer / "etc").mkdir(parents=True)
    (layer / "etc" / "passwd").write_text("root\n")
    os.utime(layer / "etc", ns=(10**18, 10**18))
    snap.prepare("c1", [layer], init=False)
    upper = snap.upper_dir("c1")
    (upper / "etc").mkdir()
    (upper / "etc" / "passwd").write_text("root\nbob\n")
    os.utime(upper / "etc", ns=(10**18, 10**18))
    (upper / "srv" / "app").mkdir(parents=True)
    (upper / "srv" / "app" / "x").write_text("x")
    assert [str(c) for c in snap.diff("c1")] == [
        "C /etc/passwd",
        "A /srv",
        "A /srv/app",
        "A /srv/app/x",
    ]


def test_changes_hidden_by_lower_whiteout_count_as_added(tmp_path: Path) -> None:
    # A file the top lower layer deleted (a non-directory over a directory here,
    # which needs no root) is an addition when the container creates it again.
    top, bottom, upper = tmp_path / "top", tmp_path / "bottom", tmp_path / "upper"
    (bottom / "opt" / "tool").mkdir(parents=True)
    top.mkdir()
    (top / "opt").write_text("a file now")
    (upper / "opt").mkdir(parents=True)
    (upper / "opt" / "tool").write_text("x")
    assert [str(c) for c in changes(upper, [top, bottom])] == ["C /opt", "A /opt/tool"]
    assert Change("D", "/x").__str__() == "D /x"


def test_lowers_file_is_json(snap: Snapshotter, tmp_path: Path) -> None:
    layers = _layers(tmp_path / "layers", 2)
    snap.prepare("c1", layers)
    assert json.loads((snap.root / "c1" / "lowers").read_text()) == [str(p) for p in layers]


def test_parse_mountinfo_unescapes() -> None:
    text = (
        "36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 - ext3 /dev/root "
        "rw,errors=continue\n"
        "45 27 0:39 / /tmp/ovt/m rw,relatime - overlay overlay "
        "rw,lowerdir=/a:/b,upperdir=/u,workdir=/w\n"
        "garbage line\n"
    )
    a, b = parse_mountinfo(text)
    assert a.mount_point == "/mnt/with space" and a.fstype == "ext3"
    assert a.source == "/dev/root"
    assert b.fstype == "overlay" and b.super_option("upperdir") == "/u"
    assert b.super_option("nope") is None


def test_split_options() -> None:
    assert split_options(["ro", "lowerdir=/a", "rw", "index=off"]) == (1, "lowerdir=/a,index=off")


def test_volatile_needs_linux_5_10() -> None:
    from dockyard.storage.overlay import supports_volatile

    assert supports_volatile("5.10.0-8-amd64") and supports_volatile("6.1.0")
    assert not supports_volatile("5.4.0-150-generic") and not supports_volatile("4.19.0")
    assert not supports_volatile("weird")
