"""Bridges and veth pairs through rtnetlink (:mod:`dockyard.network.netlink`): a
few hand-built requests on one socket per namespace, no process spawned (``ip
-batch`` on the host and again through ``nsenter`` cost a start ~10 ms; pyroute2's
import alone costs more than a whole ``run``).

The ``*_requests`` functions are pure (they return the netlink messages, tests
decode them); :func:`add_bridge`, :func:`add_veths` and :func:`delete_links` send
them.

Names: a bridge is ``dy<6 hex of the engine root>-<n>`` unless the user named it;
a container's host-side veth is ``veth<8 hex of network id + container id>``, so
that it can be found again (to delete it, or after a reboot) from the records.
"""

from __future__ import annotations

import os

from dockyard._util.record import Record
from dockyard._util.sha import sha256
from dockyard.errors import Unsupported
from dockyard.network import ip4
from dockyard.network import netlink as nl

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

IFNAMSIZ = 15
DEFAULT_MTU = 1500
# Links between containers (veths, bridge) carry big frames: traffic that stays on the
# machine does not need the uplink's MTU, and 1400-byte frames cost half the throughput
# of loopback. Traffic that leaves goes through the default route, which carries the
# uplink's MTU (``route ... mtu``): TCP's MSS and path MTU follow that.
LOCAL_MTU = 65535
# ... and bigger packets than that (BIG TCP, IPv4 since Linux 6.3): TCP between
# containers hands the veth up to 512 KiB at a time instead of 64 KiB, so a packet
# crosses veth, bridge and the host's netfilter hooks 8x less often (2-2.5x the
# throughput measured here). Each segment still fits the MTU; a packet that leaves
# by a link that cannot take it is segmented there by the kernel (gso_max_size is
# checked on output since Linux 6.8). Older kernels refuse or ignore it: no error.
VETH_GSO_MAX_SIZE = 524280  # GSO_MAX_SIZE: a veth's tso_max_size
SYS_NET = "/sys/class/net"
PROC_SYS = "/proc/sys"


def root_tag(root: os.PathLike[str] | str) -> str:
    """6 hex digits naming one engine root's bridges and nft table."""
    return sha256(os.fsencode(root)).hexdigest()[:6]


def bridge_name(tag: str, n: int) -> str:
    name = f"dy{tag}-{n}"
    if len(name) > IFNAMSIZ:
        raise ValueError(f"bridge index {n} too large")
    return name


def veth_name(network_id: str, container_id: str) -> str:
    return "veth" + sha256(f"{network_id}/{container_id}".encode()).hexdigest()[:8]


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def link_exists(name: str) -> bool:
    return os.path.exists(f"{SYS_NET}/{name}")


def is_bridge(name: str) -> bool:
    return os.path.isdir(f"{SYS_NET}/{name}/bridge")


def link_mtu(name: str) -> int | None:
    try:
        return int(_read(f"{SYS_NET}/{name}/mtu"))
    except (OSError, ValueError):
        return None


def uplink_mtu(uplink: str | None) -> int:
    """The MTU of the interface of the default route (1500 without one)."""
    return (link_mtu(uplink) if uplink else None) or DEFAULT_MTU


# -- scripts --------------------------------------------------------------------------


class BridgeSpec(Record):
    """A bridge: its name, gateway address (``a.b.c.d``) and subnet (``a.b.c.d/n``);
    addresses are text (:mod:`ip4`; ``ipaddress`` objects print the same)."""

    __slots__ = ("name", "gateway", "subnet", "mtu")  # noqa: RUF023 (constructor order)
    name: str
    gateway: str
    subnet: str
    mtu: int

    def __init__(self, name: str, gateway: object, subnet: object, mtu: int) -> None:
        self._set(name=name, gateway=str(gateway), subnet=str(subnet), mtu=mtu)

    @property
    def mac(self) -> str:
        """A fixed address: without one a bridge takes its lowest port's, which changes
        as containers come and go (and with it every neighbour's ARP entry)."""
        return ip4.mac_for(self.gateway)


