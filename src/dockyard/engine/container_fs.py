"""``docker cp`` and ``docker diff``: a container's files, read and written from the host.

Roots. Every path inside a container is resolved as if the container's root were
``/``: symlinks (``/escape -> /``, ``x -> ../../../etc``) and ``..`` never leave it.
The root is a directory file descriptor (:class:`FsRoot`):

- a running (or paused) container: ``/proc/<pid>/root`` of its init, checked against
  the start time the shim recorded, so a reused pid is never taken for it. What cp
  sees is the container's own view: its root and its volumes;
- any other: its overlay mounted on the host for the duration (with the container's
  bind mounts and volumes bound on top), unmounted in ``finally``.

Every lookup under a root goes through ``openat2(2)`` with ``RESOLVE_IN_ROOT |
RESOLVE_NO_MAGICLINKS``, so the kernel confines it (``/proc/<pid>/root`` style magic
links are refused too). Where the kernel lacks openat2, :func:`walk_open` resolves one
component at a time from file descriptors it holds (``O_NOFOLLOW`` each step, ``..``
popped from its own stack, a symlink's text resolved again from the root), which is
as safe, only slower. Files are then created, read, chowned and chmodded through
descriptors or ``*at`` calls that do not follow symlinks: a container process that
swaps a path for a symlink while we copy gets an error, never a host file.

Copy semantics are Docker's (moby ``pkg/archive/copy.go``, the docker CLI's ``cp``):
the source is archived as entries named after its last path element; the
destination decides where they are extracted and under which name
(:func:`prepare_archive_copy`): a directory copied into an existing directory is
nested in it, ``SRC/.`` copies the contents, a trailing ``/`` on the destination
asserts a directory. Entries flow as ``(TarInfo, reader)`` pairs from a walker to an
extractor, or to and from a tar stream (``-``), with nothing held in memory.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import posixpath
import stat
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, BinaryIO, Protocol, cast

from dockyard.errors import Conflict, DockyardError, InvalidArgument, InvalidContent, NotFound

if TYPE_CHECKING:
    from dockyard.engine.containers import ContainerService
    from dockyard.oci.runtime_spec import Mount
    from dockyard.storage.overlay import Change


class Reader(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


Entry = tuple[tarfile.TarInfo, Reader | None]
Entries = Iterator[Entry]

# -- openat2 -------------------------------------------------------------------------

SYS_OPENAT2 = 437  # the same number on every Linux architecture (asm-generic table)
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10
_MAX_LINKS = 40
_BUF = 1 << 20


class _OpenHow(ctypes.Structure):
    _fields_ = (
        ("flags", ctypes.c_uint64),
        ("mode", ctypes.c_uint64),
        ("resolve", ctypes.c_uint64),
    )


class _Libc:
    lib: ctypes.CDLL | None = None
    openat2_missing = False


def _libc() -> ctypes.CDLL:
    if _Libc.lib is None:
        lib = ctypes.CDLL(None, use_errno=True)
        lib.syscall.restype = ctypes.c_long
        lib.fstatfs.argtypes = (ctypes.c_int, ctypes.c_void_p)
        _Libc.lib = lib
    return _Libc.lib


def openat2(dir_fd: int, path: str, flags: int, resolve: int) -> int:
    """The raw ``openat2(2)``; raises OSError (ENOSYS where the kernel lacks it)."""
    how = _OpenHow(flags | os.O_CLOEXEC, 0, resolve)
    for _ in range(16):  # EAGAIN: a rename or mount raced with RESOLVE_IN_ROOT
        fd = _libc().syscall(
            ctypes.c_long(SYS_OPENAT2),
            ctypes.c_int(dir_fd),
            ctypes.c_char_p(os.fsencode(path)),
            ctypes.byref(how),
            ctypes.c_size_t(ctypes.sizeof(how)),
        )
        if fd >= 0:
            return int(fd)
        err = ctypes.get_errno()
        if err != errno.EAGAIN:
            raise OSError(err, os.strerror(err), path)
    raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN), path)


def walk_open(
    root_fd: int, path: str, flags: int, *, follow: bool = True, missing_ok: bool = False
) -> tuple[int, str]:
    """Open ``path`` under ``root_fd`` as if it were ``/``, one component at a time,
    without openat2. Returns the descriptor and the resolved path (``/a/b``).
    ``follow``: follow a symlink in the last component (else open the link itself,
    which only ``O_PATH`` can). ``missing_ok``: a missing component ends the walk,
    the rest is taken as written, and the descriptor is -1."""
    pending = [p for p in reversed(path.split("/")) if p and p != "."]
    fds = [os.dup(root_fd)]
    names: list[str] = []
    links = 0
    try:
        while pending:
            part = pending.pop()
            if part == "..":
                if len(fds) > 1:
                    os.close(fds.pop())
                    names.pop()
                continue
            try:
                fd = os.open(part, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fds[-1])
            except FileNotFoundError:
                if not missing_ok:
                    raise
                names.append(part)
                for rest in reversed(pending):
                    if rest == "..":
                        if names:
                            names.pop()
                    else:
                        names.append(rest)
                return -1, "/" + "/".join(names)
            st = os.fstat(fd)
            if stat.S_ISLNK(st.st_mode) and (pending or follow):
                target = os.readlink("", dir_fd=fd)  # readlinkat(fd, ""): this very link
                os.close(fd)
                links += 1
                if links > _MAX_LINKS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
                if target.startswith("/"):
                    while len(fds) > 1:
                        os.close(fds.pop())
                    names.clear()
                pending.extend(p for p in reversed(target.split("/")) if p and p != ".")
                continue
            if pending and not stat.S_ISDIR(st.st_mode):
                os.close(fd)
                raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
            fds.append(fd)
            names.append(part)
        resolved = "/" + "/".join(names)
        if flags & os.O_PATH:
            out = os.dup(fds[-1])
            if flags & os.O_DIRECTORY and not stat.S_ISDIR(os.fstat(out).st_mode):
                os.close(out)
                raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
            return out, resolved
        if not names:
            return os.open(".", flags | os.O_CLOEXEC, dir_fd=fds[0]), resolved
        # the last component again, from its parent, with the caller's flags
        last = os.open(names[-1], flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fds[-2])
        return last, resolved
    finally:
        for fd in fds:
            os.close(fd)


class FsRoot:
    """A directory that paths are resolved under. ``confined``: as if it were ``/``
    (a container's root, an extraction directory); else plainly (the host's ``/``)."""

    def __init__(self, fd: int, *, confined: bool = True, force_walk: bool = False) -> None:
        self.fd = fd
        self.confined = confined
        self.force_walk = force_walk

    @classmethod
    def at(cls, path: str | os.PathLike[str], *, confined: bool = True) -> FsRoot:
        return cls(os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC), confined=confined)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> FsRoot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self, path: str, flags: int, *, follow: bool = True) -> int:
        """A descriptor for ``path`` (absolute or not: both are under the root)."""
        rel = path.lstrip("/") or "."
        if not follow:
            flags |= os.O_NOFOLLOW
        if not self.force_walk and not _Libc.openat2_missing:
            resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS if self.confined else 0
            try:
                return openat2(self.fd, rel, flags, resolve)
            except OSError as e:
                if e.errno not in (errno.ENOSYS, errno.EPERM):
                    raise
                _Libc.openat2_missing = True
        if not self.confined:
            return os.open(rel, flags | os.O_CLOEXEC, dir_fd=self.fd)
        return walk_open(self.fd, rel, flags & ~os.O_NOFOLLOW, follow=follow)[0]

    def resolve(self, path: str, *, strict: bool = False) -> str:
        """``path`` with every symlink resolved under the root (``/a/b``); what does not
        exist is kept as written, unless ``strict`` (then FileNotFoundError)."""
        fd, resolved = walk_open(self.fd, path, os.O_PATH, missing_ok=not strict)
        if fd >= 0:
            os.close(fd)
        return resolved


# -- Go's path functions, as Docker's copy code uses them -----------------------------


def clean(path: str) -> str:
    """Go's ``filepath.Clean``."""
    if not path:
        return "."
    out = posixpath.normpath(path)
    return "/" + out.lstrip("/") if out.startswith("//") else out


