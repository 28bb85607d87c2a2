"""top (a container's processes) and port (its published ports)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from dockyard.cli.args import Parser, UsageError
from dockyard.cli.context import Context

if TYPE_CHECKING:
    from dockyard.engine.containers import Container
    from dockyard.specs.ports import PortBinding


def top(ctx: Context, args: list[str], command: str = "top") -> int:
    from dockyard.cli.gotemplate import tabwrite
    from dockyard.engine.container_stats import top as container_top

    usage = "CONTAINER [ps OPTIONS]"
    if args and args[0] in ("-h", "--help"):
        Parser(command, usage, "Display the running processes of a container").parse(args)
    if not args:
        raise UsageError(
            f'"dockyard {command}" requires at least 1 argument.\n'
            f"See 'dockyard {command} --help'.\n\nUsage:  dockyard {command} {usage}",
            command,
            exit_code=1,
        )
    # everything after the container goes to ps, flags included (as Docker)
    table = container_top(ctx.engine.containers, args[0], args[1:])
    lines = ["\t".join(table.titles)]
    lines += ["\t".join(row) for row in table.processes]
    # the docker CLI's tabwriter.NewWriter(out, 20, 1, 3, ' ', 0)
    ctx.out.write(tabwrite("\n".join(lines) + "\n", minwidth=20))
    return 0


# -- port -------------------------------------------------------------------------------


def published_ports(container: Container) -> list[PortBinding]:
    """The bindings of ``container`` that are published: each requested one
    (``container.create_request().ports``) with the host address and port actually
    bound (a random host port resolved), ready for :func:`port_lines`.

    Publishing is the networking layer's (a later issue): until it lands and reports
    what it bound, no port is published, whatever was requested."""
    requested = container.create_request().ports
    if not container.state.running or not requested:
        return []
    return []  # networking: the bindings it made for ``requested``


def _host(ip: str) -> str:
    import ipaddress

    ip = ip or "0.0.0.0"
    try:
        if ipaddress.ip_address(ip).version == 6:
            return f"[{ip}]"
    except ValueError:
        pass
    return ip


def port_lines(bindings: Iterable[PortBinding], private: str | None = None) -> list[str]:
    """``docker port`` output for bindings that are published (a concrete host port):
    ``80/tcp -> 0.0.0.0:8080`` each, sorted; or for one ``private`` port (``80``,
    ``80/udp``) just its host addresses. Raises LookupError when that port has none."""
    unique = sorted(set(bindings), key=lambda b: (b.container_port, b.proto, b.host_ip))
    if private is None:
        return [f"{b.port_key} -> {_host(b.host_ip)}:{b.host_port}" for b in unique]
    key = _port_key(private)
    hosts = [f"{_host(b.host_ip)}:{b.host_port}" for b in unique if b.port_key == key]
    if not hosts:
        raise LookupError(key)
    return hosts


def _port_key(text: str) -> str:
    """``80`` -> ``80/tcp``; ``53/udp`` as it is (the docker CLI's rule)."""
    port, slash, proto = text.partition("/")
    return f"{port}/{proto if slash and proto else 'tcp'}"


def port(ctx: Context, args: list[str], command: str = "port") -> int:
    usage = "CONTAINER [PRIVATE_PORT[/PROTO]]"
    p = Parser(command, usage, "List port mappings or a specific mapping for the container")
    p.add_argument("args", nargs="*")
    ns = p.parse(args)
    if not 1 <= len(ns.args) <= 2:
        raise UsageError(
            f'"dockyard {command}" requires at least 1 and at most 2 arguments.\n'
            f"See 'dockyard {command} --help'.\n\nUsage:  dockyard {command} {usage}",
            command,
            exit_code=1,
        )
    ref = ns.args[0]
    private = ns.args[1] if len(ns.args) == 2 else None
    if private is not None:
        _check_port(private)
    c = ctx.engine.containers.get(ref)
    try:
        lines = port_lines(published_ports(c), private)
    except LookupError as e:
        ctx.err.write(f"Error: No public port '{e.args[0]}' published for {ref}\n")
        return 1
    for line in lines:
        ctx.print(line)
    return 0


def _check_port(text: str) -> None:
    """``nat.NewPort``'s checks (the docker CLI makes them before asking)."""
    from dockyard.errors import InvalidArgument

    port, _, proto = text.partition("/")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise InvalidArgument(f"invalid port: {text}")
    if proto and proto.lower() not in ("tcp", "udp", "sctp"):
        raise InvalidArgument(f"invalid proto: {proto}")


__all__: Sequence[str] = ("port", "port_lines", "published_ports", "top")