def bridge_requests(b: BridgeSpec) -> list[bytes]:
    """``ip link add name B address MAC type bridge; ip link set dev B mtu M`` (set
    after the fact: only then does the bridge keep it without ports); the gateway
    address comes with :func:`bridge_address_requests` once its index is known."""
    info = nl.attr(nl.IFLA_LINKINFO, nl.attr_str(nl.IFLA_INFO_KIND, "bridge"))
    body = nl.ifinfo() + nl.attr_str(nl.IFLA_IFNAME, b.name)
    body += nl.attr(nl.IFLA_ADDRESS, nl.mac_bytes(b.mac)) + info
    mtu = nl.ifinfo() + nl.attr_str(nl.IFLA_IFNAME, b.name) + nl.attr_u32(nl.IFLA_MTU, b.mtu)
    return [
        nl.message(nl.RTM_NEWLINK, nl.NLM_F_CREATE | nl.NLM_F_EXCL, body),
        nl.message(nl.RTM_NEWLINK, 0, mtu),
    ]


def bridge_address_requests(b: BridgeSpec, index: int) -> list[bytes]:
    """The gateway address on the bridge, and the bridge up."""
    net, prefixlen = ip4.network(b.subnet)
    return [
        nl.new_addr(index, b.gateway, prefixlen, ip4.fmt(ip4.broadcast(net, prefixlen))),
        nl.link_up(index),
    ]


class VethSpec(Record):
    """One container's interface on one network (addresses as text, see BridgeSpec)."""

    __slots__ = (  # noqa: RUF023 (constructor order)
        "host",
        "bridge",
        "netns",
        "ifname",
        "mac",
        "ip",
        "prefixlen",
        "mtu",
        "gateway",
        "route_mtu",
    )
    host: str  # veth<8 hex>, on the bridge
    bridge: str
    netns: str
    ifname: str  # eth0, eth1... inside
    mac: str
    ip: str
    prefixlen: int
    mtu: int
    gateway: str | None  # the default route goes through it (first network only)
    route_mtu: int | None  # the default route's MTU (the uplink's) when below ``mtu``

    def __init__(
        self,
        host: str,
        bridge: str,
        netns: str | os.PathLike[str],
        ifname: str,
        mac: str,
        ip: object,
        prefixlen: int,
        mtu: int,
        gateway: object | None,
        route_mtu: int | None = None,
    ) -> None:
        self._set(
            host=host,
            bridge=bridge,
            netns=os.fspath(netns),
            ifname=ifname,
            mac=mac,
            ip=str(ip),
            prefixlen=prefixlen,
            mtu=mtu,
            gateway=None if gateway is None else str(gateway),
            route_mtu=route_mtu,
        )


def veth_request(v: VethSpec, master: int, netns_fd: int) -> bytes:
    """On the host: the pair, up, the host end on the bridge ``master`` (its index),
    the inner end (its MAC, up) made directly in the namespace ``netns_fd``."""
    return nl.new_veth(
        v.host, v.ifname, mtu=v.mtu, master=master, peer_mac=v.mac, peer_netns_fd=netns_fd
    )


def bridge_netfilter() -> bool:
    """Whether bridged IPv4 traffic goes through the IP hooks (br_netfilter loaded)."""
    return read_sysctl("net.bridge.bridge-nf-call-iptables") == "1"


def veth_inner_requests(v: VethSpec, index: int) -> list[bytes]:
    """Inside the namespace, on the inner end (``index``): its address, up, the
    default route (with the uplink's MTU when below the link's)."""
    bcast = ip4.fmt(ip4.broadcast(ip4.parse(v.ip), v.prefixlen))
    out = [nl.new_addr(index, v.ip, v.prefixlen, bcast), nl.link_up(index)]
    if v.gateway is not None:
        out.append(default_route_request(v, index))
    return out


def default_route_request(v: VethSpec, index: int) -> bytes:
    assert v.gateway is not None
    mtu = v.route_mtu if v.route_mtu and v.route_mtu < v.mtu else None
    return nl.replace_default_route(index, v.gateway, mtu)


# -- sending them ---------------------------------------------------------------------


def link_index(name: str) -> int:
    """The index of a link on the host (sysfs: no request needed)."""
    try:
        return int(_read(f"{SYS_NET}/{name}/ifindex"))
    except (OSError, ValueError):
        raise nl.NetlinkError(19, f"no link {name}")  # ENODEV


def _host_netlink() -> nl.Netlink:
    try:
        return nl.Netlink()
    except OSError as e:  # pragma: no cover (no netlink: not Linux, or seccomp)
        raise Unsupported(f"bridge networking needs rtnetlink: {e.strerror}")


