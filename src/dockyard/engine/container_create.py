"""Making one container's directory: the OCI bundle, the shim's config, its mounts.

:class:`ContainerBuilder` does the work of ``ContainerService.create`` between
"the name is free and the image exists" and "the record is written": the
overlay snapshot, /etc/hosts and friends, volumes (created on first use and
filled from the image, as Docker does), the runtime spec and ``shim.json``. The
mounts it set up are recorded in ``mounts.json`` (Docker's inspect shape) for
``inspect``. Everything it makes is under the container's id, so the caller
undoes a failure by removing that id's snapshot and directory, and the volumes
listed in ``made_volumes``.
"""

from __future__ import annotations

import os
import sys

from dockyard._util import jsonlite
from dockyard.errors import InvalidArgument, NotFound
from dockyard.storage.overlay import VOLATILE, supports_volatile

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from dockyard.engine.container_config import ContainerCreate
    from dockyard.engine.containers import ContainerService
    from dockyard.oci.image import ContainerConfig
    from dockyard.oci.runtime_spec import Mount, RuntimeSpec
    from dockyard.runtime.spec_builder import SeccompProfile
    from dockyard.specs.volumes import MountRequest

INIT_PATH = "/sbin/docker-init"
INIT_BINARIES = ("/usr/bin/tini-static", "/usr/bin/tini")
MOUNTS_FILE = "mounts.json"


def command(req: ContainerCreate, image_cfg: ContainerConfig) -> tuple[str, ...]:
    """Docker's rule: --entrypoint replaces the image's and drops its Cmd."""
    entrypoint = req.entrypoint if req.entrypoint is not None else image_cfg.entrypoint
    if req.cmd is not None and len(req.cmd) > 0:
        cmd: tuple[str, ...] | None = req.cmd
    elif req.entrypoint is not None:
        cmd = None
    else:
        cmd = image_cfg.cmd
    args = (*(entrypoint or ()), *(cmd or ()))
    if not args:
        raise InvalidArgument("No command specified", hint="give a command after the image name")
    return args


def validate(req: ContainerCreate) -> None:
    """The daemon's checks on a create request (moby ``verifyContainerSettings``,
    ``validateNetContainerMode``), with Docker's texts."""
    if req.auto_remove and req.restart.name not in ("no", ""):
        raise InvalidArgument("can't create 'AutoRemove' container with restart policy")
    if req.memory_swap and req.memory_swap > 0:
        if not req.memory:
            raise InvalidArgument(
                "You should always set the Memory limit when using Memoryswap limit, see usage"
            )
        if req.memory_swap < req.memory:
            raise InvalidArgument(
                "Minimum memoryswap limit should be larger than memory limit, see usage"
            )
    if req.nano_cpus:
        n = os.cpu_count() or 1
        if req.nano_cpus < 10_000_000 or req.nano_cpus > n * 1_000_000_000:
            raise InvalidArgument(
                f"Range of CPUs is from 0.01 to {n}.00, as there are only {n} CPUs available"
            )
    if req.oom_score_adj is not None and not -1000 <= req.oom_score_adj <= 1000:
        raise InvalidArgument(
            f"Invalid value {req.oom_score_adj}, range for oom score adj is [-1000, 1000]"
        )
    validate_runtime(req.runtime)  # runtime
    from dockyard.specs.volumes import clean_path

    seen: set[str] = set()
    for m in req.mounts:
        target = clean_path(m.target)
        if target in seen:
            raise InvalidArgument(f"Duplicate mount point: {target}")
        seen.add(target)
    if req.network.startswith("container:"):
        conflicts = (
            (req.hostname, "hostname and the network mode"),
            (req.dns, "dns and the network mode"),
            (req.extra_hosts, "custom host-to-IP mapping and the network mode"),
            (req.ports or req.publish_all, "port publishing and the container type network mode"),
            (req.exposed, "port exposing and the container type network mode"),
        )
        for given, what in conflicts:
            if given:
                raise InvalidArgument(f"conflicting options: {what}")


# -- runtime and seccomp (--runtime, --security-opt seccomp=...) -----------------------


