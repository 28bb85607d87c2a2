"""``dockyard container SUBCOMMAND`` and the generic ``inspect``."""

from __future__ import annotations

from typing import Any

from dockyard.cli.args import Parser, require_args
from dockyard.cli.context import Context
from dockyard.cli.formatting import write_json_list, write_template
from dockyard.errors import NotFound

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "attach": ("attach:attach", "Attach local standard input, output, and error streams"),
    "cp": ("cp:cp", "Copy files/folders between a container and the local filesystem"),
    "create": ("containers:create", "Create a new container"),
    "diff": ("cp:diff", "Inspect changes to files or directories on a container's filesystem"),
    "exec": ("exec:exec_", "Execute a command in a running container"),
    "inspect": ("container_group:container_inspect", "Display detailed information"),
    "kill": ("containers:kill", "Kill one or more running containers"),
    "logs": ("containers:logs", "Fetch the logs of a container"),
    "ls": ("ps:ps", "List containers"),
    "list": ("ps:ps", "List containers"),
    "pause": ("containers:pause", "Pause all processes within one or more containers"),
    "port": ("top:port", "List port mappings or a specific mapping for the container"),
    "prune": ("ps:prune", "Remove all stopped containers"),
    "ps": ("ps:ps", "List containers"),
    "rename": ("containers:rename", "Rename a container"),
    "restart": ("containers:restart", "Restart one or more containers"),
    "rm": ("containers:rm", "Remove one or more containers"),
    "remove": ("containers:rm", "Remove one or more containers"),
    "run": ("containers:run", "Create and run a new container from an image"),
    "start": ("containers:start", "Start one or more stopped containers"),
    "stats": ("stats:stats", "Display a live stream of container(s) resource usage statistics"),
    "stop": ("containers:stop", "Stop one or more running containers"),
    "top": ("top:top", "Display the running processes of a container"),
    "unpause": ("containers:unpause", "Unpause all processes within one or more containers"),
    "update": ("update:update", "Update configuration of one or more containers"),
    "wait": ("containers:wait", "Block until one or more containers stop"),
}


def container(ctx: Context, args: list[str]) -> int:
    from dockyard.cli.commands.image_group import dispatch

    return dispatch(ctx, args, "container", SUBCOMMANDS, "Manage containers")


def _inspect(ctx: Context, args: list[str], command: str, kinds: tuple[str, ...]) -> int:
    p = Parser(command, "[OPTIONS] NAME|ID [NAME|ID...]", "Return low-level information")
    p.add_argument("-f", "--format", help="Format output using a Go template")
    p.add_argument(
        "--type", choices=["container", "image", "volume", "network"], help="Only this type"
    )
    p.add_argument("-s", "--size", action="store_true", help="Display total file sizes")
    p.add_argument("names", nargs="*")
    ns = p.parse(args)
    require_args(ns.names, command, "[OPTIONS] NAME|ID [NAME|ID...]")
    if ns.type:
        kinds = (ns.type,)
    found: list[dict[str, Any]] = []
    missing: list[str] = []
    for name in ns.names:
        obj = _find(ctx, name, kinds, size=ns.size)
        if obj is None:
            missing.append(name)
        else:
            found.append(obj)
    if ns.format:
        for obj in found:
            write_template(ctx, obj, ns.format)
    else:
        write_json_list(ctx, found)
    for name in missing:
        what = "object" if len(kinds) > 1 else kinds[0]
        ctx.err.write(f"Error: No such {what}: {name}\n")
    return 1 if missing else 0


def _find(
    ctx: Context, name: str, kinds: tuple[str, ...], *, size: bool = False
) -> dict[str, Any] | None:
    for kind in kinds:
        try:
            if kind == "container":
                from dockyard.engine.container_inspect import inspect_container

                svc = ctx.engine.containers
                return inspect_container(svc, svc.get(name), size=size)
            if kind == "image":
                from dockyard.engine.image_inspect import inspect_image

                return inspect_image(ctx.engine.images, ctx.engine.images.resolve(name))
            if kind == "volume":
                return ctx.engine.volumes.inspect(name)
            if kind == "network":
                nets = ctx.engine.networks
                return nets.inspect(nets.get(name))
        except NotFound:
            continue
    return None


def inspect(ctx: Context, args: list[str], command: str = "inspect") -> int:
    return _inspect(ctx, args, command, ("container", "image", "volume", "network"))


def container_inspect(ctx: Context, args: list[str], command: str = "container inspect") -> int:
    return _inspect(ctx, args, command, ("container",))


def image_inspect(ctx: Context, args: list[str], command: str = "image inspect") -> int:
    return _inspect(ctx, args, command, ("image",))
