"""Build a container's filesystem view (runs in the container's child process).

Called by the executor between ``unshare(CLONE_NEWNS)`` and exec: everything
here happens in the container's own mount namespace, so it all disappears
with the namespace: the rootfs mounts (overlay), the spec's mounts, /dev, and
the old root after ``pivot_root``.
"""

from __future__ import annotations

import errno
import os

from dockyard.oci.runtime_spec import Mount
from dockyard.runtime import linux as L
from dockyard.runtime.paths import secure_join

TYPE_CHECKING = False
if TYPE_CHECKING:  # collections.abc imports collections: 2 ms of the shim's start
    from collections.abc import Sequence

# option -> (flag, set?)
_FLAGS: dict[str, tuple[int, bool]] = {
    "ro": (L.MS_RDONLY, True),
    "rw": (L.MS_RDONLY, False),
    "nosuid": (L.MS_NOSUID, True),
    "suid": (L.MS_NOSUID, False),
    "nodev": (L.MS_NODEV, True),
    "dev": (L.MS_NODEV, False),
    "noexec": (L.MS_NOEXEC, True),
    "exec": (L.MS_NOEXEC, False),
    "sync": (L.MS_SYNCHRONOUS, True),
    "async": (L.MS_SYNCHRONOUS, False),
    "dirsync": (L.MS_DIRSYNC, True),
    "mand": (L.MS_MANDLOCK, True),
    "nomand": (L.MS_MANDLOCK, False),
    "noatime": (L.MS_NOATIME, True),
    "atime": (L.MS_NOATIME, False),
    "nodiratime": (L.MS_NODIRATIME, True),
    "diratime": (L.MS_NODIRATIME, False),
    "relatime": (L.MS_RELATIME, True),
    "norelatime": (L.MS_RELATIME, False),
    "strictatime": (L.MS_STRICTATIME, True),
    "nostrictatime": (L.MS_STRICTATIME, False),
    "lazytime": (L.MS_LAZYTIME, True),
    "nosymfollow": (L.MS_NOSYMFOLLOW, True),
    "bind": (L.MS_BIND, True),
    "rbind": (L.MS_BIND | L.MS_REC, True),
    "remount": (L.MS_REMOUNT, True),
    "defaults": (0, False),
}
_PROPAGATION: dict[str, int] = {
    "private": L.MS_PRIVATE,
    "rprivate": L.MS_PRIVATE | L.MS_REC,
    "shared": L.MS_SHARED,
    "rshared": L.MS_SHARED | L.MS_REC,
    "slave": L.MS_SLAVE,
    "rslave": L.MS_SLAVE | L.MS_REC,
    "unbindable": L.MS_UNBINDABLE,
    "runbindable": L.MS_UNBINDABLE | L.MS_REC,
}
_STATVFS_KEEP = (
    L.MS_NOSUID
    | L.MS_NODEV
    | L.MS_NOEXEC
    | L.MS_NOATIME
    | L.MS_NODIRATIME
    | L.MS_RELATIME
    | L.MS_RDONLY
)

# Docker's (runc's) default device nodes: name, major, minor.
DEVICES: tuple[tuple[str, int, int], ...] = (
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("tty", 5, 0),
    ("random", 1, 8),
    ("urandom", 1, 9),
)
DEV_SYMLINKS: tuple[tuple[str, str], ...] = (
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
    ("core", "/proc/kcore"),
)


def parse_options(options: Sequence[str]) -> tuple[int, int, str]:
    """Mount options -> (flags, propagation flags, data string for the filesystem)."""
    flags = prop = 0
    data = []
    for o in options:
        if o in _FLAGS:
            bit, on = _FLAGS[o]
            flags = flags | bit if on else flags & ~bit
        elif o in _PROPAGATION:
            prop |= _PROPAGATION[o]
        else:
            data.append(o)
    return flags, prop, ",".join(data)


class MountError(Exception):
    """A mount step failed; the message says which, Docker-style."""


