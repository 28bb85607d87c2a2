"""The file contract between the engine and a container's shim.

A container directory ``D`` (``$ROOT/containers/<id>/``) holds:

``config.json``
    The OCI runtime spec (engine-written; also the bundle: ``root.path`` is relative to D).
``shim.json`` -- :class:`ShimConfig`, engine-written, read by the shim once at start::

    {"id": "<id>", "runtime": "dockyard",
     "rootfs_mounts": [{"destination": "/", "type": "overlay", ...}],
     "cgroup": {"path": "dockyard/<id>", "resources": {...OCI linux.resources...}} | null,
     "restart_policy": {"name": "no|always|on-failure|unless-stopped", "max_retries": 0},
     "log": {"driver": "json-file|none", "max-size": "10m", "max-file": "3"},
     "tty": false, "open_stdin": false, "stop_signal": "SIGTERM" | null,
     "stop_timeout": 10, "resolve_user": "user[:group]" | null,
     "auto_remove": false, "cleanup_command": ["dockyard", "rm", "-f", "<id>"],
     "seccomp_filter": "$ROOT/cache/seccomp/<sha256>.bpf" | null}

    ``runtime``: ``dockyard`` (the built-in executor), ``crun`` or ``runc``.
    ``seccomp_filter``: config.json's ``linux.seccomp`` compiled (compiled again from
    config.json should the file be gone).

``state.json`` -- :class:`State`, written only by the shim, atomically (temp file,
    fsync, rename), at every transition::

    {"id": .., "status": "created|running|paused|restarting|exited|dead",
     "pid": 123, "pid_start": <starttime of pid in /proc/PID/stat, clock ticks>,
     "shim_pid": 120, "shim_start": <same for the shim>,
     "started_at": "2024-01-02T03:04:05.123456789Z", "finished_at": "0001-01-01T00:00:00Z",
     "exit_code": 0, "restart_count": 0, "oom_killed": false, "error": "",
     "manually_stopped": false}

    The one exception to "only the shim writes it": after the shim is proven dead
    (SIGKILL), :meth:`dockyard.runtime.shim_client.ShimClient.cleanup` kills what is
    left and writes the final state. No file means "created, never started".
``<id>-json.log`` (+ ``.1``, ``.2`` ...) -- the json-file log (:mod:`dockyard.runtime.logs`).

In ``$RUNROOT/containers/<id>/`` (tmpfs, gone after a reboot) the shim listens on
``shim.sock`` (protocol in :mod:`dockyard.runtime.shim`).

The start times make pids safe against reuse: a pid counts as "ours" only while
``/proc/PID/stat`` shows the recorded start time and the process is not a zombie.

This module is imported by the shim itself, so it stays light: no dataclasses
(importing them costs the shim ~6 ms and ~1.5 MB RSS); the records are small
hand-written immutable classes.
"""

from __future__ import annotations

import os
import time

from dockyard._util import jsonlite
from dockyard._util.proc import proc_start_time
from dockyard.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from dockyard.oci.runtime_spec import Mount, Resources

STATE_FILE = "state.json"
SHIM_FILE = "shim.json"
SOCKET_NAME = "shim.sock"
ZERO_TIME = "0001-01-01T00:00:00Z"
STATUSES = ("created", "running", "paused", "restarting", "exited", "dead")
FINAL = ("created", "exited", "dead")  # no shim is needed for these

# -- time --------------------------------------------------------------------


def rfc3339_nano(ns: int | None = None) -> str:
    """``2024-01-02T03:04:05.123456789Z`` (Docker's fixed 9 digits) for unix ``ns``."""
    if ns is None:
        ns = time.time_ns()
    sec, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{frac:09d}Z"


def _days_from_civil(y: int, m: int, d: int) -> int:
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def parse_rfc3339(text: str) -> int:
    """Unix nanoseconds of an RFC 3339 time (any number of fraction digits, ``Z`` or an
    offset). Raises :class:`InvalidArgument`."""
    try:
        date, _, rest = text.partition("T")
        y, mo, d = (int(x) for x in date.split("-"))
        if rest.endswith(("Z", "z")):
            clock, off = rest[:-1], 0
        else:
            i = max(rest.rfind("+"), rest.rfind("-"))
            if i < 0:
                raise ValueError(text)
            oh, om = rest[i + 1 :].split(":")
            off = (int(oh) * 3600 + int(om) * 60) * (1 if rest[i] == "+" else -1)
            clock = rest[:i]
        hms, _, frac = clock.partition(".")
        h, mi, s = (int(x) for x in hms.split(":"))
        if frac and not frac.isdigit():
            raise ValueError(text)
        sec = _days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - off
        return sec * 1_000_000_000 + int((frac + "000000000")[:9])
    except ValueError:
        raise InvalidArgument(f"invalid RFC 3339 time {text!r}") from None


