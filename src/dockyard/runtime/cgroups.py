"""Per-container cgroups: create, limit, join, measure, freeze, remove.

One :class:`Cgroup` is a handle on ``<parent>/<id>``: on cgroup v1 a directory
per controller (``/sys/fs/cgroup/<controller>/<parent>/<id>`` for memory, cpu,
cpuacct, pids, freezer, blkio, devices; co-mounted controllers share one), on
cgroup v2 (``/sys/fs/cgroup`` is cgroup2) a single directory. The executor puts
the container's init in by having the child write ``0`` to every file in
:attr:`Cgroup.join_files` (v1 ``tasks``, v2 ``cgroup.procs``: see
:func:`join_file_name`) before it unshares its cgroup namespace, so the process
is accounted before it runs a single instruction of the container's program.

Lifecycle for the engine::

    cg = Cgroup(spec.linux.cgroups_path or f"dockyard/{cid}")
    cg.create(spec.linux.resources)
    pid = start_container(bundle, spec, cgroup=cg)
    ... os.waitpid(pid, 0) ...
    cg.remove()          # retries while the last tasks drain; kill=True to force
"""

from __future__ import annotations

import errno
import os
import time

from dockyard._util.lazy import cache
from dockyard._util.record import DataRecord
from dockyard.errors import Conflict, InvalidArgument, NotFound, Unsupported
from dockyard.oci.runtime_spec import Resources

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
else:
    import _signal as signal  # signal.py's enums: 2 ms of every run and exec

CGROUP_ROOT = "/sys/fs/cgroup"
V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "pids", "freezer", "blkio", "devices")
V2_CONTROLLERS = ("memory", "cpu", "pids", "io")
_OTHER_V1 = ("cpuset", "hugetlb", "net_cls", "net_prio", "perf_event", "rdma", "misc")
_UNLIMITED = 2**62

# Docker's default device rules (runc AllowedDevices): mknod anything, use only these.
DEFAULT_DEVICE_RULES = (
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",  # null zero full rnd urnd
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",  # tty console ptmx
    "c 136:* rwm",
    "c 10:200 rwm",  # pts, tun
)


class CgroupStats(DataRecord):
    """What ``docker stats`` shows, read from the cgroup."""

    __slots__ = (  # noqa: RUF023 (field order)
        "memory_usage",
        "memory_limit",
        "cpu_usage_ns",
        "pids_current",
        "pids_limit",
        "blkio_read_bytes",
        "blkio_write_bytes",
    )
    memory_usage: int  # bytes
    memory_limit: int | None  # bytes; None when unlimited
    cpu_usage_ns: int
    pids_current: int
    pids_limit: int | None  # None when unlimited
    blkio_read_bytes: int
    blkio_write_bytes: int

    def __init__(
        self,
        memory_usage: int,
        memory_limit: int | None,
        cpu_usage_ns: int,
        pids_current: int,
        pids_limit: int | None,
        blkio_read_bytes: int,
        blkio_write_bytes: int,
    ) -> None:
        self._set(
            memory_usage=memory_usage,
            memory_limit=memory_limit,
            cpu_usage_ns=cpu_usage_ns,
            pids_current=pids_current,
            pids_limit=pids_limit,
            blkio_read_bytes=blkio_read_bytes,
            blkio_write_bytes=blkio_write_bytes,
        )


@cache
def v1_mountpoints() -> dict[str, str]:
    """Controller (and ``name=...``) -> mount point, from this process's mountinfo."""
    out: dict[str, str] = {}
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            fields = post.split()
            if len(fields) < 3 or fields[0] != "cgroup":
                continue
            mnt = pre.split()[4]
            for opt in fields[2].split(","):
                if opt in V1_CONTROLLERS or opt in _OTHER_V1 or opt.startswith("name="):
                    out.setdefault(opt, mnt)
    return out