def go_base(path: str) -> str:
    """Go's ``filepath.Base``."""
    if not path:
        return "."
    path = path.rstrip("/")
    return path.rsplit("/", 1)[-1] if path else "/"


def go_split(path: str) -> tuple[str, str]:
    """Go's ``filepath.Split``: the directory (with its trailing slash) and the rest."""
    i = path.rfind("/")
    return path[: i + 1], path[i + 1 :]


def go_dir(path: str) -> str:
    return clean(go_split(path)[0])


def specifies_current_dir(path: str) -> bool:
    return go_base(path) == "."


def has_trailing_sep(path: str) -> bool:
    return path.endswith("/")


def asserts_directory(path: str) -> bool:
    return has_trailing_sep(path) or specifies_current_dir(path)


def preserve_trailing_dot_or_separator(cleaned: str, original: str) -> str:
    if not specifies_current_dir(cleaned) and specifies_current_dir(original):
        if not has_trailing_sep(cleaned):
            cleaned += "/"
        cleaned += "."
    if not has_trailing_sep(cleaned) and has_trailing_sep(original):
        cleaned += "/"
    return cleaned


def split_path_dir_entry(path: str) -> tuple[str, str]:
    """Docker's ``SplitPathDirEntry``: ``/a/b`` -> (``/a``, ``b``); ``/a/b/.`` ->
    (``/a/b``, ``.``)."""
    cleaned = clean(path)
    if specifies_current_dir(path):
        cleaned += "/."
    return go_dir(cleaned), go_base(cleaned)


