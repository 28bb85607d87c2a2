"""Build the OCI runtime spec Docker would give a container (pure).

:func:`build_spec` takes a :class:`SpecOptions` (what ``docker run`` flags and
the image config decided) and returns a :class:`RuntimeSpec` with Docker's
defaults: capability set, mounts, masked and read-only paths, namespaces and
resources. Nothing here touches the machine: facts about the host (its
capability bounding set, whether cgroup namespaces exist) come in as arguments.
"""

from __future__ import annotations

from dockyard._util.record import DataRecord
from dockyard.errors import InvalidArgument
from dockyard.oci.runtime_spec import (
    ROOT_USER,
    Capabilities,
    Linux,
    Mount,
    Namespace,
    Process,
    Resources,
    Rlimit,
    Root,
    RuntimeSpec,
    Seccomp,
    User,
)
from dockyard.runtime import caps

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Protocol

    class SeccompProfile(Protocol):
        """A profile in Docker's layout (runtime.seccomp.SeccompProfile, or the default
        one behind runtime.seccomp_cache.DefaultProfile)."""

        def resolve(
            self, caps: Sequence[str], *, arch: str, kernel: tuple[int, int] | None = None
        ) -> Seccomp: ...


DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_SHM_SIZE = 64 * 1024 * 1024
CPU_PERIOD = 100_000

MASKED_PATHS: tuple[str, ...] = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)
READONLY_PATHS: tuple[str, ...] = (
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)


def default_mounts(shm_size: int = DEFAULT_SHM_SIZE) -> tuple[Mount, ...]:
    """Docker's default mounts (moby ``oci/defaults.go``)."""
    return (
        Mount("/proc", "proc", "proc", ("nosuid", "noexec", "nodev")),
        Mount("/dev", "tmpfs", "tmpfs", ("nosuid", "strictatime", "mode=755", "size=65536k")),
        Mount(
            "/dev/pts",
            "devpts",
            "devpts",
            ("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"),
        ),
        Mount("/sys", "sysfs", "sysfs", ("nosuid", "noexec", "nodev", "ro")),
        Mount("/sys/fs/cgroup", "cgroup", "cgroup", ("ro", "nosuid", "noexec", "nodev")),
        Mount("/dev/mqueue", "mqueue", "mqueue", ("nosuid", "noexec", "nodev")),
        Mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            ("nosuid", "noexec", "nodev", "mode=1777", f"size={shm_size}"),
        ),
    )


def bind_mount(
    source: str, destination: str, *, readonly: bool = False, propagation: str = "rprivate"
) -> Mount:
    """A ``-v source:destination[:ro]`` bind mount as Docker writes it in the spec."""
    opts = ["rbind", propagation]
    if readonly:
        opts.append("ro")
    return Mount(destination, "bind", source, tuple(opts))


_TMPFS_OPPOSITES = {"exec": "noexec", "suid": "nosuid", "dev": "nodev"}


def tmpfs_mount(destination: str, options: str = "") -> Mount:
    """A ``--tmpfs destination[:options]`` mount: Docker's noexec,nosuid,nodev defaults,
    each overridden by its opposite in ``options``."""
    user = [o for o in options.split(",") if o]
    defaults = [
        d
        for d in ("noexec", "nosuid", "nodev")
        if not any(_TMPFS_OPPOSITES.get(o) == d or o == d for o in user)
    ]
    return Mount(destination, "tmpfs", "tmpfs", tuple(defaults + user))


def merge_env(*layers: Sequence[str]) -> tuple[str, ...]:
    """Docker's ReplaceOrAppendEnvValues over several layers: a later ``K=V`` replaces an
    earlier ``K``, keeping its position; a bare ``K`` (no ``=``) removes it."""
    out: dict[str, str] = {}
    for layer in layers:
        for item in layer:
            key, eq, _ = item.partition("=")
            if eq:
                out[key] = item
            else:
                out.pop(key, None)
    return tuple(out.values())