# A mount prepared in the parent so the child only resolves paths and calls mount(2):
# (destination, type, source, flags, propagation, data, kind).
PlannedMount = tuple[str, str, str, int, int, str, int]
KIND_FS, KIND_BIND_DIR, KIND_BIND_FILE, KIND_CGROUPFS = 0, 1, 2, 3


def plan(ms: Sequence[Mount], bundle: str = "/") -> list[PlannedMount]:
    """Parse options and classify each mount (bind sources are host paths, checked here)."""
    out: list[PlannedMount] = []
    for m in ms:
        flags, prop, data = parse_options(m.options)
        if m.type == "bind" or flags & L.MS_BIND:
            src = m.source if m.source.startswith("/") else os.path.join(bundle, m.source)
            kind = KIND_BIND_DIR if os.path.isdir(src) else KIND_BIND_FILE
            out.append((m.destination, m.type, src, flags | L.MS_BIND, prop, data, kind))
        elif m.type == "cgroup":
            out.append((m.destination, m.type, m.source, flags, prop, data, KIND_CGROUPFS))
        else:
            out.append((m.destination, m.type, m.source or m.type, flags, prop, data, KIND_FS))
    return out


def _mountpoint(target: str, is_file: bool) -> None:
    if is_file:
        os.makedirs(os.path.dirname(target), 0o755, exist_ok=True)
        if not os.path.lexists(target):
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o755))
    else:
        os.makedirs(target, 0o755, exist_ok=True)


def _remount_flags(path: str) -> int:
    return os.statvfs(path).f_flag & _STATVFS_KEEP


def mount_one(p: PlannedMount, target: str) -> None:
    """Perform a planned mount on ``target`` (already resolved), creating the mount point."""
    dest, fstype, src, flags, prop, data, kind = p
    try:
        if kind in (KIND_BIND_DIR, KIND_BIND_FILE):
            _mountpoint(target, kind == KIND_BIND_FILE)
            L.mount(src, target, None, flags & (L.MS_BIND | L.MS_REC))
            extra = flags & ~(L.MS_BIND | L.MS_REC)
            if extra:
                L.mount(
                    None,
                    target,
                    None,
                    L.MS_BIND | L.MS_REMOUNT | extra | (_remount_flags(target) & ~L.MS_RDONLY),
                )
        else:
            _mountpoint(target, False)
            try:
                L.mount(src, target, fstype, flags, data or None)
            except OSError as e:
                if fstype != "sysfs" or e.errno != errno.EPERM:
                    raise
                # Host network: sysfs cannot always be mounted; Docker falls back to rbind.
                L.mount("/sys", target, None, L.MS_BIND | L.MS_REC)
                L.mount(None, target, None, L.MS_BIND | L.MS_REMOUNT | flags)
        if prop:
            L.mount(None, target, None, prop)
    except OSError as e:
        raise MountError(f'error mounting "{src}" to rootfs at "{dest}": {e.strerror}') from e


def _mount_cgroupfs(
    p: PlannedMount, target: str, hierarchies: Sequence[tuple[str, str, str]]
) -> None:
    """/sys/fs/cgroup: rebuild the host's layout (v1: tmpfs + one mount per hierarchy;
    v2: one cgroup2 mount). Inside a cgroup namespace each shows the container's own
    cgroup as its root."""
    flags = p[3]
    try:
        _mountpoint(target, False)
        if len(hierarchies) == 1 and hierarchies[0][0] == "":
            L.mount("cgroup2", target, "cgroup2", flags)
            return
        L.mount("tmpfs", target, "tmpfs", flags & ~L.MS_RDONLY, "mode=755")
        for sub, fstype, data in hierarchies:
            path = f"{target}/{sub}"
            os.mkdir(path, 0o755)
            L.mount(fstype, path, fstype, flags, data or None)
        if flags & L.MS_RDONLY:
            L.mount(None, target, None, L.MS_REMOUNT | flags)
    except OSError as e:
        raise MountError(f'error mounting "cgroup" to rootfs at "{p[0]}": {e.strerror}') from e


