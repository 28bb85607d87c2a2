"""Persistent network namespaces: one file per container under ``$RUNROOT/netns``.

A namespace is made in-process (no ``ip netns``, which would write to /run/netns):
a short-lived thread calls ``unshare(CLONE_NEWNET)`` — namespaces belong to
threads, so the rest of the process stays where it is — brings ``lo`` up and
bind-mounts its ``/proc/thread-self/ns/net`` onto the file. The bind mount keeps
the namespace (and the interfaces in it) alive with no process in it, across
container restarts, until :func:`remove` unmounts it.
"""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path

from dockyard.errors import ExternalToolFailed

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


def _lo_up() -> None:
    import fcntl
    import socket
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(s.fileno(), 0x8913, ifreq))[1]
        fcntl.ioctl(s.fileno(), 0x8914, struct.pack("16sH22x", b"lo", flags | 1))


def create(path: Path) -> None:
    """A new network namespace with ``lo`` up, held at ``path`` (made if missing)."""
    import threading

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if is_netns(path):
        return
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o444)
    os.close(fd)
    failure: list[BaseException] = []

    def work() -> None:
        try:
            _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
            _lo_up()
            src = f"/proc/self/task/{threading.get_native_id()}/ns/net".encode()
            _check(_libc.mount(src, os.fsencode(path), None, MS_BIND, None), f"mount {path}")
        except BaseException as e:
            failure.append(e)

    t = threading.Thread(target=work, name="dockyard-netns")
    t.start()
    t.join()
    if failure:
        try:
            os.unlink(path)
        except OSError:
            pass
        e = failure[0]
        raise ExternalToolFailed(f"cannot make a network namespace at {path}: {e}")


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
