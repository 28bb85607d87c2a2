"""Persistent network namespaces: one file per container under ``$RUNROOT/netns``.

A namespace is made in-process (no ``ip netns``, which would write to /run/netns):
the calling thread calls ``unshare(CLONE_NEWNET)`` — namespaces belong to threads,
so the rest of the process stays where it is — opens a netlink socket there (it
stays in that namespace: the caller configures the inside through it), brings
``lo`` up, bind-mounts its ``/proc/thread-self/ns/net`` onto the file and goes back
to its own namespace with ``setns``. The bind mount keeps the namespace (and the
interfaces in it) alive with no process in it, across container restarts, until
:func:`remove` unmounts it; the kernel then deletes its veths (both ends).
"""

from __future__ import annotations

import errno
import os

from dockyard.errors import ExternalToolFailed
from dockyard.network.netlink import Netlink, link_up

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MNT_DETACH = 2


class _Libc:
    """unshare, setns, mount and umount2 of the C library, called through ``_ctypes``
    alone: the :mod:`ctypes` package costs ~3 ms to import (``ctypes._endian``,
    ``CDLL``'s machinery) on every bridged ``run``; these four calls need none of it.
    Arguments go as C ints, ``bytes`` as ``char *`` and None as NULL (libffi widens an
    int argument to the register: fine for mount's ``unsigned long`` flags, which are
    small and positive); each returns a C int, ``errno`` is kept for :func:`_errno`.
    Loaded on first use."""

    unshare: Callable[[int], int]
    setns: Callable[[int, int], int]
    mount: Callable[[bytes, bytes, bytes | None, int, None], int]
    umount2: Callable[[bytes, int], int]

    def __init__(self) -> None:
        import _ctypes

        c: Any = _ctypes  # untyped here: typeshed describes it as ctypes uses it

        class c_int(c._SimpleCData):  # type: ignore[misc]
            _type_ = "i"

        class Function(c.CFuncPtr):  # type: ignore[misc]
            _flags_ = c.FUNCFLAG_CDECL | c.FUNCFLAG_USE_ERRNO
            _restype_ = c_int

        class Library:
            _handle = c.dlopen(None, os.RTLD_NOW | os.RTLD_LOCAL)

        lib = Library()
        for name in ("unshare", "setns", "mount", "umount2"):
            setattr(self, name, Function((name, lib)))
        self.get_errno: Callable[[], int] = c.get_errno


_LIBC: _Libc | None = None


def _libc() -> _Libc:
    global _LIBC
    if _LIBC is None:
        _LIBC = _Libc()
    return _LIBC


LO_INDEX = 1  # loopback is the first link of every namespace


def _check(rc: int, what: str) -> None:
    if rc != 0:
        e = _libc().get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def _nsfs_dev() -> int:
    return os.stat("/proc/self/ns/net").st_dev


def is_netns(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` holds a network namespace (a bind mount of an nsfs file)."""
    try:
        return os.stat(path).st_dev == _nsfs_dev()
    except OSError:
        return False


class _Inside:
    """The calling thread inside another network namespace for a moment (``setns``
    back on exit; a thread that cannot go back must not run anything else)."""

    def __init__(self, target: str | os.PathLike[str] | None) -> None:
        self.target = target  # None: a new namespace

    def __enter__(self) -> None:
        self.home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            if self.target is None:
                _check(_libc().unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
            else:
                fd = os.open(self.target, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    _check(_libc().setns(fd, CLONE_NEWNET), f"setns {self.target}")
                finally:
                    os.close(fd)
        except BaseException:
            os.close(self.home)
            raise

    def __exit__(self, *_: object) -> None:
        try:
            if _libc().setns(self.home, CLONE_NEWNET) != 0:  # pragma: no cover
                e = _libc().get_errno()
                msg = f"dockyard: cannot leave a network namespace: {os.strerror(e)}\n"
                os.write(2, msg.encode())
                os._exit(125)
        finally:
            os.close(self.home)


def create(path: str | os.PathLike[str]) -> Netlink:
    """A new network namespace with ``lo`` up, held at ``path`` (made if missing);
    returns a netlink socket inside it (the caller closes it: it holds the
    namespace too)."""
    os.makedirs(os.path.dirname(path), exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o444)
    os.close(fd)
    nl: Netlink | None = None
    try:
        with _Inside(None):
            nl = Netlink()
            nl.request([link_up(LO_INDEX)], ["lo up"])
            src = b"/proc/thread-self/ns/net"
            _check(_libc().mount(src, os.fsencode(path), None, MS_BIND, None), f"mount {path}")
    except BaseException as e:
        if nl is not None:
            nl.close()
        try:
            os.unlink(path)
        except OSError:
            pass
        if isinstance(e, Exception):
            raise ExternalToolFailed(f"cannot make a network namespace at {path}: {e}")
        raise
    return nl


def open_netlink(path: str | os.PathLike[str]) -> Netlink:
    """A netlink socket inside the namespace held at ``path``."""
    with _Inside(path):
        return Netlink()


def remove(path: str | os.PathLike[str]) -> None:
    """Unmount and delete the namespace file (its interfaces go with it). Idempotent."""
    libc = _libc()
    for _ in range(8):  # a file mounted twice over (a race lost long ago) unmounts twice
        if libc.umount2(os.fsencode(path), MNT_DETACH) != 0:
            e = libc.get_errno()
            if e in (errno.EINVAL, errno.ENOENT):
                break
            raise OSError(e, f"umount {path}: {os.strerror(e)}")
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
