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

# the very classes collections.abc exports, without importing the collections package
# (~1.5 ms: itertools, operator, keyword, reprlib); os has imported _collections_abc
from _collections_abc import Mapping, Sequence

from dockyard._util.record import DataRecord, Record
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


class Mount(DataRecord):
    """One mount: ``destination`` inside the container (or relative to the rootfs for
    rootfs mounts), filesystem ``type``, ``source`` and mount ``options``."""

    __slots__ = ("destination", "type", "source", "options")  # noqa: RUF023 (field order)
    destination: str
    type: str
    source: str
    options: tuple[str, ...]

    def __init__(
        self,
        destination: str,
        type: str,
        source: str,
        options: tuple[str, ...] = (),
    ) -> None:
        self._set(destination=destination, type=type, source=source, options=options)

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


class User(DataRecord):
    """``process.user``: numeric IDs, as the kernel sees them."""

    __slots__ = ("uid", "gid", "additional_gids")  # noqa: RUF023 (field order)
    uid: int
    gid: int
    additional_gids: tuple[int, ...]

    def __init__(
        self,
        uid: int = 0,
        gid: int = 0,
        additional_gids: tuple[int, ...] = (),
    ) -> None:
        self._set(uid=uid, gid=gid, additional_gids=additional_gids)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"uid": self.uid, "gid": self.gid}
        if self.additional_gids:
            d["additionalGids"] = list(self.additional_gids)
        return d

    @classmethod
    def from_dict(cls, d: object, where: str = "process.user") -> User:
        m = _obj(d, where)
        return cls(_int(m, "uid", where), _int(m, "gid", where), _ints(m, "additionalGids", where))


ROOT_USER = User()  # the default process.user (one instance: records are immutable)

_CAP_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")


class Capabilities(DataRecord):
    """Capability names as in the spec (``CAP_CHOWN``, ...)."""

    __slots__ = ("bounding", "effective", "inheritable", "permitted", "ambient")  # noqa: RUF023 (field order)
    bounding: tuple[str, ...]
    effective: tuple[str, ...]
    inheritable: tuple[str, ...]
    permitted: tuple[str, ...]
    ambient: tuple[str, ...]

    def __init__(
        self,
        bounding: tuple[str, ...] = (),
        effective: tuple[str, ...] = (),
        inheritable: tuple[str, ...] = (),
        permitted: tuple[str, ...] = (),
        ambient: tuple[str, ...] = (),
    ) -> None:
        self._set(
            bounding=bounding,
            effective=effective,
            inheritable=inheritable,
            permitted=permitted,
            ambient=ambient,
        )

    def to_dict(self) -> dict[str, Any]:
        return {name: list(getattr(self, name)) for name in _CAP_SETS}

    @classmethod
    def from_dict(cls, d: object, where: str = "process.capabilities") -> Capabilities:
        m = _obj(d, where)
        return cls(*(_strs(m, name, where) for name in _CAP_SETS))


class Rlimit(DataRecord):
    """One ``process.rlimits`` entry."""

    __slots__ = ("type", "hard", "soft")  # noqa: RUF023 (field order)
    type: str  # RLIMIT_NOFILE, ...
    hard: int
    soft: int

    def __init__(
        self,
        type: str,
        hard: int,
        soft: int,
    ) -> None:
        self._set(type=type, hard=hard, soft=soft)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "hard": self.hard, "soft": self.soft}

    @classmethod
    def from_dict(cls, d: object, where: str = "process.rlimits") -> Rlimit:
        m = _obj(d, where)
        return cls(_str(m, "type", where), _int(m, "hard", where), _int(m, "soft", where))


class Process(DataRecord):
    """``process``: what runs in the container and with which rights."""

    __slots__ = (  # noqa: RUF023 (field order)
        "args",
        "env",
        "cwd",
        "user",
        "terminal",
        "capabilities",
        "no_new_privileges",
        "rlimits",
        "oom_score_adj",
    )
    args: tuple[str, ...]
    env: tuple[str, ...]
    cwd: str
    user: User
    terminal: bool
    capabilities: Capabilities | None
    no_new_privileges: bool
    rlimits: tuple[Rlimit, ...]
    oom_score_adj: int | None

    def __init__(
        self,
        args: tuple[str, ...],
        env: tuple[str, ...] = (),
        cwd: str = "/",
        user: User = ROOT_USER,
        terminal: bool = False,
        capabilities: Capabilities | None = None,
        no_new_privileges: bool = False,
        rlimits: tuple[Rlimit, ...] = (),
        oom_score_adj: int | None = None,
    ) -> None:
        self._set(
            args=args,
            env=env,
            cwd=cwd,
            user=user,
            terminal=terminal,
            capabilities=capabilities,
            no_new_privileges=no_new_privileges,
            rlimits=rlimits,
            oom_score_adj=oom_score_adj,
        )

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


