"""``--mount`` (CSV ``key=value`` fields) and ``--tmpfs`` (``/run:rw,size=64m``).

``MountSpec.parse`` follows the docker CLI's ``MountOpt.Set`` (the flag-level
errors, wrapped like pflag when given ``flag``) and then the daemon's mount
validation (``invalid mount config for type "bind": ...``). Keys: ``type``
(bind, volume, tmpfs; default volume), ``source``/``src``, ``target``/``dst``/
``destination``, ``readonly``/``ro`` (optionally ``=true|false|1|0``),
``bind-propagation``, ``bind-nonrecursive``, ``volume-nocopy``, ``volume-driver``,
``volume-subpath``, ``volume-label`` and ``volume-opt`` (repeatable,
``k=v``), ``tmpfs-size``, ``tmpfs-mode`` (octal), ``consistency`` (ignored).
"""

from __future__ import annotations

from dockyard._util.record import Record
from dockyard.errors import InvalidArgument
from dockyard.specs._go import DIGITS, GoError, fail, parse_bool, parse_int, quote
from dockyard.specs.units import format_size, parse_size
from dockyard.specs.volumes import (
    PROPAGATIONS,
    MountRequest,
    clean_path,
    mount_config_error,
    resolve_host_path,
    target_error,
    validate_volume_name,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.specs.volumes import MountType

_TYPES: dict[str, MountType] = {"bind": "bind", "volume": "volume", "tmpfs": "tmpfs"}
_KEYS_TEXT = (
    "type source src target dst destination readonly ro consistency bind-propagation "
    "bind-nonrecursive volume-nocopy volume-driver volume-subpath volume-label "
    "volume-opt tmpfs-size tmpfs-mode"
)
_KEYS = frozenset(_KEYS_TEXT.split())
_QUOTE_ERR = 'parse error on line 1, column {}: extraneous or missing " in quoted-field'


def split_csv_record(text: str) -> list[str]:
    """One record as Go's ``encoding/csv`` reads it: ``,``-separated, a field may
    be ``"quoted"`` with ``""`` for a quote. Raises GoError with Go's message."""
    if not text or text in ("\n", "\r\n"):
        raise GoError("EOF")
    fields: list[str] = []
    i, n = 0, len(text)
    while True:
        if text.startswith('"', i):
            value, i = [], i + 1
            while True:
                q = text.find('"', i)
                if q < 0:
                    raise GoError(_QUOTE_ERR.format(n + 1))
                value.append(text[i:q])
                if text.startswith('"', q + 1):
                    value.append('"')
                    i = q + 2
                    continue
                i = q + 1
                if i < n and text[i] not in ",\r\n":
                    raise GoError(_QUOTE_ERR.format(i + 1))
                break
            fields.append("".join(value))
        else:
            end = min((p for p in (text.find(c, i) for c in ",\r\n") if p >= 0), default=n)
            field = text[i:end]
            if '"' in field:
                col = i + field.index('"') + 1
                raise GoError(f'parse error on line 1, column {col}: bare " in non-quoted-field')
            fields.append(field)
            i = end
        if i >= n or text[i] != ",":
            return fields
        i += 1


def _csv_field(field: str) -> str:
    if field and (any(c in field for c in ',"\r\n') or field[0] in " \t"):
        return '"' + field.replace('"', '""') + '"'
    return field


def _pairs(items: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(items.items()))


class MountSpec(Record):
    """``--mount`` as a value; :meth:`to_mount` gives the engine's request."""

    __slots__ = (  # noqa: RUF023 (field order)
        "type",
        "source",
        "target",
        "readonly",
        "bind_propagation",
        "bind_nonrecursive",
        "volume_nocopy",
        "volume_driver",
        "volume_subpath",
        "volume_labels",
        "volume_options",
        "tmpfs_size",
        "tmpfs_mode",
    )
    type: MountType
    source: str
    target: str
    readonly: bool
    bind_propagation: str
    bind_nonrecursive: bool
    volume_nocopy: bool
    volume_driver: str
    volume_subpath: str
    volume_labels: tuple[tuple[str, str], ...]
    volume_options: tuple[tuple[str, str], ...]
    tmpfs_size: int | None
    tmpfs_mode: int | None

    def __init__(
        self,
        type: MountType,
        source: str,
        target: str,
        readonly: bool = False,
        bind_propagation: str = "",
        bind_nonrecursive: bool = False,
        volume_nocopy: bool = False,
        volume_driver: str = "",
        volume_subpath: str = "",
        volume_labels: tuple[tuple[str, str], ...] = (),
        volume_options: tuple[tuple[str, str], ...] = (),
        tmpfs_size: int | None = None,
        tmpfs_mode: int | None = None,
    ) -> None:
        self._set(
            type=type,
            source=source,
            target=target,
            readonly=readonly,
            bind_propagation=bind_propagation,
            bind_nonrecursive=bind_nonrecursive,
            volume_nocopy=volume_nocopy,
            volume_driver=volume_driver,
            volume_subpath=volume_subpath,
            volume_labels=volume_labels,
            volume_options=volume_options,
            tmpfs_size=tmpfs_size,
            tmpfs_mode=tmpfs_mode,
        )

    @classmethod
    def parse(cls, text: str, *, base_dir: str | None = None, flag: str | None = None) -> MountSpec:
        """Read ``type=bind,source=/a,target=/b,readonly``; a ``./`` source is
        relative to ``base_dir`` (default: the current directory)."""

        def bad(message: str) -> None:
            fail(message, value=text, flag=flag)

        try:
            fields = split_csv_record(text)
        except GoError as e:
            fail(str(e), value=text, flag=flag)
        kind, source, target, readonly = "volume", "", "", False
        propagation, nonrecursive, nocopy, driver, subpath = "", False, False, "", ""
        labels: dict[str, str] = {}
        options: dict[str, str] = {}
        size: int | None = None
        mode: int | None = None
        touched: set[str] = set()
        for field in fields:
            key, eq, val = field.partition("=")
            key = key.lower()
            group = key.split("-")[0] if "-" in key else ""
            touched.add(group)
            if not eq:
                if key in ("readonly", "ro"):
                    readonly = True
                elif key == "volume-nocopy":
                    nocopy = True
                elif key == "bind-nonrecursive":
                    nonrecursive = True
                else:
                    bad(f"invalid field '{field}' must be a key=value pair")
                continue
            if key not in _KEYS:
                bad(f"unexpected key '{key}' in '{field}'")
            try:
                if key == "type":
                    kind = val.lower()
                elif key in ("source", "src"):
                    source = val
                    if val == "." or val.startswith("./"):
                        source = resolve_host_path(val, base_dir)
                elif key in ("target", "dst", "destination"):
                    target = val
                elif key in ("readonly", "ro"):
                    readonly = parse_bool(val)
                elif key == "bind-propagation":
                    propagation = val.lower()
                elif key == "bind-nonrecursive":
                    nonrecursive = parse_bool(val)
                elif key == "volume-nocopy":
                    nocopy = parse_bool(val)
                elif key == "volume-driver":
                    driver = val
                elif key == "volume-subpath":
                    subpath = val
                elif key in ("volume-label", "volume-opt"):
                    k, _, v = val.partition("=")
                    if k:
                        (labels if key == "volume-label" else options)[k] = v
                elif key == "tmpfs-size":
                    size = parse_size(val)
                elif key == "tmpfs-mode":
                    mode = parse_int(val, func="ParseUint", base=8, bits=32, signed=False)
                # consistency: Docker Desktop's; nothing on Linux
            except (GoError, InvalidArgument):
                bad(f"invalid value for {key}: {val}")
        if not kind:
            bad("type is required")
        if not target:
            bad("target is required")
        for group in ("volume", "bind", "tmpfs"):
            if group in touched and kind != group:
                bad(f"cannot mix '{group}-*' options with mount type '{kind}'")
        problem = target_error(target)
        if problem is None:
            problem = _type_error(kind, source, readonly, propagation)
        if problem is not None:
            fail(mount_config_error(kind, problem))
        if kind == "volume" and source:
            validate_volume_name(source)
        return cls(
            type=_TYPES[kind],
            source=clean_path(source) if kind == "bind" else source,
            target=clean_path(target),
            readonly=readonly,
            bind_propagation=propagation,
            bind_nonrecursive=nonrecursive,
            volume_nocopy=nocopy,
            volume_driver=driver,
            volume_subpath=subpath,
            volume_labels=_pairs(labels),
            volume_options=_pairs(options),
            tmpfs_size=size,
            tmpfs_mode=mode,
        )

    def render(self) -> str:
        """The canonical CSV form, keys in a fixed order."""
        fields = [f"type={self.type}"]
        fields += [f"source={self.source}"] if self.source else []
        fields.append(f"target={self.target}")
        fields += ["readonly"] if self.readonly else []
        fields += [f"bind-propagation={self.bind_propagation}"] if self.bind_propagation else []
        fields += ["bind-nonrecursive"] if self.bind_nonrecursive else []
        fields += ["volume-nocopy"] if self.volume_nocopy else []
        fields += [f"volume-driver={self.volume_driver}"] if self.volume_driver else []
        fields += [f"volume-subpath={self.volume_subpath}"] if self.volume_subpath else []
        fields += [f"volume-label={k}={v}" for k, v in self.volume_labels]
        fields += [f"volume-opt={k}={v}" for k, v in self.volume_options]
        if self.tmpfs_size is not None:
            fields.append(f"tmpfs-size={format_size(self.tmpfs_size)}")
        if self.tmpfs_mode is not None:
            fields.append(f"tmpfs-mode={self.tmpfs_mode:o}")
        return ",".join(_csv_field(f) for f in fields)

    def to_mount(self) -> MountRequest:
        return MountRequest(
            type=self.type,
            source=self.source,
            target=self.target,
            readonly=self.readonly,
            propagation=self.bind_propagation,
            nocopy=self.volume_nocopy,
            tmpfs_size=self.tmpfs_size,
            tmpfs_mode=self.tmpfs_mode,
            volume_options=self.volume_options,
            volume_driver=self.volume_driver,
            volume_labels=self.volume_labels,
            volume_subpath=self.volume_subpath,
            bind_nonrecursive=self.bind_nonrecursive,
        )

    def __str__(self) -> str:
        return self.render()


def _type_error(kind: str, source: str, readonly: bool, propagation: str) -> str | None:
    """The daemon's type-specific checks (moby ``validateMountConfigImpl``)."""
    if kind == "bind":
        if not source:
            return "field Source must not be empty"
        if propagation and propagation not in PROPAGATIONS:
            return f"invalid propagation mode: {propagation}"
        if not source.startswith("/"):
            return f"invalid mount path: '{source}' mount path must be absolute"
    elif kind == "volume":
        if not source and readonly:
            return "must not set ReadOnly mode when using anonymous volumes"
    elif kind == "tmpfs":
        if source:
            return "field Source must not be specified"
    else:
        return "mount type unknown"
    return None


# -- --tmpfs ----------------------------------------------------------------------------------

# mount(8) flags moby's parseOptions knows, and the tmpfs data options it lets through
_FLAGS_TEXT = (
    "defaults ro rw suid nosuid dev nodev exec noexec sync async dirsync remount mand "
    "nomand atime noatime diratime nodiratime bind rbind unbindable runbindable private "
    "rprivate shared rshared slave rslave relatime norelatime strictatime nostrictatime"
)
_FLAGS = frozenset(_FLAGS_TEXT.split())
_DATA = frozenset(("size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol"))
_RELATIVE = "invalid mount path: '{}' mount path must be absolute"


class TmpfsSpec(Record):
    """``--tmpfs /run:rw,noexec,size=64m``: a target and mount options as given."""

    __slots__ = ("target", "options")  # noqa: RUF023 (field order)
    target: str
    options: tuple[str, ...]

    def __init__(self, target: str, options: tuple[str, ...] = ()) -> None:
        self._set(target=target, options=options)

    @classmethod
    def parse(cls, text: str) -> TmpfsSpec:
        target, _, opts = text.partition(":")
        problem = target_error(target) if target else _RELATIVE.format("")
        if problem is not None:
            fail(problem)
        options = tuple(o for o in opts.split(",") if o)
        for opt in options:
            key, eq, val = opt.partition("=")
            if opt not in _FLAGS and (key not in _DATA or not eq):
                fail(f"invalid tmpfs option [{' '.join(quote(p) for p in opt.split('=', 1))}]")
            try:
                if key == "size" and not (
                    val.endswith("%") and val[:-1] != "" and all(c in DIGITS for c in val[:-1])
                ):
                    parse_size(val)
                elif key == "mode":
                    parse_int(val, func="ParseUint", base=8, bits=32, signed=False)
            except (GoError, InvalidArgument) as e:
                fail(f"invalid tmpfs option {opt}: {e}")
        return cls(clean_path(target), options)

    @property
    def readonly(self) -> bool:
        """The last of ``ro``/``rw`` wins; read-write by default."""
        return next((o == "ro" for o in reversed(self.options) if o in ("ro", "rw")), False)

    def render(self) -> str:
        return f"{self.target}:{','.join(self.options)}" if self.options else self.target

    def to_mount(self) -> MountRequest:
        size: int | None = None
        mode: int | None = None
        rest: list[str] = []
        for opt in self.options:
            key, _, val = opt.partition("=")
            if key == "size" and not val.endswith("%"):
                size = parse_size(val)
            elif key == "mode":
                mode = int(val, 8)
            elif opt not in ("ro", "rw"):
                rest.append(opt)
        return MountRequest(
            type="tmpfs",
            source="",
            target=self.target,
            readonly=self.readonly,
            tmpfs_size=size,
            tmpfs_mode=mode,
            options=tuple(rest),
        )

    def __str__(self) -> str:
        return self.render()
