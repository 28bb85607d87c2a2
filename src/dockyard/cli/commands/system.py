"""version, info, system df / info."""

from __future__ import annotations

import platform
import sys

from dockyard.cli.args import Parser
from dockyard.cli.context import Context
from dockyard.cli.formatting import write_rows, write_template
from dockyard.cli.units import human_size

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "df": ("system:df", "Show Dockyard disk usage"),
    "info": ("system:info", "Display system-wide information"),
    "restore": ("restore:restore", "Repair after a crash or reboot; restart always/unless-stopped"),
}


def system(ctx: Context, args: list[str]) -> int:
    from dockyard.cli.commands.image_group import dispatch

    return dispatch(ctx, args, "system", SUBCOMMANDS, "Manage Dockyard")


def _version_data() -> dict[str, object]:
    from dockyard import __version__

    return {
        "Client": {
            "Version": __version__,
            "ApiVersion": "1.43",
            "PythonVersion": platform.python_version(),
            "Os": sys.platform,
            "Arch": "amd64" if platform.machine() == "x86_64" else platform.machine(),
        },
        "Server": {
            "Engine": "Dockyard",
            "Version": __version__,
            "ApiVersion": "1.43",
            "MinAPIVersion": "1.24",
            "KernelVersion": platform.release(),
            "Os": "linux",
        },
    }


def version(ctx: Context, args: list[str], command: str = "version") -> int:
    p = Parser(command, "[OPTIONS]", "Show the Dockyard version information")
    p.add_argument("-f", "--format", help="Format output using a Go template, or json")
    ns = p.parse(args)
    data = _version_data()
    if ns.format:
        write_template(ctx, data, ns.format)
        return 0
    c = data["Client"]
    s = data["Server"]
    assert isinstance(c, dict) and isinstance(s, dict)
    ctx.print("Client:")
    ctx.print(f" Version:           {c['Version']}")
    ctx.print(f" API version:       {c['ApiVersion']}")
    ctx.print(f" Python version:    {c['PythonVersion']}")
    ctx.print(f" OS/Arch:           linux/{c['Arch']}")
    ctx.print("")
    ctx.print("Server: Dockyard (in-process)")
    ctx.print(" Engine:")
    ctx.print(f"  Version:          {s['Version']}")
    ctx.print(f"  API version:      {s['ApiVersion']} (minimum version {s['MinAPIVersion']})")
    ctx.print(f"  Kernel:           {s['KernelVersion']}")
    return 0


def _info_data(ctx: Context) -> dict[str, object]:
    import os

    from dockyard import __version__

    images = ctx.engine.images.store.all_images()
    return {
        "ID": "",
        "Containers": 0,
        "ContainersRunning": 0,
        "ContainersPaused": 0,
        "ContainersStopped": 0,
        "Images": len(images),
        "Driver": "overlay",
        "DockerRootDir": str(ctx.config.root),
        "RunRoot": str(ctx.config.runroot),
        "KernelVersion": platform.release(),
        "OperatingSystem": _os_name(),
        "OSType": "linux",
        "Architecture": platform.machine(),
        "NCPU": os.cpu_count() or 1,
        "MemTotal": _mem_total(),
        "ServerVersion": __version__,
        "CgroupVersion": "2" if _cgroup2_only() else "1",
        **_runtime_info(),
    }


def _runtime_info() -> dict[str, object]:
    """Runtimes, DefaultRuntime and SecurityOptions as ``docker info`` has them."""
    import shutil

    from dockyard.runtime import seccomp
    from dockyard.runtime.external import RUNTIMES

    runtimes: dict[str, object] = {"dockyard": {"path": "built-in"}}
    for name in RUNTIMES:
        path = shutil.which(name)
        if path is not None:
            runtimes[name] = {"path": path}
    security = ["name=seccomp,profile=builtin"] if seccomp.available() else []
    return {"Runtimes": runtimes, "DefaultRuntime": "dockyard", "SecurityOptions": security}


def _os_name() -> str:
    try:
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


def _mem_total() -> int:
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _cgroup2_only() -> bool:
    import os

    return os.path.exists("/sys/fs/cgroup/cgroup.controllers")


