"""IP address management for bridge networks: pick a subnet, validate the user's,
hand out addresses. Pure: the host's routes and the addresses in use come in as
arguments (``host_routes()`` reads the real ones).

- Subnets come from Docker's default pools: 172.17.0.0/16 ... 172.31.0.0/16, then
  192.168.0.0/20, 192.168.16.0/20, ... 192.168.240.0/20. A pool is skipped when it
  overlaps one of our other networks or a route on the host (another engine's
  bridge, a VPN, the LAN itself).
- Addresses: the lowest free host address of the network's ``--ip-range`` (or of the
  subnet), never the subnet's network or broadcast address, never the gateway.

The messages are Docker's where Docker has one.

A container's start needs only :func:`allocate_ip`, :func:`default_route_device` and
:func:`mac_for`, on the text of the network's record with int arithmetic
(:mod:`dockyard.network.ip4`); :mod:`ipaddress` (~1 ms to import) is imported by
what validates a user's input and picks subnets (``network create``, ``--ip``).
"""

from __future__ import annotations

from dockyard._util.record import Record
from dockyard.errors import Conflict, InvalidArgument, Unsupported
from dockyard.network import ip4

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Iterator, Sequence
    from ipaddress import IPv4Address, IPv4Network

PROC_ROUTE = "/proc/net/route"


def default_pools() -> Iterator[IPv4Network]:
    from ipaddress import IPv4Network

    for second in range(17, 32):
        yield IPv4Network(f"172.{second}.0.0/16")
    for third in range(0, 256, 16):
        yield IPv4Network(f"192.168.{third}.0/20")


class Route(Record):
    """One IPv4 route of the host (``/proc/net/route``): destination and device."""

    __slots__ = ("dst", "dev")  # noqa: RUF023 (constructor order)
    dst: IPv4Network
    dev: str

    def __init__(self, dst: IPv4Network, dev: str) -> None:
        self._set(dst=dst, dev=dev)

    @property
    def is_default(self) -> bool:
        return self.dst.prefixlen == 0


def parse_proc_route(text: str) -> list[Route]:
    """``/proc/net/route``: hex, little-endian destination and mask per line."""
    from ipaddress import IPv4Address, IPv4Network

    routes: list[Route] = []
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 8:
            continue
        try:
            dst = IPv4Address(int.from_bytes(bytes.fromhex(f[1]), "little"))
            mask = IPv4Address(int.from_bytes(bytes.fromhex(f[7]), "little"))
            net = IPv4Network(f"{dst}/{mask}", strict=False)
        except ValueError:
            continue
        routes.append(Route(net, f[0]))
    return routes


def host_routes() -> list[Route]:
    try:
        with open(PROC_ROUTE) as f:
            return parse_proc_route(f.read())
    except OSError:
        return []


def uplink(routes: Sequence[Route]) -> str | None:
    """The interface of the default route (the one the MTU follows)."""
    for r in routes:
        if r.is_default:
            return r.dev
    return None


def default_route_device(text: str | None = None) -> str | None:
    """``uplink(parse_proc_route(text))`` without making every route an object (each
    container start asks): the device of the first well-formed line whose mask is 0.
    ``text``: ``/proc/net/route``'s (read when None)."""
    if text is None:
        try:
            with open(PROC_ROUTE) as file:
                text = file.read()
        except OSError:
            return None
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 8:
            continue
        try:
            dst = int.from_bytes(bytes.fromhex(f[1]), "little")
            mask = int.from_bytes(bytes.fromhex(f[7]), "little")
        except ValueError:
            continue
        if mask == 0 and dst <= 0xFFFFFFFF:
            return f[0]
    return None


def _route_clash(
    subnet: IPv4Network, routes: Iterable[Route], ignore: Collection[str]
) -> Route | None:
    for r in routes:
        if r.is_default or r.dev in ignore:
            continue
        if r.dst.overlaps(subnet):
            return r
    return None


def choose_subnet(
    routes: Iterable[Route],
    taken: Iterable[IPv4Network],
    *,
    ignore_devices: Collection[str] = (),
) -> IPv4Network:
    """The first default pool that overlaps neither ``taken`` nor a host route (routes
    on ``ignore_devices``, our own bridges, are covered by ``taken``)."""
    routes = list(routes)
    taken = list(taken)
    for pool in default_pools():
        if any(pool.overlaps(t) for t in taken):
            continue
        if _route_clash(pool, routes, ignore_devices) is not None:
            continue
        return pool
    raise Conflict(
        "could not find an available, non-overlapping IPv4 address pool among the defaults "
        "to assign to the network",
        hint="give one with --subnet, or remove unused networks (dockyard network prune)",
    )


class IPAMConfig(Record):
    """A network's addressing: subnet, gateway (the bridge's address), and the
    sub-range containers' addresses are picked from (None: the whole subnet)."""

    __slots__ = ("subnet", "gateway", "ip_range")  # noqa: RUF023 (constructor order)
    subnet: IPv4Network
    gateway: IPv4Address
    ip_range: IPv4Network | None

    def __init__(
        self, subnet: IPv4Network, gateway: IPv4Address, ip_range: IPv4Network | None = None
    ) -> None:
        self._set(subnet=subnet, gateway=gateway, ip_range=ip_range)

    @property
    def pool(self) -> IPv4Network:
        return self.ip_range or self.subnet