# -- processes ---------------------------------------------------------------


def pid_alive(pid: int, start: int | None) -> bool:
    """``pid`` runs and is the process recorded (same start time, if one was recorded)."""
    now = proc_start_time(pid)
    return now is not None and (not start or now == start)


# -- records -----------------------------------------------------------------


def _get(d: Mapping[str, Any], key: str, typ: type, default: Any, where: str) -> Any:
    v = d.get(key, default)
    if v is None and default is None:
        return None
    if not isinstance(v, typ) or (typ is int and isinstance(v, bool)):
        raise InvalidArgument(f"invalid {where}: {key} must be {typ.__name__}, got {v!r}")
    return v


class _Record:
    """Immutable, slotted, compared and printed by its fields."""

    __slots__: tuple[str, ...] = ()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _set(self, **values: object) -> None:
        for k, v in values.items():
            object.__setattr__(self, k, v)

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, k) for k in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(repr(self))

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__)
        return f"{type(self).__name__}({body})"


class State(_Record):
    """One container's state as the shim last wrote it (see the module docstring)."""

    __slots__ = (  # noqa: RUF023 (field order is the file order)
        "id",
        "status",
        "pid",
        "pid_start",
        "shim_pid",
        "shim_start",
        "started_at",
        "finished_at",
        "exit_code",
        "restart_count",
        "oom_killed",
        "error",
        "manually_stopped",
    )
    id: str
    status: str
    pid: int
    pid_start: int
    shim_pid: int
    shim_start: int
    started_at: str
    finished_at: str
    exit_code: int
    restart_count: int
    oom_killed: bool
    error: str
    manually_stopped: bool

    def __init__(
        self,
        id: str = "",
        status: str = "created",
        pid: int = 0,
        pid_start: int = 0,
        shim_pid: int = 0,
        shim_start: int = 0,
        started_at: str = ZERO_TIME,
        finished_at: str = ZERO_TIME,
        exit_code: int = 0,
        restart_count: int = 0,
        oom_killed: bool = False,
        error: str = "",
        manually_stopped: bool = False,
    ) -> None:
        if status not in STATUSES:
            raise InvalidArgument(f"invalid state: unknown status {status!r}")
        self._set(
            id=id,
            status=status,
            pid=pid,
            pid_start=pid_start,
            shim_pid=shim_pid,
            shim_start=shim_start,
            started_at=started_at,
            finished_at=finished_at,
            exit_code=exit_code,
            restart_count=restart_count,
            oom_killed=oom_killed,
            error=error,
            manually_stopped=manually_stopped,
        )

    @property
    def running(self) -> bool:
        """Docker's ``State.Running``: true while running, paused or restarting."""
        return self.status in ("running", "paused", "restarting")

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}

    @classmethod
    def from_dict(cls, d: object) -> State:
        if not isinstance(d, dict):
            raise InvalidArgument(f"invalid state: expected an object, got {d!r}")
        kw: dict[str, Any] = {}
        for k in cls.__slots__:
            if k in d:
                default = getattr(_DEFAULT_STATE, k)
                kw[k] = _get(d, k, type(default), default, STATE_FILE)
        return cls(**kw)

    def replace(self, **changes: Any) -> State:
        return State(**{**self.to_dict(), **changes})


_DEFAULT_STATE = State()


