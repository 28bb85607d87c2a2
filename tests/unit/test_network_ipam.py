"""IPAM: pools, the user's --subnet/--gateway/--ip-range, address allocation."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.errors import Conflict, InvalidArgument, Unsupported
from dockyard.network.ipam import (
    IPAMConfig,
    Route,
    allocate,
    choose_subnet,
    configure,
    default_pools,
    mac_for,
    parse_proc_route,
    uplink,
)

PROC_ROUTE = """\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
anchors0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
"""


def routes() -> list[Route]:
    return parse_proc_route(PROC_ROUTE)


def test_parse_proc_route() -> None:
    rs = routes()
    assert [(str(r.dst), r.dev) for r in rs] == [
        ("0.0.0.0/0", "eth0"),
        ("192.0.2.0/24", "eth0"),
        ("172.17.0.0/16", "anchors0"),
    ]
    assert rs[0].is_default and not rs[1].is_default
    assert uplink(rs) == "eth0"
    assert uplink(rs[1:]) is None


def test_default_pools_are_dockers() -> None:
    pools = list(default_pools())
    assert pools[0] == IPv4Network("172.17.0.0/16")
    assert pools[14] == IPv4Network("172.31.0.0/16")
    assert pools[15] == IPv4Network("192.168.0.0/20")
    assert pools[-1] == IPv4Network("192.168.240.0/20")
    assert len(pools) == 15 + 16


def test_choose_skips_routes_and_our_networks() -> None:
    # 172.17 is another engine's bridge (a route), 172.18 one of ours
    assert choose_subnet(routes(), [IPv4Network("172.18.0.0/16")]) == IPv4Network("172.19.0.0/16")
    # a route on one of our own bridges is covered by "taken", not by the route check
    assert choose_subnet(routes(), [], ignore_devices={"anchors0"}) == IPv4Network("172.17.0.0/16")
    # a LAN route that covers a whole pool range
    lan = [Route(IPv4Network("172.16.0.0/12"), "eth1")]
    assert choose_subnet(lan, []) == IPv4Network("192.168.0.0/20")


def test_choose_exhausted() -> None:
    everything = [
        Route(IPv4Network("172.16.0.0/12"), "x"),
        Route(IPv4Network("192.168.0.0/16"), "y"),
    ]
    with pytest.raises(Conflict, match="could not find an available, non-overlapping IPv4"):
        choose_subnet(everything, [])


def test_configure_defaults() -> None:
    cfg = configure(routes=routes())
    assert cfg == IPAMConfig(IPv4Network("172.18.0.0/16"), IPv4Address("172.18.0.1"))
    assert cfg.pool == cfg.subnet


def test_configure_user_values() -> None:
    cfg = configure("10.5.0.0/16", "10.5.0.254", "10.5.1.0/24")
    assert cfg.subnet == IPv4Network("10.5.0.0/16")
    assert cfg.gateway == IPv4Address("10.5.0.254")
    assert cfg.pool == IPv4Network("10.5.1.0/24")


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (("", "10.0.0.1", ""), InvalidArgument, "every ip-range or gateway must have"),
        (("", "", "10.0.0.0/24"), InvalidArgument, "every ip-range or gateway must have"),
        (("10.0.0.0/33", "", ""), InvalidArgument, "invalid CIDR address: 10.0.0.0/33"),
        (("10.0.0.0", "", ""), InvalidArgument, "invalid CIDR address: 10.0.0.0"),
        (("nonsense", "", ""), InvalidArgument, "invalid CIDR address"),
        (("10.0.0.1/16", "", ""), InvalidArgument, "it should be 10.0.0.0/16"),
        (("10.0.0.0/31", "", ""), InvalidArgument, "at least a /30"),
        (("10.0.0.0/16", "10.1.0.1", ""), InvalidArgument, "no matching subnet for gateway"),
        (("10.0.0.0/16", "10.0.0.0", ""), InvalidArgument, "network or broadcast"),
        (("10.0.0.0/16", "10.0.255.255", ""), InvalidArgument, "network or broadcast"),
        (("10.0.0.0/16", "", "10.1.0.0/24"), InvalidArgument, "no matching subnet for range"),
        (("fd00::/64", "", ""), Unsupported, "IPv6"),
        (("192.0.2.0/25", "", ""), Conflict, "overlaps with the host's route"),
    ],
)
def test_configure_errors(args: tuple[str, str, str], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        configure(*args, routes=routes())


def test_configure_overlapping_network() -> None:
    taken = [(IPv4Network("10.0.0.0/8"), "big")]
    with pytest.raises(Conflict, match="Pool overlaps with other one on this address space") as e:
        configure("10.1.0.0/16", taken=taken)
    assert e.value.hint is not None and "big" in e.value.hint


def cfg30() -> IPAMConfig:
    return IPAMConfig(IPv4Network("10.9.0.0/30"), IPv4Address("10.9.0.1"))


def test_allocate_lowest_free_and_exhaustion() -> None:
    cfg = cfg30()
    first = allocate(cfg, [], network="tiny", network_id="abc")
    assert first == IPv4Address("10.9.0.2")
    with pytest.raises(Conflict) as e:
        allocate(cfg, [first], network="tiny", network_id="abc")
    assert e.value.message == (
        "no available IPv4 addresses on this network's address pools: tiny (abc)"
    )


def test_allocate_skips_gateway_and_used() -> None:
    cfg = IPAMConfig(IPv4Network("10.0.0.0/24"), IPv4Address("10.0.0.2"))
    used = [IPv4Address("10.0.0.1"), IPv4Address("10.0.0.3")]
    assert allocate(cfg, used, network="n", network_id="i") == IPv4Address("10.0.0.4")
    # a released address is handed out again
    assert allocate(cfg, [IPv4Address("10.0.0.3")], network="n", network_id="i") == IPv4Address(
        "10.0.0.1"
    )


def test_allocate_from_range() -> None:
    cfg = IPAMConfig(
        IPv4Network("10.0.0.0/16"), IPv4Address("10.0.0.1"), IPv4Network("10.0.5.0/30")
    )
    # the range's own network/broadcast addresses are fine (only the subnet's are not)
    got = [allocate(cfg, [], network="n", network_id="i")]
    assert got == [IPv4Address("10.0.5.0")]


def test_allocate_requested() -> None:
    cfg = IPAMConfig(IPv4Network("10.0.0.0/24"), IPv4Address("10.0.0.1"))
    assert allocate(cfg, [], network="n", network_id="i", requested="10.0.0.77") == IPv4Address(
        "10.0.0.77"
    )
    with pytest.raises(Conflict, match="Address already in use"):
        allocate(
            cfg, [IPv4Address("10.0.0.77")], network="n", network_id="i", requested="10.0.0.77"
        )
    with pytest.raises(Conflict, match="Address already in use"):
        allocate(cfg, [], network="n", network_id="i", requested="10.0.0.1")
    with pytest.raises(InvalidArgument, match="no configured subnet or ip-range contain"):
        allocate(cfg, [], network="n", network_id="i", requested="10.1.0.7")
    with pytest.raises(InvalidArgument, match="invalid IPv4 address"):
        allocate(cfg, [], network="n", network_id="i", requested="10.0.0.300")


@given(st.sets(st.integers(min_value=2, max_value=254), max_size=200))
def test_allocate_never_twice(used_hosts: set[int]) -> None:
    cfg = IPAMConfig(IPv4Network("10.0.0.0/24"), IPv4Address("10.0.0.1"))
    used = [IPv4Address(f"10.0.0.{h}") for h in used_hosts]
    ip = allocate(cfg, used, network="n", network_id="i")
    assert ip not in used
    assert ip not in (cfg.gateway, cfg.subnet.network_address, cfg.subnet.broadcast_address)
    assert ip == min(IPv4Address(f"10.0.0.{h}") for h in set(range(2, 255)) - used_hosts)


def test_mac() -> None:
    assert mac_for(IPv4Address("172.18.0.2")) == "02:42:ac:12:00:02"
