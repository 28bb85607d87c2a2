"""``-v``/``--volume`` and compose's short volume syntax, and the one mount request.

``VolumeSpec.parse("src:dst[:opts]")`` reads what Docker's daemon reads
(moby ``volume/mounts`` ``ParseMountRaw``) after the CLI's touch-ups:

- ``/data``: an anonymous volume at ``/data``;
- ``name:/data``: the named volume ``name`` (``[a-zA-Z0-9][a-zA-Z0-9_.-]+``);
- ``/host:/data``, ``./data:/data``, ``.:/app``, ``~/x:/x``: a bind mount. A source
  starting with ``.`` is relative to ``base_dir`` (the current directory for
  ``docker run``, as Docker 23+ does; the project directory for compose), and
  ``~`` is the home directory (as compose does);
- options, comma-separated: ``ro``/``rw``, ``z``/``Z`` (SELinux relabel),
  ``nocopy`` (volumes), a propagation mode (binds: ``shared``, ``slave``,
  ``private``, ``rshared``, ``rslave``, ``rprivate``), and ``consistent``/
  ``cached``/``delegated`` (accepted and ignored, as on Linux).

:class:`MountRequest` is what the engine consumes; :class:`VolumeSpec`,
:class:`~dockyard.specs.mounts.MountSpec` and
:class:`~dockyard.specs.mounts.TmpfsSpec` all convert to it.
"""

from __future__ import annotations

import os
import posixpath

from dockyard._util.record import Record
from dockyard.specs._go import fail

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Literal

    MountType = Literal["bind", "volume", "tmpfs"]

PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")
CONSISTENCIES = ("consistent", "cached", "delegated")


_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_NAME_REST = _ALNUM | frozenset("_.-")


def is_volume_name(name: str) -> bool:
    """``re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+", name)``, without ``re``."""
    return len(name) >= 2 and name[0] in _ALNUM and _NAME_REST.issuperset(name)


_NAME_CHARS = "[a-zA-Z0-9][a-zA-Z0-9_.-]"


class MountRequest(Record):
    """One mount for the engine to set up, whichever syntax asked for it.

    ``source`` is an absolute host path (bind), a volume name ("" for a new
    anonymous volume) or "" (tmpfs). ``propagation`` "" means the default
    (``rprivate``). ``options`` are further tmpfs mount options (``noexec``, ``uid=1000``).
    """

    __slots__ = (  # noqa: RUF023 (field order)
        "type",
        "source",
        "target",
        "readonly",
        "propagation",
        "nocopy",
        "tmpfs_size",
        "tmpfs_mode",
        "volume_options",
        "volume_driver",
        "volume_labels",
        "volume_subpath",
        "selinux",
        "bind_nonrecursive",
        "options",
    )
    type: MountType
    source: str
    target: str
    readonly: bool
    propagation: str
    nocopy: bool
    tmpfs_size: int | None
    tmpfs_mode: int | None
    volume_options: tuple[tuple[str, str], ...]
    volume_driver: str
    volume_labels: tuple[tuple[str, str], ...]
    volume_subpath: str
    selinux: str
    bind_nonrecursive: bool
    options: tuple[str, ...]

    def __init__(
        self,
        type: MountType,
        source: str,
        target: str,
        readonly: bool = False,
        propagation: str = "",
        nocopy: bool = False,
        tmpfs_size: int | None = None,
        tmpfs_mode: int | None = None,
        volume_options: tuple[tuple[str, str], ...] = (),
        volume_driver: str = "",
        volume_labels: tuple[tuple[str, str], ...] = (),
        volume_subpath: str = "",
        selinux: str = "",
        bind_nonrecursive: bool = False,
        options: tuple[str, ...] = (),
    ) -> None:
        self._set(
            type=type,
            source=source,
            target=target,
            readonly=readonly,
            propagation=propagation,
            nocopy=nocopy,
            tmpfs_size=tmpfs_size,
            tmpfs_mode=tmpfs_mode,
            volume_options=volume_options,
            volume_driver=volume_driver,
            volume_labels=volume_labels,
            volume_subpath=volume_subpath,
            selinux=selinux,
            bind_nonrecursive=bind_nonrecursive,
            options=options,
        )


def clean_path(path: str) -> str:
    """Go's ``path.Clean``: ``//a/./b/`` -> ``/a/b``, ``""`` -> ``.``."""
    cleaned = posixpath.normpath(path) if path else "."
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def mount_config_error(mount_type: str, message: str) -> str:
    return f'invalid mount config for type "{mount_type}": {message}'


def target_error(target: str) -> str | None:
    """Docker's checks on a mount's destination (empty, ``/``, relative)."""
    if not target:
        return "field Target must not be empty"
    target = target.replace("\\", "/")
    if clean_path(target) == "/":
        return "invalid specification: destination can't be '/'"
    if not target.startswith("/"):
        return f"invalid mount path: '{target}' mount path must be absolute"
    return None


def validate_volume_name(name: str) -> None:
    """Docker's rule for local volume names, with its messages."""
    if len(name) == 1:
        fail(
            f"create {name}: volume name is too short, names should be at least two "
            "alphanumeric characters"
        )
    if not is_volume_name(name):
        fail(
            f'create {name}: "{name}" includes invalid characters for a local volume name, '
            f'only "{_NAME_CHARS}" are allowed. If you intended to pass a host directory, '
            "use absolute path",
            hint="start a relative host path with ./ (for example ./data:/data)",
        )