def tweak_capabilities(
    cap_add: Sequence[str],
    cap_drop: Sequence[str],
    privileged: bool,
    host: Sequence[str] | None = None,
) -> tuple[str, ...]:
    """Docker's TweakCapabilities, intersected with the host's bounding set ``host``
    (``None``: every capability this module knows)."""
    available = tuple(
        caps.CAPABILITIES if host is None else (c for c in caps.CAPABILITIES if c in set(host))
    )
    adds = [caps.normalize(c) for c in cap_add]
    drops = [caps.normalize(c) for c in cap_drop]
    if privileged:
        result: list[str] = list(available)
    elif "ALL" in adds:
        result = [c for c in available if c not in drops]
    elif "ALL" in drops:
        result = [c for c in adds if c != "ALL"]
    else:
        result = [c for c in caps.DOCKER_DEFAULT_CAPS if c not in drops]
        result += [c for c in adds if c not in result]
    return tuple(c for c in result if c in available)


def process_capabilities(caplist: Sequence[str], uid: int) -> Capabilities:
    """Docker's SetCapabilities: root gets the list as bounding, effective and permitted;
    another user gets it as bounding only (as execve would give it). Inheritable and
    ambient stay empty."""
    t = tuple(caplist)
    if uid == 0:
        return Capabilities(bounding=t, effective=t, permitted=t)
    return Capabilities(bounding=t)


class SpecOptions(DataRecord):
    """What the engine decided for one container (flags + image config)."""

    # Docker's profile layout (seccomp.select_profile); None, or privileged: no filter.
    # Its conditions are evaluated against the capability set, host_arch (Go's GOARCH
    # names, seccomp.host_arch()) and kernel ((major, minor); None: taken as recent).
    __slots__ = (  # noqa: RUF023 (field order)
        "args",
        "env",
        "cwd",
        "user",
        "home",
        "hostname",
        "terminal",
        "rootfs",
        "readonly_rootfs",
        "mounts",
        "cap_add",
        "cap_drop",
        "privileged",
        "host_capabilities",
        "network",
        "pid_host",
        "ipc_host",
        "uts_host",
        "cgroupns",
        "memory",
        "cpus",
        "cpu_shares",
        "pids_limit",
        "cgroups_path",
        "shm_size",
        "no_new_privileges",
        "sysctls",
        "rlimits",
        "oom_score_adj",
        "seccomp",
        "host_arch",
        "kernel",
        "memory_swap",
    )
    args: tuple[str, ...]
    env: tuple[str, ...]  # image Env then user -e/--env-file, in order
    cwd: str
    user: User  # numeric; see users.resolve_user()
    home: str | None  # HOME if env has none; None: left to start_container(resolve_user)
    hostname: str
    terminal: bool
    rootfs: str
    readonly_rootfs: bool
    mounts: tuple[Mount, ...]  # -v / --mount, see bind_mount() and tmpfs_mount()
    cap_add: tuple[str, ...]
    cap_drop: tuple[str, ...]
    privileged: bool
    host_capabilities: tuple[str, ...] | None  # host bounding set (caps.bounding_set)
    network: str  # "none": new empty netns; "host": none; "/path": join that netns
    pid_host: bool
    ipc_host: bool
    uts_host: bool
    cgroupns: bool  # private cgroup namespace (when the kernel has them)
    memory: int | None  # bytes
    cpus: float | None
    cpu_shares: int | None
    pids_limit: int | None  # None, 0 or -1: unlimited
    cgroups_path: str | None  # e.g. "/dockyard/<id>"
    shm_size: int
    no_new_privileges: bool
    sysctls: tuple[tuple[str, str], ...]
    rlimits: tuple[Rlimit, ...]
    oom_score_adj: int | None
    seccomp: SeccompProfile | None
    host_arch: str
    kernel: tuple[int, int] | None
    memory_swap: int | None  # --memory-swap: memory + swap; -1 unlimited; None/0: 2x

    def __init__(
        self,
        args: tuple[str, ...],
        env: tuple[str, ...] = (),
        cwd: str = "/",
        user: User = ROOT_USER,
        home: str | None = "/",
        hostname: str = "",
        terminal: bool = False,
        rootfs: str = "rootfs",
        readonly_rootfs: bool = False,
        mounts: tuple[Mount, ...] = (),
        cap_add: tuple[str, ...] = (),
        cap_drop: tuple[str, ...] = (),
        privileged: bool = False,
        host_capabilities: tuple[str, ...] | None = None,
        network: str = "none",
        pid_host: bool = False,
        ipc_host: bool = False,
        uts_host: bool = False,
        cgroupns: bool = True,
        memory: int | None = None,
        cpus: float | None = None,
        cpu_shares: int | None = None,
        pids_limit: int | None = None,
        cgroups_path: str | None = None,
        shm_size: int = DEFAULT_SHM_SIZE,
        no_new_privileges: bool = False,
        sysctls: tuple[tuple[str, str], ...] = (),
        rlimits: tuple[Rlimit, ...] = (),
        oom_score_adj: int | None = None,
        seccomp: SeccompProfile | None = None,
        host_arch: str = "amd64",
        kernel: tuple[int, int] | None = None,
        memory_swap: int | None = None,
    ) -> None:
        self._set(
            args=args,
            env=env,
            cwd=cwd,
            user=user,
            home=home,
            hostname=hostname,
            terminal=terminal,
            rootfs=rootfs,
            readonly_rootfs=readonly_rootfs,
            mounts=mounts,
            cap_add=cap_add,
            cap_drop=cap_drop,
            privileged=privileged,
            host_capabilities=host_capabilities,
            network=network,
            pid_host=pid_host,
            ipc_host=ipc_host,
            uts_host=uts_host,
            cgroupns=cgroupns,
            memory=memory,
            cpus=cpus,
            cpu_shares=cpu_shares,
            pids_limit=pids_limit,
            cgroups_path=cgroups_path,
            shm_size=shm_size,
            no_new_privileges=no_new_privileges,
            sysctls=sysctls,
            rlimits=rlimits,
            oom_score_adj=oom_score_adj,
            seccomp=seccomp,
            host_arch=host_arch,
            kernel=kernel,
            memory_swap=memory_swap,
        )