def validate_runtime(name: str) -> None:
    """The built-in runtime, or crun/runc where installed; else Docker's error."""
    if name == "dockyard":
        return
    import shutil

    from dockyard.runtime.external import RUNTIMES

    if name not in RUNTIMES or shutil.which(name) is None:
        hint = None
        if name in RUNTIMES:
            hint = f"{name} is not installed: apt-get install {name}"
        raise InvalidArgument(f"unknown or invalid runtime name: {name}", hint=hint)


def seccomp_cache_dir(root: str) -> str:
    return os.path.join(root, "cache", "seccomp")


def seccomp_filter(spec: RuntimeSpec, root: str, profile: object = None) -> str | None:
    """The spec's seccomp profile compiled once, cached under ``$ROOT/cache/seccomp``
    (``profile``: what resolved it, which may know the file already)."""
    if spec.linux.seccomp is None:
        return None
    from dockyard.runtime.seccomp_cache import DefaultProfile

    if isinstance(profile, DefaultProfile) and (path := profile.filter_path(spec.linux.seccomp)):
        return path
    from dockyard.runtime.seccomp import cached_filter

    return cached_filter(spec.linux.seccomp, seccomp_cache_dir(root))


def select_seccomp(option: str, root: str) -> SeccompProfile | None:
    """``--security-opt seccomp=OPTION``'s profile (runtime.seccomp.select_profile); the
    default one through the root's cache of its resolutions (runtime.seccomp_cache)."""
    if option in ("", "builtin"):
        from dockyard.runtime import seccomp_cache

        ok = seccomp_cache.available()
        if ok is not None:  # else libseccomp is not where it looks: ask libseccomp itself
            return seccomp_cache.DefaultProfile(seccomp_cache_dir(root)) if ok else None
    from dockyard.runtime.seccomp import select_profile

    return select_profile(option)


# -- volumes ------------------------------------------------------------------------------


def image_volume_requests(req: ContainerCreate, image_cfg: ContainerConfig) -> list[MountRequest]:
    """The user's mounts, then an anonymous volume for each image VOLUME not covered."""
    from dockyard.specs.volumes import MountRequest, clean_path

    targets = {clean_path(m.target) for m in req.mounts}
    requests = list(req.mounts)
    for path in image_cfg.volumes:
        if clean_path(path) not in targets:
            requests.append(MountRequest("volume", "", path))
    return requests


def read_mount_points(cdir: str) -> list[dict[str, Any]] | None:
    """The mounts recorded at create (``docker inspect``'s Mounts), None if none was."""
    try:
        with open(os.path.join(cdir, MOUNTS_FILE), "rb") as f:
            data = jsonlite.loads(f.read())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, list) else None


