"""Image layers: chain IDs, extracting a layer tar into an overlayfs lowerdir, and
writing a layer tar from a directory (or an overlayfs upperdir).

Whiteouts. In a layer tar (OCI image spec), ``D/.wh.NAME`` deletes NAME of the
layers below and ``D/.wh..wh..opq`` hides everything the layers below have in D.
On disk (overlayfs) the first is a character device 0:0 named NAME, the second
the xattr ``trusted.overlay.opaque=y`` on D. `apply_layer` turns the tar form into
the overlay form and `create_layer(from_overlay_upper=True)` does the reverse. (A
character device 0:0 in a tar is extracted as it is: it already is a whiteout.)

Entries are applied in order and a later entry replaces an earlier one of the
same path, as Docker does; a whiteout replaces what the layer itself had at that
path, and a directory that replaces a whiteout is made opaque (deleted, then
created anew). ``trusted.overlay.*`` xattrs inside a tar are dropped, except
``trusted.overlay.opaque=y``, which means what ``.wh..wh..opq`` means: the others
(redirect, metacopy, origin) would let a layer steer overlayfs.
"""

from __future__ import annotations

import errno
import hashlib
import os
import posixpath
import stat
from collections.abc import Sequence
from pathlib import Path

from dockyard._util.litedc import dataclass
from dockyard.errors import InvalidArgument, InvalidContent, Unsupported
from dockyard.image.tarstream import (
    BLK,
    CHR,
    DIR,
    FIFO,
    LNK,
    REG,
    SYM,
    TarEntry,
    TarReader,
    decompressed,
    detect_compression,
    open_tar_stream,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    import tarfile
    from typing import BinaryIO, Final

__all__ = [
    "AppliedLayer",
    "apply_layer",
    "chain_ids",
    "create_layer",
    "decompressed",
    "detect_compression",
]

WHITEOUT_PREFIX: Final = ".wh."
OPAQUE_MARKER: Final = ".wh..wh..opq"
OPAQUE_XATTR: Final = "trusted.overlay.opaque"
_OVERLAY_XATTRS: Final = "trusted.overlay."

_FLAG: Final = {t: t.encode() for t in (REG, LNK, SYM, CHR, BLK, DIR, FIFO)}  # TarInfo.type
# What a path of the layer being extracted is, as far as later entries care.
_DIR, _SYMLINK, _WHITEOUT, _OTHER = 0, 1, 2, 3
_ID_LIMIT: Final = 2**32 - 1  # (uid_t)-1 means "unchanged" to chown
# errnos that mean the entry itself is impossible (bad name, bad link target)
_CONTENT_ERRNOS: Final = {
    errno.ENAMETOOLONG,
    errno.ENOENT,
    errno.EEXIST,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.EMLINK,
    errno.ELOOP,
}


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    """The OCI ChainIDs of a stack of layers, bottom first:
    ``ChainID(L0) = DiffID(L0)``, ``ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " + DiffID(Ln))``.
    """
    out: list[str] = []
    for diff_id in diff_ids:
        if out:
            text = f"{out[-1]} {diff_id}".encode()
            out.append(f"sha256:{hashlib.sha256(text).hexdigest()}")
        else:
            out.append(diff_id)
    return out


@dataclass(frozen=True)
class AppliedLayer:
    """The result of extracting a layer.

    ``size`` is the sum of the sizes of the regular files in the tar (hard links
    count once), which is what Docker records as a layer's size; not the length
    of the tar stream, and not the disk usage of the extracted tree.
    """

    diff_id: str
    size: int


def _clean_name(name: str) -> str | None:
    """The path of a tar member relative to the layer root ("" for the root), or
    None if it climbs out. A leading "/" is dropped (as Docker does, so "/../x" is
    "x"); a relative name whose ".." climbs above the root is refused."""
    if name.startswith("/"):
        return posixpath.normpath(name).lstrip("/")
    cleaned = posixpath.normpath(name)
    if cleaned == ".." or cleaned.startswith("../"):
        return None
    return "" if cleaned == "." else cleaned


def _impossible(entry: TarEntry) -> str | None:
    """Why the system calls could not take this entry's values, if they could not."""
    if "\0" in entry.name or "\0" in entry.linkname or any("\0" in k for k in entry.xattrs):
        return "a NUL byte in a name"
    if not (entry.uid < _ID_LIMIT and entry.gid < _ID_LIMIT):
        return f"owner {entry.uid}:{entry.gid} is out of range"
    if not (entry.devmajor < _ID_LIMIT and entry.devminor < _ID_LIMIT):
        return f"device {entry.devmajor}:{entry.devminor} is out of range"
    if not -(2**63) < entry.mtime_ns < 2**63:
        return "modification time out of range"
    return None


class _Extractor:
    """Extracts one layer into an empty directory.

    Safety rests on one invariant: ``kinds`` knows every path this extraction has
    created (the directory was empty), with the directories that lead to it all
    real directories. Before anything is created at a path, each of its parents
    is checked in ``kinds`` (never on disk), so nothing is written through a
    symlink; removing a path forgets everything below it. All calls are relative
    to a descriptor of the destination, and files are opened O_EXCL|O_NOFOLLOW.
    """

    def __init__(self, dest: Path, source_name: str, allow_devices: bool) -> None:
        self.dest = os.fspath(dest)
        self.source_name = source_name
        self.allow_devices = allow_devices
        self.kinds: dict[str, int] = {"": _DIR}
        self.dir_times: dict[str, int] = {}
        self.size = 0
        self.dfd = os.open(self.dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def refuse(self, entry: TarEntry, why: str) -> InvalidContent:
        return InvalidContent(
            f"{self.source_name}: refusing entry {entry.name!r}: {why}",
            hint="the archive is damaged or hostile; it was not applied",
        )

    def run(self, reader: TarReader) -> None:
        for entry in reader:
            name = _clean_name(entry.name)
            if name is None:
                raise self.refuse(entry, "its path leads out of the layer")
            why = _impossible(entry)
            if why:
                raise self.refuse(entry, why)
            try:
                self.apply(reader, entry, name)
            except OSError as e:
                if e.errno not in _CONTENT_ERRNOS:
                    raise
                raise self.refuse(entry, e.strerror or str(e)) from None
        for rel, mtime_ns in self.dir_times.items():
            os.utime(rel or ".", ns=(mtime_ns, mtime_ns), dir_fd=self.dfd, follow_symlinks=False)

    def apply(self, reader: TarReader, entry: TarEntry, name: str) -> None:
        parent, _, base = name.rpartition("/")
        if base.startswith(WHITEOUT_PREFIX):
            self.whiteout(entry, parent, base)
            return
        kind = entry.type
        if name == "" and kind != DIR:
            raise self.refuse(entry, "only a directory can be the layer root")
        if self.kinds.get(parent) != _DIR:
            self.ensure_dir(entry, parent)
        if kind == DIR:
            self.directory(entry, name)
            return
        if kind == LNK:
            self.hardlink(entry, name)
            return
        if name in self.kinds:
            self.make_room(name, False)
        uid, gid, dfd = entry.uid, entry.gid, self.dfd
        if kind == REG:
            mode = entry.mode
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(name, flags, mode & 0o777, dir_fd=dfd)
            try:
                reader.copy_data(fd)
                os.fchown(fd, uid, gid)
                os.fchmod(fd, mode)  # after chown, which clears setuid and setgid
                if entry.xattrs:
                    for key, value in self.xattrs(entry).items():
                        self.setxattr(fd, key, value)
                os.utime(fd, ns=(entry.mtime_ns, entry.mtime_ns))
            finally:
                os.close(fd)
            self.size += entry.size
            self.kinds[name] = _OTHER
            return
        if kind == SYM:
            os.symlink(entry.linkname, name, dir_fd=dfd)
            self.kinds[name] = _SYMLINK
        elif kind == FIFO:
            os.mkfifo(name, 0o600, dir_fd=dfd)
            self.kinds[name] = _OTHER
        else:
            assert kind in (CHR, BLK)
            major, minor = entry.devmajor, entry.devminor
            is_whiteout = kind == CHR and major == minor == 0
            if not is_whiteout and not self.allow_devices:
                raise self.refuse(entry, f"device nodes are not allowed here ({major}:{minor})")
            file_type = stat.S_IFCHR if kind == CHR else stat.S_IFBLK
            os.mknod(name, file_type | 0o600, os.makedev(major, minor), dir_fd=dfd)
            self.kinds[name] = _WHITEOUT if is_whiteout else _OTHER
        self.set_meta(entry, name, kind == SYM)

    def set_meta(self, entry: TarEntry, name: str, is_link: bool) -> None:
        os.chown(name or ".", entry.uid, entry.gid, dir_fd=self.dfd, follow_symlinks=False)
        if not is_link:
            os.chmod(name or ".", entry.mode, dir_fd=self.dfd)
        xattrs = self.xattrs(entry)
        if xattrs:
            path = os.path.join(self.dest, name)
            for key, value in xattrs.items():
                self.setxattr(path, key, value)
        if entry.type != DIR:
            mtime = entry.mtime_ns
            os.utime(name, ns=(mtime, mtime), dir_fd=self.dfd, follow_symlinks=False)

    def xattrs(self, entry: TarEntry) -> dict[str, bytes]:
        if not entry.xattrs or not any(k.startswith(_OVERLAY_XATTRS) for k in entry.xattrs):
            return entry.xattrs
        return {k: v for k, v in entry.xattrs.items() if not k.startswith(_OVERLAY_XATTRS)}

    def setxattr(self, target: int | str, key: str, value: bytes) -> None:
        try:
            if isinstance(target, int):
                os.setxattr(target, key, value)
            else:
                os.setxattr(target, key, value, follow_symlinks=False)
        except OSError as e:  # as Docker: filesystems without (some) xattrs are fine
            if e.errno not in (errno.ENOTSUP, errno.EPERM):
                raise

    def directory(self, entry: TarEntry, name: str) -> None:
        previous = self.make_room(name, True)
        if previous != _DIR:
            os.mkdir(name, 0o700, dir_fd=self.dfd)
            self.kinds[name] = _DIR
        self.set_meta(entry, name, False)
        if previous == _WHITEOUT or entry.xattrs.get(OPAQUE_XATTR) == b"y":
            self.make_opaque(name)
        self.dir_times[name] = entry.mtime_ns

    def hardlink(self, entry: TarEntry, name: str) -> None:
        target = _clean_name(entry.linkname)
        if target is None:
            raise self.refuse(entry, f"hard link target {entry.linkname!r} is outside the layer")
        for _ in range(2):  # before and after making room: that may remove the target
            kind = self.kinds.get(target)
            if kind is None or kind == _WHITEOUT:
                why = f"hard link target {entry.linkname!r} is not a file of this layer"
                raise self.refuse(entry, why)
            if kind == _DIR or target == name:
                raise self.refuse(entry, f"cannot hard link to {entry.linkname!r}")
            self.make_room(name, False)
        os.link(target, name, src_dir_fd=self.dfd, dst_dir_fd=self.dfd, follow_symlinks=False)
        self.kinds[name] = self.kinds[target]

    def whiteout(self, entry: TarEntry, parent: str, base: str) -> None:
        self.ensure_dir(entry, parent)
        if base == OPAQUE_MARKER:
            self.make_opaque(parent)
            return
        if base.startswith(WHITEOUT_PREFIX * 2):
            return  # aufs bookkeeping (.wh..wh.plnk and such): ignored, as Docker does
        target = base[len(WHITEOUT_PREFIX) :]
        if target in ("", ".", ".."):
            raise self.refuse(entry, "whiteout of nothing")
        name = f"{parent}/{target}" if parent else target
        self.make_room(name, False)
        os.mknod(name, stat.S_IFCHR | 0o600, os.makedev(0, 0), dir_fd=self.dfd)
        self.kinds[name] = _WHITEOUT
        os.chown(name, entry.uid, entry.gid, dir_fd=self.dfd, follow_symlinks=False)
        os.chmod(name, entry.mode, dir_fd=self.dfd)
        os.utime(name, ns=(entry.mtime_ns,) * 2, dir_fd=self.dfd, follow_symlinks=False)

    def make_opaque(self, name: str) -> None:
        path = os.path.join(self.dest, name)
        try:
            os.setxattr(path, OPAQUE_XATTR, b"y", follow_symlinks=False)
        except OSError as e:
            raise Unsupported(
                f"cannot mark {path} opaque for overlayfs: {e.strerror}",
                hint="layers need a filesystem with trusted.* xattrs (ext4, xfs) and root",
            ) from None

    def ensure_dir(self, entry: TarEntry, parent: str) -> None:
        """Make sure `parent` is a real directory of this layer, creating it (and
        its parents) like tar does if the archive has not yet."""
        if self.kinds.get(parent) == _DIR:
            return
        prefix = ""
        for part in parent.split("/"):
            prefix = f"{prefix}/{part}" if prefix else part
            kind = self.kinds.get(prefix)
            if kind == _DIR:
                continue
            if kind == _SYMLINK:
                raise self.refuse(entry, f"{prefix!r} is a symlink; nothing is written through one")
            if kind == _OTHER:
                raise self.refuse(entry, f"{prefix!r} is not a directory")
            if kind == _WHITEOUT:
                self.make_room(prefix, True)
            os.mkdir(prefix, 0o755, dir_fd=self.dfd)
            os.chmod(prefix, 0o755, dir_fd=self.dfd)  # whatever the umask
            self.kinds[prefix] = _DIR
            if kind == _WHITEOUT:
                self.make_opaque(prefix)

    def make_room(self, name: str, for_dir: bool) -> int | None:
        """Remove what this layer has at `name` (unless both are directories);
        returns what was there."""
        kind = self.kinds.get(name)
        if kind is None or (kind == _DIR and for_dir):
            return kind
        if kind == _DIR:
            import shutil

            shutil.rmtree(os.path.join(self.dest, name))
            below = name + "/"
            for gone in [k for k in self.kinds if k.startswith(below)]:
                del self.kinds[gone]
                self.dir_times.pop(gone, None)
            self.dir_times.pop(name, None)
        else:
            os.unlink(name, dir_fd=self.dfd)
        del self.kinds[name]
        return kind

    def close(self) -> None:
        os.close(self.dfd)


def apply_layer(
    src: BinaryIO, dest: Path, *, source_name: str = "layer", allow_devices: bool = True
) -> AppliedLayer:
    """Extract the layer tar `src` (uncompressed, gzip, zstd, xz or bzip2: told by
    its first bytes) into the empty (or missing) directory `dest`, as an overlayfs
    lowerdir: see the module docstring for whiteouts. Returns the DiffID (sha256
    of the uncompressed stream, all of it to EOF) and the size.

    Ownership (numeric), modes, xattrs, mtimes, symlinks, hard links, FIFOs and
    device nodes are kept; needs root for most of that. Symlinks may point
    anywhere, but nothing is written through one, and hard links must point at
    files of this same layer. A hostile or corrupt archive raises InvalidContent
    naming `source_name`; with `allow_devices=False`, so does a device node other
    than a whiteout. I/O errors of `dest` (ENOSPC, EIO, EPERM) propagate as
    OSError. On any error `dest` is left half-written: extract into a temporary
    directory and rename it on success.
    """
    dest.mkdir(exist_ok=True)
    with os.scandir(dest) as it:
        if next(it, None) is not None:
            raise InvalidArgument(f"cannot extract {source_name} into {dest}: not empty")
    reader = open_tar_stream(src, source_name)
    with reader.stream:
        extractor = _Extractor(dest, source_name, allow_devices)
        try:
            extractor.run(reader)
        finally:
            extractor.close()
        reader.stream.drain()
        return AppliedLayer(diff_id=reader.stream.digest(), size=extractor.size)


class _HashingWriter:
    """What tarfile writes to: passes bytes on to `out` and hashes them."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._hash = hashlib.sha256()
        self._pos = 0

    def write(self, data: bytes) -> int:
        self._hash.update(data)
        self._out.write(data)
        self._pos += len(data)
        return len(data)

    def tell(self) -> int:
        return self._pos

    def read(self, size: int) -> bytes:
        raise OSError(errno.EBADF, "write-only stream")

    def seek(self, pos: int) -> int:
        raise OSError(errno.ESPIPE, "stream is not seekable")

    def close(self) -> None:
        pass

    def digest(self) -> str:
        return f"sha256:{self._hash.hexdigest()}"


class _Archiver:
    """Walks a tree depth first, children sorted by (byte) name, into a tar."""

    def __init__(self, tar: tarfile.TarFile, upper: bool, mtime: int | None) -> None:
        self.tar = tar
        self.upper = upper
        self.mtime = mtime
        self.inodes: dict[tuple[int, int], str] = {}

    def walk(self, path: str, rel: str) -> None:
        with os.scandir(path) as it:
            names = sorted((e.name for e in it), key=os.fsencode)
        for name in names:
            child, child_rel = os.path.join(path, name), f"{rel}{name}"
            if self.add(child, child_rel):
                self.walk(child, child_rel + "/")

    def info(self, name: str, st: os.stat_result, type_: bytes) -> tarfile.TarInfo:
        info = self.tar.tarinfo(name)
        info.type = type_
        info.mode = stat.S_IMODE(st.st_mode)
        info.uid, info.gid = st.st_uid, st.st_gid
        info.uname = info.gname = ""
        mtime = st.st_mtime_ns // 1_000_000_000
        info.mtime = mtime if self.mtime is None else min(mtime, self.mtime)
        return info

    def add(self, path: str, rel: str) -> bool:
        """Write the entry for `path`; True if it is a directory to descend into."""
        st = os.lstat(path)
        mode = st.st_mode
        xattrs = _read_xattrs(path)
        opaque = False
        if self.upper:
            for key in xattrs:
                if key in (_OVERLAY_XATTRS + "redirect", _OVERLAY_XATTRS + "metacopy"):
                    raise Unsupported(f"{path}: overlayfs {key} cannot go into a layer tar")
            opaque = xattrs.get(OPAQUE_XATTR) == b"y"
            xattrs = {k: v for k, v in xattrs.items() if not k.startswith(_OVERLAY_XATTRS)}
            if stat.S_ISCHR(mode) and st.st_rdev == 0:  # an overlayfs whiteout
                head, _, base = rel.rpartition("/")
                name = f"{head}/{WHITEOUT_PREFIX}{base}" if head else WHITEOUT_PREFIX + base
                info = self.info(name, st, _FLAG[REG])
                info.mode &= 0o777
                self.tar.addfile(info)
                return False
        if stat.S_ISSOCK(mode):
            return False  # as Docker: sockets do not go into archives
        if stat.S_ISDIR(mode):
            self.tar.addfile(self.with_xattrs(self.info(rel, st, _FLAG[DIR]), xattrs))
            if opaque:
                marker = self.info(f"{rel}/{OPAQUE_MARKER}", st, _FLAG[REG])
                marker.mode &= 0o777
                self.tar.addfile(marker)
            return True
        if st.st_nlink > 1:
            first = self.inodes.setdefault((st.st_dev, st.st_ino), rel)
            if first != rel:
                info = self.info(rel, st, _FLAG[LNK])
                info.linkname = first
                self.tar.addfile(info)
                return False
        if stat.S_ISREG(mode):
            info = self.with_xattrs(self.info(rel, st, _FLAG[REG]), xattrs)
            info.size = st.st_size
            with open(path, "rb", buffering=0, opener=_nofollow) as f:
                self.tar.addfile(info, f)
            return False
        if stat.S_ISLNK(mode):
            info = self.info(rel, st, _FLAG[SYM])
            info.linkname = os.readlink(path)
        elif stat.S_ISFIFO(mode):
            info = self.info(rel, st, _FLAG[FIFO])
        else:
            info = self.info(rel, st, _FLAG[CHR] if stat.S_ISCHR(mode) else _FLAG[BLK])
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        self.tar.addfile(self.with_xattrs(info, xattrs))
        return False

    @staticmethod
    def with_xattrs(info: tarfile.TarInfo, xattrs: dict[str, bytes]) -> tarfile.TarInfo:
        if xattrs:
            info.pax_headers = {
                f"SCHILY.xattr.{k}": v.decode("utf-8", "surrogateescape")
                for k, v in sorted(xattrs.items())
            }
        return info


def _nofollow(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC)


def _read_xattrs(path: str) -> dict[str, bytes]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.EPERM):
            return {}
        raise
    out: dict[str, bytes] = {}
    for key in names:
        try:
            out[key] = os.getxattr(path, key, follow_symlinks=False)
        except OSError as e:
            if e.errno not in (errno.ENODATA, errno.ENOTSUP, errno.EPERM):
                raise
    return out


def create_layer(
    root: Path, out: BinaryIO, *, from_overlay_upper: bool = False, mtime: int | None = None
) -> str:
    """Write the tree under `root` (not `root` itself) to `out` as an uncompressed
    layer tar and return its DiffID.

    The tar is deterministic: depth first with each directory's children sorted
    by name, names without "./" (directories end in "/"), PAX format, numeric
    owners without user or group names, mtimes in whole seconds (clamped to
    `mtime` when given, as SOURCE_DATE_EPOCH does), xattrs as ``SCHILY.xattr.*``,
    and a file with several links written once, the later paths as hard links to
    the first. Sockets are left out. With `from_overlay_upper`, overlayfs
    whiteouts (character devices 0:0) become ``.wh.NAME`` files and opaque
    directories get a ``.wh..wh..opq`` entry; overlayfs's own xattrs are left out.
    """
    writer = _HashingWriter(out)
    import tarfile

    with tarfile.TarFile(
        fileobj=writer, mode="w", format=tarfile.PAX_FORMAT, copybufsize=1 << 20
    ) as tar:
        _Archiver(tar, from_overlay_upper, mtime).walk(os.fspath(root), "")
    return writer.digest()