class Root(DataRecord):
    """``root``: the rootfs directory (relative to the bundle) and read-only flag."""

    __slots__ = ("path", "readonly")
    path: str  # relative to the bundle, or absolute
    readonly: bool

    def __init__(
        self,
        path: str = "rootfs",
        readonly: bool = False,
    ) -> None:
        self._set(path=path, readonly=readonly)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"path": self.path}
        if self.readonly:
            d["readonly"] = True
        return d

    @classmethod
    def from_dict(cls, d: object, where: str = "root") -> Root:
        m = _obj(d, where)
        return cls(_str(m, "path", where), _bool(m, "readonly", where))


DEFAULT_ROOT = Root()

NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup")


class Namespace(DataRecord):
    """A namespace to create (``path`` None) or to join (``path`` of a ns file)."""

    __slots__ = ("type", "path")  # noqa: RUF023 (field order)
    type: str
    path: str | None

    def __init__(
        self,
        type: str,
        path: str | None = None,
    ) -> None:
        self._set(type=type, path=path)

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


class Resources(DataRecord):
    """``linux.resources``, flattened: ``memory.limit`` is :attr:`memory_limit`, etc.
    ``None`` means "not set"; a ``pids_limit`` <= 0 means unlimited."""

    __slots__ = (  # noqa: RUF023 (field order)
        "memory_limit", "cpu_quota", "cpu_period", "cpu_shares", "pids_limit", "memory_swap"
    )  # fmt: skip
    memory_limit: int | None  # bytes
    cpu_quota: int | None  # microseconds per period
    cpu_period: int | None  # microseconds
    cpu_shares: int | None
    pids_limit: int | None
    memory_swap: int | None  # memory + swap, bytes (OCI memory.swap); -1: unlimited

    def __init__(
        self,
        memory_limit: int | None = None,
        cpu_quota: int | None = None,
        cpu_period: int | None = None,
        cpu_shares: int | None = None,
        pids_limit: int | None = None,
        memory_swap: int | None = None,
    ) -> None:
        self._set(
            memory_limit=memory_limit,
            cpu_quota=cpu_quota,
            cpu_period=cpu_period,
            cpu_shares=cpu_shares,
            pids_limit=pids_limit,
            memory_swap=memory_swap,
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        memory = {
            k: v for k, v in (("limit", self.memory_limit), ("swap", self.memory_swap))
            if v is not None
        }  # fmt: skip
        if memory:
            d["memory"] = memory
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
            memory_swap=_opt_int(mem, "swap", f"{where}.memory"),
        )


SECCOMP_OPS = (
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
)


class SeccompArg(Record):
    """One ``linux.seccomp.syscalls[].args`` comparison: argument ``index`` ``op``
    ``value`` (``SCMP_CMP_MASKED_EQ``: ``arg & value == value_two``)."""

    __slots__ = ("index", "value", "op", "value_two")  # noqa: RUF023 (field order)
    index: int
    value: int
    op: str
    value_two: int

    def __init__(self, index: int, value: int, op: str, value_two: int = 0) -> None:
        self._set(index=index, value=value, op=op, value_two=value_two)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"index": self.index, "value": self.value}
        if self.value_two:
            d["valueTwo"] = self.value_two
        d["op"] = self.op
        return d

    @classmethod
    def from_dict(cls, d: object, where: str = "linux.seccomp.syscalls.args") -> SeccompArg:
        m = _obj(d, where)
        op = _str(m, "op", where)
        if op not in SECCOMP_OPS:
            raise _fail(f"{where}.op", f"one of {', '.join(SECCOMP_OPS)}", op)
        return cls(_int(m, "index", where), _int(m, "value", where), op, _int(m, "valueTwo", where))


class SeccompSyscall(Record):
    """One ``linux.seccomp.syscalls`` rule: ``action`` for ``names`` (when ``args``
    all match); ``errno_ret`` for SCMP_ACT_ERRNO/SCMP_ACT_TRACE."""

    __slots__ = ("names", "action", "errno_ret", "args")  # noqa: RUF023 (field order)
    names: tuple[str, ...]
    action: str
    errno_ret: int | None
    args: tuple[SeccompArg, ...]

    def __init__(
        self,
        names: tuple[str, ...],
        action: str,
        errno_ret: int | None = None,
        args: tuple[SeccompArg, ...] = (),
    ) -> None:
        self._set(names=tuple(names), action=action, errno_ret=errno_ret, args=tuple(args))

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"names": list(self.names), "action": self.action}
        if self.errno_ret is not None:
            d["errnoRet"] = self.errno_ret
        if self.args:
            d["args"] = [a.to_dict() for a in self.args]
        return d

    @classmethod
    def from_dict(cls, d: object, where: str = "linux.seccomp.syscalls") -> SeccompSyscall:
        m = _obj(d, where)
        return cls(
            _strs(m, "names", where),
            _str(m, "action", where),
            _opt_int(m, "errnoRet", where),
            tuple(SeccompArg.from_dict(a, f"{where}.args") for a in _objs(m, "args", where)),
        )


