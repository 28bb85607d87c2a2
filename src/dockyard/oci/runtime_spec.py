"""The subset of the OCI runtime spec (config.json) that Dockyard uses, as value types.

Field names follow the spec's JSON (``ociVersion``, ``process.noNewPrivileges``,
``linux.cgroupsPath``, ...); ``to_dict()`` renders them, ``from_dict()`` parses
them back and rejects wrong types with :class:`InvalidArgument`. Sequences are
tuples so every value is hashable and immutable. Fields the spec allows but we
do not use are ignored on parse.

:class:`Mount` is also the general "mount to perform" description: the storage
layer returns an overlay rootfs as ``Mount("/", "overlay", "overlay",
("lowerdir=...", "upperdir=...", "workdir=..."))``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dockyard.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~2 ms to import; only mypy needs it here
    from typing import Any

OCI_VERSION = "1.0.2"


def _fail(where: str, want: str, got: object) -> InvalidArgument:
    return InvalidArgument(f"invalid runtime spec: {where}: expected {want}, got {got!r}")


def _obj(d: object, where: str) -> Mapping[str, Any]:
    if not isinstance(d, Mapping):
        raise _fail(where, "an object", d)
    return d


def _str(d: Mapping[str, Any], key: str, where: str, default: str = "") -> str:
    v = d.get(key, default)
    if not isinstance(v, str):
        raise _fail(f"{where}.{key}", "a string", v)
    return v


def _opt_str(d: Mapping[str, Any], key: str, where: str) -> str | None:
    v = d.get(key)
    if v is not None and not isinstance(v, str):
        raise _fail(f"{where}.{key}", "a string", v)
    return v


def _bool(d: Mapping[str, Any], key: str, where: str) -> bool:
    v = d.get(key, False)
    if not isinstance(v, bool):
        raise _fail(f"{where}.{key}", "a boolean", v)
    return v


def _int(d: Mapping[str, Any], key: str, where: str, default: int = 0) -> int:
    v = d.get(key, default)
    if not isinstance(v, int) or isinstance(v, bool):
        raise _fail(f"{where}.{key}", "an integer", v)
    return v


def _opt_int(d: Mapping[str, Any], key: str, where: str) -> int | None:
    if d.get(key) is None:
        return None
    return _int(d, key, where)


def _strs(d: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    v = d.get(key) or ()
    if not isinstance(v, Sequence) or isinstance(v, str) or not all(isinstance(s, str) for s in v):
        raise _fail(f"{where}.{key}", "a list of strings", v)
    return tuple(v)


def _ints(d: Mapping[str, Any], key: str, where: str) -> tuple[int, ...]:
    v = d.get(key) or ()
    if (
        not isinstance(v, Sequence)
        or isinstance(v, str)
        or not all(isinstance(i, int) and not isinstance(i, bool) for i in v)
    ):
        raise _fail(f"{where}.{key}", "a list of integers", v)
    return tuple(v)


def _objs(d: Mapping[str, Any], key: str, where: str) -> list[Mapping[str, Any]]:
    v = d.get(key) or ()
    if not isinstance(v, Sequence) or isinstance(v, str):
        raise _fail(f"{where}.{key}", "a list of objects", v)
    return [_obj(item, f"{where}.{key}[{i}]") for i, item in enumerate(v)]


@dataclass(frozen=True)
class Mount:
    """One mount: ``destination`` inside the container (or relative to the rootfs for
    rootfs mounts), filesystem ``type``, ``source`` and mount ``options``."""

    destination: str
    type: str
    source: str
    options: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "destination": self.destination,
            "type": self.type,
            "source": self.source,
        }
        if self.options:
            d["options"] = list(self.options)
        return d

    @classmethod
    def from_dict(cls, d: object, where: str = "mount") -> Mount:
        m = _obj(d, where)
        return cls(
            _str(m, "destination", where),
            _str(m, "type", where),
            _str(m, "source", where),
            _strs(m, "options", where),
        )


@dataclass(frozen=True)
class User:
    """``process.user``: numeric IDs, as the kernel sees them."""

    uid: int = 0
    gid: int = 0
    additional_gids: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"uid": self.uid, "gid": self.gid}
        if self.additional_gids:
            d["additionalGids"] = list(self.additional_gids)
        return d

    @classmethod
    def from_dict(cls, d: object, where: str = "process.user") -> User:
        m = _obj(d, where)
        return cls(_int(m, "uid", where), _int(m, "gid", where), _ints(m, "additionalGids", where))


_CAP_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")


@dataclass(frozen=True)
class Capabilities:
    """Capability names as in the spec (``CAP_CHOWN``, ...)."""

    bounding: tuple[str, ...] = ()
    effective: tuple[str, ...] = ()
    inheritable: tuple[str, ...] = ()
    permitted: tuple[str, ...] = ()
    ambient: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {name: list(getattr(self, name)) for name in _CAP_SETS}

    @classmethod
    def from_dict(cls, d: object, where: str = "process.capabilities") -> Capabilities:
        m = _obj(d, where)
        return cls(*(_strs(m, name, where) for name in _CAP_SETS))


@dataclass(frozen=True)
class Rlimit:
    """One ``process.rlimits`` entry."""

    type: str  # RLIMIT_NOFILE, ...
    hard: int
    soft: int

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "hard": self.hard, "soft": self.soft}

    @classmethod
    def from_dict(cls, d: object, where: str = "process.rlimits") -> Rlimit:
        m = _obj(d, where)
        return cls(_str(m, "type", where), _int(m, "hard", where), _int(m, "soft", where))


@dataclass(frozen=True)
class Process:
    """``process``: what runs in the container and with which rights."""

    args: tuple[str, ...]
    env: tuple[str, ...] = ()
    cwd: str = "/"
    user: User = field(default_factory=User)
    terminal: bool = False
    capabilities: Capabilities | None = None
    no_new_privileges: bool = False
    rlimits: tuple[Rlimit, ...] = ()
    oom_score_adj: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "terminal": self.terminal,
            "user": self.user.to_dict(),
            "args": list(self.args),
            "env": list(self.env),
            "cwd": self.cwd,
        }
        if self.capabilities is not None:
            d["capabilities"] = self.capabilities.to_dict()
        if self.no_new_privileges:
            d["noNewPrivileges"] = True
        if self.rlimits:
            d["rlimits"] = [r.to_dict() for r in self.rlimits]
        if self.oom_score_adj is not None:
            d["oomScoreAdj"] = self.oom_score_adj
        return d

    @classmethod
    def from_dict(cls, d: object, where: str = "process") -> Process:
        m = _obj(d, where)
        caps = m.get("capabilities")
        return cls(
            args=_strs(m, "args", where),
            env=_strs(m, "env", where),
            cwd=_str(m, "cwd", where, "/"),
            user=User.from_dict(m.get("user", {}), f"{where}.user"),
            terminal=_bool(m, "terminal", where),
            capabilities=None
            if caps is None
            else Capabilities.from_dict(caps, f"{where}.capabilities"),
            no_new_privileges=_bool(m, "noNewPrivileges", where),
            rlimits=tuple(
                Rlimit.from_dict(r, f"{where}.rlimits") for r in _objs(m, "rlimits", where)
            ),
            oom_score_adj=_opt_int(m, "oomScoreAdj", where),
        )


@dataclass(frozen=True)
class Root:
    """``root``: the rootfs directory (relative to the bundle) and read-only flag."""

    path: str = "rootfs"  # relative to the bundle, or absolute
    readonly: bool = False

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"path": self.path}
        if self.readonly:
            d["readonly"] = True
        return d

    @classmethod
    def from_dict(cls, d: object, where: str = "root") -> Root:
        m = _obj(d, where)
        return cls(_str(m, "path", where), _bool(m, "readonly", where))


NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup")


@dataclass(frozen=True)
class Namespace:
    """A namespace to create (``path`` None) or to join (``path`` of a ns file)."""

    type: str
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.type}
        if self.path is not None:
            d["path"] = self.path
        return d

    @classmethod
    def from_dict(cls, d: object, where: str = "linux.namespaces") -> Namespace:
        m = _obj(d, where)
        t = _str(m, "type", where)
        if t not in NAMESPACE_TYPES:
            raise _fail(f"{where}.type", f"one of {', '.join(NAMESPACE_TYPES)}", t)
        return cls(t, _opt_str(m, "path", where))


@dataclass(frozen=True)
class Resources:
    """``linux.resources``, flattened: ``memory.limit`` is :attr:`memory_limit`, etc.
    ``None`` means "not set"; a ``pids_limit`` <= 0 means unlimited."""

    memory_limit: int | None = None  # bytes
    cpu_quota: int | None = None  # microseconds per period
    cpu_period: int | None = None  # microseconds
    cpu_shares: int | None = None
    pids_limit: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        if self.memory_limit is not None:
            d["memory"] = {"limit": self.memory_limit}
        cpu = {
            k: v
            for k, v in (
                ("quota", self.cpu_quota),
                ("period", self.cpu_period),
                ("shares", self.cpu_shares),
            )
            if v is not None
        }
        if cpu:
            d["cpu"] = cpu
        if self.pids_limit is not None:
            d["pids"] = {"limit": self.pids_limit}
        return d

    @classmethod
    def from_dict(cls, d: object, where: str = "linux.resources") -> Resources:
        m = _obj(d, where)
        mem = _obj(m.get("memory") or {}, f"{where}.memory")
        cpu = _obj(m.get("cpu") or {}, f"{where}.cpu")
        pids = _obj(m.get("pids") or {}, f"{where}.pids")
        w = f"{where}.cpu"
        return cls(
            memory_limit=_opt_int(mem, "limit", f"{where}.memory"),
            cpu_quota=_opt_int(cpu, "quota", w),
            cpu_period=_opt_int(cpu, "period", w),
            cpu_shares=_opt_int(cpu, "shares", w),
            pids_limit=_opt_int(pids, "limit", f"{where}.pids"),
        )


@dataclass(frozen=True)
class Linux:
    """``linux``: namespaces, masked and read-only paths, cgroup settings."""

    namespaces: tuple[Namespace, ...] = ()
    masked_paths: tuple[str, ...] = ()
    readonly_paths: tuple[str, ...] = ()
    resources: Resources | None = None
    cgroups_path: str | None = None
    sysctl: tuple[tuple[str, str], ...] = ()

    def namespace(self, type_: str) -> Namespace | None:
        for ns in self.namespaces:
            if ns.type == type_:
                return ns
        return None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"namespaces": [n.to_dict() for n in self.namespaces]}
        if self.masked_paths:
            d["maskedPaths"] = list(self.masked_paths)
        if self.readonly_paths:
            d["readonlyPaths"] = list(self.readonly_paths)
        if self.resources is not None:
            d["resources"] = self.resources.to_dict()
        if self.cgroups_path is not None:
            d["cgroupsPath"] = self.cgroups_path
        if self.sysctl:
            d["sysctl"] = dict(self.sysctl)
        return d

    @classmethod
    def from_dict(cls, d: object, where: str = "linux") -> Linux:
        m = _obj(d, where)
        sysctl = _obj(m.get("sysctl") or {}, f"{where}.sysctl")
        for k, v in sysctl.items():
            if not isinstance(v, str):
                raise _fail(f"{where}.sysctl.{k}", "a string", v)
        res = m.get("resources")
        return cls(
            namespaces=tuple(
                Namespace.from_dict(n, f"{where}.namespaces") for n in _objs(m, "namespaces", where)
            ),
            masked_paths=_strs(m, "maskedPaths", where),
            readonly_paths=_strs(m, "readonlyPaths", where),
            resources=None if res is None else Resources.from_dict(res, f"{where}.resources"),
            cgroups_path=_opt_str(m, "cgroupsPath", where),
            sysctl=tuple((str(k), str(v)) for k, v in sysctl.items()),
        )


@dataclass(frozen=True)
class RuntimeSpec:
    """A whole config.json (the parts Dockyard uses)."""

    process: Process
    root: Root = field(default_factory=Root)
    hostname: str = ""
    mounts: tuple[Mount, ...] = ()
    linux: Linux = field(default_factory=Linux)
    oci_version: str = OCI_VERSION

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "ociVersion": self.oci_version,
            "process": self.process.to_dict(),
            "root": self.root.to_dict(),
        }
        if self.hostname:
            d["hostname"] = self.hostname
        d["mounts"] = [m.to_dict() for m in self.mounts]
        d["linux"] = self.linux.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: object) -> RuntimeSpec:
        m = _obj(d, "spec")
        if "process" not in m:
            raise InvalidArgument("invalid runtime spec: missing process")
        return cls(
            process=Process.from_dict(m["process"]),
            root=Root.from_dict(m.get("root", {"path": "rootfs"})),
            hostname=_str(m, "hostname", "spec"),
            mounts=tuple(Mount.from_dict(x, "mounts") for x in _objs(m, "mounts", "spec")),
            linux=Linux.from_dict(m.get("linux", {})),
            oci_version=_str(m, "ociVersion", "spec", OCI_VERSION),
        )
