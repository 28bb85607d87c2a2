"""_util.fs: directories made under a *top directory* (chattr +T), trees removed."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dockyard._util.fs import (
    FS_IOC_GETFLAGS,
    FS_TOPDIR_FL,
    make_dir_under_top,
    mark_top_dir,
    remove_tree,
)


def flags(path: Path) -> int | None:
    """The inode flags of ``path`` (None where its filesystem has none)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return int.from_bytes(fcntl.ioctl(fd, FS_IOC_GETFLAGS, bytes(8))[:4], sys.byteorder)
    except OSError:
        return None
    finally:
        os.close(fd)


def test_the_missing_parent_is_made_a_top_directory(tmp_path: Path) -> None:
    parent = tmp_path / "root" / "containers"
    child = parent / "c1"
    make_dir_under_top(str(child), 0o710)
    assert child.is_dir()
    assert child.stat().st_mode & 0o777 == 0o710 & ~_umask()
    before = flags(tmp_path)
    if before is None:
        assert mark_top_dir(str(parent)) is False  # no flags here: nothing to set
        return
    assert flags(parent) is not None
    assert flags(parent) & FS_TOPDIR_FL  # type: ignore[operator]
    assert not before & FS_TOPDIR_FL  # only the parent it made
    lsattr = subprocess.run(["lsattr", "-d", str(parent)], capture_output=True, text=True)
    if lsattr.returncode == 0:
        assert "T" in lsattr.stdout.split()[0]  # what chattr +T shows


def test_an_existing_directory_is_an_error_as_for_mkdir(tmp_path: Path) -> None:
    make_dir_under_top(str(tmp_path / "top" / "a"))
    with pytest.raises(FileExistsError):
        make_dir_under_top(str(tmp_path / "top" / "a"))
    make_dir_under_top(str(tmp_path / "top" / "b"))  # the parent exists: just mkdir
    assert sorted(os.listdir(tmp_path / "top")) == ["a", "b"]


def test_marking_keeps_the_other_flags_and_is_idempotent(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    before = flags(d)
    if before is None:
        assert mark_top_dir(str(d)) is False
        return
    assert mark_top_dir(str(d)) is True
    assert mark_top_dir(str(d)) is True
    assert flags(d) == before | FS_TOPDIR_FL


def test_marking_what_is_not_a_directory_fails_quietly(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("x")
    assert mark_top_dir(str(f)) is False
    assert mark_top_dir(str(tmp_path / "missing")) is False


def test_remove_tree(tmp_path: Path) -> None:
    top = tmp_path / "t"
    (top / "a" / "b").mkdir(parents=True)
    (top / "a" / "b" / "f").write_text("x")
    (top / "link").symlink_to(tmp_path)  # removed, never followed
    remove_tree(top)
    assert not top.exists()
    assert tmp_path.is_dir()
    remove_tree(top)  # gone already: fine


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