def _make_dev(dev: str) -> None:
    old = os.umask(0)
    try:
        for name, major, minor in DEVICES:
            try:
                os.mknod(f"{dev}/{name}", 0o20666, os.makedev(major, minor))  # S_IFCHR|0666
            except FileExistsError:
                pass
        for name, target in DEV_SYMLINKS:
            if name == "core" and not os.path.exists("/proc/kcore"):
                continue
            try:
                os.symlink(target, f"{dev}/{name}")
            except FileExistsError:
                pass
    finally:
        os.umask(old)


def setup_rootfs(
    rootfs: str,
    mounts: Sequence[PlannedMount],
    rootfs_mounts: Sequence[PlannedMount],
    *,
    cgroup_hierarchies: Sequence[tuple[str, str, str]],
    cwd: str,
    console: str | None = None,
) -> None:
    """Everything up to and including ``pivot_root``; afterwards ``/`` is the rootfs."""
    L.mount(None, "/", None, L.MS_REC | L.MS_PRIVATE)
    root_mounted = False
    for dest, fstype, src, flags, _, data, _ in rootfs_mounts:
        d = dest.strip("/")
        target = rootfs if not d else secure_join(rootfs, d)
        try:
            L.mount(src, target, fstype, flags, data or None)
        except OSError as e:
            raise MountError(
                f"error mounting the rootfs ({fstype} on {target}): {e.strerror}"
            ) from e
        root_mounted = root_mounted or not d
    if not root_mounted:  # pivot_root needs the new root to be a mount point
        L.mount(rootfs, rootfs, None, L.MS_BIND | L.MS_REC)
    dev_tmpfs = False
    for p in mounts:
        target = secure_join(rootfs, p[0])
        if p[6] == KIND_CGROUPFS:
            _mount_cgroupfs(p, target, cgroup_hierarchies)
            continue
        mount_one(p, target)
        if p[6] == KIND_FS and p[0].rstrip("/") == "/dev":
            dev_tmpfs = True
    if dev_tmpfs:
        _make_dev(secure_join(rootfs, "/dev"))
    if console is not None:
        target = secure_join(rootfs, "/dev/console")
        _mountpoint(target, True)
        L.mount(console, target, None, L.MS_BIND)
    if cwd != "/":
        os.makedirs(secure_join(rootfs, cwd), 0o755, exist_ok=True)
    os.chdir(rootfs)
    L.pivot_root(".", ".")
    L.umount2(".", L.MNT_DETACH)
    os.chdir("/")


def mask_paths(paths: Sequence[str]) -> None:
    """Hide each path: /dev/null over a file, an empty read-only tmpfs over a directory."""
    for p in paths:
        try:
            L.mount("/dev/null", p, None, L.MS_BIND)
        except OSError as e:
            if e.errno == errno.ENOENT:
                continue
            if e.errno != errno.ENOTDIR:
                raise MountError(f"cannot mask {p}: {e.strerror}") from e
            L.mount("tmpfs", p, "tmpfs", L.MS_RDONLY)


def readonly_paths(paths: Sequence[str]) -> None:
    """Make each existing path a read-only bind of itself (keeping nosuid/nodev/noexec)."""
    for p in paths:
        try:
            L.mount(p, p, None, L.MS_BIND | L.MS_REC)
        except OSError as e:
            if e.errno == errno.ENOENT:
                continue
            raise MountError(f"cannot make {p} read-only: {e.strerror}") from e
        L.mount(None, p, None, L.MS_BIND | L.MS_REMOUNT | L.MS_RDONLY | _remount_flags(p))


def readonly_root() -> None:
    L.mount(None, "/", None, L.MS_BIND | L.MS_REMOUNT | L.MS_RDONLY | _remount_flags("/"))
