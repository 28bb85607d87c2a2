"""``dockyard network SUBCOMMAND``: create, ls, inspect, rm, connect, disconnect,
prune (Docker's flags and outputs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dockyard.cli.args import Parser, UsageError, parse_filters, require_args
from dockyard.cli.context import Context
from dockyard.cli.formatting import write_json_list, write_rows, write_template
from dockyard.errors import DockyardError, InvalidArgument, Unsupported

if TYPE_CHECKING:
    from dockyard.engine.networks import NetworkService
    from dockyard.network.store import NetworkRecord

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "connect": ("network:connect", "Connect a container to a network"),
    "create": ("network:create", "Create a network"),
    "disconnect": ("network:disconnect", "Disconnect a container from a network"),
    "inspect": ("network:inspect", "Display detailed information on one or more networks"),
    "ls": ("network:ls", "List networks"),
    "list": ("network:ls", "List networks"),
    "prune": ("network:prune", "Remove all unused networks"),
    "rm": ("network:rm", "Remove one or more networks"),
    "remove": ("network:rm", "Remove one or more networks"),
}

LS_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
LS_HEADERS = {
    "ID": "NETWORK ID",
    "Name": "NAME",
    "Driver": "DRIVER",
    "Scope": "SCOPE",
    "IPv6": "IPV6",
    "Internal": "INTERNAL",
    "Labels": "LABELS",
    "CreatedAt": "CREATED AT",
}
LS_FILTERS = ("driver", "id", "label", "name", "scope", "type", "dangling")


def network(ctx: Context, args: list[str]) -> int:
    from dockyard.cli.commands.image_group import dispatch

    return dispatch(ctx, args, "network", SUBCOMMANDS, "Manage networks")


def _warn(ctx: Context, warnings: list[str]) -> None:
    for w in warnings:
        ctx.err.write(w.rstrip("\n") + "\n")


def _key_values(items: list[str], flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not key:
            raise UsageError(f'invalid argument "{item}" for "{flag}" flag: invalid key')
        out[key] = value if eq else ""
    return out


def create(ctx: Context, args: list[str], command: str = "network create") -> int:
    usage = "[OPTIONS] NETWORK"
    p = Parser(command, usage, "Create a network")
    p.add_argument("-d", "--driver", default="bridge", help="Driver to manage the Network")
    p.add_argument("--subnet", action="append", default=[], help="Subnet in CIDR format")
    p.add_argument("--gateway", action="append", default=[], help="IPv4 Gateway")
    p.add_argument("--ip-range", action="append", default=[], help="Allocate IPs from a range")
    p.add_argument("--internal", action="store_true", help="Restrict external access")
    p.add_argument("--label", action="append", default=[], help="Set metadata on a network")
    p.add_argument("-o", "--opt", action="append", default=[], help="Set driver options")
    p.add_argument("--attachable", action="store_true", help="Enable manual attachment")
    p.add_argument("--ipv6", action="store_true", help="Enable IPv6 networking")
    p.add_argument("--ipam-driver", default="default", help="IP Address Management Driver")
    p.add_argument("--scope", default="", help="Control the network's scope")
    p.add_argument("names", nargs="*")
    ns = p.parse(args)
    if len(ns.names) != 1:
        raise UsageError(
            f'"dockyard {command}" requires exactly 1 argument.\n'
            f"See 'dockyard {command} --help'.\n\nUsage:  dockyard {command} {usage}\n\n"
            "Create a network",
            command,
            exit_code=1,
        )
    if len(ns.subnet) < len(ns.ip_range) or len(ns.subnet) < len(ns.gateway):
        raise InvalidArgument("every ip-range or gateway must have a corresponding subnet")
    if len(ns.subnet) > 1:
        raise Unsupported("Dockyard networks have one subnet each", hint="give one --subnet")
    if ns.ipv6:
        raise Unsupported("IPv6 networks are not supported by Dockyard yet")
    if ns.ipam_driver != "default":
        raise InvalidArgument(f'plugin "{ns.ipam_driver}" not found')
    if ns.scope not in ("", "local"):
        raise InvalidArgument(f"invalid scope {ns.scope!r}: Dockyard networks are local")
    for opt in ns.opt:
        if "=" not in opt:
            raise UsageError(
                f'invalid argument "{opt}" for "-o, --opt" flag: '
                "invalid key value pair format in driver options"
            )
    svc = ctx.engine.networks
    net = svc.create(
        ns.names[0],
        driver=ns.driver,
        subnet=ns.subnet[0] if ns.subnet else "",
        gateway=ns.gateway[0] if ns.gateway else "",
        ip_range=ns.ip_range[0] if ns.ip_range else "",
        internal=ns.internal,
        labels=_key_values(ns.label, "--label"),
        options=_key_values(ns.opt, "-o, --opt"),
    )
    ctx.print(net.id)
    return 0


class _Row(dict[str, Any]):
    """A ``network ls`` row; ``{{.Label "key"}}`` works as in Docker."""

    def __init__(self, net: NetworkRecord, trunc: bool) -> None:
        super().__init__(
            {
                "CreatedAt": _created_at(net.created),
                "Driver": net.driver,
                "ID": net.id[:12] if trunc else net.id,
                "IPv6": "false",
                "Internal": "true" if net.internal else "false",
                "Labels": ",".join(f"{k}={v}" for k, v in net.labels),
                "Name": net.name,
                "Scope": "local",
            }
        )
        self.labels = dict(net.labels)

    def Label(self, key: str) -> str:
        return self.labels.get(key, "")


def _created_at(created: str) -> str:
    """``2024-01-02 03:04:05.123456789 +0000 UTC`` (Go's time.Time String)."""
    date, _, rest = created.partition("T")
    return f"{date} {rest.rstrip('Z')} +0000 UTC"


def _matches(svc: NetworkService, net: NetworkRecord, filters: dict[str, list[str]]) -> bool:
    from dockyard.engine.networks import PREDEFINED

    for key, values in filters.items():
        if key == "driver" and net.driver not in values:
            return False
        if key == "id" and not any(net.id.startswith(v) for v in values):
            return False
        if key == "name" and not any(v in net.name for v in values):
            return False
        if key == "scope" and "local" not in values:
            return False
        if key == "label":
            labels = dict(net.labels)
            for v in values:
                k, eq, val = v.partition("=")
                if k not in labels or (eq and labels[k] != val):
                    return False
        if key == "type":
            builtin = net.name in PREDEFINED and (net.is_default or not net.bridge)
            for v in values:
                if v not in ("custom", "builtin"):
                    raise InvalidArgument(f"invalid filter: 'type'='{v}'")
            if ("builtin" if builtin else "custom") not in values:
                return False
        if key == "dangling":
            want = values[-1].lower() in ("1", "true")
            builtin = net.name in PREDEFINED
            dangling = not builtin and not svc.used_by(net.id)
            if dangling != want:
                return False
    return True


def ls(ctx: Context, args: list[str], command: str = "network ls") -> int:
    p = Parser(command, "[OPTIONS]", "List networks")
    p.add_argument("-f", "--filter", action="append", default=[], help="Provide filter values")
    p.add_argument("--format", help="Format output using a Go template, or json")
    p.add_argument("--no-trunc", action="store_true", help="Do not truncate the output")
    p.add_argument("-q", "--quiet", action="store_true", help="Only display network IDs")
    ns = p.parse(args)
    filters = parse_filters(ns.filter)
    for key in filters:
        if key not in LS_FILTERS:
            raise InvalidArgument(f"invalid filter '{key}'")
    svc = ctx.engine.networks
    nets = [n for n in svc.all() if _matches(svc, n, filters)]
    if ns.quiet:
        for n in nets:
            ctx.print(n.id if ns.no_trunc else n.id[:12])
        return 0
    write_rows(
        ctx, [_Row(n, not ns.no_trunc) for n in nets], ns.format, default=LS_TABLE,
        headers=LS_HEADERS,
    )  # fmt: skip
    return 0


def inspect(ctx: Context, args: list[str], command: str = "network inspect") -> int:
    usage = "[OPTIONS] NETWORK [NETWORK...]"
    p = Parser(command, usage, "Display detailed information on one or more networks")
    p.add_argument("-f", "--format", help="Format output using a Go template, or json")
    p.add_argument("-v", "--verbose", action="store_true", help="Verbose output for diagnostics")
    p.add_argument("names", nargs="*")
    ns = p.parse(args)
    require_args(ns.names, command, usage)
    svc = ctx.engine.networks
    found: list[dict[str, Any]] = []
    errors: list[str] = []
    for name in ns.names:
        try:
            found.append(svc.inspect(svc.get(name)))
        except DockyardError as e:
            errors.append(e.message)
    if ns.format:
        for obj in found:
            write_template(ctx, obj, ns.format)
    else:
        write_json_list(ctx, found)
    for message in errors:
        ctx.err.write(f"Error response from daemon: {message}\n")
    return 1 if errors else 0


def rm(ctx: Context, args: list[str], command: str = "network rm") -> int:
    usage = "NETWORK [NETWORK...]"
    p = Parser(command, usage, "Remove one or more networks")
    p.add_argument("-f", "--force", action="store_true", help="Do not error if it does not exist")
    p.add_argument("names", nargs="*")
    ns = p.parse(args)
    require_args(ns.names, command, usage)
    from dockyard.errors import NotFound

    failed = False
    for name in ns.names:
        try:
            ctx.engine.networks.remove(name)
        except NotFound as e:
            if ns.force:
                continue
            ctx.err.write(f"Error response from daemon: {e.message}\n")
            failed = True
            continue
        except DockyardError as e:
            ctx.err.write(f"Error response from daemon: {e.message}\n")
            if e.hint:
                ctx.err.write(f"hint: {e.hint}\n")
            failed = True
            continue
        ctx.print(name)
    return 1 if failed else 0


def connect(ctx: Context, args: list[str], command: str = "network connect") -> int:
    usage = "[OPTIONS] NETWORK CONTAINER"
    p = Parser(command, usage, "Connect a container to a network")
    p.add_argument("--alias", action="append", default=[], help="Add network-scoped alias")
    p.add_argument("--ip", default="", help="IPv4 address (e.g., 172.30.100.104)")
    p.add_argument("--ip6", default="", help="IPv6 address")
    p.add_argument("--link", action="append", default=[], help="Add link to another container")
    p.add_argument("--driver-opt", action="append", default=[], help="driver options")
    p.add_argument("names", nargs="*")
    ns = p.parse(args)
    _exactly_two(ns.names, command, usage)
    if ns.ip6:
        raise Unsupported("IPv6 networks are not supported by Dockyard yet")
    if ns.link:
        raise Unsupported("--link is legacy and not supported; use a user-defined network")
    svc = ctx.engine.networks
    net = svc.get(ns.names[0])
    c = ctx.engine.containers.get(ns.names[1])
    _warn(ctx, svc.connect(net, c.id, c.create_request(), aliases=ns.alias, ip=ns.ip))
    return 0


def disconnect(ctx: Context, args: list[str], command: str = "network disconnect") -> int:
    usage = "[OPTIONS] NETWORK CONTAINER"
    p = Parser(command, usage, "Disconnect a container from a network")
    p.add_argument("-f", "--force", action="store_true", help="Force the container to disconnect")
    p.add_argument("names", nargs="*")
    ns = p.parse(args)
    _exactly_two(ns.names, command, usage)
    svc = ctx.engine.networks
    net = svc.get(ns.names[0])
    c = ctx.engine.containers.get(ns.names[1])
    if net.driver == "host" or c.create_request().network == "host":
        from dockyard.errors import Conflict

        raise Conflict(
            "container cannot be disconnected from host network or connected to host network"
        )
    svc.disconnect(net, c.id, force=ns.force)
    return 0


def _exactly_two(names: list[str], command: str, usage: str) -> None:
    if len(names) != 2:
        raise UsageError(
            f'"dockyard {command}" requires exactly 2 arguments.\n'
            f"See 'dockyard {command} --help'.\n\nUsage:  dockyard {command} {usage}",
            command,
            exit_code=1,
        )


def prune(ctx: Context, args: list[str], command: str = "network prune") -> int:
    p = Parser(command, "[OPTIONS]", "Remove all unused networks")
    p.add_argument("--filter", action="append", help="Provide filter values (e.g. 'label=<l>')")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    ns = p.parse(args)
    labels: list[str] = []
    for key, values in parse_filters(ns.filter).items():
        if key == "label":
            labels += values
        elif key == "label!":
            labels += ["!" + v for v in values]
        else:
            raise InvalidArgument(f"invalid filter '{key}'")
    if not ns.force:
        import sys

        ctx.out.write(
            "WARNING! This will remove all custom networks not used by at least one container.\n"
            "Are you sure you want to continue? [y/N] "
        )
        ctx.out.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    removed = ctx.engine.networks.prune(labels)
    if removed:
        ctx.print("Deleted Networks:")
        for name in removed:
            ctx.print(name)
        ctx.print()
    return 0
