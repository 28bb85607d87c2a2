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
    }


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
    ctx.print(f" Kernel Version: {data['KernelVersion']}")
    ctx.print(f" Operating System: {data['OperatingSystem']}")
    ctx.print(f" OSType: {data['OSType']}")
    ctx.print(f" Architecture: {data['Architecture']}")
    ctx.print(f" CPUs: {data['NCPU']}")
    ctx.print(f" Total Memory: {human_size(int(str(data['MemTotal'])))}")
    ctx.print(f" Docker Root Dir: {data['DockerRootDir']}")
    ctx.print(f" Run Root Dir: {data['RunRoot']}")
    return 0


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
    pct = f" ({unused_unique * 100 // total}%)" if total else ""
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
        ctx.print(
            "CONTAINER ID   IMAGE     COMMAND   LOCAL VOLUMES   SIZE      CREATED   STATUS    NAMES"
        )
        ctx.print("\nLocal Volumes space usage:\n")
        ctx.print("VOLUME NAME   LINKS     SIZE")
        ctx.print("\nBuild cache usage: 0B\n")
        ctx.print("CACHE ID   CACHE TYPE   SIZE      CREATED   LAST USED   USAGE     SHARED")
        return 0
    rows = [
        {
            "Type": "Images",
            "TotalCount": str(len(usage.images)),
            "Active": str(len(active)),
            "Size": human_size(total),
            "Reclaimable": f"{human_size(unused_unique)}{pct}",
        },
        {"Type": "Containers", "TotalCount": "0", "Active": "0", "Size": "0B", "Reclaimable": "0B"},
        {
            "Type": "Local Volumes",
            "TotalCount": "0",
            "Active": "0",
            "Size": "0B",
            "Reclaimable": "0B",
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
