"""top (a container's processes) and port (its published ports)."""

from __future__ import annotations

from dockyard.cli.args import Parser, UsageError
from dockyard.cli.context import Context

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any

    from dockyard.engine.containers import Container
    from dockyard.engine.networks import NetworkService
    from dockyard.network.published import Published
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


def published_ports(networks: NetworkService, container: Container) -> list[PortBinding]:
    """The bindings of ``container`` that are published: each with the host address
    and port actually bound (a random host port resolved), for :func:`port_lines`."""
    from dockyard.specs.ports import PortBinding

    if not container.state.running:
        return []
    return [
        PortBinding(p.container_port, p.proto, p.host_ip or "0.0.0.0", p.host_port)
        for p in networks.published(container.id)
    ]


def ports_column(ports: Iterable[tuple[int, str, str, int]], exposed: Iterable[str] = ()) -> str:
    """``docker ps``'s PORTS from (container port, proto, host ip, host port) of the
    published ports and ``80/tcp`` keys of exposed ones: ``0.0.0.0:6543->8049/tcp,
    9000-9001/tcp`` (the docker CLI's ``DisplayablePorts``: ranges grouped)."""
    rows: list[tuple[int, str, int, str]] = []  # (private, ip, public, proto)
    published = set()
    for cport, proto, host_ip, host_port in ports:
        rows.append((cport, host_ip or "0.0.0.0", host_port, proto))
        published.add(f"{cport}/{proto}")
    for key in exposed:
        port, _, proto = key.partition("/")
        if key not in published and port.isdigit():
            rows.append((int(port), "", 0, proto or "tcp"))
    rows.sort()
    groups: dict[str, list[int]] = {}
    order: list[str] = []
    result: list[str] = []
    mappings: list[str] = []
    for private, ip, public, proto in rows:
        key = proto
        if ip:
            if public != private:
                mappings.append(f"{ip}:{public}->{private}/{proto}")
                continue
            key = f"{ip}/{proto}"
        group = groups.get(key)
        if group is None:
            groups[key] = [private, private]
            order.append(key)
        elif private == group[1] + 1:
            group[1] = private
        else:
            result.append(_form_group(key, *group))
            groups[key] = [private, private]
    result += [_form_group(key, *groups[key]) for key in order]
    return ", ".join(result + mappings)


def ps_network_columns(c: Any, columns: tuple[list[str], list[Published]]) -> tuple[str, str]:
    """``docker ps``'s PORTS and NETWORKS for one listed container: from the network
    tables (``columns``: its row of ``ps_columns_all``, read once for a whole listing)
    and the stored request, without the network service (ps stays light). Exposed
    ports are the request's (``--expose``, ``-p``); an image's EXPOSE shows in
    ``inspect`` (NetworkSettings.Ports), not here."""
    from dockyard._util import jsonlite

    names, published = columns
    req = jsonlite.loads(c.record.config)
    ports = ""
    if c.state.running and names:
        exposed = [str(e) for e in req.get("exposed") or ()]
        exposed += [
            f"{p.get('container_port')}/{p.get('proto', 'tcp')}" for p in req.get("ports") or ()
        ]
        ports = ports_column(
            [(p.container_port, p.proto, p.host_ip, p.host_port) for p in published], exposed
        )
    if not names:
        mode = str(req.get("network") or "default")
        if mode in ("host", "none") or mode.startswith("container:"):
            names = [mode]
    return ports, ",".join(names)


def _form_group(key: str, first: int, last: int) -> str:
    ip, _, proto = key.rpartition("/")
    group = str(first) if first == last else f"{first}-{last}"
    if ip:
        group = f"{ip}:{group}->{group}"
    return f"{group}/{proto}"


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
        lines = port_lines(published_ports(ctx.engine.networks, c), private)
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


__all__: Sequence[str] = ("port", "port_lines", "ports_column", "published_ports", "top")