class ContainerBuilder:
    """Builds container ``cid``'s directory for ``req`` (see the module docstring)."""

    def __init__(
        self,
        svc: ContainerService,
        cid: str,
        req: ContainerCreate,
        image_cfg: ContainerConfig,
        made_volumes: list[str],
    ) -> None:
        self.svc = svc
        self.cid = cid
        self.req = req
        self.image_cfg = image_cfg
        self.made_volumes = made_volumes
        self.cdir = svc.container_dir(cid)
        self.points: list[dict[str, Any]] = []
        self.seccomp_profile: SeccompProfile | None = None  # what _spec chose
        # a --rm container is transient: its files need to be whole for readers, not on
        # disk, since `system restore` removes one a crash left behind (as Docker does)
        self.durable = not req.auto_remove

    def build(self, lowers: Sequence[str], args: Sequence[str]) -> None:
        from dockyard.runtime.bundle import write_config

        req = self.req
        durable = self.durable
        rootfs_mounts = self.svc.snapshots.prepare(self.cid, list(lowers), durable=durable)
        if req.auto_remove and supports_volatile():  # see storage.overlay: no sync at exit
            rootfs_mounts = [m.replace(options=(*m.options, VOLATILE)) for m in rootfs_mounts]
        hostname = req.hostname or self.cid[:12]
        mounts = self._etc_files(hostname)
        mounts += self._user_mounts()
        if req.host_ca:
            from dockyard.engine.host_ca import host_ca_mount

            mounts.append(host_ca_mount(self.svc.config))
        init_args: tuple[str, ...] = ()
        if req.init:
            mounts.append(_init_mount())
            init_args = (INIT_PATH, "--")
        spec = self._spec((*init_args, *args), hostname, mounts)
        os.mkdir(os.path.join(self.cdir, "rootfs"))
        write_config(self.cdir, spec, durable=durable)
        seccomp = seccomp_filter(spec, self.svc.config.root_dir, self.seccomp_profile)
        self._write_shim_config(rootfs_mounts, spec, seccomp)
        from dockyard._util.atomic import atomic_write

        points = jsonlite.dumps(self.points).encode()
        atomic_write(os.path.join(self.cdir, MOUNTS_FILE), points, durable=durable)

    # -- files in /etc -------------------------------------------------------------
    def _etc_files(self, hostname: str) -> list[Mount]:
        """/etc/hosts, /etc/hostname and /etc/resolv.conf, written per container."""
        from dockyard.runtime.spec_builder import bind_mount

        req, cdir = self.req, self.cdir
        hosts = [
            "127.0.0.1\tlocalhost",
            "::1\tlocalhost ip6-localhost ip6-loopback",
            "fe00::0\tip6-localnet",
            "ff00::0\tip6-mcastprefix",
            "ff02::1\tip6-allnodes",
            "ff02::2\tip6-allrouters",
        ]
        hosts += [f"{ip}\t{host}" for host, ip in req.extra_hosts]
        servers = None  # the host's resolvers
        if req.bridged:
            hosts += self.svc.networks.hosts_lines(self.cid, hostname, req.domainname)
            servers = self.svc.networks.nameservers(self.cid)
        files = {"resolv.conf": resolv_conf(req, servers), "hostname": hostname + "\n",
                 "hosts": "\n".join(hosts) + "\n"}  # fmt: skip
        out = []
        for f, text in files.items():
            with open(os.path.join(cdir, f), "w") as out_file:
                out_file.write(text)
            out.append(bind_mount(os.path.join(cdir, f), f"/etc/{f}", readonly=req.read_only))
        return out

    # -- -v, --mount, --tmpfs, image VOLUMEs ------------------------------------------
    def _user_mounts(self) -> list[Mount]:
        from dockyard.oci.runtime_spec import Mount
        from dockyard.runtime.spec_builder import tmpfs_mount

        out: list[Mount] = []
        for m in image_volume_requests(self.req, self.image_cfg):
            if m.type == "bind":
                if not os.path.exists(m.source):
                    raise InvalidArgument(
                        f'invalid mount config for type "bind": bind source path does not '
                        f"exist: {m.source}",
                        hint="create it first (Docker's -v would silently make an empty "
                        "root-owned directory there)",
                    )
                propagation = m.propagation or "rprivate"
                opts = ["bind" if m.bind_nonrecursive else "rbind", propagation]
                if m.readonly:
                    opts.append("ro")
                out.append(Mount(m.target, "bind", m.source, tuple(opts)))
                self._point("bind", m.source, m.target, not m.readonly, propagation=propagation)
            elif m.type == "tmpfs":
                opts = list(m.options)
                if m.tmpfs_size:
                    opts.append(f"size={m.tmpfs_size}")
                if m.tmpfs_mode is not None:
                    opts.append(f"mode={m.tmpfs_mode:o}")
                if m.readonly:
                    opts.append("ro")
                out.append(tmpfs_mount(m.target, ",".join(opts)))
                self._point("tmpfs", "", m.target, not m.readonly)
            else:
                out += self._volume_mount(m)
        return out

    def _point(
        self,
        kind: str,
        source: str,
        destination: str,
        rw: bool,
        *,
        name: str = "",
        propagation: str = "",
    ) -> None:
        """One entry of inspect's Mounts, in Docker's field order."""
        point: dict[str, Any] = {"Type": kind}
        if kind == "volume":
            point["Name"] = name
        point["Source"] = source
        point["Destination"] = destination
        if kind == "volume":
            point["Driver"] = "local"
        point["Mode"] = ("z" if rw else "ro") if kind == "volume" else ("" if rw else "ro")
        point["RW"] = rw
        point["Propagation"] = propagation
        self.points.append(point)

    def _volume_mount(self, m: MountRequest) -> list[Mount]:
        from dockyard.storage.copyup import copy_image_content, is_empty_dir

        svc = self.svc
        if m.volume_driver and m.volume_driver != "local":
            raise NotFound(
                f'error looking up volume plugin {m.volume_driver}: plugin "{m.volume_driver}" '
                "not found"
            )
        existed = bool(m.source) and _volume_exists(svc, m.source)
        vol = svc.volumes.create(
            m.source or None,
            labels=dict(m.volume_labels),
            options=dict(m.volume_options) or None,
            anonymous=not m.source,
        )
        if not existed:
            self.made_volumes.append(vol.name)
        svc.volumes.add_ref(vol.name, self.cid)
        host = vol.host_path
        copy = not m.nocopy and not m.volume_subpath and host is not None
        if copy and host is not None and is_empty_dir(host) and self._image_has(m.target):
            with svc.snapshots.mount_on_host(self.cid) as merged:
                inner = merged / m.target.lstrip("/")
                if inner.is_dir() and not inner.is_symlink():
                    copy_image_content(inner, host)
        mounts = svc.volumes.mounts(vol.name, m.target, readonly=m.readonly)
        source = str(vol.mountpoint)
        if m.volume_subpath:
            if host is None:
                raise InvalidArgument(
                    f"volume {vol.name}: volume-subpath needs a volume with a host directory"
                )
            from pathlib import Path

            sub = Path(os.path.normpath(host / m.volume_subpath.lstrip("/")))
            if sub != host and host not in sub.parents:
                raise InvalidArgument(f"volume-subpath {m.volume_subpath!r} leaves the volume")
            if not sub.exists():
                raise InvalidArgument(
                    f"cannot access path {m.volume_subpath}: lstat {sub}: no such file or directory"
                )
            mounts = [mounts[0].replace(source=str(sub))]
            source = str(sub)
        self._point("volume", source, m.target, not m.readonly, name=vol.name)
        return mounts

    def _image_has(self, target: str) -> bool:
        """Whether a lower layer holds content at ``target`` (then copy-up is needed)."""
        rel = target.lstrip("/")
        for lower in self.svc.snapshots.lower_dirs(self.cid):
            p = lower / rel
            if p.is_dir() and any(p.iterdir()):
                return True
        return False

    # -- the runtime spec and the shim's config -------------------------------------
    def _spec(self, args: Sequence[str], hostname: str, mounts: list[Mount]) -> RuntimeSpec:
        from dockyard.runtime import caps
        from dockyard.runtime.seccomp_cache import host_arch, host_kernel
        from dockyard.runtime.spec_builder import SpecOptions, build_spec, merge_env

        req, image_cfg = self.req, self.image_cfg
        self.seccomp_profile = select_seccomp(req.seccomp_profile, self.svc.config.root_dir)
        network = self.svc.network_namespace(req, self.cid)
        return build_spec(
            SpecOptions(
                args=tuple(args),
                env=merge_env(_ca_env(req, image_cfg.env), req.env),
                cwd=req.working_dir or image_cfg.working_dir or "/",
                home=None,
                hostname=hostname,
                terminal=req.tty,
                readonly_rootfs=req.read_only,
                mounts=tuple(mounts),
                cap_add=req.cap_add,
                cap_drop=req.cap_drop,
                privileged=req.privileged,
                host_capabilities=caps.bounding_set(),
                network=network,
                uts_host=network == "host" and not req.hostname,
                memory=req.memory,
                memory_swap=req.memory_swap,
                cpus=req.nano_cpus / 1e9 if req.nano_cpus else None,
                cpu_shares=req.cpu_shares,
                pids_limit=req.pids_limit,
                cgroups_path=self.svc.cgroup_path(self.cid),
                shm_size=req.shm_size or 64 << 20,
                no_new_privileges=req.no_new_privileges,
                sysctls=req.sysctls,
                oom_score_adj=req.oom_score_adj,
                seccomp=self.seccomp_profile,
                host_arch=host_arch(),
                kernel=host_kernel(),
            )
        )

    def _write_shim_config(
        self, rootfs_mounts: Sequence[Mount], spec: RuntimeSpec, seccomp: str | None = None
    ) -> None:
        from dockyard.runtime.state import ShimConfig, write_shim_config

        req, config = self.req, self.svc.config
        log = dict(req.log_options)
        cleanup: tuple[str, ...] = ()
        if req.auto_remove:
            cleanup = (
                sys.executable,
                "-m",
                "dockyard",
                "--root",
                config.root_dir,
                "--runroot",
                config.runroot_dir,
                "rm",
                "-f",
                "-v",
                self.cid,
            )
        cfg = ShimConfig.build(
            self.cid,
            rootfs_mounts=rootfs_mounts,
            resources=spec.linux.resources,
            cgroup_path=self.svc.cgroup_path(self.cid),
            restart_policy=req.restart.name,
            max_retries=req.restart.max_retries,
            log_driver=req.log_driver,
            log_max_size=log.get("max-size", "10m"),
            log_max_file=log.get("max-file", "3"),
            tty=req.tty,
            open_stdin=req.open_stdin,
            stop_signal=req.stop_signal or self.image_cfg.stop_signal or None,
            stop_timeout=req.stop_timeout if req.stop_timeout is not None else 10,
            # "" is root: resolved too, so that HOME comes from /etc/passwd (/root), as Docker
            resolve_user=req.user or self.image_cfg.user or "",
            auto_remove=req.auto_remove,
            cleanup_command=cleanup,
            runtime=req.runtime,  # runtime
            seccomp_filter=seccomp,  # seccomp
        )
        write_shim_config(self.cdir, cfg, durable=self.durable)


