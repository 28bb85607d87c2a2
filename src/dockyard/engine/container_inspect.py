"""``docker container inspect`` JSON, from the record, the create request and the state."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dockyard.engine.containers import Container, ContainerService


def _ns(value: int | None) -> int:
    return value or 0


def inspect_container(svc: ContainerService, c: Container) -> dict[str, Any]:
    req = c.create_request()
    rec = c.record
    s = c.state
    cdir = svc.container_dir(c.id)
    args = json.loads(rec.command)
    image = svc.images.store.get(rec.image_id)
    image_cfg = svc.images.config(image).config if image else None
    env = list(req.env)
    if image_cfg is not None:
        from dockyard.runtime.spec_builder import merge_env

        env = list(merge_env(image_cfg.env, req.env))
    mounts = []
    for m in req.mounts:
        entry: dict[str, Any] = {
            "Type": m.type,
            "Source": m.source,
            "Destination": m.target,
            "Mode": "",
            "RW": not m.readonly,
            "Propagation": m.propagation or ("rprivate" if m.type == "bind" else ""),
        }
        if m.type == "volume":
            entry["Name"] = m.source
            entry["Driver"] = "local"
            try:
                entry["Source"] = str(svc.volumes.get(m.source).mountpoint) if m.source else ""
            except Exception:
                pass
        mounts.append(entry)
    for name in svc.volumes_of(c.id):
        if not any(m.get("Name") == name for m in mounts):
            try:
                v = svc.volumes.get(name)
            except Exception:
                continue
            dest = next((t for t in (image_cfg.volumes if image_cfg else ())), "")
            mounts.append(
                {
                    "Type": "volume",
                    "Name": name,
                    "Source": str(v.mountpoint),
                    "Destination": dest,
                    "Driver": "local",
                    "Mode": "",
                    "RW": True,
                    "Propagation": "",
                }
            )
    restart = {"Name": req.restart.name, "MaximumRetryCount": req.restart.max_retries}
    upper = svc.snapshots.upper_dir(c.id) if svc.snapshots.exists(c.id) else None
    return {
        "Id": c.id,
        "Created": rec.created,
        "Path": args[0] if args else "",
        "Args": args[1:],
        "State": {
            "Status": s.status,
            "Running": s.status in ("running", "paused", "restarting"),
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
        "ResolvConfPath": str(cdir / "resolv.conf"),
        "HostnamePath": str(cdir / "hostname"),
        "HostsPath": str(cdir / "hosts"),
        "LogPath": str(cdir / f"{c.id}-json.log"),
        "Name": "/" + rec.name,
        "RestartCount": s.restart_count,
        "Driver": "overlay",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": None,
        "HostConfig": {
            "Binds": [
                f"{m.source}:{m.target}{':ro' if m.readonly else ''}"
                for m in req.mounts
                if m.type == "bind"
            ]
            or None,
            "ContainerIDFile": "",
            "LogConfig": {"Type": req.log_driver, "Config": dict(req.log_options)},
            "NetworkMode": req.network,
            "PortBindings": _port_bindings(req),
            "RestartPolicy": restart,
            "AutoRemove": req.auto_remove,
            "VolumeDriver": "",
            "VolumesFrom": None,
            "CapAdd": list(req.cap_add) or None,
            "CapDrop": list(req.cap_drop) or None,
            "Dns": list(req.dns),
            "DnsOptions": list(req.dns_options),
            "DnsSearch": list(req.dns_search),
            "ExtraHosts": [f"{h}:{ip}" for h, ip in req.extra_hosts] or None,
            "Init": req.init or None,
            "Privileged": req.privileged,
            "PublishAllPorts": req.publish_all,
            "ReadonlyRootfs": req.read_only,
            "SecurityOpt": ["no-new-privileges"] if req.no_new_privileges else None,
            "Tmpfs": {m.target: ",".join(m.options) for m in req.mounts if m.type == "tmpfs"}
            or None,
            "ShmSize": req.shm_size or 64 << 20,
            "Runtime": req.runtime,
            "Memory": _ns(req.memory),
            "MemorySwap": _ns(req.memory_swap),
            "NanoCpus": _ns(req.nano_cpus),
            "CpuShares": _ns(req.cpu_shares),
            "PidsLimit": req.pids_limit,
            "OomScoreAdj": _ns(req.oom_score_adj),
            "Sysctls": dict(req.sysctls) or None,
        },
        "GraphDriver": {
            "Data": {
                "UpperDir": str(upper) if upper else None,
                "WorkDir": str(upper.parent / "work") if upper else None,
            },
            "Name": "overlay",
        },
        "Mounts": mounts,
        "Config": {
            "Hostname": req.hostname or c.id[:12],
            "Domainname": req.domainname,
            "User": req.user or (image_cfg.user if image_cfg else ""),
            "AttachStdin": req.open_stdin,
            "AttachStdout": True,
            "AttachStderr": True,
            "ExposedPorts": {p: {} for p in _exposed(req, image_cfg)} or None,
            "Tty": req.tty,
            "OpenStdin": req.open_stdin,
            "StdinOnce": req.stdin_once,
            "Env": env,
            "Cmd": list(req.cmd)
            if req.cmd
            else (
                list(image_cfg.cmd)
                if image_cfg and image_cfg.cmd and req.entrypoint is None
                else None
            ),
            "Image": rec.image_name,
            "Volumes": {v: {} for v in (image_cfg.volumes if image_cfg else ())} or None,
            "WorkingDir": req.working_dir or (image_cfg.working_dir if image_cfg else ""),
            "Entrypoint": list(req.entrypoint)
            if req.entrypoint is not None
            else (list(image_cfg.entrypoint) if image_cfg and image_cfg.entrypoint else None),
            "OnBuild": None,
            "Labels": dict(req.labels),
            **({"StopSignal": req.stop_signal} if req.stop_signal else {}),
            **({"StopTimeout": req.stop_timeout} if req.stop_timeout is not None else {}),
        },
        "NetworkSettings": {
            "Bridge": "",
            "SandboxID": "",
            "HairpinMode": False,
            "Ports": {},
            "SandboxKey": "",
            "IPAddress": "",
            "IPPrefixLen": 0,
            "Gateway": "",
            "MacAddress": "",
            "Networks": {},
        },
    }


def _exposed(req: Any, image_cfg: Any) -> list[str]:
    ports = set(req.exposed)
    if image_cfg is not None:
        ports.update(image_cfg.exposed_ports)
    ports.update(f"{p.container_port}/{p.proto}" for p in req.ports)
    return sorted(ports)


def _port_bindings(req: Any) -> dict[str, Any]:
    out: dict[str, list[dict[str, str]]] = {}
    for p in req.ports:
        out.setdefault(f"{p.container_port}/{p.proto}", []).append(
            {"HostIp": p.host_ip, "HostPort": str(p.host_port) if p.host_port else ""}
        )
    return out
