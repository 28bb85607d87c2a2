"""The container service: create, start, stop, remove, list — the one place that
combines images, snapshots, volumes and the runtime for a container.

Each container is a directory ``$ROOT/containers/<id>/`` (the OCI bundle, the shim's
files, the log) plus a row in the state database; its running state belongs to its
shim (``state.json``), read through :class:`ShimClient`.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.config import EngineConfig
from dockyard.engine.container_config import ContainerCreate
from dockyard.engine.container_records import ContainerRecord, ContainerRecords, name_conflict
from dockyard.engine.names import random_name
from dockyard.errors import Conflict, DockyardError, InvalidArgument, NotFound
from dockyard.runtime import state as st
from dockyard.runtime.shim_client import ShimClient

if TYPE_CHECKING:
    from dockyard.engine.images import ImageService
    from dockyard.oci.image import ContainerConfig
    from dockyard.oci.runtime_spec import Mount, RuntimeSpec
    from dockyard.runtime.shim_client import ShimHandle
    from dockyard.specs.volumes import MountRequest
    from dockyard.storage.snapshots import Snapshotter
    from dockyard.storage.volumes import VolumeStore

_NAME_RE = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
INIT_PATH = "/sbin/docker-init"
INIT_BINARIES = ("/usr/bin/tini-static", "/usr/bin/tini")


@dataclass(frozen=True)
class Container:
    """A record with its current state, as ps/inspect see it."""

    record: ContainerRecord
    state: st.State

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def name(self) -> str:
        return self.record.name

    def create_request(self) -> ContainerCreate:
        return ContainerCreate.from_json(self.record.config)


class ContainerService:
    def __init__(
        self,
        config: EngineConfig,
        records: ContainerRecords,
        images: ImageService,
        snapshots: Snapshotter,
        volumes: VolumeStore,
    ) -> None:
        self.config = config
        self.records = records
        self.images = images
        self.snapshots = snapshots
        self.volumes = volumes

    # -- paths ---------------------------------------------------------------------
    def container_dir(self, cid: str) -> Path:
        return self.config.root / "containers" / cid

    def run_dir(self, cid: str) -> Path:
        return self.config.runroot / "containers" / cid

    def client(self, cid: str) -> ShimClient:
        return ShimClient(self.run_dir(cid), self.container_dir(cid))

    # -- lookup --------------------------------------------------------------------
    def get(self, ref: str) -> Container:
        rec = self.records.find(ref)
        return Container(rec, self.client(rec.id).state())

    def all(self) -> list[Container]:
        return [Container(r, self.client(r.id).state()) for r in self.records.all()]

    # -- create --------------------------------------------------------------------
    def create(self, req: ContainerCreate) -> Container:
        image = self.images.resolve(req.image)
        image_cfg = self.images.config(image).config
        name = self._choose_name(req.name)
        cid = secrets.token_hex(32)
        args = _command(req, image_cfg)
        cdir = self.container_dir(cid)
        made_volumes: list[str] = []
        try:
            cdir.mkdir(parents=True, mode=0o710)
            lowers = list(reversed(self.images.layer_paths(image)))
            rootfs_mounts = self.snapshots.prepare(cid, lowers)
            hostname = req.hostname or cid[:12]
            mounts = self._etc_files(cdir, hostname, req)
            mounts += self._user_mounts(cid, req, image_cfg, made_volumes)
            init_args: tuple[str, ...] = ()
            if req.init:
                mounts.append(self._init_mount())
                init_args = (INIT_PATH, "--")
            spec = self._spec(cid, req, image_cfg, (*init_args, *args), hostname, mounts)
            from dockyard.runtime.bundle import write_config

            (cdir / "rootfs").mkdir()
            write_config(cdir, spec)
            self._write_shim_config(cid, req, image_cfg, rootfs_mounts, spec)
            created_ns = time.time_ns()
            rec = ContainerRecord(
                id=cid,
                name=name,
                image_id=image.id,
                image_name=req.image,
                command=json.dumps(list(args)),
                created=st.rfc3339_nano(created_ns),
                created_ns=created_ns,
                labels=json.dumps(dict(req.labels)),
                config=req.with_name(name).to_json(),
            )
            self.records.add(rec)
        except BaseException:
            self._discard(cid, made_volumes)
            raise
        return Container(rec, st.State(id=cid))

    def _choose_name(self, name: str | None) -> str:
        if name is None:
            for _ in range(10):
                candidate = random_name()
                try:
                    self.records.find(candidate)
                except NotFound:
                    return candidate
            return random_name() + secrets.token_hex(2)
        if not _NAME_RE.match(name):
            raise InvalidArgument(
                f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )
        name = name.lstrip("/")
        try:
            holder = self.records.find(name)
        except NotFound:
            return name
        if holder.name == name:
            raise name_conflict(name, holder.id)
        return name

    def _discard(self, cid: str, made_volumes: Sequence[str]) -> None:
        try:
            self.snapshots.remove(cid)
        except (DockyardError, OSError):
            pass
        shutil.rmtree(self.container_dir(cid), ignore_errors=True)
        self.volumes.remove_refs(cid)
        for v in made_volumes:
            try:
                self.volumes.remove(v)
            except DockyardError:
                pass

    def _etc_files(self, cdir: Path, hostname: str, req: ContainerCreate) -> list[Mount]:
        """/etc/hosts, /etc/hostname and /etc/resolv.conf, written per container."""
        from dockyard.runtime.spec_builder import bind_mount

        hosts = [
            "127.0.0.1\tlocalhost",
            "::1\tlocalhost ip6-localhost ip6-loopback",
            "fe00::0\tip6-localnet",
            "ff00::0\tip6-mcastprefix",
            "ff02::1\tip6-allnodes",
            "ff02::2\tip6-allrouters",
        ]
        hosts += [f"{ip}\t{host}" for host, ip in req.extra_hosts]
        (cdir / "hosts").write_text("\n".join(hosts) + "\n")
        (cdir / "hostname").write_text(hostname + "\n")
        (cdir / "resolv.conf").write_text(_resolv_conf(req))
        out = []
        for f in ("resolv.conf", "hostname", "hosts"):
            out.append(bind_mount(str(cdir / f), f"/etc/{f}", readonly=req.read_only))
        return out

    def _user_mounts(
        self, cid: str, req: ContainerCreate, image_cfg: ContainerConfig, made: list[str]
    ) -> list[Mount]:
        from dockyard.runtime.spec_builder import bind_mount, tmpfs_mount

        out: list[Mount] = []
        targets = {m.target for m in req.mounts}
        from dockyard.specs.volumes import MountRequest

        requests = list(req.mounts)
        for path in image_cfg.volumes:
            if path not in targets:
                requests.append(MountRequest("volume", "", path))
        for m in requests:
            if m.type == "bind":
                if not os.path.exists(m.source):
                    raise InvalidArgument(
                        f'invalid mount config for type "bind": bind source path does not '
                        f"exist: {m.source}",
                        hint="create it first (Docker's -v would silently make an empty "
                        "root-owned directory there)",
                    )
                out.append(
                    bind_mount(
                        m.source,
                        m.target,
                        readonly=m.readonly,
                        propagation=m.propagation or "rprivate",
                    )
                )
            elif m.type == "tmpfs":
                opts = list(m.options)
                if m.tmpfs_size:
                    opts.append(f"size={m.tmpfs_size}")
                if m.tmpfs_mode is not None:
                    opts.append(f"mode={m.tmpfs_mode:o}")
                if m.readonly:
                    opts.append("ro")
                out.append(tmpfs_mount(m.target, ",".join(opts)))
            else:
                out += self._volume_mount(cid, m, made)
        return out

    def _volume_mount(self, cid: str, m: MountRequest, made: list[str]) -> list[Mount]:
        from dockyard.storage.copyup import copy_image_content, is_empty_dir

        existed = bool(m.source) and self._volume_exists(m.source)
        vol = self.volumes.create(
            m.source or None,
            labels=dict(m.volume_labels),
            options=dict(m.volume_options) or None,
            anonymous=not m.source,
        )
        if not existed:
            made.append(vol.name)
        self.volumes.add_ref(vol.name, cid)
        host = vol.host_path
        if not m.nocopy and host is not None and is_empty_dir(host):
            src = self._image_path(cid, m.target)
            if src is not None:
                with self.snapshots.mount_on_host(cid) as merged:
                    inner = merged / m.target.lstrip("/")
                    if inner.is_dir() and not inner.is_symlink():
                        copy_image_content(inner, host)
        return self.volumes.mounts(vol.name, m.target, readonly=m.readonly)

    def _volume_exists(self, name: str) -> bool:
        try:
            self.volumes.get(name)
            return True
        except NotFound:
            return False

    def _image_path(self, cid: str, target: str) -> Path | None:
        """A lower layer holding something at ``target`` (then copy-up is needed)."""
        rel = target.lstrip("/")
        for lower in self.snapshots.lower_dirs(cid):
            p = lower / rel
            if p.is_dir() and any(p.iterdir()):
                return p
        return None

    def _init_mount(self) -> Mount:
        from dockyard.runtime.spec_builder import bind_mount

        for path in INIT_BINARIES:
            if os.path.exists(path):
                return bind_mount(path, INIT_PATH, readonly=True)
        raise InvalidArgument(
            "--init needs tini on the host, and none was found",
            hint="apt-get install tini (make test installs it)",
        )

    def _spec(
        self,
        cid: str,
        req: ContainerCreate,
        image_cfg: ContainerConfig,
        args: Sequence[str],
        hostname: str,
        mounts: list[Mount],
    ) -> RuntimeSpec:
        from dockyard.runtime import linux
        from dockyard.runtime.spec_builder import SpecOptions, build_spec, merge_env

        network = self._network_mode(req)
        return build_spec(
            SpecOptions(
                args=tuple(args),
                env=merge_env(image_cfg.env, req.env),
                cwd=req.working_dir or image_cfg.working_dir or "/",
                home=None,
                hostname=hostname,
                terminal=req.tty,
                readonly_rootfs=req.read_only,
                mounts=tuple(mounts),
                cap_add=req.cap_add,
                cap_drop=req.cap_drop,
                privileged=req.privileged,
                host_capabilities=linux.bounding_set(),
                network=network,
                uts_host=network == "host" and not req.hostname,
                memory=req.memory,
                cpus=req.nano_cpus / 1e9 if req.nano_cpus else None,
                cpu_shares=req.cpu_shares,
                pids_limit=req.pids_limit,
                cgroups_path=self.cgroup_path(cid),
                shm_size=req.shm_size or 64 << 20,
                no_new_privileges=req.no_new_privileges,
                sysctls=req.sysctls,
                oom_score_adj=req.oom_score_adj,
            )
        )

    def _network_mode(self, req: ContainerCreate) -> str:
        mode = req.network
        if mode in ("default", "bridge", "none", ""):
            return "none"  # a namespace with loopback only, until bridge networking lands
        if mode == "host":
            return "host"
        if mode.startswith("container:"):
            other = self.get(mode.split(":", 1)[1])
            if other.state.status != "running":
                raise Conflict(f"cannot join network of a non running container: {other.id}")
            return f"/proc/{other.state.pid}/ns/net"
        raise NotFound(f"network {mode} not found")

    def cgroup_path(self, cid: str) -> str:
        return f"{self.config.cgroup_parent}/{cid}"

    def _write_shim_config(
        self,
        cid: str,
        req: ContainerCreate,
        image_cfg: ContainerConfig,
        rootfs_mounts: Sequence[Mount],
        spec: RuntimeSpec,
    ) -> None:
        from dockyard.runtime.state import ShimConfig, write_shim_config

        log = dict(req.log_options)
        cleanup: tuple[str, ...] = ()
        if req.auto_remove:
            cleanup = (
                sys.executable,
                "-m",
                "dockyard",
                "--root",
                str(self.config.root),
                "--runroot",
                str(self.config.runroot),
                "rm",
                "-f",
                cid,
            )
        cfg = ShimConfig.build(
            cid,
            rootfs_mounts=rootfs_mounts,
            resources=spec.linux.resources,
            cgroup_path=self.cgroup_path(cid),
            restart_policy=req.restart.name,
            max_retries=req.restart.max_retries,
            log_driver=req.log_driver,
            log_max_size=log.get("max-size", "10m"),
            log_max_file=log.get("max-file", "3"),
            tty=req.tty,
            open_stdin=req.open_stdin,
            stop_signal=req.stop_signal or image_cfg.stop_signal or None,
            stop_timeout=req.stop_timeout if req.stop_timeout is not None else 10,
            resolve_user=req.user or image_cfg.user or None,
            auto_remove=req.auto_remove,
            cleanup_command=cleanup,
        )
        write_shim_config(str(self.container_dir(cid)), cfg)

    # -- lifecycle -----------------------------------------------------------------
    def start(self, ref: str, *, attach: dict[str, bool] | None = None) -> ShimHandle | None:
        """Start a container; None if it was running already (Docker's no-op)."""
        from dockyard.runtime.shim_client import spawn_shim

        c = self.get(ref)
        if c.state.status in ("running", "restarting", "paused"):
            return None
        if c.state.status == "dead":
            self.client(c.id).cleanup()
        req = c.create_request()
        if req.network.startswith("container:"):
            self._rewrite_netns(c.id, req)
        run = self.run_dir(c.id)
        run.mkdir(parents=True, exist_ok=True, mode=0o700)
        return spawn_shim(self.container_dir(c.id), run, attach=attach)

    def _rewrite_netns(self, cid: str, req: ContainerCreate) -> None:
        from dataclasses import replace

        from dockyard.oci.runtime_spec import Namespace
        from dockyard.runtime.bundle import read_config, write_config

        path = self._network_mode(req)
        spec = read_config(self.container_dir(cid))
        ns = tuple(
            Namespace("network", path) if n.type == "network" else n for n in spec.linux.namespaces
        )
        write_config(
            self.container_dir(cid), replace(spec, linux=replace(spec.linux, namespaces=ns))
        )

    def stop(self, ref: str, timeout: int | None = None, signal: str | None = None) -> Container:
        c = self.get(ref)
        if c.state.running:
            self.client(c.id).stop(timeout, signal)
        return c

    def kill(self, ref: str, signal: str | int = "SIGKILL") -> Container:
        c = self.get(ref)
        if c.state.status not in ("running", "paused", "restarting"):
            raise Conflict(f"cannot kill container: {ref}: container {c.id} is not running")
        self.client(c.id).signal(signal)
        return c

    def restart(self, ref: str, timeout: int | None = None) -> Container:
        c = self.stop(ref, timeout)
        self.client(c.id).wait(timeout=60)
        self.start(c.id)
        return c

    def wait(self, ref: str, condition: str = "not-running") -> int:
        c = self.get(ref)
        return self.client(c.id).wait(condition)

    def pause(self, ref: str) -> Container:
        c = self.get(ref)
        if c.state.status != "running":
            raise Conflict(f"container {c.id} is not running")
        self.client(c.id).pause()
        return c

    def unpause(self, ref: str) -> Container:
        c = self.get(ref)
        if c.state.status != "paused":
            raise Conflict(f"container {c.id} is not paused")
        self.client(c.id).resume()
        return c

    def rename(self, ref: str, new_name: str) -> None:
        c = self.get(ref)
        if not _NAME_RE.match(new_name):
            raise InvalidArgument(
                f"Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )
        new_name = new_name.lstrip("/")
        if new_name == c.name:
            raise InvalidArgument("Renaming a container with the same name as its current name")
        self.records.rename(c.id, new_name)
        req = c.create_request().with_name(new_name)
        self.records.set_config(c.id, req.to_json())

    def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> Container:
        c = self.get(ref)
        client = self.client(c.id)
        if c.state.status in ("running", "paused", "restarting") and not force:
            raise Conflict(
                f"You cannot remove a {'paused' if c.state.status == 'paused' else 'running'} "
                f"container {c.id}. Stop the container before attempting removal or force "
                "remove"
            )
        if c.state.status != "created" or client.shim_alive():
            client.cleanup()
        anonymous = (
            [name for name in self.volumes_of(c.id) if self.volumes.get(name).anonymous]
            if volumes
            else []
        )
        self.volumes.remove_refs(c.id)
        for name in anonymous:
            try:
                self.volumes.remove(name)
            except DockyardError:
                pass
        self.snapshots.remove(c.id)
        self.records.remove(c.id)
        shutil.rmtree(self.container_dir(c.id), ignore_errors=True)
        shutil.rmtree(self.run_dir(c.id), ignore_errors=True)
        return c

    def volumes_of(self, cid: str) -> list[str]:
        return self.volumes.volumes_of(cid)

    def prune(self) -> tuple[list[str], int]:
        removed: list[str] = []
        reclaimed = 0
        for c in self.all():
            if c.state.status in ("exited", "created", "dead"):
                try:
                    reclaimed += self.snapshots.usage(c.id)
                except (DockyardError, OSError):
                    pass
                self.remove(c.id, force=True)
                removed.append(c.id)
        return removed, reclaimed

    def logs(self, ref: str, **kw: object) -> Iterator[tuple[str, bytes, int]]:
        from dockyard.runtime.logs import read_logs

        c = self.get(ref)
        return read_logs(self.container_dir(c.id), c.id, **kw)  # type: ignore[arg-type]

    def images_in_use(self) -> dict[str, list[str]]:
        return self.records.images_in_use()


def _command(req: ContainerCreate, image_cfg: ContainerConfig) -> tuple[str, ...]:
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


def _resolv_conf(req: ContainerCreate) -> str:
    lines: list[str] = []
    try:
        host = Path("/etc/resolv.conf").read_text()
    except OSError:
        host = ""
    servers = list(req.dns)
    search = list(req.dns_search)
    options = list(req.dns_options)
    for line in host.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] == "nameserver" and len(words) > 1 and not req.dns:
            if not words[1].startswith("127.") and words[1] != "::1":
                servers.append(words[1])
        elif words[0] == "search" and not req.dns_search:
            search.extend(words[1:])
        elif words[0] == "options" and not req.dns_options:
            options.extend(words[1:])
    if search:
        lines.append("search " + " ".join(search))
    lines += [f"nameserver {s}" for s in servers]
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n"
