"""Work on a root filesystem tree: busybox's tree, recipe dirs and files, the
clean-ups that make it reproducible, and the layer tar."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path

from dockyard.engine.bootstrap._tools import run_tool
from dockyard.engine.bootstrap.recipes import DirSpec, FileSpec
from dockyard.errors import ExternalToolFailed, InvalidArgument, NotFound

# Like the Docker Hub busybox image's.
_BUSYBOX_PASSWD = """\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
"""
_BUSYBOX_GROUPS = (
    "root:0 daemon:1 bin:2 sys:3 adm:4 tty:5 disk:6 lp:7 mail:8 kmem:9 wheel:10 cdrom:11 "
    "dialout:18 floppy:19 video:28 audio:29 tape:32 www-data:33 operator:37 utmp:43 "
    "plugdev:46 staff:50 lock:54 netdev:82 users:100 nogroup:65534"
)
_BUSYBOX_DIRS: tuple[tuple[str, int], ...] = (
    ("bin", 0o755),
    ("dev", 0o755),
    ("etc", 0o755),
    ("home", 0o755),
    ("proc", 0o755),
    ("root", 0o700),
    ("sys", 0o755),
    ("tmp", 0o1777),
    ("usr", 0o755),
    ("usr/sbin", 0o755),
    ("var", 0o755),
    ("var/spool", 0o755),
    ("var/spool/mail", 0o755),
    ("var/www", 0o755),
)


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def make_busybox_tree(root: Path, busybox: Path) -> None:
    """The Docker Hub busybox image's layout, with every applet a symlink in /bin."""
    for rel, mode in _BUSYBOX_DIRS:
        (root / rel).mkdir(exist_ok=True)
        os.chmod(root / rel, mode)
    target = root / "bin" / "busybox"
    _write(target, busybox.read_bytes(), 0o755)
    listing = run_tool(
        [str(target), "--list"],
        what="listing busybox's applets",
        hint="the busybox-static package must match this machine's architecture",
    )
    applets = sorted({a.strip() for a in listing.splitlines()} - {"", "busybox"})
    if "sh" not in applets:
        raise ExternalToolFailed(
            f"{busybox} lists no 'sh' applet", hint="is busybox-static's .deb intact?"
        )
    for applet in applets:
        if "/" in applet or applet.startswith("."):
            continue
        os.symlink("busybox", root / "bin" / applet)
    groups = "".join(
        f"{name}:x:{gid}:{'root' if name == 'wheel' else ''}\n"
        for name, _, gid in (g.partition(":") for g in _BUSYBOX_GROUPS.split())
    )
    shadow = "".join(
        f"{line.split(':')[0]}:*:10933:0:99999:7:::\n" for line in _BUSYBOX_PASSWD.splitlines()
    )
    _write(root / "etc" / "passwd", _BUSYBOX_PASSWD.encode(), 0o644)
    _write(root / "etc" / "group", groups.encode(), 0o644)
    _write(root / "etc" / "shadow", shadow.encode(), 0o600)


def inside(root: Path, abs_path: str) -> Path:
    """``root`` joined with ``abs_path``, refusing ``..`` and symlinks on the way
    (an absolute symlink such as /var/run -> /run would lead out of the tree)."""
    parts = [p for p in abs_path.split("/") if p]
    if not abs_path.startswith("/") or any(p in (".", "..") for p in parts) or not parts:
        raise InvalidArgument(f"bootstrap recipe: bad path {abs_path!r}")
    path = root
    for part in parts:
        path = path / part
        if path.is_symlink():
            raise InvalidArgument(
                f"bootstrap recipe: {abs_path} goes through the symlink /"
                f"{path.relative_to(root)}; name the real directory"
            )
    return path


def _users(root: Path) -> dict[str, tuple[int, int]]:
    users: dict[str, tuple[int, int]] = {}
    try:
        text = (root / "etc" / "passwd").read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return users
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 4 and fields[2].isdigit() and fields[3].isdigit():
            users[fields[0]] = (int(fields[2]), int(fields[3]))
    return users


