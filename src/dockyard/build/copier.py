"""COPY and ADD into a root filesystem (a build step's writable snapshot).

:class:`CopyItem` is one resolved source: a file, a directory (its entries
listed, so the context's ignore rules already apply), or heredoc text. The
rules of :mod:`dockyard.build.paths` decide where each lands; files are owned by
root unless ``--chown`` says otherwise (names looked up in the image's
``/etc/passwd`` and ``/etc/group``), keep their mode unless ``--chmod`` sets it,
and keep their mtime. New parent directories are 0755 and owned as the files.
ADD extracts a local tar archive (plain, gzip, bzip2 or xz) into the destination.
Every path is resolved with :func:`~dockyard.build.paths.scoped_path`, so a
symlink in the image cannot send a write outside the root.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
from collections.abc import Sequence
from pathlib import Path

from dockyard._util.litedc import dataclass, field
from dockyard.build.paths import check_multi_source, file_target, scoped_path
from dockyard.errors import InvalidArgument


@dataclass(frozen=True)
class CopyItem:
    """``name``: the file name a file source keeps; ``entries``: (path below the
    directory, host path) of a directory source; ``data``: heredoc text."""

    name: str
    host_path: str = ""
    is_dir: bool = False
    entries: tuple[tuple[str, str], ...] = ()
    data: bytes | None = None
    no_extract: bool = False  # ADD <url>: never unpacked


@dataclass(frozen=True)
class Owner:
    uid: int = 0
    gid: int = 0


@dataclass
class CopyPlan:
    items: Sequence[CopyItem]
    dest: str  # absolute, in the container
    dest_is_dir: bool
    owner: Owner = field(default_factory=Owner)
    chmod: int | None = None
    extract_archives: bool = False
    what: str = "COPY"


def parse_chmod(text: str) -> int | None:
    if not text:
        return None
    try:
        value = int(text, 8)
    except ValueError:
        raise InvalidArgument(f"invalid chmod parameter: {text!r}: use an octal mode") from None
    if value > 0o7777 or value < 0:
        raise InvalidArgument(f"invalid chmod parameter: {text!r}")
    return value


def resolve_chown(spec: str, root: Path) -> Owner:
    """``--chown=user[:group]`` against the image's passwd and group files."""
    if not spec:
        return Owner()
    user, _, group = spec.partition(":")
    group = group or user
    uid = _lookup(user, scoped_path(root, "/etc/passwd"), "user", spec)
    gid = _lookup(group, scoped_path(root, "/etc/group"), "group", spec)
    return Owner(uid, gid)


def _lookup(name: str, table: Path, what: str, spec: str) -> int:
    if name.isdigit():
        return int(name)
    try:
        lines = table.read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    for line in lines:
        fields = line.split(":")
        if len(fields) > 2 and fields[0] == name and fields[2].isdigit():
            return int(fields[2])
    raise InvalidArgument(
        f"unable to convert uid/gid chown string to host mapping: can't find uid for "
        f"{what} {name}: no such {what}: {name}"
        if what == "user"
        else f"unable to convert uid/gid chown string to host mapping: can't find gid for "
        f"group {name}: no such group: {name}",
        hint=f"--chown={spec}: the {what} must exist in the image, or be a number",
    )


def perform(plan: CopyPlan, root: Path) -> None:
    """Copy ``plan`` into ``root`` (the merged view of a writable snapshot)."""
    check_multi_source(len(plan.items), plan.dest_is_dir, plan.what)
    dest_host = scoped_path(root, plan.dest)
    into_dir = plan.dest_is_dir or dest_host.is_dir()
    for item in plan.items:
        if item.is_dir:
            target = scoped_path(root, plan.dest)
            _make_dirs(root, plan.dest, plan.owner)
            for rel, host in item.entries:
                _copy_entry(root, posixpath.join(plan.dest, rel), host, plan)
        elif item.data is not None:
            target_path = file_target(plan.dest, into_dir, item.name)
            _make_dirs(root, posixpath.dirname(target_path), plan.owner)
            target = scoped_path(root, target_path, follow_last=False)
            _replace_with_file(target)
            target.write_bytes(item.data)
            os.chmod(target, 0o644 if plan.chmod is None else plan.chmod)
            os.chown(target, plan.owner.uid, plan.owner.gid)
        elif plan.extract_archives and not item.no_extract and is_archive(item.host_path):
            _make_dirs(root, plan.dest, plan.owner)
            extract_archive(
                item.host_path, root, plan.dest, plan.owner if plan.owner != Owner() else None
            )
        else:
            target_path = file_target(plan.dest, into_dir, item.name)
            _make_dirs(root, posixpath.dirname(target_path), plan.owner)
            _copy_entry(root, target_path, item.host_path, plan)


