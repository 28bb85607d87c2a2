"""``docker container inspect`` JSON, from the record, the create request and the state.

The shape (keys, their order, null against empty) follows the Docker Engine API's
``ContainerInspectResponse`` (API 1.43) so that templates and clients written for
Docker read it unchanged. Fields for features Dockyard lacks carry Docker's
defaults (zeros, empty strings, null).
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from dockyard.errors import DockyardError

if TYPE_CHECKING:
    from dockyard.engine.container_config import ContainerCreate
    from dockyard.engine.containers import Container, ContainerService
    from dockyard.oci.image import ContainerConfig


def _ns(value: int | None) -> int:
    return value or 0


_RUNNING = ("running", "paused", "restarting")


def inspect_container(svc: ContainerService, c: Container, *, size: bool = False) -> dict[str, Any]:
    """Docker's ContainerJSON; ``size`` adds SizeRw (the writable layer's bytes) and
    SizeRootFs (that plus the image), as ``docker inspect -s``."""
    from dockyard.runtime.spec_builder import MASKED_PATHS, READONLY_PATHS

    req = c.create_request()
    rec = c.record
    s = c.state
    cdir = svc.container_dir(c.id)
    args = json.loads(rec.command)
    image = svc.images.store.get(rec.image_id)
    image_cfg = svc.images.config(image).config if image else None
    restart = {"Name": req.restart.name, "MaximumRetryCount": req.restart.max_retries}
    host_config: dict[str, Any] = {
        "Binds": _binds(req),
        "ContainerIDFile": "",
        "LogConfig": {"Type": req.log_driver, "Config": dict(req.log_options)},
        "NetworkMode": "bridge" if req.network in ("default", "") else req.network,
        "PortBindings": _port_bindings(req),
        "RestartPolicy": restart,
        "AutoRemove": req.auto_remove,
        "VolumeDriver": "",
        "VolumesFrom": None,
        "ConsoleSize": [0, 0],
        "CapAdd": list(req.cap_add) or None,
        "CapDrop": list(req.cap_drop) or None,
        "CgroupnsMode": "private",
        "Dns": list(req.dns),
        "DnsOptions": list(req.dns_options),
        "DnsSearch": list(req.dns_search),
        "ExtraHosts": [f"{h}:{ip}" for h, ip in req.extra_hosts] or None,
        "GroupAdd": None,
        "IpcMode": "private",
        "Cgroup": "",
        "Links": None,
        "OomScoreAdj": _ns(req.oom_score_adj),
        "PidMode": "",
        "Privileged": req.privileged,
        "PublishAllPorts": req.publish_all,
        "ReadonlyRootfs": req.read_only,
        "SecurityOpt": ["no-new-privileges"] if req.no_new_privileges else None,
        "UTSMode": "",
        "UsernsMode": "",
        "ShmSize": req.shm_size or 64 << 20,
        "Runtime": req.runtime,
        "Isolation": "",
        "CpuShares": _ns(req.cpu_shares),
        "Memory": _ns(req.memory),
        "NanoCpus": _ns(req.nano_cpus),
        "CgroupParent": "",
        "BlkioWeight": 0,
        "BlkioWeightDevice": [],
        "BlkioDeviceReadBps": [],
        "BlkioDeviceWriteBps": [],
        "BlkioDeviceReadIOps": [],
        "BlkioDeviceWriteIOps": [],
        "CpuPeriod": 0,
        "CpuQuota": 0,
        "CpuRealtimePeriod": 0,
        "CpuRealtimeRuntime": 0,
        "CpusetCpus": "",
        "CpusetMems": "",
        "Devices": [],
        "DeviceCgroupRules": None,
        "DeviceRequests": None,
        "MemoryReservation": 0,
        "MemorySwap": _memory_swap(req),
        "MemorySwappiness": None,
        "OomKillDisable": False,
        "PidsLimit": req.pids_limit if req.pids_limit and req.pids_limit > 0 else None,
        "Ulimits": None,
        "CpuCount": 0,
        "CpuPercent": 0,
        "IOMaximumIOps": 0,
        "IOMaximumBandwidth": 0,
        "MaskedPaths": [] if req.privileged else list(MASKED_PATHS),
        "ReadonlyPaths": [] if req.privileged else list(READONLY_PATHS),
    }
    tmpfs = {m.target: _tmpfs_options(m) for m in req.mounts if m.type == "tmpfs"}
    if tmpfs:
        host_config["Tmpfs"] = tmpfs
    if req.init:
        host_config["Init"] = True
    if req.sysctls:
        host_config["Sysctls"] = dict(req.sysctls)
    data: dict[str, Any] = {
        "Id": c.id,
        "Created": rec.created,
        "Path": args[0] if args else "",
        "Args": args[1:],
        "State": {
            "Status": s.status,
            "Running": s.status in _RUNNING,
            "Paused": s.status == "paused",
            "Restarting": s.status == "restarting",
            "OOMKilled": s.oom_killed,
            "Dead": s.status == "dead",
            "Pid": s.pid if s.status in ("running", "paused") else 0,
            "ExitCode": s.exit_code,
            "Error": s.error,
            "StartedAt": s.started_at,
            "FinishedAt": s.finished_at,
        },
        "Image": rec.image_id,
        "ResolvConfPath": os.path.join(cdir, "resolv.conf"),
        "HostnamePath": os.path.join(cdir, "hostname"),
        "HostsPath": os.path.join(cdir, "hosts"),
        "LogPath": os.path.join(cdir, f"{c.id}-json.log") if req.log_driver == "json-file" else "",
        "Name": "/" + rec.name,
        "RestartCount": s.restart_count,
        "Driver": "overlay",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": None,
        "HostConfig": host_config,
        "GraphDriver": _graph_driver(svc, c.id),
        **(_sizes(svc, c.id, image.size if image else 0) if size else {}),
        "Mounts": _mounts(svc, c, req, image_cfg),
        "Config": _config(c, req, image_cfg, rec.image_name),
        "NetworkSettings": _network_settings(
            svc, c, req, image_cfg, c.state.pid if s.status in _RUNNING else 0
        ),
    }
    return data


def _config(
    c: Container, req: ContainerCreate, image_cfg: ContainerConfig | None, image_name: str
) -> dict[str, Any]:
    """``Config``: the request merged with the image's config, as Docker stores it."""
    from dockyard.runtime.spec_builder import merge_env

    env = list(merge_env(image_cfg.env if image_cfg else (), req.env))
    labels = dict(image_cfg.labels) if image_cfg else {}
    labels.update(req.labels)
    if req.entrypoint is not None:
        entrypoint: list[str] | None = list(req.entrypoint) or None
    else:
        entrypoint = list(image_cfg.entrypoint) if image_cfg and image_cfg.entrypoint else None
    if req.cmd:
        cmd: list[str] | None = list(req.cmd)
    elif req.entrypoint is None and image_cfg and image_cfg.cmd:
        cmd = list(image_cfg.cmd)
    else:
        cmd = None
    volumes: dict[str, dict[str, Any]] = {v: {} for v in (image_cfg.volumes if image_cfg else ())}
    volumes.update({m.target: {} for m in req.mounts if m.type == "volume" and not m.source})
    config: dict[str, Any] = {
        "Hostname": req.hostname or c.id[:12],
        "Domainname": req.domainname,
        "User": req.user or (image_cfg.user if image_cfg else ""),
        "AttachStdin": req.open_stdin,
        "AttachStdout": True,
        "AttachStderr": True,
    }
    exposed = _exposed(req, image_cfg)
    if exposed:
        config["ExposedPorts"] = {p: {} for p in exposed}
    config.update(
        {
            "Tty": req.tty,
            "OpenStdin": req.open_stdin,
            "StdinOnce": req.stdin_once,
            "Env": env,
            "Cmd": cmd,
            "Image": image_name,
            "Volumes": volumes or None,
            "WorkingDir": req.working_dir or (image_cfg.working_dir if image_cfg else ""),
            "Entrypoint": entrypoint,
            "OnBuild": None,
            "Labels": labels,
        }
    )
    stop_signal = req.stop_signal or (image_cfg.stop_signal if image_cfg else "")
    if stop_signal:
        config["StopSignal"] = stop_signal
    if req.stop_timeout is not None:
        config["StopTimeout"] = req.stop_timeout
    return config