def _mount_depth(m: Mount) -> int:
    return len([p for p in m.destination.split("/") if p])


def _namespaces(o: SpecOptions) -> tuple[Namespace, ...]:
    ns = [Namespace("mount")]
    if not o.pid_host:
        ns.append(Namespace("pid"))
    if not o.ipc_host:
        ns.append(Namespace("ipc"))
    if not o.uts_host:
        ns.append(Namespace("uts"))
    if o.network == "none":
        ns.append(Namespace("network"))
    elif o.network.startswith("/"):
        ns.append(Namespace("network", o.network))
    elif o.network != "host":
        raise InvalidArgument(
            f"invalid network {o.network!r} for the runtime: expected none, host or a netns path"
        )
    if o.cgroupns:
        ns.append(Namespace("cgroup"))
    return tuple(ns)


def _mounts(o: SpecOptions) -> tuple[Mount, ...]:
    for m in o.mounts:
        if not m.destination.startswith("/"):
            raise InvalidArgument(f"invalid mount destination {m.destination!r}: not absolute")
    user_dests = {m.destination.rstrip("/") or "/" for m in o.mounts}
    user_dev = "/dev" in user_dests
    out = []
    for m in default_mounts(o.shm_size):
        if m.destination in user_dests or (user_dev and m.destination.startswith("/dev/")):
            continue
        if o.ipc_host and m.destination in ("/dev/mqueue", "/dev/shm"):
            continue
        if o.privileged and m.destination in ("/sys", "/sys/fs/cgroup"):
            m = Mount(m.destination, m.type, m.source, tuple(x for x in m.options if x != "ro"))
        out.append(m)
    return tuple(out) + tuple(sorted(o.mounts, key=_mount_depth))