def make_dirs(root: Path, dirs: Iterable[DirSpec]) -> None:
    users = _users(root)
    for spec in dirs:
        if spec.owner not in users:
            raise NotFound(
                f"bootstrap recipe: user {spec.owner!r} (owner of {spec.path}) is not in "
                "the root filesystem's /etc/passwd",
                hint="the package that creates that user is missing from the recipe",
            )
        uid, gid = users[spec.owner]
        path = inside(root, spec.path)
        path.mkdir(parents=True, exist_ok=True)
        os.chown(path, uid, gid)
        os.chmod(path, spec.mode)


def install_files(root: Path, files: Iterable[FileSpec]) -> None:
    shipped = resources.files("dockyard.engine.bootstrap").joinpath("files")
    for spec in files:
        source = shipped.joinpath(spec.source)
        if not source.is_file():
            raise NotFound(
                f"bootstrap: {spec.source} is missing from dockyard's package data",
                hint="reinstall dockyard",
            )
        path = inside(root, spec.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            path.unlink()
        _write(path, source.read_bytes(), spec.mode)


def empty_dir(path: Path) -> None:
    """Remove what is in ``path`` (not the directory): /dev's nodes, say."""
    if not path.is_dir() or path.is_symlink():
        return
    root_dev = path.lstat().st_dev
    for dirpath, dirnames, filenames in os.walk(path, topdown=False):
        for name in filenames:
            os.unlink(os.path.join(dirpath, name))
        for name in dirnames:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                os.unlink(full)
            elif st.st_dev != root_dev:
                raise ExternalToolFailed(
                    f"{full} is a mount point", hint="unmount it and run the bootstrap again"
                )
            else:
                os.rmdir(full)


def remove_paths(root: Path, rel_paths: Sequence[str]) -> None:
    for rel in rel_paths:
        path = root / rel
        if path.is_symlink() or path.is_file():
            path.unlink()


def normalise_mtimes(root: Path, *, since: float, epoch: int) -> None:
    """Set the mtime of everything made or changed during the build (mtime at
    or after ``since``) to ``epoch``; files unpacked from .debs keep the mtime
    the package gives them (so Python's .pyc files stay valid). Whole seconds
    only, so the tar has no sub-second times."""
    root_dev = root.lstat().st_dev
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            if st.st_dev != root_dev:
                raise ExternalToolFailed(
                    f"{full} is on another filesystem (a mount left behind?)",
                    hint="unmount it and run the bootstrap again",
                )
            if st.st_mtime >= since:
                ns = epoch * 1_000_000_000
            elif st.st_mtime_ns % 1_000_000_000:
                ns = st.st_mtime_ns - st.st_mtime_ns % 1_000_000_000
            else:
                continue
            os.utime(full, ns=(ns, ns), follow_symlinks=False)


def write_tar(root: Path, out: Path) -> None:
    """A layer tar of ``root``: entries ``bin``, ``bin/sh``... (no ``./``), sorted,
    numeric owners, no atime/ctime, PAX headers with fixed names."""
    names = sorted(os.listdir(root))
    if not names:
        raise ExternalToolFailed(f"{root} is empty", hint="the root filesystem build failed")
    run_tool(
        [
            "tar",
            "--create",
            f"--file={out}",
            f"--directory={root}",
            "--format=pax",
            "--sort=name",
            "--numeric-owner",
            "--one-file-system",
            "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime",
            "--",
            *names,
        ],
        what=f"packing {root}",
        hint=f"is there space left for {out}?",
    )


def dpkg_version(root: Path, package: str) -> str:
    """The installed version of ``package`` from the tree's dpkg status, or ``""``."""
    try:
        text = (root / "var/lib/dpkg/status").read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    for para in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in para.splitlines():
            key, sep, value = line.partition(":")
            if sep and not line.startswith((" ", "\t")):
                fields[key] = value.strip()
        if fields.get("Package") == package and fields.get("Status", "").endswith(" installed"):
            return fields.get("Version", "")
    return ""
