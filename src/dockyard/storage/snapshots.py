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

import os

from dockyard._util import jsonlite
from dockyard._util.atomic import atomic_write, fsync_dir
from dockyard._util.fs import make_dir_under_top, remove_tree
from dockyard._util.ids import random_hex
from dockyard._util.lazy import as_path, cache
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
    from pathlib import Path
    from types import TracebackType

    StrPath = str | os.PathLike[str]

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


# A snapshot key (a container ID, a build step's): ``re.fullmatch(_KEY_PATTERN, key)``,
# which is_valid_key checks without re.
_KEY_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}"
_KEY_FIRST = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_KEY_CHARS = _KEY_FIRST | frozenset("_.-")


def is_valid_key(key: str) -> bool:
    """``key`` matches ``_KEY_PATTERN`` (1 to 128 letters, digits, ``_.-``, not
    starting with one of ``_.-``)."""
    return 0 < len(key) <= 128 and key[0] in _KEY_FIRST and _KEY_CHARS.issuperset(key)


@cache
def overlay_extra_options(params_dir: str = _PARAMS) -> tuple[str, ...]:
    """The ``*=off`` options the running kernel's overlayfs understands."""
    return tuple(opt for name, opt in _FEATURE_OPTIONS if os.path.exists(f"{params_dir}/{name}"))


def clean_stale_mounts(root: StrPath, keep: Collection[str] = ()) -> list[str]:
    """Unmount whatever is mounted inside the snapshotter ``root`` (left by a crash),
    except inside the snapshots named in ``keep``. Returns the mount points."""
    from dockyard.storage import hostmount

    base = os.path.abspath(root)
    kept = [os.path.join(base, k) for k in keep]
    return hostmount.unmount_under(base, keep=lambda p: any(hostmount.is_under(p, k) for k in kept))


