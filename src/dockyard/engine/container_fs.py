"""``docker cp`` and ``docker diff``: a container's files, read and written from the host.

Roots. Every path inside a container is resolved as if the container's root were
``/`` (see :mod:`~dockyard.engine.container_fs_root`). The root is:

- a running (or paused) container: ``/proc/<pid>/root`` of its init, checked against
  the start time the shim recorded, so a reused pid is never taken for it. What cp
  sees is the container's own view: its root and its volumes;
- any other: its overlay mounted on the host for the duration (with the container's
  bind mounts and volumes bound on top), unmounted in ``finally``.

Copy semantics are Docker's (:mod:`~dockyard.engine.container_fs_paths`); the files
travel as tar entries (:mod:`~dockyard.engine.container_fs_tar`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from dockyard.engine.container_fs_paths import (
    CopyError,
    CopyInfo,
    clean,
    container_abs,
    get_rebase_name,
    go_base,
    go_split,
    has_trailing_sep,
    prepare_archive_copy,
    rebase,
    split_path_dir_entry,
)
from dockyard.engine.container_fs_root import FsRoot, PathStat, locate, open_dir_making, stat_path
from dockyard.engine.container_fs_tar import Entries, Entry, Extractor, archive, read_tar, write_tar
from dockyard.errors import Conflict, DockyardError, InvalidArgument, NotFound

if TYPE_CHECKING:
    from dockyard.engine.containers import ContainerService
    from dockyard.oci.runtime_spec import Mount
    from dockyard.storage.overlay import Change


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
            loc = locate(root, resolved)
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
    "changes",
    "copy_from_container",
    "copy_info_destination",
    "copy_info_source",
    "copy_to_container",
    "host_root",
    "open_container_fs",
    "stream_from_container",
    "stream_to_container",
    "validate_output_path",
]
