"""Mounts on the host, for the few storage operations that need one.

A container's own mounts are performed by the runtime inside the container's
mount namespace. This module is for the host side: the merged view of a
stopped container's snapshot (``docker cp``, build commits) and the clean-up
of such mounts after a crash. It reads ``/proc/self/mountinfo`` and calls
mount(2)/umount2(2) through ctypes (libc is loaded on first use only).
"""

from __future__ import annotations

import errno
import os

from dockyard._util.record import Record
from dockyard.errors import DockyardError, Unsupported

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ctypes
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from dockyard.oci.runtime_spec import Mount

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_BIND = 0x1000
MS_REC = 0x4000
MNT_DETACH = 0x2

# mount(2) copies one page of filesystem options and forces its last byte to NUL:
# anything longer is cut silently, so longer option strings are refused here.
PAGE_LIMIT = 4095

_FLAGS = {
    "ro": MS_RDONLY,
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "bind": MS_BIND,
    "rbind": MS_BIND | MS_REC,
}
_IGNORED = frozenset({"rw", "defaults", "private", "rprivate"})


class MountInfo(Record):
    """One line of ``/proc/<pid>/mountinfo``."""

    __slots__ = (  # noqa: RUF023 (field order)
        "mount_id",
        "parent_id",
        "mount_point",
        "fstype",
        "source",
        "super_options",
    )
    mount_id: int
    parent_id: int
    mount_point: str
    fstype: str
    source: str
    super_options: tuple[str, ...]

    def __init__(
        self,
        mount_id: int,
        parent_id: int,
        mount_point: str,
        fstype: str,
        source: str,
        super_options: tuple[str, ...],
    ) -> None:
        self._set(
            mount_id=mount_id,
            parent_id=parent_id,
            mount_point=mount_point,
            fstype=fstype,
            source=source,
            super_options=super_options,
        )

    def super_option(self, key: str) -> str | None:
        prefix = key + "="
        for o in self.super_options:
            if o.startswith(prefix):
                return o[len(prefix) :]
        return None


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as ``\\ooo``."""
    if "\\" not in field:
        return field
    out: list[str] = []
    i = 0
    while i < len(field):
        c = field[i]
        digits = field[i + 1 : i + 4]
        if c == "\\" and len(digits) == 3 and all(d in "01234567" for d in digits):
            out.append(chr(int(digits, 8)))
            i += 4
        else:
            out.append(c)
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[MountInfo]:
    """Parse mountinfo text (see proc(5)); malformed lines are skipped."""
    result: list[MountInfo] = []
    for line in text.splitlines():
        fields = line.split(" ")
        try:
            sep = fields.index("-", 6)
            result.append(
                MountInfo(
                    mount_id=int(fields[0]),
                    parent_id=int(fields[1]),
                    mount_point=_unescape(fields[4]),
                    fstype=fields[sep + 1],
                    source=_unescape(fields[sep + 2]),
                    super_options=tuple(_unescape(fields[sep + 3]).split(",")),
                )
            )
        except (ValueError, IndexError):
            continue
    return result


def read_mountinfo(path: str = "/proc/self/mountinfo") -> list[MountInfo]:
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        return parse_mountinfo(f.read())


def is_under(path: str, root: str) -> bool:
    """``path`` is ``root`` or inside it (both absolute, normalised)."""
    root = root.rstrip("/") or "/"
    return path == root or path.startswith(root + "/") or root == "/"


_libc: ctypes.CDLL | None = None


def _lib() -> ctypes.CDLL:
    import ctypes

    global _libc
    if _libc is None:
        lib = ctypes.CDLL(None, use_errno=True)
        lib.mount.argtypes = (
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_ulong,
            ctypes.c_char_p,
        )
        lib.umount2.argtypes = (ctypes.c_char_p, ctypes.c_int)
        _libc = lib
    return _libc


def _check(rc: int, what: str, path: str) -> None:
    import ctypes

    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}", path)


def split_options(options: Sequence[str]) -> tuple[int, str]:
    """Mount options -> (mount flags, filesystem data string)."""
    flags = 0
    data: list[str] = []
    for o in options:
        if o in _FLAGS:
            flags |= _FLAGS[o]
        elif o not in _IGNORED:
            data.append(o)
    return flags, ",".join(data)


def mount(m: Mount, target: str | Path) -> None:
    """Perform ``m`` on the host at ``target`` (its ``destination`` is ignored)."""
    flags, data = split_options(m.options)
    raw = data.encode()
    if len(raw) > PAGE_LIMIT:
        raise Unsupported(
            f"cannot mount {m.type} on {target}: its options are {len(raw)} bytes, "
            f"more than the kernel's limit of {PAGE_LIMIT}"
        )
    fstype = None if flags & MS_BIND else m.type.encode()
    rc = _lib().mount(m.source.encode(), os.fsencode(target), fstype, flags, raw or None)
    try:
        _check(rc, f"mount {m.type}", str(target))
    except OSError as e:
        raise DockyardError(f"cannot mount {m.type} on {target}: {e.strerror}") from e


def unmount(target: Path | str, *, lazy: bool = False) -> None:
    """Unmount ``target``; if it is busy, detach it (it goes away when no longer used).

    ``lazy``: detach at once (``MNT_DETACH``), for a mount nothing uses any more: a
    plain unmount waits for an RCU grace period in the kernel (30-200 ms seen on a
    busy 2-CPU machine), a detach does not (Linux 6.15+ defers it).

    Not mounted (or missing) is fine: unmounting is idempotent.
    """
    import ctypes

    path = os.fsencode(target)
    lib = _lib()
    if lib.umount2(path, MNT_DETACH if lazy else 0) == 0:
        return
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOENT):
        return
    if err == errno.EBUSY and lib.umount2(path, MNT_DETACH) == 0:
        return
    err = ctypes.get_errno() if err == errno.EBUSY else err
    raise DockyardError(f"cannot unmount {os.fsdecode(path)}: {os.strerror(err)}")


def unmount_under(
    root: str | Path,
    *,
    keep: Callable[[str], bool] = lambda _: False,
    mountinfo: Sequence[MountInfo] | None = None,
) -> list[str]:
    """Unmount every mount point inside ``root`` (deepest first, not ``root`` itself),
    except those ``keep`` accepts. Returns the mount points unmounted."""
    base = os.path.abspath(root)
    infos = read_mountinfo() if mountinfo is None else mountinfo
    points = {
        m.mount_point
        for m in infos
        if m.mount_point != base and is_under(m.mount_point, base) and not keep(m.mount_point)
    }
    done: list[str] = []
    for point in sorted(points, key=lambda p: (p.count("/"), p), reverse=True):
        # A point may be stacked several times; unmount until it is gone.
        for _ in range(16):
            try:
                unmount(point)
            except DockyardError:
                break
            if not any(m.mount_point == point for m in read_mountinfo()):
                break
        done.append(point)
    return done