def _binds(req: ContainerCreate) -> list[str] | None:
    """``-v`` style ``source:destination[:ro]`` for bind mounts and named volumes."""
    out = []
    for m in req.mounts:
        if m.type == "bind" or (m.type == "volume" and m.source):
            out.append(f"{m.source}:{m.target}{':ro' if m.readonly else ''}")
    return out or None


def _tmpfs_options(m: Any) -> str:
    opts = list(m.options)
    if m.tmpfs_size:
        opts.append(f"size={m.tmpfs_size}")
    if m.tmpfs_mode is not None:
        opts.append(f"mode={m.tmpfs_mode:o}")
    if m.readonly:
        opts.append("ro")
    return ",".join(opts)


def _memory_swap(req: ContainerCreate) -> int:
    """Docker's default: swap as large as the memory (MemorySwap = 2 x Memory)."""
    if req.memory_swap:
        return req.memory_swap
    return req.memory * 2 if req.memory else 0


def _mounts(
    svc: ContainerService, c: Container, req: ContainerCreate, image_cfg: ContainerConfig | None
) -> list[dict[str, Any]]:
    """The mounts recorded at create; for containers made before that record existed,
    a reconstruction from the request."""
    from dockyard.engine.container_create import read_mount_points

    recorded = read_mount_points(svc.container_dir(c.id))
    if recorded is not None:
        return recorded
    out: list[dict[str, Any]] = []
    for m in req.mounts:
        entry: dict[str, Any] = {"Type": m.type}
        if m.type == "volume":
            entry["Name"] = m.source
        entry.update({"Source": m.source, "Destination": m.target})
        if m.type == "volume":
            entry["Driver"] = "local"
            try:
                entry["Source"] = str(svc.volumes.get(m.source).mountpoint) if m.source else ""
            except DockyardError:
                pass
        entry.update(
            {
                "Mode": "",
                "RW": not m.readonly,
                "Propagation": m.propagation or ("rprivate" if m.type == "bind" else ""),
            }
        )
        out.append(entry)
    return out