def container_abs(path: str) -> str:
    """A path given for a container as the absolute path Docker makes of it."""
    return preserve_trailing_dot_or_separator(clean("/" + path), path)


def local_abs(path: str, cwd: str | None = None) -> str:
    """The docker CLI's ``resolveLocalPath``: absolute, trailing ``/`` or ``/.`` kept."""
    full = path if path.startswith("/") else posixpath.join(cwd or os.getcwd(), path)
    return preserve_trailing_dot_or_separator(clean(full), path)


def get_rebase_name(path: str, resolved: str) -> tuple[str, str]:
    """Docker's ``GetRebaseName``: the resolved path (trailing ``/`` or ``/.`` carried
    over) and the name entries must take when the last element changed ("")."""
    if specifies_current_dir(path) and not specifies_current_dir(resolved):
        resolved += "/."
    if has_trailing_sep(path) and not has_trailing_sep(resolved):
        resolved += "/"
    rebase = go_base(path) if go_base(path) != go_base(resolved) else ""
    return resolved, rebase


def split_cp_arg(arg: str) -> tuple[str, str]:
    """The docker CLI's ``splitCpArg``: ``C:/path`` -> (``C``, ``/path``); a local path
    (absolute, or starting with ``.``, or without ``:``) -> (``""``, path)."""
    if arg.startswith("/"):
        return "", arg
    container, colon, path = arg.partition(":")
    if not colon or container.startswith("."):
        return "", arg
    return container, path


# -- copy planning (pure) ------------------------------------------------------------


class CopyError(InvalidArgument):
    """An error the docker CLI itself reports (not the daemon): printed as it is."""


@dataclass(frozen=True)
class CopyInfo:
    """One side of a copy (Docker's ``archive.CopyInfo``)."""

    path: str
    exists: bool = False
    is_dir: bool = False
    rebase_name: str = ""


@dataclass(frozen=True)
class CopyPlan:
    """Where to extract the source's entries (``dst_dir``), and the renaming of their
    top element ``rebase[0]`` -> ``rebase[1]`` (None: as they are)."""

    dst_dir: str
    rebase: tuple[str, str] | None


def prepare_archive_copy(src: CopyInfo, dst: CopyInfo) -> CopyPlan:
    """Docker's ``PrepareArchiveCopy``: how a source lands at a destination."""
    dst_dir, dst_base = split_path_dir_entry(dst.path)
    src_base = src.rebase_name or split_path_dir_entry(src.path)[1]
    if dst.exists and dst.is_dir:
        return CopyPlan(dst.path, None)  # extracted into it: a directory nests
    if dst.exists and src.is_dir:
        raise CopyError("cannot copy directory")
    if dst.exists or src.is_dir:
        return CopyPlan(dst_dir, (src_base, dst_base))
    if asserts_directory(dst.path):
        raise CopyError("no such directory")
    return CopyPlan(dst_dir, (src_base, dst_base))


