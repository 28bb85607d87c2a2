"""A tree as tar entries and back: entries flow as ``(TarInfo, reader)`` pairs from
a walker (:func:`archive`) to an extractor (:class:`Extractor`), or to and from a tar
stream (:func:`write_tar`, :func:`read_tar`), with nothing held in memory. Both sides
work through descriptors under an :class:`~dockyard.engine.container_fs_root.FsRoot`
and never follow a symlink they did not resolve under it.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import stat
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, BinaryIO, Protocol, cast

from dockyard.engine.container_fs_paths import tar_size
from dockyard.engine.container_fs_root import (
    FsRoot,
    PathStat,
    fs_type,
    locate,
    open_dir_making,
    stat_path,
)
from dockyard.errors import Conflict, InvalidContent

_BUF = 1 << 20


class Reader(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


Entry = tuple[tarfile.TarInfo, Reader | None]
Entries = Iterator[Entry]

# -- archiving: a tree as entries ------------------------------------------------------

# Filesystems whose directories a copy never descends into (their files are not data).
_PSEUDO_FS = frozenset(
    {
        0x9FA0,  # proc
        0x62656572,  # sysfs
        0x27E0EB,  # cgroup
        0x63677270,  # cgroup2
        0x1CD1,  # devpts
        0x19800202,  # mqueue
        0x73636673,  # securityfs
        0x64626720,  # debugfs
        0x74726163,  # tracefs
        0xCAFE4A11,  # bpf
        0x6E736673,  # nsfs
        0x62656570,  # configfs
        0x42494E4D,  # binfmt_misc
        0x6165676C,  # pstore
    }
)


class _SizedReader:
    """Exactly ``size`` bytes of an open file: a file that grew is cut, one that shrank
    is padded with zeros (the tar header is written before the data)."""

    def __init__(self, fd: int, size: int) -> None:
        self.fd, self.left = fd, size

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        n = self.left if n < 0 else min(n, self.left)
        data = os.read(self.fd, n) if self.fd >= 0 else b""
        if not data:
            data = b"\0" * n
        self.left -= len(data)
        return data


def _tarinfo(name: str, st: os.stat_result) -> tarfile.TarInfo | None:
    info = tarfile.TarInfo(name)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.uname = info.gname = ""
    info.mtime = int(st.st_mtime)
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISREG(mode):
        info.type, info.size = tarfile.REGTYPE, st.st_size
    elif stat.S_ISLNK(mode):
        info.type = tarfile.SYMTYPE
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif stat.S_ISFIFO(mode):
        info.type = tarfile.FIFOTYPE
    else:
        return None  # sockets do not go into archives (as Docker)
    return info


class _Archiver:
    """Walks objects through descriptors only: each child is opened ``O_NOFOLLOW``
    relative to its open parent, so nothing can lead the walk elsewhere."""

    def __init__(self) -> None:
        self.inodes: dict[tuple[int, int], str] = {}

    def one(self, parent: int, name: str, arcname: str) -> Entries:
        """The object ``name`` in the open directory ``parent`` (not followed)."""
        st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                         dir_fd=parent)  # fmt: skip
            try:
                yield from self.directory(fd, arcname)
            finally:
                os.close(fd)
            return
        info = _tarinfo(arcname, st)
        if info is None:
            return
        if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
            first = self.inodes.setdefault((st.st_dev, st.st_ino), arcname)
            if first != arcname:
                info.type, info.linkname, info.size = tarfile.LNKTYPE, first, 0
                yield info, None
                return
        if stat.S_ISLNK(st.st_mode):
            info.linkname = os.readlink(name, dir_fd=parent)
            yield info, None
        elif stat.S_ISREG(st.st_mode):
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
            fd = os.open(name, flags, dir_fd=parent)
            try:
                now = os.fstat(fd)
                if not stat.S_ISREG(now.st_mode):
                    return  # swapped under us: not what was listed
                if now.st_size == 0 and fs_type(fd) in _PSEUDO_FS:
                    data = _read_all(fd, 64 << 20)  # /proc files say 0 bytes
                    info.size = len(data)
                    yield info, _BytesReader(data)
                else:
                    yield info, _SizedReader(fd, info.size)
            finally:
                os.close(fd)
        else:
            yield info, None

    def directory(self, fd: int, arcname: str) -> Entries:
        """The open directory ``fd`` (its entry, then its tree)."""
        info = _tarinfo(arcname, os.fstat(fd))
        assert info is not None
        yield info, None
        if fs_type(fd) in _PSEUDO_FS:
            return
        with os.scandir(fd) as it:
            names = sorted((e.name for e in it), key=os.fsencode)
        prefix = arcname.rstrip("/") + "/"
        for name in names:
            try:
                yield from self.one(fd, name, prefix + name)
            except FileNotFoundError:
                continue  # removed while we walked


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def read(self, n: int = -1) -> bytes:
        end = len(self.data) if n < 0 else self.pos + n
        out = self.data[self.pos : end]
        self.pos += len(out)
        return out


def _read_all(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while total < limit and (chunk := os.read(fd, min(_BUF, limit - total))):
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def archive(root: FsRoot, abs_path: str, arcname: str) -> tuple[PathStat, Entries]:
    """The object at ``abs_path`` (resolved as :func:`locate` does) as entries whose
    top element is ``arcname``. Raises before returning if it does not exist."""
    pstat = stat_path(root, abs_path)

    def gen() -> Entries:
        loc = locate(root, abs_path)  # again: nothing stays open until the walk starts
        try:
            walker = _Archiver()
            if loc.name:
                yield from walker.one(loc.parent, loc.name, arcname)
            else:
                fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=loc.obj)
                try:
                    yield from walker.directory(fd, arcname)
                finally:
                    os.close(fd)
        finally:
            loc.close()

    return pstat, gen()


# -- extracting entries under a root ------------------------------------------------------


def _member_path(name: str) -> str | None:
    """An entry's path relative to the extraction directory: ``""`` for the directory
    itself; None for a path that climbs out of it (Docker's breakout error)."""
    rel = name.lstrip("/")
    norm = posixpath.normpath(rel) if rel else "."
    if norm == ".":
        return ""
    if norm == ".." or norm.startswith("../"):
        return None
    return norm


@dataclass
class Extractor:
    """Extracts entries into ``base`` (a directory path under ``root``).

    ``owner``: (uid, gid) every file gets, or None to keep the entries' owners.
    Docker's rules: an existing directory is merged, anything else replaced; a
    directory never replaces a non-directory nor the reverse (``cannot overwrite``)."""

    root: FsRoot
    base: str
    owner: tuple[int, int] | None = None
    copied: int = 0
    _dirs: list[tuple[str, int]] = field(default_factory=list)

    def run(self, entries: Iterable[Entry]) -> int:
        for info, data in entries:
            self.copied += tar_size(info)
            self.entry(info, data)
        for path, mtime in reversed(self._dirs):
            with contextlib.suppress(OSError):
                fd = self.root.open(path, os.O_RDONLY | os.O_DIRECTORY, follow=False)
                try:
                    os.utime(fd, (mtime, mtime))
                finally:
                    os.close(fd)
        return self.copied + 1024

    def _ids(self, info: tarfile.TarInfo) -> tuple[int, int]:
        return self.owner if self.owner is not None else (info.uid, info.gid)

    def _parent(self, rel_dir: str) -> int:
        """The directory ``rel_dir`` (under base) opened O_PATH, made if missing."""
        owner = self.owner if self.owner is not None else (0, 0)
        return open_dir_making(self.root, posixpath.join(self.base, rel_dir), owner)

    def entry(self, info: tarfile.TarInfo, data: Reader | None) -> None:
        rel = _member_path(info.name)
        if rel is None:
            raise InvalidContent(f"invalid tar entry {info.name!r}: it climbs out")
        if not rel:
            return  # the extraction directory itself (".")
        rel_dir, leaf = posixpath.split(rel)
        parent = self._parent(rel_dir)
        try:
            self._create(parent, rel, leaf, info, data)
        finally:
            os.close(parent)

    def _create(
        self, parent: int, rel: str, leaf: str, info: tarfile.TarInfo, data: Reader | None
    ) -> None:
        try:
            old: os.stat_result | None = os.stat(leaf, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            old = None
        is_dir = info.isdir()
        shown = posixpath.join(self.base, rel)
        if old is not None:
            if stat.S_ISDIR(old.st_mode) and not is_dir:
                raise Conflict(f'cannot overwrite directory "{shown}" with non-directory')
            if not stat.S_ISDIR(old.st_mode) and is_dir:
                raise Conflict(f'cannot overwrite non-directory "{shown}" with directory')
            if not is_dir:
                os.unlink(leaf, dir_fd=parent)
        uid, gid = self._ids(info)
        mtime = int(info.mtime)
        if is_dir:
            if old is None:
                os.mkdir(leaf, 0o700, dir_fd=parent)
            fd = os.open(leaf, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                         dir_fd=parent)  # fmt: skip
            try:
                os.fchown(fd, uid, gid)
                os.fchmod(fd, info.mode & 0o7777)
            finally:
                os.close(fd)
            self._dirs.append((posixpath.join(self.base, rel), mtime))
        elif info.isreg():
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(leaf, flags, 0o600, dir_fd=parent)
            try:
                left = info.size
                while left > 0 and data is not None:
                    chunk = data.read(min(_BUF, left))
                    if not chunk:
                        break
                    _write_all(fd, chunk)
                    left -= len(chunk)
                if left > 0:
                    raise InvalidContent(f"tar entry {info.name!r} is truncated")
                os.fchown(fd, uid, gid)
                os.fchmod(fd, info.mode & 0o7777)
                os.utime(fd, (mtime, mtime))
            finally:
                os.close(fd)
        elif info.issym():
            os.symlink(info.linkname, leaf, dir_fd=parent)
            os.chown(leaf, uid, gid, dir_fd=parent, follow_symlinks=False)
            os.utime(leaf, (mtime, mtime), dir_fd=parent, follow_symlinks=False)
        elif info.islnk():
            self._hardlink(parent, leaf, info)
        elif info.ischr() or info.isblk() or info.isfifo():
            kind = stat.S_IFCHR if info.ischr() else stat.S_IFBLK if info.isblk() else stat.S_IFIFO
            dev = os.makedev(info.devmajor, info.devminor) if not info.isfifo() else 0
            os.mknod(leaf, kind | 0o600, dev, dir_fd=parent)
            os.chown(leaf, uid, gid, dir_fd=parent, follow_symlinks=False)
            _chmod_nofollow(parent, leaf, info.mode & 0o7777)
            os.utime(leaf, (mtime, mtime), dir_fd=parent, follow_symlinks=False)
        # other entry types (GNU sparse and such were expanded by tarfile) are skipped

    def _hardlink(self, parent: int, leaf: str, info: tarfile.TarInfo) -> None:
        target = _member_path(info.linkname)
        if not target:
            raise InvalidContent(f"invalid hard link {info.name!r} -> {info.linkname!r}")
        tdir, tleaf = posixpath.split(target)
        tparent = self.root.open(posixpath.join(self.base, tdir), os.O_PATH | os.O_DIRECTORY)
        try:
            os.link(tleaf, leaf, src_dir_fd=tparent, dst_dir_fd=parent, follow_symlinks=False)
        finally:
            os.close(tparent)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _chmod_nofollow(parent: int, leaf: str, mode: int) -> None:
    """chmod an object that cannot be opened for I/O (a device, a fifo) without
    following a symlink: through its O_PATH descriptor's /proc/self/fd link."""
    fd = os.open(leaf, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    try:
        if stat.S_ISLNK(os.fstat(fd).st_mode):
            return
        os.chmod(f"/proc/self/fd/{fd}", mode)
    finally:
        os.close(fd)


# -- tar streams -------------------------------------------------------------------------


def write_tar(entries: Iterable[Entry], out: BinaryIO) -> None:
    """Entries as an uncompressed PAX tar on ``out``."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, cast("IO[bytes] | None", data))


def read_tar(src: BinaryIO) -> Entries:
    """Entries of a tar stream (gzip, bzip2 or xz compressed, or not)."""
    try:
        with tarfile.open(fileobj=src, mode="r|*") as tar:
            for info in tar:
                yield info, tar.extractfile(info) if info.isreg() else None
    except tarfile.TarError as e:
        raise InvalidContent(f"Error processing tar file: {e}") from None
