"""Paths inside a container's root, resolved as if that root were ``/``: symlinks
(``/escape -> /``, ``x -> ../../../etc``) and ``..`` never leave it. The root is a
directory file descriptor (:class:`FsRoot`).

Every lookup under a root goes through ``openat2(2)`` with ``RESOLVE_IN_ROOT |
RESOLVE_NO_MAGICLINKS``, so the kernel confines it (``/proc/<pid>/root`` style magic
links are refused too). Where the kernel lacks openat2, :func:`walk_open` resolves one
component at a time from file descriptors it holds (``O_NOFOLLOW`` each step, ``..``
popped from its own stack, a symlink's text resolved again from the root), which is
as safe, only slower. Files are then created, read, chowned and chmodded through
descriptors or ``*at`` calls that do not follow symlinks: a container process that
swaps a path for a symlink while we copy gets an error, never a host file.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import posixpath
import stat
from dataclasses import dataclass

from dockyard.engine.container_fs_paths import clean, go_base, go_split

# -- openat2 -------------------------------------------------------------------------

SYS_OPENAT2 = 437  # the same number on every Linux architecture (asm-generic table)
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10
_MAX_LINKS = 40


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


# -- filesystem type ------------------------------------------------------------------


def fs_type(fd: int) -> int:
    """``statfs.f_type`` of the filesystem holding ``fd`` (0 if unknown)."""
    buf = ctypes.create_string_buffer(256)
    if _libc().fstatfs(fd, buf) != 0:
        return 0
    return ctypes.c_long.from_buffer(buf).value & 0xFFFFFFFF


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
class Located:
    parent: int  # O_PATH directory holding the object, or -1
    name: str  # its name there, "" when ``obj`` was resolved as a whole
    obj: int  # O_PATH descriptor of the object itself (a symlink is not followed)
    st: os.stat_result

    def close(self) -> None:
        for fd in (self.parent, self.obj):
            if fd >= 0:
                os.close(fd)


def locate(root: FsRoot, abs_path: str) -> Located:
    """Docker's ``ResolvePath`` + ``StatPath``: the directory part resolved (symlinks
    followed under the root), the last element not followed, unless the path ends in
    ``/`` or ``/.`` (then it is resolved too)."""
    dir_part, base = go_split(abs_path)
    if base in ("", "."):
        fd = root.open(abs_path, os.O_PATH)
        try:
            return Located(-1, "", fd, os.fstat(fd))
        except BaseException:
            os.close(fd)
            raise
    parent = root.open(dir_part or "/", os.O_PATH | os.O_DIRECTORY)
    try:
        fd = os.open(base, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    except BaseException:
        os.close(parent)
        raise
    return Located(parent, base, fd, os.fstat(fd))


def stat_path(root: FsRoot, abs_path: str) -> PathStat:
    loc = locate(root, abs_path)
    try:
        target = ""
        if stat.S_ISLNK(loc.st.st_mode):
            target = root.resolve(abs_path)
        name = go_base(abs_path)
        return PathStat(name, loc.st.st_size, loc.st.st_mode, int(loc.st.st_mtime), target)
    finally:
        loc.close()


# -- making directories under a root ---------------------------------------------------


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
