"""Container snapshots: a writable overlay upper on top of an image's layer directories.

The snapshotter owns directories and returns descriptions: :meth:`Snapshotter.prepare`
makes a snapshot and returns the overlay :class:`Mount` the runtime performs
(destination ``/``: the container's root). Only :meth:`Snapshotter.mount_on_host`
mounts anything itself, for work on a stopped container's files from the host.

On disk, under the snapshotter's root::

    <key>/upper     the container's changes (overlay upperdir)
    <key>/work      overlay's workdir
    <key>/init      Docker's init layer: the top lower dir (see below)
    <key>/empty     the lower dir of a snapshot without layers nor init layer
    <key>/lowers    JSON list of the image's lower dirs, top first
    <key>/merged    default mount point of mount_on_host
    l/<id>          short symlinks to lower dirs (see below)
    .tmp-*, .del-*  half-made and half-deleted snapshots, removed by clean_stale

Long options. mount(2) takes at most 4095 bytes of options. When the lower dirs'
paths do not fit, each is named by a short absolute symlink ``<link_dir>/<id>``
(Docker's overlay2 ``l/`` directory, but absolute: Docker mounts with a relative
lowerdir after a chdir, which a plain :class:`Mount` cannot describe, and which a
multi-threaded engine cannot do safely). A link costs ``len(link_dir) + 10`` bytes:
with ``link_dir=/run/dockyard/l`` (the engine's choice: links are recreated each
time a mount is described, so a tmpfs suits them) about 150 layers fit; with the
default ``<root>/l`` under ``/var/lib/dockyard/snapshots``, about 95. Beyond
that, ``prepare`` raises Unsupported and says what to do.

The init layer (as Docker's, moby ``daemon/initlayer``) holds the mount points
the runtime needs (``/proc``, ``/sys``, ``/dev/pts``, ``/dev/shm``,
``/dev/console``, ``/etc/hosts``, ``/etc/hostname``, ``/etc/resolv.conf``) plus
``/.dockerenv`` and ``/etc/mtab -> /proc/mounts``. Because they exist below the
upper dir, the runtime creates nothing in it: a fresh container's ``diff`` is
empty and a build step's commit carries none of them.

A snapshot directory appears whole (made under ``.tmp-*``, then renamed) and goes
away whole (renamed to ``.del-*``, then deleted), so a crash never leaves one half
made.

Overlay options beyond the directories: ``index=off`` (as Docker: the same lower
dirs serve many containers, which overlay's inode index would tie to one upper),
``redirect_dir=off`` and ``metacopy=off``, so the upper dir alone holds a
container's changes (a renamed lower directory is copied up whole rather than
recorded as a redirect; copied-up files carry their data): ``diff``, ``usage`` and
build commits read nothing else. Each is passed only if the running kernel knows
it (``/sys/module/overlay/parameters``), like Docker does.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
from pathlib import Path

from dockyard._util.atomic import atomic_write, fsync_dir
from dockyard._util.fs import remove_tree
from dockyard._util.ids import random_hex
from dockyard.errors import (
    AlreadyExists,
    Conflict,
    DockyardError,
    InvalidArgument,
    NotFound,
    Unsupported,
)
from dockyard.oci.runtime_spec import Mount
from dockyard.storage.du import tree_size
from dockyard.storage.overlay import (
    MAX_LAYERS,
    Change,
    changes,
    fits,
    needs_escape,
    options_length,
    overlay_options,
    short_link_name,
    too_long,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection, Iterator, Sequence

__all__ = [
    "INIT_LAYER",
    "SHARED_INIT",
    "Change",
    "Snapshotter",
    "clean_stale_mounts",
    "make_init_layer",
    "overlay_extra_options",
]

LINK_DIR = "l"
_PARAMS = "/sys/module/overlay/parameters"
_FEATURE_OPTIONS = (
    ("index", "index=off"),
    ("redirect_dir", "redirect_dir=off"),
    ("metacopy", "metacopy=off"),
)


@functools.cache
def _key_re() -> re.Pattern[str]:
    """Compiled on first use (listing and exec build a snapshotter, use no key)."""
    return re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


@functools.cache
def overlay_extra_options(params_dir: str = _PARAMS) -> tuple[str, ...]:
    """The ``*=off`` options the running kernel's overlayfs understands."""
    return tuple(opt for name, opt in _FEATURE_OPTIONS if os.path.exists(f"{params_dir}/{name}"))