class ShimConfig(_Record):
    """``shim.json``: how the shim runs one container (see the module docstring).

    Mounts and resources are kept as their JSON form, so the shim itself never imports
    the runtime-spec classes; :meth:`mounts` and :meth:`resources` parse them."""

    __slots__ = (  # noqa: RUF023 (field order is the file order)
        "id",
        "runtime",
        "rootfs_mounts_json",
        "cgroup_path",
        "resources_json",
        "restart_policy",
        "max_retries",
        "log_driver",
        "log_max_size",
        "log_max_file",
        "tty",
        "open_stdin",
        "stop_signal",
        "stop_timeout",
        "resolve_user",
        "auto_remove",
        "cleanup_command",
        "seccomp_filter",
    )
    id: str
    runtime: str
    rootfs_mounts_json: tuple[Mapping[str, Any], ...]
    cgroup_path: str | None
    resources_json: Mapping[str, Any] | None
    restart_policy: str
    max_retries: int
    log_driver: str
    log_max_size: str
    log_max_file: str
    tty: bool
    open_stdin: bool
    stop_signal: str | None
    stop_timeout: int
    resolve_user: str | None
    auto_remove: bool
    cleanup_command: tuple[str, ...]
    seccomp_filter: str | None

    def __init__(
        self,
        id: str,
        *,
        runtime: str = "dockyard",
        rootfs_mounts_json: Sequence[Mapping[str, Any]] = (),
        cgroup_path: str | None = None,
        resources_json: Mapping[str, Any] | None = None,
        restart_policy: str = "no",
        max_retries: int = 0,
        log_driver: str = "json-file",
        log_max_size: str = "10m",
        log_max_file: str = "3",
        tty: bool = False,
        open_stdin: bool = False,
        stop_signal: str | None = None,
        stop_timeout: int = 10,
        resolve_user: str | None = None,
        auto_remove: bool = False,
        cleanup_command: Sequence[str] = (),
        seccomp_filter: str | None = None,
    ) -> None:
        if not id or "/" in id:
            raise InvalidArgument(f"invalid {SHIM_FILE}: bad container id {id!r}")
        self._set(
            id=id,
            runtime=runtime,
            rootfs_mounts_json=tuple(rootfs_mounts_json),
            cgroup_path=cgroup_path,
            resources_json=resources_json,
            restart_policy=restart_policy,
            max_retries=max_retries,
            log_driver=log_driver,
            log_max_size=log_max_size,
            log_max_file=log_max_file,
            tty=tty,
            open_stdin=open_stdin,
            stop_signal=stop_signal,
            stop_timeout=stop_timeout,
            resolve_user=resolve_user,
            auto_remove=auto_remove,
            cleanup_command=tuple(cleanup_command),
            seccomp_filter=seccomp_filter,
        )

    @classmethod
    def build(
        cls,
        id: str,
        *,
        rootfs_mounts: Sequence[Mount] = (),
        resources: Resources | None = None,
        **kw: Any,
    ) -> ShimConfig:
        """The engine's constructor: typed mounts and resources."""
        return cls(
            id,
            rootfs_mounts_json=[m.to_dict() for m in rootfs_mounts],
            resources_json=None if resources is None else resources.to_dict(),
            **kw,
        )

    def mounts(self) -> tuple[Mount, ...]:
        from dockyard.oci.runtime_spec import Mount

        return tuple(Mount.from_dict(m, "rootfs_mounts") for m in self.rootfs_mounts_json)

    def resources(self) -> Resources | None:
        from dockyard.oci.runtime_spec import Resources

        j = self.resources_json
        return None if j is None else Resources.from_dict(j, "cgroup.resources")

    def replace(self, **changes: Any) -> ShimConfig:
        kw = {k: getattr(self, k) for k in self.__slots__ if k != "id"}
        return ShimConfig(self.id, **{**kw, **changes})

    def to_dict(self) -> dict[str, Any]:
        cg = None
        if self.cgroup_path is not None:
            cg = {"path": self.cgroup_path, "resources": self.resources_json}
        return {
            "id": self.id,
            "runtime": self.runtime,
            "rootfs_mounts": list(self.rootfs_mounts_json),
            "cgroup": cg,
            "restart_policy": {"name": self.restart_policy, "max_retries": self.max_retries},
            "log": {
                "driver": self.log_driver,
                "max-size": self.log_max_size,
                "max-file": self.log_max_file,
            },
            "tty": self.tty,
            "open_stdin": self.open_stdin,
            "stop_signal": self.stop_signal,
            "stop_timeout": self.stop_timeout,
            "resolve_user": self.resolve_user,
            "auto_remove": self.auto_remove,
            "cleanup_command": list(self.cleanup_command),
            "seccomp_filter": self.seccomp_filter,
        }

    @classmethod
    def from_dict(cls, d: object) -> ShimConfig:
        w = SHIM_FILE
        if not isinstance(d, dict):
            raise InvalidArgument(f"invalid {w}: expected an object, got {d!r}")
        cg = _get(d, "cgroup", dict, None, w) or {}
        rp = _get(d, "restart_policy", dict, {}, w)
        log = _get(d, "log", dict, {}, w)
        mounts = _get(d, "rootfs_mounts", list, [], w)
        if not all(isinstance(m, dict) for m in mounts):
            raise InvalidArgument(f"invalid {w}: rootfs_mounts must be a list of objects")
        cmd = _get(d, "cleanup_command", list, [], w)
        if not all(isinstance(c, str) for c in cmd):
            raise InvalidArgument(f"invalid {w}: cleanup_command must be a list of strings")
        return cls(
            _get(d, "id", str, "", w),
            runtime=_get(d, "runtime", str, "dockyard", w),
            rootfs_mounts_json=mounts,
            cgroup_path=_get(cg, "path", str, None, w),
            resources_json=_get(cg, "resources", dict, None, w),
            restart_policy=_get(rp, "name", str, "no", w),
            max_retries=_get(rp, "max_retries", int, 0, w),
            log_driver=_get(log, "driver", str, "json-file", w),
            log_max_size=str(log.get("max-size") or "10m"),
            log_max_file=str(log.get("max-file") or "3"),
            tty=_get(d, "tty", bool, False, w),
            open_stdin=_get(d, "open_stdin", bool, False, w),
            stop_signal=_get(d, "stop_signal", str, None, w),
            stop_timeout=_get(d, "stop_timeout", int, 10, w),
            resolve_user=_get(d, "resolve_user", str, None, w),
            auto_remove=_get(d, "auto_remove", bool, False, w),
            cleanup_command=cmd,
            seccomp_filter=_get(d, "seccomp_filter", str, None, w),
        )