def info(ctx: Context, args: list[str], command: str = "info") -> int:
    p = Parser(command, "[OPTIONS]", "Display system-wide information")
    p.add_argument("-f", "--format", help="Format output using a Go template, or json")
    ns = p.parse(args)
    data = _info_data(ctx)
    if ns.format:
        write_template(ctx, data, ns.format)
        return 0
    ctx.print("Server:")
    ctx.print(f" Containers: {data['Containers']}")
    ctx.print(f"  Running: {data['ContainersRunning']}")
    ctx.print(f"  Paused: {data['ContainersPaused']}")
    ctx.print(f"  Stopped: {data['ContainersStopped']}")
    ctx.print(f" Images: {data['Images']}")
    ctx.print(f" Server Version: {data['ServerVersion']}")
    ctx.print(f" Storage Driver: {data['Driver']}")
    ctx.print(f" Cgroup Version: {data['CgroupVersion']}")
    runtimes = data["Runtimes"]
    assert isinstance(runtimes, dict)
    ctx.print(f" Runtimes: {' '.join(sorted(runtimes))}")
    ctx.print(f" Default Runtime: {data['DefaultRuntime']}")
    security = data["SecurityOptions"]
    assert isinstance(security, list)
    ctx.print(" Security Options:")
    for opt in security:
        fields = dict(f.split("=", 1) for f in opt.split(","))
        ctx.print(f"  {fields.pop('name', opt)}")
        for k, v in fields.items():
            ctx.print(f"   {k.capitalize()}: {v}")
    if not security:
        ctx.print("  none (seccomp unavailable: install libseccomp2)")
    ctx.print(f" Kernel Version: {data['KernelVersion']}")
    ctx.print(f" Operating System: {data['OperatingSystem']}")
    ctx.print(f" OSType: {data['OSType']}")
    ctx.print(f" Architecture: {data['Architecture']}")
    ctx.print(f" CPUs: {data['NCPU']}")
    ctx.print(f" Total Memory: {human_size(int(str(data['MemTotal'])))}")
    ctx.print(f" Docker Root Dir: {data['DockerRootDir']}")
    ctx.print(f" Run Root Dir: {data['RunRoot']}")
    from dockyard.engine.networks import changed_sysctls

    changed = changed_sysctls(ctx.config.root)
    if changed:
        ctx.print(" Sysctls Changed By Dockyard:")
        for key, v in sorted(changed.items()):
            ctx.print(f"  {key}={v.get('value', '')} (was {v.get('was', '?')})")
    return 0


def _reclaimable(reclaim: int, total: int) -> str:
    """Docker's RECLAIMABLE column: ``1.2MB (40%)``."""
    return f"{human_size(reclaim)} ({reclaim * 100 // total}%)" if total else human_size(reclaim)