def rebase_name(name: str, old: str, new: str) -> str | None:
    """``name`` with its top element ``old`` renamed ``new``; None if not under ``old``."""
    name = name.rstrip("/")
    if old in (".", "/", ""):
        rest = name[2:] if name.startswith("./") else "" if name in (".", "") else name
        return posixpath.join(new, rest) if rest else new
    if name == old:
        return new
    if name.startswith(old + "/"):
        return new + name[len(old) :]
    return None


def rebase(entries: Iterable[Entry], old: str, new: str) -> Entries:
    """Docker's ``RebaseArchiveEntries``; hard link targets follow their file."""
    for info, data in entries:
        name = rebase_name(info.name, old, new)
        if name is None:
            yield info, data  # not under the renamed element: as it is
            continue
        info.name = name
        if info.islnk():
            info.linkname = rebase_name(info.linkname, old, new) or info.linkname
        yield info, data


def tar_size(info: tarfile.TarInfo) -> int:
    """Bytes an entry takes in a tar (header, data, padding), for the progress line."""
    size = info.size if info.isreg() else 0
    extra = 1024 if len(info.name) > 100 or len(info.linkname) > 100 else 0
    return 512 + extra + -(-size // 512) * 512


# -- stat ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PathStat:
    """Docker's ``ContainerPathStat``: ``link_target`` is where a symlink leads (fully
    resolved in the container), else empty."""

    name: str
    size: int
    mode: int  # st_mode
    mtime: int  # unix seconds
    link_target: str = ""

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)

    @property
    def is_symlink(self) -> bool:
        return stat.S_ISLNK(self.mode)

    @property
    def is_regular(self) -> bool:
        return stat.S_ISREG(self.mode)


@dataclass
class _Located:
    parent: int  # O_PATH directory holding the object, or -1
    name: str  # its name there, "" when ``obj`` was resolved as a whole
    obj: int  # O_PATH descriptor of the object itself (a symlink is not followed)
    st: os.stat_result

    def close(self) -> None:
        for fd in (self.parent, self.obj):
            if fd >= 0:
                os.close(fd)