# -- files -------------------------------------------------------------------


def write_json_atomic(path: str, data: object, *, fsync: bool = True) -> None:
    """Write ``data`` as JSON so readers see the old or the new file, never half of one.

    Temp file in the same directory, fsync, rename. The directory is not fsynced:
    after a crash either name holds a whole file, and what follows a crash (a dead
    shim) is repaired from whichever one survived."""
    tmp = f"{path}.tmp-{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, jsonlite.dumps(data, separators=(",", ":")).encode() + b"\n")
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _read_json(path: str) -> object:
    with open(path, "rb") as f:
        raw = f.read()
    try:
        return jsonlite.loads(raw)
    except ValueError as e:
        raise InvalidArgument(f"invalid {path}: {e}") from None


def read_state(container_dir: str) -> State:
    """The state as written (no liveness checks; ``created`` when there is no file).

    A file that is not a whole state reads as ``dead``, with the reason: writes are
    atomic (temp file, rename), so only a machine that stopped while one was being
    written leaves such a file, on a filesystem that does not order a rename after
    the file's data, and then nothing supervises the container any more. The shim
    reports "running" before its fsync (shim_process.write_state_nosync)."""
    cid = os.path.basename(os.path.normpath(container_dir))
    try:
        return State.from_dict(_read_json(os.path.join(container_dir, STATE_FILE)))
    except FileNotFoundError:
        return State(id=cid)
    except InvalidArgument as e:
        return State(id=cid, status="dead", error=f"unreadable {STATE_FILE}: {e}")


def write_state(container_dir: str, st: State) -> None:
    write_json_atomic(os.path.join(container_dir, STATE_FILE), st.to_dict())


def read_shim_config(container_dir: str) -> ShimConfig:
    from dockyard.errors import NotFound

    path = os.path.join(container_dir, SHIM_FILE)
    try:
        return ShimConfig.from_dict(_read_json(path))
    except FileNotFoundError:
        raise NotFound(f"no {SHIM_FILE} in {container_dir}") from None


def write_shim_config(container_dir: str, cfg: ShimConfig, *, durable: bool = True) -> None:
    write_json_atomic(os.path.join(container_dir, SHIM_FILE), cfg.to_dict(), fsync=durable)