def _parse_cidr(text: str, what: str) -> IPv4Network:
    import ipaddress
    from ipaddress import IPv4Network

    try:
        if "/" not in text:
            raise ValueError(text)
        net = ipaddress.ip_network(text, strict=False)
        addr = ipaddress.ip_address(text.split("/", 1)[0])
    except ValueError:
        raise InvalidArgument(f"invalid {what}: invalid CIDR address: {text}")
    if net.version != 4:
        raise Unsupported(
            f"{what} {text}: IPv6 networks are not supported by Dockyard yet",
            hint="use an IPv4 subnet",
        )
    assert isinstance(net, IPv4Network)
    if addr != net.network_address:
        raise InvalidArgument(f"invalid {what} {text}: it should be {net}")
    return net


def _parse_ip(text: str, what: str) -> IPv4Address:
    import ipaddress
    from ipaddress import IPv4Address

    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        raise InvalidArgument(f"invalid {what}: {text}")
    if ip.version != 4:
        raise Unsupported(f"{what} {text}: IPv6 is not supported by Dockyard networks yet")
    assert isinstance(ip, IPv4Address)
    return ip


def configure(
    subnet: str = "",
    gateway: str = "",
    ip_range: str = "",
    *,
    routes: Iterable[Route] = (),
    taken: Iterable[tuple[IPv4Network, str]] = (),
    ignore_devices: Collection[str] = (),
) -> IPAMConfig:
    """The addressing of a new network from ``--subnet``/``--gateway``/``--ip-range``
    (all optional). ``taken`` are our other networks' (subnet, name)."""
    if (gateway or ip_range) and not subnet:
        raise InvalidArgument("every ip-range or gateway must have a corresponding subnet")
    taken = list(taken)
    routes = list(routes)
    if not subnet:
        net = choose_subnet(routes, [t for t, _ in taken], ignore_devices=ignore_devices)
        return IPAMConfig(net, net.network_address + 1)
    net = _parse_cidr(subnet, "subnet")
    if net.prefixlen > 30:
        raise InvalidArgument(
            f"invalid subnet {subnet}: a bridge network needs at least a /30 "
            "(a network address, a gateway, an address for a container and a broadcast address)"
        )
    for other, name in taken:
        if other.overlaps(net):
            raise Conflict(
                "Pool overlaps with other one on this address space",
                hint=f"network {name} has {other}",
            )
    clash = _route_clash(net, routes, ignore_devices)
    if clash is not None:
        raise Conflict(
            f"subnet {net} overlaps with the host's route to {clash.dst} on {clash.dev}",
            hint="a bridge there would take that traffic away from the host; pick another --subnet",
        )
    rng: IPv4Network | None = None
    if ip_range:
        rng = _parse_cidr(ip_range, "ip-range")
        if not rng.subnet_of(net):
            raise InvalidArgument(f"no matching subnet for range {ip_range}")
    if gateway:
        gw = _parse_ip(gateway, "gateway")
        if gw not in net:
            raise InvalidArgument(f"no matching subnet for gateway {gateway}")
        if gw in (net.network_address, net.broadcast_address):
            raise InvalidArgument(
                f"invalid gateway {gateway}: it is the network or broadcast address of {net}"
            )
    else:
        gw = net.network_address + 1
    return IPAMConfig(net, gw, rng)


def allocate(
    cfg: IPAMConfig,
    used: Collection[IPv4Address],
    *,
    network: str,
    network_id: str,
    requested: str = "",
) -> IPv4Address:
    """An address for a new endpoint: ``requested`` (``--ip``) if free, else the lowest
    free one of the pool. ``used``: the addresses the network's endpoints hold."""
    from ipaddress import IPv4Address

    got = allocate_ip(
        str(cfg.subnet),
        str(cfg.gateway),
        str(cfg.ip_range) if cfg.ip_range else "",
        [str(a) for a in used],
        network=network,
        network_id=network_id,
        requested=requested,
    )
    return IPv4Address(got)


def allocate_ip(
    subnet: str,
    gateway: str,
    ip_range: str,
    used: Iterable[str],
    *,
    network: str,
    network_id: str,
    requested: str = "",
) -> str:
    """:func:`allocate` on the text of a network's record (``a.b.c.d/n``, ``a.b.c.d``,
    ``ip_range`` "" for the whole subnet) and of its endpoints' addresses; the address
    as text."""
    net, prefixlen = ip4.network(subnet)
    bcast = ip4.broadcast(net, prefixlen)
    reserved = {net, bcast, ip4.parse(gateway)}
    if requested:
        ip = int(_parse_ip(requested, "IPv4 address"))
        if ip & ip4.mask(prefixlen) != net:
            raise InvalidArgument(
                f"no configured subnet or ip-range contain the IP address {requested}",
                hint=f"network {network} has {subnet}",
            )
        if ip in reserved or ip in {ip4.parse(a) for a in used}:
            raise Conflict("Address already in use", hint=f"{requested} is taken on {network}")
        return ip4.fmt(ip)
    first, plen = ip4.network(ip_range) if ip_range else (net, prefixlen)
    last = ip4.broadcast(first, plen)
    taken = {ip4.parse(a) for a in used} | reserved
    for n in range(first, last + 1):
        if n not in taken:
            return ip4.fmt(n)
    raise Conflict(
        f"no available IPv4 addresses on this network's address pools: {network} ({network_id})"
    )


def mac_for(ip: object) -> str:
    """Docker's classic MAC for an address: ``02:42`` then the four octets."""
    return ip4.mac_for(ip)