class Snapshotter:
    """Overlay snapshots under ``root``, one per key (a container ID, a build step).

    Paths are kept as absolute strings (``root_dir``, ``link_dir_str``): creating,
    describing and removing a snapshot need no pathlib. ``root``, ``link_dir`` and
    the methods that return directories give :class:`~pathlib.Path` objects."""

    def __init__(
        self,
        root: StrPath,
        *,
        link_dir: StrPath | None = None,
        extra_options: Sequence[str] | None = None,
    ) -> None:
        self.root_dir = os.path.abspath(root)
        self.link_dir_str = (
            os.path.join(self.root_dir, LINK_DIR) if link_dir is None else os.path.abspath(link_dir)
        )
        for p in (self.root_dir, self.link_dir_str):
            if needs_escape(p):
                raise InvalidArgument(
                    f"snapshot directory {p} contains ',', ':' or '\\', which overlayfs "
                    "cannot take in a mount option"
                )
        self.extra_options = (
            overlay_extra_options() if extra_options is None else tuple(extra_options)
        )

    @property
    def root(self) -> Path:
        return as_path(self.root_dir)

    @property
    def link_dir(self) -> Path:
        return as_path(self.link_dir_str)

    # -- paths -----------------------------------------------------------------------
    def _dir(self, key: str) -> str:
        if not is_valid_key(key) or key == LINK_DIR:
            raise InvalidArgument(f"invalid snapshot key {key!r}")
        return os.path.join(self.root_dir, key)

    def _existing(self, key: str) -> str:
        d = self._dir(key)
        if not os.path.isdir(os.path.join(d, "upper")):
            raise NotFound(f"no such snapshot: {key}")
        return d

    def exists(self, key: str) -> bool:
        return os.path.isdir(os.path.join(self._dir(key), "upper"))

    def keys(self) -> list[str]:
        try:
            names = os.listdir(self.root_dir)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if is_valid_key(n) and n != LINK_DIR)

    def upper_dir(self, key: str) -> Path:
        return as_path(os.path.join(self._existing(key), "upper"))

    def lower_dirs(self, key: str) -> list[Path]:
        """The image's lower dirs ``key`` was prepared with, top first (without the init
        layer; empty for scratch)."""
        return [as_path(p) for p in self._lowers(key, self._existing(key))]

    def _lowers(self, key: str, d: str) -> list[str]:
        try:
            with open(os.path.join(d, "lowers"), encoding="utf-8") as f:
                data = jsonlite.loads(f.read())
        except (OSError, ValueError) as e:
            raise DockyardError(f"snapshot {key}: cannot read its lower dirs: {e}") from e
        if not isinstance(data, list) or not all(isinstance(p, str) for p in data):
            raise DockyardError(f"snapshot {key}: corrupt lower dir list")
        return data

    # -- lifecycle -------------------------------------------------------------------
    def prepare(
        self, key: str, lower_dirs: Sequence[StrPath], *, init: bool = True, durable: bool = True
    ) -> list[Mount]:
        """Make the snapshot ``key`` over ``lower_dirs`` (top layer first) and return the
        mount of the container's root. ``init``: put Docker's init layer on top of the
        image (for containers and build steps; not for a plain view of an image).
        ``durable``: on disk when this returns (not for a snapshot that a crash makes
        moot: a ``--rm`` container's, which ``system restore`` removes).
        Raises AlreadyExists if ``key`` exists."""

        final = self._dir(key)
        lowers = [os.path.abspath(p) for p in lower_dirs]
        if len(lowers) > MAX_LAYERS:
            raise Unsupported(
                f"cannot mount an image with {len(lowers)} layers: overlayfs takes at "
                f"most {MAX_LAYERS}",
                hint="squash the image into fewer layers",
            )
        for p in lowers:
            if not os.path.isdir(p):
                raise NotFound(f"layer directory {p} does not exist")
        if os.path.exists(final):
            raise AlreadyExists(f"snapshot {key} already exists")
        stack = _stack(final, lowers, init)
        mount = self._root_mount(final, stack)  # fits, or raise now
        tmp = os.path.join(self.root_dir, f".tmp-{random_hex(4)}-{key}")
        try:
            make_dir_under_top(tmp, 0o700)  # each snapshot in a block group of its own
            upper = os.path.join(tmp, "upper")
            os.mkdir(upper)
            os.chmod(upper, 0o755)
            os.mkdir(os.path.join(tmp, "work"), 0o700)
            if lowers:
                _copy_root_attrs(lowers[0], upper)
            if init:
                os.symlink(f"../{self._shared_init()}", os.path.join(tmp, "init"))
            elif not lowers:
                empty = os.path.join(tmp, "empty")
                os.mkdir(empty)
                os.chmod(empty, 0o755)
            atomic_write(
                os.path.join(tmp, "lowers"), jsonlite.dumps(lowers).encode(), durable=durable
            )
            try:
                os.rename(tmp, final)
            except OSError as e:
                raise AlreadyExists(f"snapshot {key} already exists") from e
            if durable:
                fsync_dir(self.root_dir)
        except BaseException:
            remove_tree(tmp)
            raise
        return [mount]

    def _shared_init(self) -> str:
        """Docker's init layer, made once per store: every snapshot's ``init`` is a
        link to it. It is only ever a lower dir (never written), so one copy serves
        all; making one per container was ~30 syscalls at create and at rm. Returns
        its name in the store."""
        d = os.path.join(self.root_dir, SHARED_INIT)
        if not os.path.isdir(d):
            tmp = os.path.join(self.root_dir, f".tmp-{random_hex(4)}-init")
            make_init_layer(tmp)
            try:
                os.rename(tmp, d)
                fsync_dir(self.root_dir)
            except OSError:  # made meanwhile by another process
                remove_tree(tmp)
        return SHARED_INIT

    def mounts(self, key: str) -> list[Mount]:
        """The mount of ``key``'s root (destination ``/``), as :meth:`prepare` returned it."""
        d = self._existing(key)
        return [self._root_mount(d, self._stack(key))]

    def _stack(self, key: str) -> list[str]:
        """All lower dirs of ``key``'s mount, top first."""
        d = self._existing(key)
        return _stack(d, self._lowers(key, d), os.path.isdir(os.path.join(d, "init")))

    def _root_mount(self, d: str, lowers: Sequence[str]) -> Mount:
        upper, work = os.path.join(d, "upper"), os.path.join(d, "work")
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
        links = self.link_dir_str
        os.makedirs(links, exist_ok=True)
        for length in range(8, 53, 4):
            path = os.path.join(links, short_link_name(target, length))
            try:
                os.symlink(target, path)
                return path
            except FileExistsError:
                try:
                    if os.readlink(path) == target:
                        return path
                except OSError:
                    pass
        raise DockyardError(f"cannot make a short link to {target} in {links}")

    def remove(self, key: str, *, durable: bool = True) -> None:
        """Delete the snapshot ``key`` and everything in it (``durable``: its renaming
        to a name that ``clean_stale`` deletes is on disk before its files go).

        Its host mount points are unmounted first; if its upper dir is mounted
        anywhere else on the host (a container run by an external runtime), the
        snapshot is in use: Conflict."""
        d = self._existing(key)
        if _mentioned_in_mountinfo(d):
            from dockyard.storage import hostmount

            upper = os.path.join(d, "upper")
            infos = hostmount.read_mountinfo()
            for m in infos:
                if (
                    m.fstype == "overlay"
                    and m.super_option("upperdir") == upper
                    and not hostmount.is_under(m.mount_point, d)
                ):
                    raise Conflict(f"snapshot {key} is in use: mounted at {m.mount_point}")
            hostmount.unmount_under(d, mountinfo=infos)
        doomed = os.path.join(self.root_dir, f".del-{random_hex(4)}-{key}")
        os.rename(d, doomed)
        if durable:
            fsync_dir(self.root_dir)
        remove_tree(doomed)

    def clean_stale(self, keep: Collection[str] = ()) -> None:
        """Repair after a crash: unmount stale host mounts (except in ``keep``), delete
        half-made and half-deleted snapshots and links to lower dirs that are gone."""
        clean_stale_mounts(self.root_dir, keep)
        try:
            entries = list(os.scandir(self.root_dir))
        except FileNotFoundError:
            return
        for entry in entries:
            if entry.name.startswith((".tmp-", ".del-")):
                remove_tree(entry.path)
        try:
            links = list(os.scandir(self.link_dir_str))
        except FileNotFoundError:
            return
        for link in links:
            if link.is_symlink() and not os.path.exists(link.path):
                try:
                    os.unlink(link.path)
                except FileNotFoundError:
                    pass

    # -- reading ---------------------------------------------------------------------
    def usage(self, key: str) -> int:
        """Bytes the container wrote (its upper dir), as ``docker ps -s`` counts them."""
        return tree_size(os.path.join(self._existing(key), "upper"))

    def diff(self, key: str) -> Iterator[Change]:
        """``docker diff``: the paths the container added, changed or deleted."""
        d = self._existing(key)
        return changes(as_path(os.path.join(d, "upper")), [as_path(p) for p in self._stack(key)])

    # -- host mounts -----------------------------------------------------------------
    def mount_on_host(
        self, key: str, target: Path | None = None, *, lazy_unmount: bool = False
    ) -> _HostMount:
        """Mount ``key``'s merged view on the host for the duration of the block.

        ``target`` defaults to ``<root>/<key>/merged``, where :func:`clean_stale_mounts`
        finds it should the process die inside the block. The container must not be
        running: overlay does not support changing an upper dir under a live mount.
        ``lazy_unmount``: detach it afterwards (see :func:`hostmount.unmount`), when
        nothing opened in the block stays open.
        """
        return _HostMount(self, key, target, lazy_unmount)

    def unmount(self, target: Path, *, lazy: bool = False) -> None:
        """Unmount ``target`` (detaching it if busy, or at once if ``lazy``); a no-op
        if nothing is mounted."""
        from dockyard.storage import hostmount

        hostmount.unmount(target, lazy=lazy)


