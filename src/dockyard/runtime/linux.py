"""Thin wrappers for the Linux syscalls the runtime needs (libc's, through
:mod:`dockyard.runtime.libc`, not the ctypes package).

Every wrapper raises ``OSError`` (with errno and the operation in the message) on
failure, like the ``os`` module does. Only the runtime's executor imports this
module, so plain ``dockyard`` commands do not load ``_ctypes``.
"""

from __future__ import annotations

import os
import sys

from dockyard.runtime.libc import (
    Function,
    c_char_p,
    c_int,
    c_long,
    c_uint,
    c_ulong,
    function,
    get_errno,
)

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

NS_FLAGS: dict[str, int] = {
    "mount": CLONE_NEWNS,
    "cgroup": CLONE_NEWCGROUP,
    "uts": CLONE_NEWUTS,
    "ipc": CLONE_NEWIPC,
    "user": CLONE_NEWUSER,
    "pid": CLONE_NEWPID,
    "network": CLONE_NEWNET,
}
# File names under /proc/<pid>/ns/.
NS_FILES: dict[str, str] = {
    "mount": "mnt",
    "cgroup": "cgroup",
    "uts": "uts",
    "ipc": "ipc",
    "user": "user",
    "pid": "pid",
    "network": "net",
}

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25

MNT_DETACH = 2

PR_SET_PDEATHSIG = 1
PR_SET_KEEPCAPS = 8
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

CLOSE_RANGE_CLOEXEC = 4
TIOCSCTTY = 0x540E

_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}.get(
    os.uname().machine, -1
)

_mount = function("mount", c_char_p, c_char_p, c_char_p, c_ulong, c_char_p)
_umount2 = function("umount2", c_char_p, c_int)
_unshare = function("unshare", c_int)
_setns = function("setns", c_int, c_int)
_sethostname = function("sethostname", c_char_p, c_ulong)
_prctl = function("prctl", c_int, c_ulong, c_ulong, c_ulong, c_ulong)
_capset = function("capset", c_char_p, c_char_p)  # (header, data[2]) as bytes
_syscall = function("syscall", restype=c_long)
_close_range: Function | None
try:
    _close_range = function("close_range", c_uint, c_uint, c_int)
except AttributeError:  # glibc before 2.34
    _close_range = None


def _error(what: str, path: str | None = None) -> OSError:
    e = get_errno()
    return OSError(e, f"{what}: {os.strerror(e)}", path)


def _b(s: str | None) -> bytes | None:
    return None if s is None else os.fsencode(s)


def mount(
    source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None
) -> None:
    if _mount(_b(source), _b(target), _b(fstype), flags, _b(data)) < 0:
        raise _error(f"mount {fstype or ''} {source or ''} on {target}".replace("  ", " "), target)


def umount2(target: str, flags: int = 0) -> None:
    if _umount2(os.fsencode(target), flags) < 0:
        raise _error(f"umount {target}", target)


def unshare(flags: int) -> None:
    if _unshare(flags) < 0:
        raise _error("unshare")


def setns(fd: int, nstype: int = 0) -> None:
    if _setns(fd, nstype) < 0:
        raise _error("setns")


def sethostname(name: str) -> None:
    b = name.encode()
    if _sethostname(b, len(b)) < 0:
        raise _error("sethostname")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    ret: int = _prctl(option, arg2, arg3, arg4, arg5)
    if ret < 0:
        raise _error(f"prctl({option})")
    return ret


def pivot_root(new_root: str, put_old: str) -> None:
    if (
        _syscall(
            c_long(_SYS_PIVOT_ROOT),
            c_char_p(os.fsencode(new_root)),
            c_char_p(os.fsencode(put_old)),
        )
        < 0
    ):
        raise _error("pivot_root", new_root)


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """Set this thread's capability sets (64-bit masks)."""

    def u32(n: int) -> bytes:
        return (n & 0xFFFFFFFF).to_bytes(4, sys.byteorder)

    header = u32(_LINUX_CAPABILITY_VERSION_3) + u32(0)  # struct __user_cap_header_struct
    data = b"".join(  # struct __user_cap_data_struct[2]: the low 32 bits, then the high
        u32(effective >> shift) + u32(permitted >> shift) + u32(inheritable >> shift)
        for shift in (0, 32)
    )
    if _capset(header, data) < 0:
        raise _error("capset")


def cloexec_from(first: int) -> None:
    """Mark every fd >= ``first`` close-on-exec (close_range, or a loop as a fallback)."""
    if _close_range is not None and _close_range(first, 0xFFFFFFFF, CLOSE_RANGE_CLOEXEC) == 0:
        return
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd >= first:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass


SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def loopback_up() -> None:
    """Bring ``lo`` up in the current (new) network namespace, as Docker does. Runs in
    a freshly forked container child: ``_socket``, not ``socket`` (whose import, enum
    and all, was 6 ms of every ``run --network none``)."""
    import _socket
    import fcntl

    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        name = b"lo".ljust(16, b"\0")  # struct ifreq: the name, then ifr_flags (a short)
        got = fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, name + bytes(24))
        flags = int.from_bytes(got[16:18], sys.byteorder) | IFF_UP
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, name + flags.to_bytes(2, sys.byteorder) + bytes(22))
    finally:
        s.close()


SYS_RT_SIGACTION = 13  # x86_64
_SIG_DFL_ACTION = bytes(32)  # handler NULL (SIG_DFL), no flags, empty mask


def reset_signal(sig: int) -> None:
    """Set ``sig`` to SIG_DFL with the raw syscall: it also reaches the signals glibc
    keeps for itself (32, 33), which Python's ``signal`` module refuses, and which an
    ignoring parent would otherwise pass on through exec."""
    _syscall(c_long(SYS_RT_SIGACTION), c_long(sig), c_char_p(_SIG_DFL_ACTION), None, c_long(8))


def cap_last_cap() -> int:
    with open("/proc/sys/kernel/cap_last_cap", "rb") as f:
        return int(f.read())


_HAS_CGROUPNS: list[bool] = []


def has_cgroupns() -> bool:
    if not _HAS_CGROUPNS:
        _HAS_CGROUPNS.append(os.path.exists("/proc/self/ns/cgroup"))
    return _HAS_CGROUPNS[0]