def _resources(o: SpecOptions) -> Resources | None:
    if o.memory is not None and o.memory < 6 * 1024 * 1024:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    quota = period = None
    if o.cpus is not None:
        if o.cpus <= 0:
            raise InvalidArgument("Range of CPUs is from 0.01 to the number of CPUs")
        quota, period = round(o.cpus * CPU_PERIOD), CPU_PERIOD
    pids = o.pids_limit if o.pids_limit is not None and o.pids_limit > 0 else None
    swap = o.memory_swap if o.memory_swap and o.memory is not None else None
    r = Resources(o.memory, quota, period, o.cpu_shares, pids, swap)
    return None if r == Resources() else r


_IPC_SYSCTLS = (
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
)


def _check_sysctls(o: SpecOptions) -> None:
    """Only namespaced sysctls, and only in a namespace of the container's own (runc's
    rules): anything else would change the host."""
    for key, _ in o.sysctls:
        if key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
            if o.ipc_host:
                raise InvalidArgument(f"sysctl {key!r} is not allowed in host IPC namespace")
        elif key.startswith("net."):
            if o.network == "host":
                raise InvalidArgument(f"sysctl {key!r} not allowed in host network namespace")
        elif key in ("kernel.domainname", "kernel.hostname"):
            if o.uts_host:
                raise InvalidArgument(f"sysctl {key!r} is not allowed in host UTS namespace")
        else:
            raise InvalidArgument(f"sysctl {key!r} is not in a separate kernel namespace")


def _capabilities(o: SpecOptions) -> tuple[str, ...]:
    return tweak_capabilities(o.cap_add, o.cap_drop, o.privileged, o.host_capabilities)


def build_seccomp(o: SpecOptions) -> Seccomp | None:
    """``linux.seccomp``: ``o.seccomp`` resolved for the container's capabilities (as
    moby does, against the bounding set), or None (unconfined, ``--privileged``)."""
    if o.seccomp is None or o.privileged:
        return None
    return o.seccomp.resolve(_capabilities(o), arch=o.host_arch, kernel=o.kernel)


def build_process(o: SpecOptions) -> Process:
    """The ``process`` section alone (also what an exec in the container runs with)."""
    if not o.args:
        raise InvalidArgument("no command specified")
    base = [f"PATH={DEFAULT_PATH}"]
    if o.hostname:
        base.append(f"HOSTNAME={o.hostname}")
    if o.terminal:
        base.append("TERM=xterm")
    env = merge_env(base, o.env)
    if o.home is not None and not any(e.startswith("HOME=") for e in env):
        env += (f"HOME={o.home or '/'}",)
    caplist = _capabilities(o)
    return Process(
        args=o.args,
        env=env,
        cwd=o.cwd or "/",
        user=o.user,
        terminal=o.terminal,
        capabilities=process_capabilities(caplist, o.user.uid),
        no_new_privileges=o.no_new_privileges,
        rlimits=o.rlimits,
        oom_score_adj=o.oom_score_adj,
    )


def build_spec(o: SpecOptions) -> RuntimeSpec:
    """Docker's spec for a container described by ``o``."""
    if not o.cwd.startswith("/"):
        raise InvalidArgument(
            f"the working directory '{o.cwd}' is invalid, it needs to be an absolute path"
        )
    _check_sysctls(o)
    return RuntimeSpec(
        process=build_process(o),
        root=Root(o.rootfs, o.readonly_rootfs),
        hostname=o.hostname,
        mounts=_mounts(o),
        linux=Linux(
            namespaces=_namespaces(o),
            masked_paths=() if o.privileged else MASKED_PATHS,
            readonly_paths=() if o.privileged else READONLY_PATHS,
            resources=_resources(o),
            cgroups_path=o.cgroups_path,
            sysctl=o.sysctls,
            seccomp=build_seccomp(o),
        ),
    )
