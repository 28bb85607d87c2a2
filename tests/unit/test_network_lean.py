"""What a bridged ``run`` needs of the network stack costs little to import: no
``ipaddress``, ``socket`` (enum), ``ctypes``, ``sqlite3``, ``json`` (re) or ``pathlib``
(see ``dockyard.network.ip4``, ``netlink.Netlink``, ``netns._Libc``). The int
arithmetic that replaced ``ipaddress`` there agrees with it."""

from __future__ import annotations

import subprocess
import sys
from ipaddress import IPv4Address, IPv4Network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.engine.network_firewall import NetworkFirewall
from dockyard.errors import Conflict, InvalidArgument
from dockyard.network import firewall as fw
from dockyard.network import ip4
from dockyard.network.ipam import (
    IPAMConfig,
    allocate,
    allocate_ip,
    default_route_device,
    host_routes,
    parse_proc_route,
    uplink,
)

# what the run path's network modules must not bring in (each costs 0.3-6 ms)
HEAVY = (
    "re",
    "enum",
    "json",
    "pathlib",
    "ipaddress",
    "contextlib",
    "socket",
    "selectors",
    "signal",
    "ctypes",
    "datetime",
    "sqlite3",
    "subprocess",
    "typing",
    "dataclasses",
)

PROBE = """
import sys
import dockyard.engine.networks, dockyard.engine.network_janitor
from dockyard.network import bridge, ipam, netlink, netns
netns._libc()  # loaded as a start loads it
ipam.allocate_ip("172.18.0.0/16", "172.18.0.1", "", ["172.18.0.2"], network="n", network_id="i")
ipam.mac_for("172.18.0.3"), ipam.default_route_device()
bridge.bridge_address_requests(bridge.BridgeSpec("b", "172.18.0.1", "172.18.0.0/16", 1500), 3)
mac = "02:42:ac:12:00:03"
v = bridge.VethSpec("v", "b", "/x", "eth0", mac, "172.18.0.3", 16, 1500, "172.18.0.1")
bridge.veth_inner_requests(v, 2)
print(" ".join(sorted(sys.modules)))
"""


def test_the_run_path_imports_nothing_heavy() -> None:
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", f"import sys; sys.path[:0] = {sys.path!r}\n{PROBE}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    found = sorted(m for m in out for h in HEAVY if m == h or m.startswith(h + "."))
    assert not found, f"the network's run path imports {found}"
    # what only network create, published ports or a table change need
    later = ("dockyard.network.firewall", "dockyard.engine.network_ports")
    assert not [m for m in later if m in out]


@given(st.integers(0, 2**32 - 1), st.integers(0, 32))
def test_ip4_agrees_with_ipaddress(n: int, prefixlen: int) -> None:
    addr = IPv4Address(n)
    assert ip4.parse(str(addr)) == n and ip4.fmt(n) == str(addr)
    assert ip4.packed(addr) == addr.packed == ip4.packed(str(addr))
    net = IPv4Network(f"{addr}/{prefixlen}", strict=False)
    assert ip4.network(f"{addr}/{prefixlen}") == (int(net.network_address), prefixlen)
    assert ip4.broadcast(n, prefixlen) == int(net.broadcast_address)


@pytest.mark.parametrize("bad", ["", "1.2.3", "1.2.3.4.5", "256.0.0.1", "01.2.3.4", "a.b.c.d",
                                 "1.2.3.-4", "1.2.3.\uff14", " 1.2.3.4"])  # fmt: skip
def test_ip4_refuses_what_ipaddress_refuses(bad: str) -> None:
    with pytest.raises(ValueError):
        ip4.parse(bad)
    with pytest.raises(ValueError):
        IPv4Address(bad)


def test_allocate_ip_is_allocate_on_text() -> None:
    got = allocate_ip(
        "10.0.0.0/24", "10.0.0.2", "", ["10.0.0.1", "10.0.0.3"], network="n", network_id="i"
    )
    cfg = IPAMConfig(IPv4Network("10.0.0.0/24"), IPv4Address("10.0.0.2"))
    used = [IPv4Address("10.0.0.1"), IPv4Address("10.0.0.3")]
    assert got == "10.0.0.4" == str(allocate(cfg, used, network="n", network_id="i"))
    assert allocate_ip(
        "10.0.0.0/16", "10.0.0.1", "10.0.5.0/30", [], network="n", network_id="i"
    ) == ("10.0.5.0")
    with pytest.raises(Conflict, match="no available IPv4 addresses"):
        allocate_ip("10.9.0.0/30", "10.9.0.1", "", ["10.9.0.2"], network="n", network_id="i")
    with pytest.raises(InvalidArgument, match="no configured subnet"):
        allocate_ip("10.0.0.0/24", "10.0.0.1", "", [], network="n", network_id="i",
                    requested="10.1.0.7")  # fmt: skip
    with pytest.raises(Conflict, match="Address already in use"):
        allocate_ip("10.0.0.0/24", "10.0.0.1", "", ["10.0.0.9"], network="n", network_id="i",
                    requested="10.0.0.9")  # fmt: skip


def test_default_route_device_is_uplink() -> None:
    text = (
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
        "eth1\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
        "bad\tzz\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0\n"
        "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
    )
    assert default_route_device(text) == uplink(parse_proc_route(text)) == "eth0"
    assert default_route_device(text.splitlines()[0]) is None
    assert default_route_device() == uplink(host_routes())  # this machine's


def test_the_table_name_is_the_firewall_modules() -> None:
    assert NetworkFirewall(None, "abc123", "/x").table == fw.table_name("abc123")  # type: ignore[arg-type]