def _locate(root: FsRoot, abs_path: str) -> _Located:
    """Docker's ``ResolvePath`` + ``StatPath``: the directory part resolved (symlinks
    followed under the root), the last element not followed, unless the path ends in
    ``/`` or ``/.`` (then it is resolved too)."""
    dir_part, base = go_split(abs_path)
    if base in ("", "."):
        fd = root.open(abs_path, os.O_PATH)
        try:
            return _Located(-1, "", fd, os.fstat(fd))
        except BaseException:
            os.close(fd)
            raise
    parent = root.open(dir_part or "/", os.O_PATH | os.O_DIRECTORY)
    try:
        fd = os.open(base, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    except BaseException:
        os.close(parent)
        raise
    return _Located(parent, base, fd, os.fstat(fd))


def stat_path(root: FsRoot, abs_path: str) -> PathStat:
    loc = _locate(root, abs_path)
    try:
        target = ""
        if stat.S_ISLNK(loc.st.st_mode):
            target = root.resolve(abs_path)
        name = go_base(abs_path)
        return PathStat(name, loc.st.st_size, loc.st.st_mode, int(loc.st.st_mtime), target)
    finally:
        loc.close()


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


def fs_type(fd: int) -> int:
    """``statfs.f_type`` of the filesystem holding ``fd`` (0 if unknown)."""
    buf = ctypes.create_string_buffer(256)
    if _libc().fstatfs(fd, buf) != 0:
        return 0
    return ctypes.c_long.from_buffer(buf).value & 0xFFFFFFFF


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
    """The object at ``abs_path`` (resolved as :func:`_locate` does) as entries whose
    top element is ``arcname``. Raises before returning if it does not exist."""
    pstat = stat_path(root, abs_path)

    def gen() -> Entries:
        loc = _locate(root, abs_path)  # again: nothing stays open until the walk starts
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


def open_dir_making(root: FsRoot, path: str, owner: tuple[int, int] = (0, 0)) -> int:
    """The directory ``path`` under ``root`` opened ``O_PATH``; missing ones on the way
    are made (mode 0755, owned by ``owner``), each under its opened parent."""
    try:
        return root.open(path, os.O_PATH | os.O_DIRECTORY)
    except FileNotFoundError:
        if clean("/" + path) == "/":
            raise
    up, leaf = posixpath.split(clean("/" + path))
    parent = open_dir_making(root, up, owner)
    try:
        with contextlib.suppress(FileExistsError):
            os.mkdir(leaf, 0o755, dir_fd=parent)
            os.chown(leaf, *owner, dir_fd=parent, follow_symlinks=False)
        return os.open(leaf, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                       dir_fd=parent)  # fmt: skip
    finally:
        os.close(parent)


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


# -- a container's root -------------------------------------------------------------------


def _file_not_found(path: str, ref: str) -> NotFound:
    return NotFound(f"Could not find the file {path} in container {ref}")


def _is_bind(m: Mount) -> bool:
    return m.type == "bind" or "bind" in m.options or "rbind" in m.options


class ContainerFS:
    """One container's files, through a root held open (see the module docstring).
    ``mounts``: the container's spec mounts (for the read-only checks)."""

    def __init__(self, root: FsRoot, cid: str, ref: str, *, read_only_rootfs: bool,
                 mounts: tuple[Mount, ...]) -> None:  # fmt: skip
        self.root, self.id, self.ref = root, cid, ref
        self.read_only_rootfs = read_only_rootfs
        self.mounts = mounts

    def stat(self, path: str) -> PathStat:
        """Docker's ``HEAD /containers/C/archive``; NotFound as Docker words it."""
        with _translate(path, self.ref):
            return stat_path(self.root, container_abs(path))

    def archive(self, path: str) -> tuple[PathStat, Entries]:
        """Docker's ``GET /containers/C/archive``: the entries are named after the last
        element of ``path`` as given (``.`` for ``/`` and ``dir/.``)."""
        abs_path = container_abs(path)
        name = go_base(abs_path)
        with _translate(path, self.ref):
            pstat, entries = archive(self.root, abs_path, "." if name == "/" else name)
        return pstat, _translated(entries, path, self.ref)

    def extract(self, path: str, entries: Iterable[Entry], *, copy_uid_gid: bool) -> int:
        """Docker's ``PUT /containers/C/archive``: extract into the directory ``path``
        (a symlink there is followed, under the root). New files belong to root unless
        ``copy_uid_gid``. Returns the bytes copied (as a tar counts them)."""
        abs_path = container_abs(path)
        with _translate(path, self.ref):
            fd = self.root.open(abs_path, os.O_PATH)
            try:
                is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
            finally:
                os.close(fd)
            resolved = self.root.resolve(abs_path)
        if not is_dir:
            raise InvalidArgument("extraction point is not a directory")
        self.check_writable(resolved)
        owner = None if copy_uid_gid else (0, 0)
        try:
            return Extractor(self.root, resolved, owner).run(entries)
        except OSError as e:
            if e.errno == errno.EROFS:
                raise Conflict(f"{path}: read-only file system") from None
            where = posixpath.join(resolved, e.filename) if isinstance(e.filename, str) else path
            raise DockyardError(f"copying into {where}: {e.strerror}") from None

    def check_writable(self, path: str) -> None:
        """Docker's checks before extracting at ``path`` (resolved): not in a read-only
        volume, nor on a read-only root outside any volume."""
        best: Mount | None = None
        for m in self.mounts:
            d = m.destination.rstrip("/") or "/"
            inside = path == d or path.startswith(d + "/") or d == "/"
            if inside and (best is None or len(d) >= len(best.destination.rstrip("/") or "/")):
                best = m
        if best is not None:
            if "ro" in best.options:
                raise Conflict("mounted volume is marked read-only")
        elif self.read_only_rootfs:
            raise Conflict("container rootfs is marked read-only")


def _translated(entries: Entries, path: str, ref: str) -> Entries:
    with _translate(path, ref):
        yield from entries


@contextlib.contextmanager
def _translate(path: str, ref: str) -> Iterator[None]:
    """OSErrors of a lookup in a container as Docker words them."""
    try:
        yield
    except FileNotFoundError:
        raise _file_not_found(path, ref) from None
    except NotADirectoryError:
        raise InvalidArgument(f"{path}: not a directory") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise InvalidArgument(f"{path}: too many levels of symbolic links") from None
        if e.errno == errno.EXDEV:
            raise InvalidArgument(f"{path}: it leads out of the container") from None
        raise DockyardError(f"{path}: {e.strerror}") from None


@contextlib.contextmanager
def open_container_fs(svc: ContainerService, ref: str) -> Iterator[ContainerFS]:
    """The files of container ``ref`` for the duration of the block: through its
    init's ``/proc/PID/root`` while it runs, else its overlay mounted on the host."""
    from dockyard.runtime import state as st
    from dockyard.runtime.bundle import read_config

    c = svc.get(ref)
    req = c.create_request()
    try:
        mounts = tuple(read_config(svc.container_dir(c.id)).mounts)
    except DockyardError:
        mounts = ()
    fd = -1
    for _ in range(3):
        raw = svc.client(c.id).raw_state()
        if not (raw.pid and st.pid_alive(raw.pid, raw.pid_start)):
            break
        try:
            fd = os.open(f"/proc/{raw.pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except (FileNotFoundError, ProcessLookupError):
            continue  # it exited meanwhile: look again
        if st.pid_alive(raw.pid, raw.pid_start):
            break  # the descriptor is the root of the process recorded, not of a reused pid
        os.close(fd)
        fd = -1
    if fd >= 0:
        with FsRoot(fd) as root:
            yield ContainerFS(root, c.id, ref, read_only_rootfs=req.read_only, mounts=mounts)
        return
    if svc.client(c.id).state().status == "restarting":
        raise Conflict(f"Container {c.id} is restarting, wait until the container is running")
    from dockyard.storage import hostmount

    with svc.snapshots.mount_on_host(c.id) as merged:
        try:
            _bind_volumes(merged, mounts)
            with FsRoot.at(merged) as root:
                yield ContainerFS(root, c.id, ref, read_only_rootfs=req.read_only, mounts=mounts)
        finally:
            hostmount.unmount_under(merged)


def _bind_volumes(merged: Path, mounts: Iterable[Mount]) -> None:
    """Bind the container's bind mounts and volumes (from its spec) into its merged
    tree, as Docker does for cp on a stopped container. A target is resolved under
    the tree (made if missing, as the runtime would at start) and mounted through
    its descriptor (``/proc/self/fd/N``), so no image symlink can move a mount onto
    a host path."""
    from dockyard.oci.runtime_spec import Mount as OciMount
    from dockyard.storage import hostmount

    with FsRoot.at(merged) as root:
        for m in mounts:
            if not _is_bind(m) or not os.path.exists(m.source):
                continue
            fd = _mount_target(root, m.destination, os.path.isdir(m.source))
            if fd < 0:
                continue
            try:
                bind = OciMount(m.destination, "bind", m.source, ("bind",))
                hostmount.mount(bind, Path(f"/proc/self/fd/{fd}"))
            finally:
                os.close(fd)


def _mount_target(root: FsRoot, dest: str, is_dir: bool) -> int:
    """An O_PATH descriptor of the mount point ``dest`` (a directory or a file, as the
    source is), made if missing; -1 if something else is in the way."""
    up, leaf = posixpath.split(clean("/" + dest))
    if not leaf:
        return -1
    try:
        parent = open_dir_making(root, up)
    except OSError:
        return -1
    try:
        with contextlib.suppress(FileExistsError):
            if is_dir:
                os.mkdir(leaf, 0o755, dir_fd=parent)
            else:
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
                os.close(os.open(leaf, flags, 0o644, dir_fd=parent))
        fd = os.open(leaf, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    except OSError:
        return -1
    finally:
        os.close(parent)
    if stat.S_ISDIR(os.fstat(fd).st_mode) != is_dir:
        os.close(fd)
        return -1
    return fd


# -- the copies, as the docker CLI makes them ------------------------------------------------


def host_root() -> FsRoot:
    return FsRoot(os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC), confined=False)


def copy_info_source(path: str, *, follow: bool) -> CopyInfo:
    """Docker's ``CopyInfoSourcePath`` for a local (absolute) path."""
    with host_root() as root:
        rebase_to = ""
        try:
            if follow:
                resolved, rebase_to = get_rebase_name(path, root.resolve(path))
            else:
                dir_part, base = go_split(path)
                resolved = root.resolve(dir_part).rstrip("/") + "/" + base
                if has_trailing_sep(path) and go_base(path) != go_base(resolved):
                    rebase_to = go_base(path)
            loc = _locate(root, resolved)
        except FileNotFoundError:
            raise CopyError(f"lstat {clean(path)}: no such file or directory") from None
        except NotADirectoryError:
            raise CopyError(f"lstat {clean(path)}: not a directory") from None
        is_dir = stat.S_ISDIR(loc.st.st_mode)
        loc.close()
    return CopyInfo(resolved, exists=True, is_dir=is_dir, rebase_name=rebase_to)


def copy_info_destination(path: str) -> CopyInfo:
    """Docker's ``CopyInfoDestinationPath`` for a local path: a symlink there is
    followed (the copy goes where it points); the parent directory must exist."""
    original = path
    for _ in range(11):
        try:
            st_ = os.lstat(path)
        except FileNotFoundError:
            parent = split_path_dir_entry(path)[0]
            try:
                pst = os.stat(parent)
            except FileNotFoundError:
                raise CopyError(f"stat {parent}: no such file or directory") from None
            if not stat.S_ISDIR(pst.st_mode):
                raise CopyError("not a directory")
            return CopyInfo(path)
        if not stat.S_ISLNK(st_.st_mode):
            return CopyInfo(path, exists=True, is_dir=stat.S_ISDIR(st_.st_mode))
        target = os.readlink(path)
        if not target.startswith("/"):
            target = posixpath.join(split_path_dir_entry(path)[0], target)
        path = target
    raise CopyError(f"too many symlinks in {original}")


def validate_output_path(path: str) -> None:
    """The docker CLI's ``ValidateOutputPath``."""
    parent = posixpath.dirname(clean(path))
    if parent and parent != "." and not os.path.exists(parent):
        raise CopyError(f'invalid output path: directory "{parent}" does not exist')
    try:
        st_ = os.stat(path)
    except FileNotFoundError:
        return
    if not (stat.S_ISDIR(st_.st_mode) or stat.S_ISREG(st_.st_mode)):
        raise CopyError(f'invalid output path: "{path}" must be a directory or a regular file')


def _local_archive(src: CopyInfo) -> Entries:
    """Docker's ``TarResource``: the local source as entries named after its last
    element (or its rebase name)."""
    dir_part, base = split_path_dir_entry(src.path)
    arcname = src.rebase_name or ("." if base == "/" else base)
    root = host_root()
    try:
        path = src.path if base in (".", "/") else posixpath.join(dir_part, base)
        _, entries = archive(root, path, arcname)
        yield from entries
    finally:
        root.close()


def copy_to_container(
    svc: ContainerService,
    ref: str,
    src: str,
    dst: str,
    *,
    follow: bool = False,
    copy_uid_gid: bool = False,
) -> int:
    """``docker cp SRC CONTAINER:DST`` (``src`` absolute on the host). Returns the
    bytes copied."""
    with open_container_fs(svc, ref) as cfs:
        dst_info = _container_destination(cfs, ref, dst)
        src_info = copy_info_source(src, follow=follow)
        plan = prepare_archive_copy(src_info, dst_info)
        entries: Iterable[Entry] = _local_archive(src_info)
        if plan.rebase is not None:
            entries = rebase(entries, *plan.rebase)
        return cfs.extract(plan.dst_dir, entries, copy_uid_gid=copy_uid_gid)


def _container_destination(cfs: ContainerFS, ref: str, dst: str) -> CopyInfo:
    info = CopyInfo(dst)
    try:
        st_: PathStat | None = cfs.stat(dst)
    except NotFound:
        st_ = None
    if st_ is not None and st_.is_symlink:
        target = st_.link_target
        if not target.startswith("/"):
            target = posixpath.join(split_path_dir_entry(dst)[0], target)
        info = CopyInfo(target)
        try:
            st_ = cfs.stat(target)
        except NotFound:
            st_ = None
    if st_ is not None and not (st_.is_dir or st_.is_regular):
        raise CopyError(f'destination "{ref}:{dst}" must be a directory or a regular file')
    if st_ is not None:
        info = CopyInfo(info.path, exists=True, is_dir=st_.is_dir)
    return info


def stream_to_container(
    svc: ContainerService, ref: str, dst: str, src: BinaryIO, *, copy_uid_gid: bool = False
) -> int:
    """``docker cp - CONTAINER:DST``: a tar stream extracted into the directory DST."""
    with open_container_fs(svc, ref) as cfs:
        info = _container_destination(cfs, ref, dst)
        if not info.is_dir:
            raise CopyError(f'destination "{ref}:{dst}" must be a directory')
        return cfs.extract(info.path, read_tar(src), copy_uid_gid=copy_uid_gid)


def _follow_source(cfs: ContainerFS, src: str) -> tuple[str, str]:
    """``cp -L``: a symlink source is replaced by what it leads to, and renamed back."""
    try:
        st_ = cfs.stat(src)
    except DockyardError:
        return src, ""
    if not st_.is_symlink:
        return src, ""
    target = st_.link_target
    if not target.startswith("/"):
        target = posixpath.join(split_path_dir_entry(src)[0], target)
    return get_rebase_name(src, target)


def copy_from_container(
    svc: ContainerService,
    ref: str,
    src: str,
    dst: str,
    *,
    follow: bool = False,
    copy_uid_gid: bool = False,
) -> int:
    """``docker cp CONTAINER:SRC DST`` (``dst`` absolute on the host). Files belong to
    the caller unless ``copy_uid_gid``. Returns the bytes copied."""
    validate_output_path(dst)
    with open_container_fs(svc, ref) as cfs:
        rebase_to = ""
        if follow:
            src, rebase_to = _follow_source(cfs, src)
        pstat, entries = cfs.archive(src)
        src_info = CopyInfo(src, exists=True, is_dir=pstat.is_dir, rebase_name=rebase_to)
        if rebase_to:
            entries = rebase(entries, split_path_dir_entry(src)[1], rebase_to)
        dst_info = copy_info_destination(dst)
        plan = prepare_archive_copy(src_info, dst_info)
        if plan.rebase is not None:
            entries = rebase(entries, *plan.rebase)
        owner = None if copy_uid_gid else (os.getuid(), os.getgid())
        with _translate_local(plan.dst_dir), FsRoot.at(plan.dst_dir) as dest:
            return Extractor(dest, "/", owner).run(entries)


@contextlib.contextmanager
def _translate_local(path: str) -> Iterator[None]:
    try:
        yield
    except FileNotFoundError as e:
        raise CopyError(f"{e.filename or path}: no such file or directory") from None
    except OSError as e:
        raise CopyError(f"{e.filename or path}: {e.strerror}") from None


def stream_from_container(
    svc: ContainerService, ref: str, src: str, out: BinaryIO, *, follow: bool = False
) -> None:
    """``docker cp CONTAINER:SRC -``: a tar stream on ``out``."""
    with open_container_fs(svc, ref) as cfs:
        if follow:
            src, _ = _follow_source(cfs, src)
        _, entries = cfs.archive(src)
        write_tar(entries, out)


def changes(svc: ContainerService, ref: str) -> list[Change]:
    """``docker diff``: what the container added (A), changed (C) and deleted (D)."""
    c = svc.get(ref)
    return list(svc.snapshots.diff(c.id))


__all__ = [
    "ContainerFS",
    "CopyError",
    "CopyInfo",
    "CopyPlan",
    "Extractor",
    "FsRoot",
    "PathStat",
    "changes",
    "copy_from_container",
    "copy_info_destination",
    "copy_info_source",
    "copy_to_container",
    "open_container_fs",
    "prepare_archive_copy",
    "read_tar",
    "rebase",
    "split_cp_arg",
    "stream_from_container",
    "stream_to_container",
    "walk_open",
    "write_tar",
]