@cache
def hierarchies() -> tuple[tuple[str, str, str], ...]:
    """How /sys/fs/cgroup is built on this host, to rebuild it in a container:
    ``(subdirectory, fstype, mount data)`` for each cgroup mount under it, e.g.
    ``("memory", "cgroup", "memory")``, ``("unified", "cgroup2", "")``; on a pure v2
    host a single ``("", "cgroup2", "")``."""
    out: list[tuple[str, str, str]] = []
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            fields = post.split()
            if len(fields) < 3 or fields[0] not in ("cgroup", "cgroup2"):
                continue
            mnt = pre.split()[4]
            if mnt == CGROUP_ROOT and fields[0] == "cgroup2":
                return (("", "cgroup2", ""),)
            parent, _, sub = mnt.rpartition("/")
            if parent != CGROUP_ROOT or any(sub == o[0] for o in out):
                continue
            if fields[0] == "cgroup2":
                out.append((sub, "cgroup2", ""))
                continue
            opts = [
                o
                for o in fields[2].split(",")
                if o.startswith("name=") or o in V1_CONTROLLERS or o in _OTHER_V1
            ]
            if opts:
                out.append((sub, "cgroup", ",".join(opts)))
    return tuple(out)


def is_v2(root: str = CGROUP_ROOT) -> bool:
    return os.path.exists(f"{root}/cgroup.controllers")


