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

import ctypes
import errno
import os
from pathlib import Path

from dockyard.errors import ExternalToolFailed
from dockyard.network.netlink import Netlink, link_up

CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MNT_DETACH = 2

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = (
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_void_p,
)
_libc.umount2.argtypes = (ctypes.c_char_p, ctypes.c_int)
_libc.unshare.argtypes = (ctypes.c_int,)
_libc.setns.argtypes = (ctypes.c_int, ctypes.c_int)
LO_INDEX = 1  # loopback is the first link of every namespace


def _check(rc: int, what: str) -> None:
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def _nsfs_dev() -> int:
    return os.stat("/proc/self/ns/net").st_dev


def is_netns(path: Path) -> bool:
    """Whether ``path`` holds a network namespace (a bind mount of an nsfs file)."""
    try:
        return os.stat(path).st_dev == _nsfs_dev()
    except OSError:
        return False


class _Inside:
    """The calling thread inside another network namespace for a moment (``setns``
    back on exit; a thread that cannot go back must not run anything else)."""

    def __init__(self, target: Path | None) -> None:
        self.target = target  # None: a new namespace

    def __enter__(self) -> None:
        self.home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            if self.target is None:
                _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
            else:
                fd = os.open(self.target, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    _check(_libc.setns(fd, CLONE_NEWNET), f"setns {self.target}")
                finally:
                    os.close(fd)
        except BaseException:
            os.close(self.home)
            raise

    def __exit__(self, *_: object) -> None:
        try:
            if _libc.setns(self.home, CLONE_NEWNET) != 0:  # pragma: no cover
                e = ctypes.get_errno()
                msg = f"dockyard: cannot leave a network namespace: {os.strerror(e)}\n"
                os.write(2, msg.encode())
                os._exit(125)
        finally:
            os.close(self.home)


def create(path: Path) -> Netlink:
    """A new network namespace with ``lo`` up, held at ``path`` (made if missing);
    returns a netlink socket inside it (the caller closes it: it holds the
    namespace too)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o444)
    os.close(fd)
    nl: Netlink | None = None
    try:
        with _Inside(None):
            nl = Netlink()
            nl.request([link_up(LO_INDEX)], ["lo up"])
            src = b"/proc/thread-self/ns/net"
            _check(_libc.mount(src, os.fsencode(path), None, MS_BIND, None), f"mount {path}")
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


def open_netlink(path: Path) -> Netlink:
    """A netlink socket inside the namespace held at ``path``."""
    with _Inside(path):
        return Netlink()


def remove(path: Path) -> None:
    """Unmount and delete the namespace file (its interfaces go with it). Idempotent."""
    for _ in range(8):  # a file mounted twice over (a race lost long ago) unmounts twice
        if _libc.umount2(os.fsencode(path), MNT_DETACH) != 0:
            e = ctypes.get_errno()
            if e in (errno.EINVAL, errno.ENOENT):
                break
            raise OSError(e, f"umount {path}: {os.strerror(e)}")
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