class Seccomp(Record):
    """``linux.seccomp``: the syscall filter, as resolved for one container (Docker
    evaluates its profile's capability and architecture conditions before writing it)."""

    __slots__ = ("default_action", "default_errno_ret", "architectures", "flags", "syscalls")  # noqa: RUF023
    default_action: str
    default_errno_ret: int | None
    architectures: tuple[str, ...]
    flags: tuple[str, ...]
    syscalls: tuple[SeccompSyscall, ...]

    def __init__(
        self,
        default_action: str,
        default_errno_ret: int | None = None,
        architectures: tuple[str, ...] = (),
        flags: tuple[str, ...] = (),
        syscalls: tuple[SeccompSyscall, ...] = (),
    ) -> None:
        self._set(default_action=default_action, default_errno_ret=default_errno_ret,
                  architectures=tuple(architectures), flags=tuple(flags),
                  syscalls=tuple(syscalls))  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"defaultAction": self.default_action}
        if self.default_errno_ret is not None:
            d["defaultErrnoRet"] = self.default_errno_ret
        if self.architectures:
            d["architectures"] = list(self.architectures)
        if self.flags:
            d["flags"] = list(self.flags)
        d["syscalls"] = [s.to_dict() for s in self.syscalls]
        return d

    @classmethod
    def from_dict(cls, d: object, where: str = "linux.seccomp") -> Seccomp:
        m = _obj(d, where)
        w = f"{where}.syscalls"
        return cls(
            default_action=_str(m, "defaultAction", where),
            default_errno_ret=_opt_int(m, "defaultErrnoRet", where),
            architectures=_strs(m, "architectures", where),
            flags=_strs(m, "flags", where),
            syscalls=tuple(SeccompSyscall.from_dict(s, w) for s in _objs(m, "syscalls", where)),
        )


class Linux(DataRecord):
    """``linux``: namespaces, masked and read-only paths, cgroup settings, seccomp."""

    __slots__ = (  # noqa: RUF023 (field order)
        "namespaces",
        "masked_paths",
        "readonly_paths",
        "resources",
        "cgroups_path",
        "sysctl",
        "seccomp",
    )
    namespaces: tuple[Namespace, ...]
    masked_paths: tuple[str, ...]
    readonly_paths: tuple[str, ...]
    resources: Resources | None
    cgroups_path: str | None
    sysctl: tuple[tuple[str, str], ...]
    seccomp: Seccomp | None

    def __init__(
        self,
        namespaces: tuple[Namespace, ...] = (),
        masked_paths: tuple[str, ...] = (),
        readonly_paths: tuple[str, ...] = (),
        resources: Resources | None = None,
        cgroups_path: str | None = None,
        sysctl: tuple[tuple[str, str], ...] = (),
        seccomp: Seccomp | None = None,
    ) -> None:
        self._set(
            namespaces=namespaces,
            masked_paths=masked_paths,
            readonly_paths=readonly_paths,
            resources=resources,
            cgroups_path=cgroups_path,
            sysctl=sysctl,
            seccomp=seccomp,
        )

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
        if self.seccomp is not None:
            d["seccomp"] = self.seccomp.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: object, where: str = "linux") -> Linux:
        m = _obj(d, where)
        sysctl = _obj(m.get("sysctl") or {}, f"{where}.sysctl")
        for k, v in sysctl.items():
            if not isinstance(v, str):
                raise _fail(f"{where}.sysctl.{k}", "a string", v)
        res = m.get("resources")
        sec = m.get("seccomp")
        return cls(
            namespaces=tuple(
                Namespace.from_dict(n, f"{where}.namespaces") for n in _objs(m, "namespaces", where)
            ),
            masked_paths=_strs(m, "maskedPaths", where),
            readonly_paths=_strs(m, "readonlyPaths", where),
            resources=None if res is None else Resources.from_dict(res, f"{where}.resources"),
            cgroups_path=_opt_str(m, "cgroupsPath", where),
            sysctl=tuple((str(k), str(v)) for k, v in sysctl.items()),
            seccomp=None if sec is None else Seccomp.from_dict(sec, f"{where}.seccomp"),
        )


DEFAULT_LINUX = Linux()


class RuntimeSpec(DataRecord):
    """A whole config.json (the parts Dockyard uses)."""

    __slots__ = ("process", "root", "hostname", "mounts", "linux", "oci_version")  # noqa: RUF023 (field order)
    process: Process
    root: Root
    hostname: str
    mounts: tuple[Mount, ...]
    linux: Linux
    oci_version: str

    def __init__(
        self,
        process: Process,
        root: Root = DEFAULT_ROOT,
        hostname: str = "",
        mounts: tuple[Mount, ...] = (),
        linux: Linux = DEFAULT_LINUX,
        oci_version: str = OCI_VERSION,
    ) -> None:
        self._set(
            process=process,
            root=root,
            hostname=hostname,
            mounts=mounts,
            linux=linux,
            oci_version=oci_version,
        )

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