def _write(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read().strip()


def _read_int(path: str, default: int = 0) -> int:
    try:
        text = _read(path)
    except FileNotFoundError:
        return default
    return default if text in ("", "max") else int(text)


class Cgroup:
    """Handle on one container's cgroup; creating the handle touches nothing."""

    def __init__(self, path: str, *, root: str = CGROUP_ROOT, version: int | None = None):
        rel = path.strip("/")
        if not rel or any(p in ("", ".", "..") for p in rel.split("/")):
            raise InvalidArgument(f"invalid cgroup path {path!r}")
        self.path = rel
        self.root = root
        self.version = version if version is not None else (2 if is_v2(root) else 1)
        if self.version == 2:
            self._dirs = {"": f"{root}/{rel}"}
        else:
            mps = v1_mountpoints() if root == CGROUP_ROOT else {}
            self._dirs = {}
            for c in V1_CONTROLLERS:
                mp = mps.get(c, f"{root}/{c}")
                if os.path.isdir(mp):
                    self._dirs[c] = f"{mp}/{rel}"

    def __repr__(self) -> str:
        return f"Cgroup({self.path!r}, version={self.version})"

    @property
    def dirs(self) -> tuple[str, ...]:
        """The directories of this cgroup (one per distinct hierarchy)."""
        return tuple(dict.fromkeys(self._dirs.values()))

    @property
    def procs_files(self) -> tuple[str, ...]:
        return tuple(f"{d}/cgroup.procs" for d in self.dirs)

    @property
    def join_files(self) -> tuple[str, ...]:
        """The files a single-threaded process writes ``0`` into to join this cgroup
        itself (see :func:`join_file_name`)."""
        name = join_file_name(self.version)
        return tuple(f"{d}/{name}" for d in self.dirs)

    def controller_dir(self, controller: str) -> str | None:
        """The directory holding ``controller``'s files (v2: the one directory), or None
        if this host has no such controller."""
        return self._dirs.get("" if self.version == 2 else controller)

    def exists(self) -> bool:
        return any(os.path.isdir(d) for d in self.dirs)

    # -- create and limit ----------------------------------------------------

    def create(
        self, resources: Resources | None = None, *, devices_allow_all: bool = False
    ) -> None:
        """Make the directories (parents too) and apply ``resources``."""
        if not self._dirs:
            raise Unsupported(f"no cgroup hierarchy found under {self.root}")
        if self.version == 2:
            self._enable_v2_controllers()
        for d in self.dirs:
            _makedirs(d)
        if (
            self.version == 1
            and (dev := self.controller_dir("devices")) is not None
            and not devices_allow_all
        ):
            _write(f"{dev}/devices.deny", "a")
            for rule in DEFAULT_DEVICE_RULES:
                _write(f"{dev}/devices.allow", rule)
        if resources is not None:
            self.set_resources(resources)

    def _enable_v2_controllers(self) -> None:
        cur = self.root
        for part in self.path.split("/"):
            try:
                avail = set(_read(f"{cur}/cgroup.controllers").split())
                enabled = set(_read(f"{cur}/cgroup.subtree_control").split())
            except FileNotFoundError:
                break
            want = [c for c in V2_CONTROLLERS if c in avail and c not in enabled]
            if want:
                _write(f"{cur}/cgroup.subtree_control", " ".join("+" + c for c in want))
            cur = f"{cur}/{part}"
            os.makedirs(cur, exist_ok=True)

    def _set_memory(self, d: str, lim: int | None, swap: int | None) -> None:
        """Memory and memory+swap (Docker's ``--memory-swap``: -1 unlimited; unset: as
        much swap as memory)."""
        if self.version == 2:
            if lim is not None:
                _write(f"{d}/memory.max", "max" if lim < 0 else str(lim))
            if swap is not None:
                if swap < 0:
                    _write(f"{d}/memory.swap.max", "max")
                else:
                    base = lim if lim is not None and lim > 0 else _read_int(f"{d}/memory.max")
                    _write(f"{d}/memory.swap.max", str(max(0, swap - base)))
            return
        memsw = f"{d}/memory.memsw.limit_in_bytes"
        has_memsw = os.path.exists(memsw)
        if lim is None:  # swap alone (update): memsw stays >= memory (validated)
            if has_memsw and swap is not None:
                _write(memsw, str(swap) if swap > 0 else "-1")
            return
        if lim < 0:
            if has_memsw:
                _write(memsw, "-1")
            _write(f"{d}/memory.limit_in_bytes", "-1")
            return
        # memsw must stay >= memory: raise it first, lower it last
        if has_memsw:
            _write(memsw, "-1")
        _write(f"{d}/memory.limit_in_bytes", str(lim))
        if has_memsw:
            if swap is None or swap == 0:  # Docker: as much swap as memory
                _write(memsw, str(2 * lim))
            elif swap > 0:
                _write(memsw, str(swap))

    def set_resources(self, r: Resources) -> None:
        """Apply limits (also usable on a running container, as ``docker update``)."""
        v2 = self.version == 2
        swap = r.memory_swap
        memory = (r.memory_limit is not None or swap is not None) and self.controller_dir("memory")
        if memory:
            self._set_memory(memory, r.memory_limit, swap)
        if (d := self.controller_dir("cpu")) is not None:
            if v2:
                if r.cpu_quota is not None or r.cpu_period is not None:
                    q = "max" if r.cpu_quota is None or r.cpu_quota <= 0 else str(r.cpu_quota)
                    _write(f"{d}/cpu.max", f"{q} {r.cpu_period or 100000}")
                if r.cpu_shares is not None:
                    _write(f"{d}/cpu.weight", str(1 + ((r.cpu_shares - 2) * 9999) // 262142))
            else:
                if r.cpu_period is not None:
                    _write(f"{d}/cpu.cfs_period_us", str(r.cpu_period))
                if r.cpu_quota is not None:
                    _write(f"{d}/cpu.cfs_quota_us", str(r.cpu_quota if r.cpu_quota > 0 else -1))
                if r.cpu_shares is not None:
                    _write(f"{d}/cpu.shares", str(r.cpu_shares))
        if r.pids_limit is not None and (d := self.controller_dir("pids")) is not None:
            _write(f"{d}/pids.max", str(r.pids_limit) if r.pids_limit > 0 else "max")

    # -- processes -----------------------------------------------------------

    def add(self, pid: int) -> None:
        for f in self.procs_files:
            _write(f, str(pid))

    def pids(self) -> list[int]:
        """Processes in the cgroup (host PIDs), read from the first hierarchy."""
        dirs = self.dirs
        if not dirs:
            return []
        d = self.controller_dir("pids") or dirs[0]
        try:
            return [int(x) for x in _read(f"{d}/cgroup.procs").split()]
        except FileNotFoundError:
            return []

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal every process in the cgroup (thawing it first for SIGKILL)."""
        if sig == signal.SIGKILL:
            self.thaw()
        for pid in self.pids():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    # -- freezer -------------------------------------------------------------

    def _freeze(self, frozen: bool, timeout: float) -> None:
        d = self.controller_dir("freezer")
        if d is None:
            raise Unsupported("the freezer cgroup controller is not available")
        if not os.path.isdir(d):
            raise NotFound(f"cgroup {self.path} does not exist")
        deadline = time.monotonic() + timeout
        delay = 0.0005
        while True:
            if self.version == 2:
                _write(f"{d}/cgroup.freeze", "1" if frozen else "0")
                done = f"frozen {int(frozen)}" in _read(f"{d}/cgroup.events")
            else:
                _write(f"{d}/freezer.state", "FROZEN" if frozen else "THAWED")
                done = _read(f"{d}/freezer.state") == ("FROZEN" if frozen else "THAWED")
            if done:
                return
            if time.monotonic() > deadline:
                raise Conflict(
                    f"cgroup {self.path} did not {'freeze' if frozen else 'thaw'} within {timeout}s"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def freeze(self, timeout: float = 5.0) -> None:
        """Stop every process in the cgroup (``docker pause``)."""
        self._freeze(True, timeout)

    def thaw(self, timeout: float = 5.0) -> None:
        """Undo :meth:`freeze` (a no-op if not frozen or gone)."""
        if self.controller_dir("freezer") is not None and self.exists():
            self._freeze(False, timeout)

    def frozen(self) -> bool:
        d = self.controller_dir("freezer")
        if d is None or not os.path.isdir(d):
            return False
        if self.version == 2:
            return _read(f"{d}/cgroup.freeze") == "1"
        return _read(f"{d}/freezer.state") != "THAWED"

    # -- stats ---------------------------------------------------------------

    def stats(self) -> CgroupStats:
        if not self.exists():
            raise NotFound(f"cgroup {self.path} does not exist")
        return self._stats_v2() if self.version == 2 else self._stats_v1()

    def _stats_v1(self) -> CgroupStats:
        mem = self.controller_dir("memory") or ""
        acct = self.controller_dir("cpuacct") or ""
        pids = self.controller_dir("pids") or ""
        blk = self.controller_dir("blkio") or ""
        limit = _read_int(f"{mem}/memory.limit_in_bytes", _UNLIMITED)
        plimit = _read_int(f"{pids}/pids.max", -1)
        rd = wr = 0
        for name in (
            "blkio.throttle.io_service_bytes_recursive",
            "blkio.throttle.io_service_bytes",
        ):
            try:
                text = _read(f"{blk}/{name}")
            except (FileNotFoundError, PermissionError):
                continue
            for line in text.splitlines():
                f = line.split()
                if len(f) == 3 and f[1] == "Read":
                    rd += int(f[2])
                elif len(f) == 3 and f[1] == "Write":
                    wr += int(f[2])
            break
        return CgroupStats(
            memory_usage=_read_int(f"{mem}/memory.usage_in_bytes"),
            memory_limit=None if limit >= _UNLIMITED else limit,
            cpu_usage_ns=_read_int(f"{acct}/cpuacct.usage"),
            pids_current=_read_int(f"{pids}/pids.current"),
            pids_limit=None if plimit < 0 else plimit,
            blkio_read_bytes=rd,
            blkio_write_bytes=wr,
        )

    def _stats_v2(self) -> CgroupStats:
        d = self._dirs[""]
        limit = _read_int(f"{d}/memory.max", -1)
        plimit = _read_int(f"{d}/pids.max", -1)
        usage_us = rd = wr = 0
        try:
            for line in _read(f"{d}/cpu.stat").splitlines():
                k, _, v = line.partition(" ")
                if k == "usage_usec":
                    usage_us = int(v)
        except FileNotFoundError:
            pass
        try:
            for line in _read(f"{d}/io.stat").splitlines():
                for kv in line.split()[1:]:
                    k, _, v = kv.partition("=")
                    if k == "rbytes":
                        rd += int(v)
                    elif k == "wbytes":
                        wr += int(v)
        except FileNotFoundError:
            pass
        return CgroupStats(
            memory_usage=_read_int(f"{d}/memory.current"),
            memory_limit=None if limit < 0 else limit,
            cpu_usage_ns=usage_us * 1000,
            pids_current=_read_int(f"{d}/pids.current"),
            pids_limit=None if plimit < 0 else plimit,
            blkio_read_bytes=rd,
            blkio_write_bytes=wr,
        )

    # -- removal -------------------------------------------------------------

    def remove(
        self, *, timeout: float = 5.0, kill: bool = False, prune_parents: bool = False
    ) -> None:
        """Remove the cgroup's directories, retrying while exiting tasks drain.

        ``kill``: SIGKILL what is still inside first. ``prune_parents``: also remove
        the now-empty parent directories up to the hierarchy root (for tests that
        made a unique parent; leave shared parents alone otherwise).
        """
        if kill:
            self.kill(signal.SIGKILL)
        else:
            self.thaw()
        deadline = time.monotonic() + timeout
        delay = 0.0005
        for d in self.dirs:
            while True:
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError as e:
                    if e.errno != errno.EBUSY:
                        raise
                    if time.monotonic() > deadline:
                        raise Conflict(
                            f"cgroup {d} still has processes {self.pids()}",
                            hint="stop the container first, or remove with kill",
                        )
                    time.sleep(delay)
                    delay = min(delay * 2, 0.05)
            if prune_parents:
                self._prune(d)

    def _prune(self, d: str) -> None:
        parts = self.path.split("/")[:-1]
        base = d[: len(d) - len(self.path)].rstrip("/")
        while parts:
            try:
                os.rmdir(f"{base}/{'/'.join(parts)}")
            except OSError:
                return
            parts.pop()


def _makedirs(d: str) -> None:
    """``os.makedirs``, again if an empty parent was pruned meanwhile (by the removal of
    the root's last container: :func:`remove_if_empty`)."""
    for attempt in range(5):
        try:
            os.makedirs(d, exist_ok=True)
            return
        except FileNotFoundError:
            if attempt == 4:
                raise


def remove_if_empty(path: str, *, root: str = CGROUP_ROOT) -> None:
    """Remove the cgroup ``path`` (an engine root's parent) in every hierarchy where
    it is empty; one that still has children or tasks stays (rmdir says EBUSY)."""
    for d in Cgroup(path, root=root).dirs:
        try:
            os.rmdir(d)
        except OSError:
            pass


def join_file_name(version: int) -> str:
    """Where a single-threaded process writes ``0`` to move itself: on v1 ``tasks``,
    where the kernel (6.x) moves just the writer without taking the global
    ``cgroup_threadgroup_rwsem`` -- ``cgroup.procs`` takes it, and after a quiet spell
    that waits an RCU grace period: 5-13 ms measured here, 0.1 ms through ``tasks``.
    On v2 ``cgroup.threads`` is for threaded cgroups only: ``cgroup.procs``."""
    return "cgroup.procs" if version == 2 else "tasks"


def join_files_of(pid: int) -> tuple[str, ...]:
    """:attr:`Cgroup.join_files` of the cgroups ``pid`` is in (``exec`` joins them)."""
    name = join_file_name(2 if is_v2() else 1)
    return tuple(f[: -len("cgroup.procs")] + name for f in procs_files_of(pid))


def procs_files_of(pid: int) -> tuple[str, ...]:
    """``cgroup.procs`` files of the cgroups ``pid`` is in (v1 hierarchies we manage, or v2)."""
    try:
        with open(f"/proc/{pid}/cgroup", encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        raise NotFound(f"no such process: {pid}")
    if is_v2():
        for line in lines:
            if line.startswith("0::"):
                return (f"{CGROUP_ROOT}{line[3:].rstrip('/')}/cgroup.procs",)
        return ()
    mps = v1_mountpoints()
    out = []
    for line in lines:
        _, ctrls, path = line.split(":", 2)
        for c in ctrls.split(","):
            if c in V1_CONTROLLERS and c in mps:
                out.append(f"{mps[c]}{path.rstrip('/')}/cgroup.procs")
                break
    return tuple(dict.fromkeys(out))