def _sizes(svc: ContainerService, cid: str, image_size: int) -> dict[str, int]:
    try:
        used = svc.snapshots.usage(cid)
    except OSError:
        used = 0
    return {"SizeRw": used, "SizeRootFs": used + image_size}


def _graph_driver(svc: ContainerService, cid: str) -> dict[str, Any]:
    snaps = svc.snapshots
    if not snaps.exists(cid):
        return {"Data": None, "Name": "overlay"}
    upper = snaps.upper_dir(cid)
    try:
        lowers = [str(p) for p in snaps.lower_dirs(cid)]
    except DockyardError:
        lowers = []
    init = upper.parent / "init"
    if init.is_dir():
        lowers.insert(0, str(init))
    return {
        "Data": {
            "LowerDir": ":".join(lowers),
            "MergedDir": os.path.join(svc.container_dir(cid), "rootfs"),
            "UpperDir": str(upper),
            "WorkDir": str(upper.parent / "work"),
        },
        "Name": "overlay",
    }


def _network_settings(
    svc: ContainerService,
    c: Container,
    req: ContainerCreate,
    image_cfg: ContainerConfig | None,
    pid: int,
) -> dict[str, Any]:
    from dockyard.engine.networks import is_bridge_mode

    if is_bridge_mode(req.network):
        return svc.networks.network_settings(
            c.id, req, running=pid > 0, exposed=_exposed(req, image_cfg)
        )
    networks: dict[str, Any] = {}
    if req.network in ("none", "host"):
        from dockyard.engine.network_inspect import empty_endpoint_json

        networks[req.network] = empty_endpoint_json()
    return {
        "Bridge": "",
        "SandboxID": "",
        "SandboxKey": f"/proc/{pid}/ns/net" if pid and req.network != "host" else "",
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "Ports": {},
        "SecondaryIPAddresses": None,
        "SecondaryIPv6Addresses": None,
        "EndpointID": "",
        "Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "MacAddress": "",
        "Networks": networks,
    }


def _exposed(req: ContainerCreate, image_cfg: ContainerConfig | None) -> list[str]:
    ports = set(req.exposed)
    if image_cfg is not None:
        ports.update(image_cfg.exposed_ports)
    ports.update(f"{p.container_port}/{p.proto}" for p in req.ports)
    return sorted(ports)


def _port_bindings(req: ContainerCreate) -> dict[str, Any]:
    out: dict[str, list[dict[str, str]]] = {}
    for p in req.ports:
        out.setdefault(f"{p.container_port}/{p.proto}", []).append(
            {"HostIp": p.host_ip, "HostPort": str(p.host_port) if p.host_port else ""}
        )
    return out
