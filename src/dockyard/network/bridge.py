"""Bridges and veth pairs through iproute2: ``ip -batch -``, one process per group
of operations (pyroute2's import alone costs more than a whole ``run``).

The ``*_script`` functions are pure (they return the batch lines, tests read
them); :func:`ip_batch` runs a script, on the host or inside a namespace file
(``nsenter --net=PATH``).

Names: a bridge is ``dy<6 hex of the engine root>-<n>`` unless the user named it;
a container's host-side veth is ``veth<8 hex of network id + container id>``, so
that it can be found again (to delete it, or after a reboot) from the records.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from dockyard._util.record import Record
from dockyard._util.sha import sha256
from dockyard.errors import ExternalToolFailed, Unsupported

IFNAMSIZ = 15
DEFAULT_MTU = 1500
# Links between containers (veths, bridge) carry big frames: traffic that stays on the
# machine does not need the uplink's MTU, and 1400-byte frames cost half the throughput
# of loopback. Traffic that leaves goes through the default route, which carries the
# uplink's MTU (``route ... mtu``): TCP's MSS and path MTU follow that.
LOCAL_MTU = 65535
SYS_NET = Path("/sys/class/net")
PROC_SYS = Path("/proc/sys")


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


def link_exists(name: str) -> bool:
    return os.path.exists(SYS_NET / name)


def is_bridge(name: str) -> bool:
    return os.path.isdir(SYS_NET / name / "bridge")


def link_mtu(name: str) -> int | None:
    try:
        return int((SYS_NET / name / "mtu").read_text())
    except (OSError, ValueError):
        return None


def uplink_mtu(uplink: str | None) -> int:
    """The MTU of the interface of the default route (1500 without one)."""
    return (link_mtu(uplink) if uplink else None) or DEFAULT_MTU


# -- scripts --------------------------------------------------------------------------


class BridgeSpec(Record):
    __slots__ = ("name", "gateway", "subnet", "mtu")  # noqa: RUF023 (constructor order)
    name: str
    gateway: IPv4Address
    subnet: IPv4Network
    mtu: int

    def __init__(self, name: str, gateway: IPv4Address, subnet: IPv4Network, mtu: int) -> None:
        self._set(name=name, gateway=gateway, subnet=subnet, mtu=mtu)

    @property
    def mac(self) -> str:
        """A fixed address: without one a bridge takes its lowest port's, which changes
        as containers come and go (and with it every neighbour's ARP entry)."""
        return "02:42:" + ":".join(f"{b:02x}" for b in self.gateway.packed)


def bridge_script(b: BridgeSpec) -> list[str]:
    return [
        f"link add name {b.name} address {b.mac} type bridge",
        # set after the fact: only then does the bridge keep it without ports
        f"link set dev {b.name} mtu {b.mtu}",
        f"addr add {b.gateway}/{b.subnet.prefixlen} broadcast {b.subnet.broadcast_address} "
        f"dev {b.name}",
        f"link set dev {b.name} up",
    ]


class VethSpec(Record):
    """One container's interface on one network."""

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
    netns: Path
    ifname: str  # eth0, eth1... inside
    mac: str
    ip: IPv4Address
    prefixlen: int
    mtu: int
    gateway: IPv4Address | None  # the default route goes through it (first network only)
    route_mtu: int | None  # the default route's MTU (the uplink's) when below ``mtu``

    def __init__(
        self,
        host: str,
        bridge: str,
        netns: Path,
        ifname: str,
        mac: str,
        ip: IPv4Address,
        prefixlen: int,
        mtu: int,
        gateway: IPv4Address | None,
        route_mtu: int | None = None,
    ) -> None:
        self._set(
            host=host,
            bridge=bridge,
            netns=netns,
            ifname=ifname,
            mac=mac,
            ip=ip,
            prefixlen=prefixlen,
            mtu=mtu,
            gateway=gateway,
            route_mtu=route_mtu,
        )


def veth_host_script(v: VethSpec, *, hairpin: bool = False) -> list[str]:
    """On the host: the pair, its inner end made directly in the namespace.
    ``hairpin``: frames may leave the bridge port they came in on; needed when
    br_netfilter DNATs a container's packets to itself at the bridge layer."""
    lines = [
        f"link add name {v.host} mtu {v.mtu} type veth peer name {v.ifname} "
        f"address {v.mac} mtu {v.mtu} netns {v.netns}",
        f"link set dev {v.host} master {v.bridge} up",
    ]
    if hairpin:
        lines.append(f"link set dev {v.host} type bridge_slave hairpin on")
    return lines


def bridge_netfilter() -> bool:
    """Whether bridged IPv4 traffic goes through the IP hooks (br_netfilter loaded)."""
    return read_sysctl("net.bridge.bridge-nf-call-iptables") == "1"


def veth_inner_script(v: VethSpec) -> list[str]:
    """Inside the namespace: address, up, default route."""
    net = IPv4Network(f"{v.ip}/{v.prefixlen}", strict=False)
    lines = [
        f"addr add {v.ip}/{v.prefixlen} broadcast {net.broadcast_address} dev {v.ifname}",
        f"link set dev {v.ifname} up",
    ]
    if v.gateway is not None:
        mtu = f" mtu {v.route_mtu}" if v.route_mtu and v.route_mtu < v.mtu else ""
        lines.append(f"route replace default via {v.gateway} dev {v.ifname}{mtu}")
    return lines


# -- running them ---------------------------------------------------------------------


def ip_batch(lines: Sequence[str], *, netns: Path | None = None, force: bool = False) -> None:
    """Run ``lines`` through one ``ip -batch -`` (inside ``netns`` if given). With
    ``force`` errors are ignored (deleting what may be gone already)."""
    import subprocess

    if not lines:
        return
    argv = ["ip"]
    if force:
        argv.append("-force")
    argv += ["-batch", "-"]
    if netns is not None:
        argv = ["nsenter", f"--net={netns}", *argv]
    try:
        r = subprocess.run(
            argv, input="\n".join(lines) + "\n", capture_output=True, text=True, check=False
        )
    except FileNotFoundError as e:
        raise Unsupported(
            f"{e.filename} is not installed: bridge networking needs iproute2 and util-linux",
            hint="apt-get install iproute2",
        )
    if r.returncode != 0 and not force:
        detail = " ".join(r.stderr.split()) or f"exit status {r.returncode}"
        raise ExternalToolFailed(f"ip: {detail}")


def delete_links(names: Sequence[str]) -> None:
    """Delete the links that exist among ``names`` (ours: bridges, host-side veths)."""
    present = [n for n in names if link_exists(n)]
    if present:
        ip_batch([f"link del dev {n}" for n in present], force=True)


# -- sysctls --------------------------------------------------------------------------


def read_sysctl(key: str) -> str | None:
    try:
        return (PROC_SYS / key.replace(".", "/")).read_text().strip()
    except OSError:
        return None


def set_sysctl(key: str, value: str) -> str | None:
    """Set ``key`` to ``value``; return the old value when it changed, else None."""
    old = read_sysctl(key)
    if old == value:
        return None
    path = PROC_SYS / key.replace(".", "/")
    try:
        path.write_text(value + "\n")
    except OSError as e:
        raise Unsupported(f"cannot set {key}={value}: {e.strerror}")
    return old if old is not None else ""