def _ca_env(req: ContainerCreate, env: tuple[str, ...]) -> tuple[str, ...]:
    if not req.host_ca:
        return env
    from dockyard.engine.host_ca import host_ca_env

    return (*env, *host_ca_env((*env, *req.env)))


def _volume_exists(svc: ContainerService, name: str) -> bool:
    try:
        svc.volumes.get(name)
        return True
    except NotFound:
        return False


def _init_mount() -> Mount:
    from dockyard.runtime.spec_builder import bind_mount

    for path in INIT_BINARIES:
        if os.path.exists(path):
            return bind_mount(path, INIT_PATH, readonly=True)
    raise InvalidArgument(
        "--init needs tini on the host, and none was found",
        hint="apt-get install tini (make test installs it)",
    )


def resolv_conf(
    req: ContainerCreate,
    network_servers: Sequence[str] | None = None,
    host: str | None = None,
) -> str:
    """The container's /etc/resolv.conf: the host's, minus loopback servers (as Docker
    does; kept with ``--network host``), or what --dns, --dns-search and --dns-option
    say. ``network_servers``: on a user network its gateway, where the embedded DNS
    listens, in place of the host's servers and of ``--dns`` (the embedded DNS forwards
    to those, as Docker's does). ``host``: the
    host's file's text (default: read /etc/resolv.conf)."""
    lines: list[str] = []
    if host is None:
        try:
            with open("/etc/resolv.conf") as f:
                host = f.read()
        except OSError:
            host = ""
    # on a user network the embedded DNS is the server; it forwards to --dns
    servers = list(network_servers or ()) or list(req.dns)
    keep_loopback = req.network == "host"
    from_host = not servers
    search = list(req.dns_search)
    options = list(req.dns_options)
    for line in host.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] == "nameserver" and len(words) > 1 and from_host:
            if keep_loopback or (not words[1].startswith("127.") and words[1] != "::1"):
                servers.append(words[1])
        elif words[0] == "search" and not req.dns_search:
            search.extend(words[1:])
        elif words[0] == "options" and not req.dns_options:
            options.extend(words[1:])
    if from_host and not servers and req.network not in ("none", "host"):
        servers = ["8.8.8.8", "8.8.4.4"]  # Docker's fallback: the host has loopback ones only
    if search:
        lines.append("search " + " ".join(search))
    lines += [f"nameserver {s}" for s in servers]
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n"