def is_host_path(source: str) -> bool:
    """Compose's rule: a source starting with ``/``, ``.`` or ``~`` is a host path."""
    return source[:1] in ("/", ".", "~")


def resolve_host_path(source: str, base_dir: str | None = None) -> str:
    """``source`` made absolute: ``~`` expanded, relative paths joined to
    ``base_dir`` (default: the current directory), then cleaned."""
    if source.startswith("~"):
        expanded = os.path.expanduser(source)
        if expanded.startswith("~"):  # ~unknown-user: compose joins it to $HOME
            expanded = posixpath.join(os.path.expanduser("~"), source[1:].lstrip("/"))
        source = expanded
    if not source.startswith("/"):
        source = posixpath.join(base_dir if base_dir is not None else os.getcwd(), source)
    return clean_path(source)


def _valid_mode(mode: str) -> bool:
    """moby's ``linuxValidMountMode``: known options, at most one of each kind."""
    if not mode:
        return True
    counts: dict[str, int] = {}
    for opt in mode.split(","):
        if opt in ("ro", "rw"):
            kind = "rw"
        elif opt in ("z", "Z"):
            kind = "label"
        elif opt in PROPAGATIONS:
            kind = "propagation"
        elif opt == "nocopy":
            kind = "copy"
        elif opt in CONSISTENCIES:
            kind = "consistency"
        else:
            return False
        counts[kind] = counts.get(kind, 0) + 1
    return all(n == 1 for n in counts.values())


class VolumeSpec(Record):
    """``-v``/compose short syntax. ``source``: an absolute host path (bind), a
    volume name, or "" (anonymous volume)."""

    __slots__ = (  # noqa: RUF023 (field order)
        "type",
        "source",
        "target",
        "readonly",
        "selinux",
        "propagation",
        "nocopy",
        "consistency",
    )
    type: Literal["bind", "volume"]
    source: str
    target: str
    readonly: bool
    selinux: str  # "", "z" (shared label) or "Z" (private label)
    propagation: str  # "" = the default, rprivate
    nocopy: bool
    consistency: str  # accepted, ignored on Linux

    def __init__(
        self,
        type: Literal["bind", "volume"],
        source: str,
        target: str,
        readonly: bool = False,
        selinux: str = "",
        propagation: str = "",
        nocopy: bool = False,
        consistency: str = "",
    ) -> None:
        self._set(
            type=type,
            source=source,
            target=target,
            readonly=readonly,
            selinux=selinux,
            propagation=propagation,
            nocopy=nocopy,
            consistency=consistency,
        )

    @classmethod
    def parse(cls, text: str, *, base_dir: str | None = None) -> VolumeSpec:
        """Read ``[source:]target[:options]``; relative bind sources resolve against
        ``base_dir`` (default: the current directory)."""
        invalid = f"invalid volume specification: '{text}'"
        arr = text.split(":", 3)
        if not arr[0] or len(arr) == 4 or (len(arr) == 2 and _valid_mode(arr[1])):
            fail(invalid)
        source, target, mode = ("", arr[0], "") if len(arr) == 1 else (*arr[:2], "")
        if len(arr) == 3:
            mode = arr[2]
        if not _valid_mode(mode):
            fail(f"invalid mode: {mode}", hint="options are ro, rw, z, Z, nocopy and propagation")
        opts = mode.split(",") if mode else []
        kind: Literal["bind", "volume"] = "bind" if is_host_path(source) else "volume"
        propagation = next((o for o in opts if o in PROPAGATIONS), "")
        problem = target_error(target)
        if problem is None and kind == "bind" and "nocopy" in opts:
            problem = "field VolumeOptions must not be specified"
        if problem is None and kind == "volume" and propagation:
            problem = "field BindOptions must not be specified"
        if problem is not None:
            fail(f"{invalid}: {mount_config_error(kind, problem)}")
        if kind == "bind":
            source = resolve_host_path(source, base_dir)
        elif source:
            validate_volume_name(source)
        return cls(
            type=kind,
            source=source,
            target=clean_path(target),
            readonly="ro" in opts,
            selinux=next((o for o in opts if o in ("z", "Z")), ""),
            propagation=propagation,
            nocopy="nocopy" in opts,
            consistency=next((o for o in opts if o in CONSISTENCIES), ""),
        )

    @property
    def mode(self) -> str:
        """The options part, canonical order (what ``docker inspect`` shows as Mode)."""
        opts = ["ro"] if self.readonly else []
        opts += [o for o in (self.selinux, self.propagation) if o]
        opts += ["nocopy"] if self.nocopy else []
        opts += [self.consistency] if self.consistency else []
        return ",".join(opts)

    def render(self) -> str:
        """The canonical short form: ``/host:/data:ro``, ``name:/data``, ``/data``."""
        if not self.source:
            return self.target
        mode = self.mode
        return f"{self.source}:{self.target}:{mode}" if mode else f"{self.source}:{self.target}"

    def to_mount(self) -> MountRequest:
        return MountRequest(
            type=self.type,
            source=self.source,
            target=self.target,
            readonly=self.readonly,
            propagation=self.propagation,
            nocopy=self.nocopy,
            selinux=self.selinux,
        )

    def __str__(self) -> str:
        return self.render()