def add_bridge(b: BridgeSpec) -> None:
    """Make the bridge ``b`` with its gateway address, up."""
    with _host_netlink() as sock:
        sock.request(bridge_requests(b), [f"bridge {b.name}", f"mtu {b.mtu} on {b.name}"])
        sock.request(
            bridge_address_requests(b, link_index(b.name)),
            [f"address {b.gateway} on {b.name}", f"{b.name} up"],
        )


def add_veths(specs: Sequence[VethSpec], inner: nl.Netlink, *, hairpin: bool = False) -> None:
    """Make each veth of ``specs`` (all into one namespace, ``inner`` a socket there)
    and configure its inner end. ``hairpin``: frames may leave the bridge port they
    came in on; needed when br_netfilter DNATs a container's packets to itself at the
    bridge layer."""
    if not specs:
        return
    fd = os.open(specs[0].netns, os.O_RDONLY | os.O_CLOEXEC)
    try:
        with _host_netlink() as sock:
            msgs: list[bytes] = []
            for v in specs:
                msgs.append(veth_request(v, link_index(v.bridge), fd))
                msgs.append(nl.set_gso_max_size(VETH_GSO_MAX_SIZE, name=v.host))
            sock.request(
                msgs,
                [w for v in specs for w in (f"veth {v.host} on {v.bridge}", "gso")],
                optional=range(1, len(msgs), 2),
            )
    finally:
        os.close(fd)
    if hairpin:
        for v in specs:
            with open(f"{SYS_NET}/{v.host}/brport/hairpin_mode", "w") as f:
                f.write("1\n")
    links = inner.request([nl.get_link(v.ifname) for v in specs], [v.ifname for v in specs])
    msgs = []
    what: list[str] = []
    gso: list[int] = []
    for v, payload in zip(specs, links, strict=True):
        index = nl.ifinfo_index(payload)
        gso.append(len(msgs))
        msgs.append(nl.set_gso_max_size(VETH_GSO_MAX_SIZE, index=index))
        reqs = veth_inner_requests(v, index)
        msgs += reqs
        what += [
            "gso",
            f"address {v.ip}/{v.prefixlen} on {v.ifname}",
            f"{v.ifname} up",
            f"default route via {v.gateway}",
        ][: len(reqs) + 1]
    inner.request(msgs, what, optional=gso)


def set_default_route(v: VethSpec, inner: nl.Netlink) -> None:
    """Move the default route to ``v`` (its network became the first)."""
    index = inner.link_index(v.ifname)
    inner.request([default_route_request(v, index)], [f"default route via {v.gateway}"])


def release_links(names: Sequence[str]) -> None:
    """Take the links that exist among ``names`` off their bridge (~0.1 ms; deleting
    one takes the kernel ~20 ms): a veth that the kernel deletes later with its
    namespace must not meet the next container that gets its address and MAC."""
    _each_present_link(names, nl.no_master, "release")


def delete_links(names: Sequence[str]) -> None:
    """Delete the links that exist among ``names`` (ours: bridges, host-side veths);
    one that went meanwhile is no error."""
    _each_present_link(names, nl.del_link, "delete")


def _each_present_link(names: Sequence[str], message: Callable[[str], bytes], verb: str) -> None:
    """One netlink request per link of ``names`` that exists, in one round trip; a
    link gone meanwhile (ENODEV: with its namespace) is no error."""
    present = [n for n in names if link_exists(n)]
    if present:
        with _host_netlink() as sock:
            sock.request([message(n) for n in present], [f"{verb} {n}" for n in present],
                         ignore=(19,))  # fmt: skip


# -- sysctls --------------------------------------------------------------------------


def read_sysctl(key: str) -> str | None:
    try:
        return _read(f"{PROC_SYS}/{key.replace('.', '/')}").strip()
    except OSError:
        return None


def set_sysctl(key: str, value: str) -> str | None:
    """Set ``key`` to ``value``; return the old value when it changed, else None."""
    old = read_sysctl(key)
    if old == value:
        return None
    try:
        with open(f"{PROC_SYS}/{key.replace('.', '/')}", "w") as f:
            f.write(value + "\n")
    except OSError as e:
        raise Unsupported(f"cannot set {key}={value}: {e.strerror}")
    return old if old is not None else ""