class _HostMount:
    """:meth:`Snapshotter.mount_on_host`'s context manager (without contextlib)."""

    def __init__(
        self, snap: Snapshotter, key: str, target: Path | None, lazy_unmount: bool
    ) -> None:
        self.snap, self.key, self.target, self.lazy_unmount = snap, key, target, lazy_unmount

    def __enter__(self) -> Path:
        from dockyard.storage import hostmount

        (mount,) = self.snap.mounts(self.key)
        if self.target is None:
            self.where = as_path(os.path.join(self.snap._existing(self.key), "merged"))
        else:
            self.where = as_path(os.fspath(self.target))
        self.where.mkdir(parents=True, exist_ok=True)
        hostmount.mount(mount, self.where)
        return self.where

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.snap.unmount(self.where, lazy=self.lazy_unmount)


def _copy_root_attrs(src: str, dst: str) -> None:
    """The merged root shows the upper dir's owner and mode: take the image's."""
    st = os.lstat(src)
    try:
        os.chown(dst, st.st_uid, st.st_gid)
    except PermissionError:
        pass
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


def make_init_layer(d: StrPath) -> None:
    """Create Docker's init layer in the new directory ``d`` (dirs and files 0755)."""
    d = os.fspath(d)
    os.mkdir(d)
    made = [d]
    for rel, kind in INIT_LAYER:
        path = os.path.join(d, rel)
        parts = rel.split("/")[:-1]
        for i in range(1, len(parts) + 1):  # the parents, top first
            parent = os.path.join(d, *parts[:i])
            if not os.path.exists(parent):
                os.mkdir(parent)
                made.append(parent)
        if kind == "dir":
            os.mkdir(path)
            made.append(path)
        elif kind == "file":
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC))
            made.append(path)
        else:
            os.symlink(kind, path)
    for path in made:  # whatever the umask
        os.chmod(path, 0o755)


def _stack(d: str, image_lowers: Sequence[str], init: bool) -> list[str]:
    stack = [os.path.join(d, "init"), *image_lowers] if init else list(image_lowers)
    return stack or [os.path.join(d, "empty")]


def _mentioned_in_mountinfo(path: str) -> bool:
    """Whether ``path`` occurs anywhere in this process's mountinfo: a mount point at
    or under it, or an overlay's options naming it. A container's snapshot usually is
    not there (its overlay lives in the container's own mount namespace), and then
    ``remove`` need not parse the table. Paths that mountinfo would escape (space,
    tab, newline, backslash) are always looked at closely."""
    if any(c in path for c in " \t\n\\"):
        return True
    with open("/proc/self/mountinfo", "rb") as f:
        return os.fsencode(path) in f.read()