def clean_stale_mounts(root: Path, keep: Collection[str] = ()) -> list[str]:
    """Unmount whatever is mounted inside the snapshotter ``root`` (left by a crash),
    except inside the snapshots named in ``keep``. Returns the mount points."""
    from dockyard.storage import hostmount

    base = os.path.abspath(root)
    kept = [os.path.join(base, k) for k in keep]
    return hostmount.unmount_under(
        Path(base), keep=lambda p: any(hostmount.is_under(p, k) for k in kept)
    )


class Snapshotter:
    """Overlay snapshots under ``root``, one per key (a container ID, a build step)."""

    def __init__(
        self,
        root: Path,
        *,
        link_dir: Path | None = None,
        extra_options: Sequence[str] | None = None,
    ) -> None:
        self.root = Path(os.path.abspath(root))
        self.link_dir = (
            self.root / LINK_DIR if link_dir is None else Path(os.path.abspath(link_dir))
        )
        for p in (self.root, self.link_dir):
            if needs_escape(str(p)):
                raise InvalidArgument(
                    f"snapshot directory {p} contains ',', ':' or '\\', which overlayfs "
                    "cannot take in a mount option"
                )
        self.extra_options = (
            overlay_extra_options() if extra_options is None else tuple(extra_options)
        )

    # -- paths -----------------------------------------------------------------------
    def _dir(self, key: str) -> Path:
        if not _key_re().fullmatch(key) or key == LINK_DIR:
            raise InvalidArgument(f"invalid snapshot key {key!r}")
        return self.root / key

    def _existing(self, key: str) -> Path:
        d = self._dir(key)
        if not (d / "upper").is_dir():
            raise NotFound(f"no such snapshot: {key}")
        return d

    def exists(self, key: str) -> bool:
        return (self._dir(key) / "upper").is_dir()

    def keys(self) -> list[str]:
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if _key_re().fullmatch(n) and n != LINK_DIR)

    def upper_dir(self, key: str) -> Path:
        return self._existing(key) / "upper"

    def lower_dirs(self, key: str) -> list[Path]:
        """The image's lower dirs ``key`` was prepared with, top first (without the init
        layer; empty for scratch)."""
        d = self._existing(key)
        try:
            data = json.loads((d / "lowers").read_text())
        except (OSError, ValueError) as e:
            raise DockyardError(f"snapshot {key}: cannot read its lower dirs: {e}") from e
        if not isinstance(data, list) or not all(isinstance(p, str) for p in data):
            raise DockyardError(f"snapshot {key}: corrupt lower dir list")
        return [Path(p) for p in data]

    # -- lifecycle -------------------------------------------------------------------
    def prepare(self, key: str, lower_dirs: Sequence[Path], *, init: bool = True) -> list[Mount]:
        """Make the snapshot ``key`` over ``lower_dirs`` (top layer first) and return the
        mount of the container's root. ``init``: put Docker's init layer on top of the
        image (for containers and build steps; not for a plain view of an image).
        Raises AlreadyExists if ``key`` exists."""

        final = self._dir(key)
        lowers = [Path(os.path.abspath(p)) for p in lower_dirs]
        if len(lowers) > MAX_LAYERS:
            raise Unsupported(
                f"cannot mount an image with {len(lowers)} layers: overlayfs takes at "
                f"most {MAX_LAYERS}",
                hint="squash the image into fewer layers",
            )
        for p in lowers:
            if not p.is_dir():
                raise NotFound(f"layer directory {p} does not exist")
        if final.exists():
            raise AlreadyExists(f"snapshot {key} already exists")
        self.root.mkdir(parents=True, exist_ok=True)
        stack = _stack(final, [str(p) for p in lowers], init)
        mount = self._root_mount(final, stack)  # fits, or raise now
        tmp = self.root / f".tmp-{random_hex(4)}-{key}"
        try:
            tmp.mkdir(0o700)
            upper = tmp / "upper"
            upper.mkdir()
            os.chmod(upper, 0o755)
            (tmp / "work").mkdir(0o700)
            if lowers:
                _copy_root_attrs(lowers[0], upper)
            if init:
                os.symlink(f"../{self._shared_init().name}", tmp / "init")
            elif not lowers:
                (tmp / "empty").mkdir()
                os.chmod(tmp / "empty", 0o755)
            atomic_write(tmp / "lowers", json.dumps([str(p) for p in lowers]).encode())
            try:
                os.rename(tmp, final)
            except OSError as e:
                raise AlreadyExists(f"snapshot {key} already exists") from e
            fsync_dir(self.root)
        except BaseException:
            remove_tree(tmp)
            raise
        return [mount]

    def _shared_init(self) -> Path:
        """Docker's init layer, made once per store: every snapshot's ``init`` is a
        link to it. It is only ever a lower dir (never written), so one copy serves
        all; making one per container was ~30 syscalls at create and at rm."""
        d = self.root / SHARED_INIT
        if not d.is_dir():
            tmp = self.root / f".tmp-{random_hex(4)}-init"
            make_init_layer(tmp)
            try:
                os.rename(tmp, d)
                fsync_dir(self.root)
            except OSError:  # made meanwhile by another process
                remove_tree(tmp)
        return d

    def mounts(self, key: str) -> list[Mount]:
        """The mount of ``key``'s root (destination ``/``), as :meth:`prepare` returned it."""
        d = self._existing(key)
        return [self._root_mount(d, self._stack(key))]

    def _stack(self, key: str) -> list[str]:
        """All lower dirs of ``key``'s mount, top first."""
        d = self._existing(key)
        return _stack(d, [str(p) for p in self.lower_dirs(key)], (d / "init").is_dir())

    def _root_mount(self, d: Path, lowers: Sequence[str]) -> Mount:
        upper, work = str(d / "upper"), str(d / "work")
        options: tuple[str, ...] | None = None
        if not any(needs_escape(p) for p in lowers):
            options = overlay_options(lowers, upper, work, self.extra_options)
        if options is None or not fits(options):
            links = [self._link(p) for p in lowers]
            options = overlay_options(links, upper, work, self.extra_options)
            if not fits(options):
                raise too_long(len(lowers), options_length(options))
        return Mount("/", "overlay", "overlay", options)

    def _link(self, target: str) -> str:
        """A short absolute symlink to ``target`` in the link dir."""
        links = self.link_dir
        links.mkdir(parents=True, exist_ok=True)
        for length in range(8, 53, 4):
            path = links / short_link_name(target, length)
            try:
                os.symlink(target, path)
                return str(path)
            except FileExistsError:
                try:
                    if os.readlink(path) == target:
                        return str(path)
                except OSError:
                    pass
        raise DockyardError(f"cannot make a short link to {target} in {links}")

    def remove(self, key: str) -> None:
        """Delete the snapshot ``key`` and everything in it.

        Its host mount points are unmounted first; if its upper dir is mounted
        anywhere else on the host (a container run by an external runtime), the
        snapshot is in use: Conflict."""
        from dockyard.storage import hostmount

        d = self._existing(key)
        upper = str(d / "upper")
        infos = hostmount.read_mountinfo()
        for m in infos:
            if (
                m.fstype == "overlay"
                and m.super_option("upperdir") == upper
                and not hostmount.is_under(m.mount_point, str(d))
            ):
                raise Conflict(f"snapshot {key} is in use: mounted at {m.mount_point}")
        hostmount.unmount_under(d, mountinfo=infos)
        doomed = self.root / f".del-{random_hex(4)}-{key}"
        os.rename(d, doomed)
        fsync_dir(self.root)
        remove_tree(doomed)

    def clean_stale(self, keep: Collection[str] = ()) -> None:
        """Repair after a crash: unmount stale host mounts (except in ``keep``), delete
        half-made and half-deleted snapshots and links to lower dirs that are gone."""
        clean_stale_mounts(self.root, keep)
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return
        for entry in entries:
            if entry.name.startswith((".tmp-", ".del-")):
                remove_tree(entry.path)
        try:
            links = list(os.scandir(self.link_dir))
        except FileNotFoundError:
            return
        for link in links:
            if link.is_symlink() and not os.path.exists(link.path):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(link.path)

    # -- reading ---------------------------------------------------------------------
    def usage(self, key: str) -> int:
        """Bytes the container wrote (its upper dir), as ``docker ps -s`` counts them."""
        return tree_size(self.upper_dir(key))

    def diff(self, key: str) -> Iterator[Change]:
        """``docker diff``: the paths the container added, changed or deleted."""
        d = self._existing(key)
        return changes(d / "upper", [Path(p) for p in self._stack(key)])

    # -- host mounts -----------------------------------------------------------------
    @contextlib.contextmanager
    def mount_on_host(
        self, key: str, target: Path | None = None, *, lazy_unmount: bool = False
    ) -> Iterator[Path]:
        """Mount ``key``'s merged view on the host for the duration of the block.

        ``target`` defaults to ``<root>/<key>/merged``, where :func:`clean_stale_mounts`
        finds it should the process die inside the block. The container must not be
        running: overlay does not support changing an upper dir under a live mount.
        ``lazy_unmount``: detach it afterwards (see :func:`hostmount.unmount`), when
        nothing opened in the block stays open.
        """
        from dockyard.storage import hostmount

        (mount,) = self.mounts(key)
        where = self._existing(key) / "merged" if target is None else Path(target)
        where.mkdir(parents=True, exist_ok=True)
        hostmount.mount(mount, where)
        try:
            yield where
        finally:
            self.unmount(where, lazy=lazy_unmount)

    def unmount(self, target: Path, *, lazy: bool = False) -> None:
        """Unmount ``target`` (detaching it if busy, or at once if ``lazy``); a no-op
        if nothing is mounted."""
        from dockyard.storage import hostmount

        hostmount.unmount(target, lazy=lazy)