def _df_containers(ctx: Context) -> list[dict[str, str]]:
    """One row per container (``system df -v``) with its upper dir's size."""
    import json
    import time

    from dockyard.cli.commands.ps import command_text, status_text
    from dockyard.cli.units import since
    from dockyard.errors import DockyardError

    svc = ctx.engine.containers
    now = time.time()
    rows = []
    for c in svc.all():
        try:
            size = svc.snapshots.usage(c.id)
        except (DockyardError, OSError):
            size = 0
        rows.append(
            {
                "ContainerID": c.id[:12],
                "Image": c.record.image_name,
                "Command": json.dumps(command_text(c.record.command, True), ensure_ascii=False),
                "LocalVolumes": str(len(svc.volumes_of(c.id))),
                "Size": human_size(size),
                "RunningFor": since(c.record.created_ns // 1_000_000_000, now),
                "Status": status_text(c.state, now),
                "Names": c.name,
                "State": c.state.status,
                "_size": str(size),
            }
        )
    return rows


def _df_volumes(ctx: Context) -> list[dict[str, str]]:
    from dockyard.errors import DockyardError

    store = ctx.engine.volumes
    counts = store.ref_counts()
    rows = []
    for v in store.list():
        try:
            size = store.usage(v.name)
        except (DockyardError, OSError):
            size = -1
        rows.append(
            {
                "VolumeName": v.name,
                "Links": str(counts.get(v.name, 0)),
                "Size": human_size(size) if size >= 0 else "N/A",
                "_size": str(max(size, 0)),
            }
        )
    return rows


def df(ctx: Context, args: list[str], command: str = "system df") -> int:
    p = Parser(command, "[OPTIONS]", "Show Dockyard disk usage")
    p.add_argument("--format", help="Format output using a Go template, or json")
    p.add_argument("-v", "--verbose", action="store_true", help="Show detailed information")
    ns = p.parse(args)
    usage = ctx.engine.images.disk_usage()
    active = [i for i in usage.images if i.id in usage.active_image_ids]
    sizes = ctx.engine.images.shared_sizes()
    unused_unique = sum(sizes.get(i.id, (0, 0))[1] for i in usage.images if i not in active)
    total = usage.total_layers_size
    containers = _df_containers(ctx)
    volumes = _df_volumes(ctx)
    if ns.verbose:
        from dockyard.cli.units import since

        ctx.print("Images space usage:\n")
        rows = []
        for i in usage.images:
            shared, unique = sizes.get(i.id, (0, 0))
            for tag in i.repo_tags or ("<none>:<none>",):
                repo, _, t = tag.rpartition(":")
                rows.append(
                    {
                        "Repository": repo,
                        "Tag": t,
                        "ID": i.id[7:19],
                        "CreatedSince": since(i.created),
                        "Size": human_size(i.size),
                        "SharedSize": human_size(shared),
                        "UniqueSize": human_size(unique),
                        "Containers": str(i.containers),
                    }
                )
        write_rows(
            ctx,
            rows,
            None,
            default="table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
            "\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}",
            headers={
                "Repository": "REPOSITORY",
                "Tag": "TAG",
                "ID": "IMAGE ID",
                "CreatedSince": "CREATED",
                "Size": "SIZE",
                "SharedSize": "SHARED SIZE",
                "UniqueSize": "UNIQUE SIZE",
                "Containers": "CONTAINERS",
            },
        )
        ctx.print("\nContainers space usage:\n")
        write_rows(
            ctx,
            containers,
            None,
            default="table {{.ContainerID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}"
            "\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}",
            headers={
                "ContainerID": "CONTAINER ID",
                "Image": "IMAGE",
                "Command": "COMMAND",
                "LocalVolumes": "LOCAL VOLUMES",
                "Size": "SIZE",
                "RunningFor": "CREATED",
                "Status": "STATUS",
                "Names": "NAMES",
            },
        )
        ctx.print("\nLocal Volumes space usage:\n")
        write_rows(
            ctx,
            volumes,
            None,
            default="table {{.VolumeName}}\t{{.Links}}\t{{.Size}}",
            headers={"VolumeName": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"},
        )
        ctx.print("\nBuild cache usage: 0B\n")
        ctx.print("CACHE ID   CACHE TYPE   SIZE      CREATED   LAST USED   USAGE     SHARED")
        return 0
    c_total = sum(int(c["_size"]) for c in containers)
    c_reclaim = sum(
        int(c["_size"]) for c in containers if c["State"] not in ("running", "paused", "restarting")
    )
    c_active = sum(1 for c in containers if c["State"] in ("running", "paused", "restarting"))
    v_total = sum(int(v["_size"]) for v in volumes)
    v_reclaim = sum(int(v["_size"]) for v in volumes if v["Links"] == "0")
    v_active = sum(1 for v in volumes if v["Links"] != "0")
    rows = [
        {
            "Type": "Images",
            "TotalCount": str(len(usage.images)),
            "Active": str(len(active)),
            "Size": human_size(total),
            "Reclaimable": _reclaimable(unused_unique, total),
        },
        {
            "Type": "Containers",
            "TotalCount": str(len(containers)),
            "Active": str(c_active),
            "Size": human_size(c_total),
            "Reclaimable": _reclaimable(c_reclaim, c_total),
        },
        {
            "Type": "Local Volumes",
            "TotalCount": str(len(volumes)),
            "Active": str(v_active),
            "Size": human_size(v_total),
            "Reclaimable": _reclaimable(v_reclaim, v_total),
        },
        {
            "Type": "Build Cache",
            "TotalCount": "0",
            "Active": "0",
            "Size": "0B",
            "Reclaimable": "0B",
        },
    ]
    write_rows(
        ctx,
        rows,
        ns.format,
        default="table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
        headers={
            "Type": "TYPE",
            "TotalCount": "TOTAL",
            "Active": "ACTIVE",
            "Size": "SIZE",
            "Reclaimable": "RECLAIMABLE",
        },
    )
    return 0
