"""Copy-up of image content into an empty volume (the parts that need no root)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from dockyard.storage.copyup import copy_image_content, is_empty_dir
from dockyard.storage.du import tree_size

T = 1_600_000_000_123_456_789


def _image_dir(base: Path) -> Path:
    src = base / "src"
    (src / "conf.d").mkdir(parents=True)
    (src / "conf.d" / "a.conf").write_text("a=1\n")
    (src / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(src / "run.sh", 0o750)
    (src / "big").write_bytes(os.urandom(3 << 20))
    (src / "empty").write_bytes(b"")
    os.symlink("conf.d/a.conf", src / "link")
    os.symlink("/nowhere", src / "dangling")
    os.link(src / "run.sh", src / "run-again.sh")
    os.mkfifo(src / "fifo", 0o640)
    os.chmod(src / "conf.d", 0o710)
    for p in (src / "conf.d" / "a.conf", src / "run.sh", src / "conf.d"):
        os.utime(p, ns=(T, T))
    os.chmod(src, 0o1777)
    return src


def test_copies_content_modes_links_and_times(tmp_path: Path) -> None:
    src = _image_dir(tmp_path)
    dest = tmp_path / "vol"
    dest.mkdir(mode=0o755)
    assert copy_image_content(src, dest) is True
    assert (dest / "conf.d" / "a.conf").read_text() == "a=1\n"
    assert (dest / "big").read_bytes() == (src / "big").read_bytes()
    assert (dest / "empty").read_bytes() == b""
    assert stat.S_IMODE((dest / "run.sh").stat().st_mode) == 0o750
    assert stat.S_IMODE((dest / "conf.d").stat().st_mode) == 0o710
    assert os.readlink(dest / "link") == "conf.d/a.conf"
    assert os.readlink(dest / "dangling") == "/nowhere"
    assert os.path.samefile(dest / "run.sh", dest / "run-again.sh")
    assert stat.S_ISFIFO(os.lstat(dest / "fifo").st_mode)
    assert stat.S_IMODE(os.lstat(dest / "fifo").st_mode) == 0o640
    assert (dest / "conf.d").stat().st_mtime_ns == T
    assert (dest / "run.sh").stat().st_mtime_ns == T
    # The volume's root takes the image directory's mode (sticky bit included).
    assert stat.S_IMODE(dest.stat().st_mode) == 0o1777
    assert tree_size(dest) == tree_size(src)


def test_skips_a_volume_that_is_not_empty(tmp_path: Path) -> None:
    src = _image_dir(tmp_path)
    dest = tmp_path / "vol"
    dest.mkdir(mode=0o755)
    (dest / "mine").write_text("keep")
    assert copy_image_content(src, dest) is False
    assert sorted(os.listdir(dest)) == ["mine"]
    assert stat.S_IMODE(dest.stat().st_mode) == 0o755


def test_nothing_to_copy(tmp_path: Path) -> None:
    dest = tmp_path / "vol"
    dest.mkdir()
    assert copy_image_content(tmp_path / "missing", dest) is False
    (tmp_path / "file").write_text("x")
    assert copy_image_content(tmp_path / "file", dest) is False
    assert is_empty_dir(dest)
    empty = tmp_path / "empty-dir"
    empty.mkdir(mode=0o700)
    os.chmod(empty, 0o700)
    assert copy_image_content(empty, dest) is True  # nothing to copy but the root's mode
    assert is_empty_dir(dest) and stat.S_IMODE(dest.stat().st_mode) == 0o700