def _copy_root_attrs(src: Path, dst: Path) -> None:
    """The merged root shows the upper dir's owner and mode: take the image's."""
    st = os.lstat(src)
    with contextlib.suppress(PermissionError):
        os.chown(dst, st.st_uid, st.st_gid)
    os.chmod(dst, st.st_mode & 0o7777)


# The shared init layer's directory in the store (bump the number if INIT_LAYER changes:
# snapshots made before keep the old one through their link).
SHARED_INIT = ".init-1"
# Docker's init layer: (path, kind) with kind "dir", "file" or a symlink target.
INIT_LAYER: tuple[tuple[str, str], ...] = (
    ("dev/pts", "dir"),
    ("dev/shm", "dir"),
    ("proc", "dir"),
    ("sys", "dir"),
    (".dockerenv", "file"),
    ("etc/resolv.conf", "file"),
    ("etc/hosts", "file"),
    ("etc/hostname", "file"),
    ("dev/console", "file"),
    ("etc/mtab", "/proc/mounts"),
)


def make_init_layer(d: Path) -> None:
    """Create Docker's init layer in the new directory ``d`` (dirs and files 0755)."""
    d.mkdir()
    made = [d]
    for rel, kind in INIT_LAYER:
        path = d / rel
        for parent in reversed(path.relative_to(d).parents[:-1]):
            if not (d / parent).exists():
                (d / parent).mkdir()
                made.append(d / parent)
        if kind == "dir":
            path.mkdir()
            made.append(path)
        elif kind == "file":
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC))
            made.append(path)
        else:
            os.symlink(kind, path)
    for path in made:  # whatever the umask
        os.chmod(path, 0o755)


def _stack(d: Path, image_lowers: Sequence[str], init: bool) -> list[str]:
    stack = [str(d / "init"), *image_lowers] if init else list(image_lowers)
    return stack or [str(d / "empty")]