def _make_dirs(root: Path, path: str, owner: Owner) -> None:
    """``MkdirAllAndChownNew``: create missing directories of ``path`` (0755, owned
    like the copied files); existing ones keep their owner."""
    parts = [p for p in path.split("/") if p]
    current = "/"
    for part in parts:
        current = posixpath.join(current, part)
        host = scoped_path(root, current)
        if host.is_dir():
            continue
        if host.exists() or host.is_symlink():
            raise InvalidArgument(f"cannot copy to {current}: it exists and is not a directory")
        host.mkdir(mode=0o755)
        os.chmod(host, 0o755)
        os.chown(host, owner.uid, owner.gid)


def _replace_with_file(target: Path) -> None:
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        target.unlink()
    elif target.is_dir():
        raise InvalidArgument(f"cannot copy a file over the directory {target.name}")


def _copy_entry(root: Path, container_path: str, host: str, plan: CopyPlan) -> None:
    st = os.lstat(host)
    mode = st.st_mode
    target = scoped_path(root, container_path, follow_last=False)
    perm = stat.S_IMODE(mode) if plan.chmod is None else plan.chmod
    owner = plan.owner
    if stat.S_ISDIR(mode):
        if not target.is_dir():
            if target.exists() or target.is_symlink():
                target.unlink()
            target.mkdir()
        os.chmod(target, perm)
        os.chown(target, owner.uid, owner.gid)
        return
    _replace_with_file(target)
    if stat.S_ISLNK(mode):
        os.symlink(os.readlink(host), target)
        os.lchown(target, owner.uid, owner.gid)
        return
    if not stat.S_ISREG(mode):
        return  # sockets, devices, fifos: Docker's context walk sends none
    shutil.copyfile(host, target, follow_symlinks=False)
    os.chown(target, owner.uid, owner.gid)
    os.chmod(target, perm)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


# -- ADD archives ------------------------------------------------------------------------

_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")


def is_archive(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return False
    if any(head.startswith(m) for m in _MAGIC):
        return True
    return len(head) >= 262 and head[257:262] == b"ustar"


def extract_archive(path: str, root: Path, dest: str, owner: Owner | None) -> None:
    """Unpack a tar archive below ``dest`` (container path), nothing outside ``root``."""
    import tarfile

    try:
        tar = tarfile.open(path, "r:*")
    except tarfile.TarError:
        raise InvalidArgument(f"ADD: {os.path.basename(path)} is not a readable archive") from None
    with tar:
        for member in tar:
            name = posixpath.normpath("/" + member.name).lstrip("/")
            if not name or name == ".":
                continue
            container_path = posixpath.join(dest, name)
            parent = posixpath.dirname(container_path)
            _make_dirs(root, parent, Owner())
            target = scoped_path(root, container_path, follow_last=False)
            uid, gid = (owner.uid, owner.gid) if owner else (member.uid, member.gid)
            if member.isdir():
                if not target.is_dir():
                    target.mkdir()
                os.chmod(target, member.mode & 0o7777)
                os.chown(target, uid, gid)
                continue
            _replace_with_file(target)
            if member.issym():
                os.symlink(member.linkname, target)
                os.lchown(target, uid, gid)
            elif member.islnk():
                link_path = posixpath.join(
                    dest, posixpath.normpath("/" + member.linkname).lstrip("/")
                )
                os.link(scoped_path(root, link_path, follow_last=False), target)
            elif member.isfile():
                src = tar.extractfile(member)
                assert src is not None
                with src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
                os.chown(target, uid, gid)
                os.chmod(target, member.mode & 0o7777)
                os.utime(target, (member.mtime, member.mtime))
