"""The network tables (a contract with the DNS server) and the pure helpers around
them: bridge/veth netlink requests, host port parsing, ps's PORTS column, resolv.conf."""

from __future__ import annotations

import sqlite3
import struct
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from dockyard._util.db import open_db
from dockyard.cli.commands.top import ports_column
from dockyard.errors import AlreadyExists, Conflict, NotFound
from dockyard.network import bridge as br
from dockyard.network import hostports
from dockyard.network import netlink as nl
from dockyard.network.published import Published, ps_columns_all
from dockyard.network.store import Endpoint, NetworkRecord, NetworkStore


def net(name: str, nid: str, subnet: str = "172.18.0.0/16", **kw: object) -> NetworkRecord:
    return NetworkRecord(
        id=nid,
        name=name,
        driver="bridge",
        subnet=subnet,
        gateway=subnet.replace("0.0/16", "0.1"),
        bridge=f"dy000000-{name}",
        internal=False,
        created="2024-01-02T03:04:05.000000000Z",
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def store(tmp_path: Path) -> NetworkStore:
    return NetworkStore(open_db(tmp_path / "state.db"))


def test_schema_is_the_contract(store: NetworkStore) -> None:
    cols = {
        table: [(r[1], r[2], r[3], r[4]) for r in store.conn.execute(f"PRAGMA table_info({table})")]
        for table in ("networks", "endpoints")
    }
    assert cols["networks"] == [
        ("id", "TEXT", 0, None),
        ("name", "TEXT", 1, None),
        ("driver", "TEXT", 1, None),
        ("subnet", "TEXT", 1, None),
        ("gateway", "TEXT", 1, None),
        ("ip_range", "TEXT", 1, "''"),
        ("bridge", "TEXT", 1, None),
        ("internal", "INTEGER", 1, None),
        ("labels", "TEXT", 1, None),
        ("options", "TEXT", 1, None),
        ("created", "TEXT", 1, None),
        ("is_default", "INTEGER", 1, "0"),
    ]
    assert cols["endpoints"] == [
        ("network_id", "TEXT", 1, None),
        ("container_id", "TEXT", 1, None),
        ("ip", "TEXT", 1, None),
        ("mac", "TEXT", 1, None),
        ("aliases", "TEXT", 1, None),
        ("ifname", "TEXT", 1, None),
    ]


def test_networks_round_trip_and_lookup(store: NetworkStore) -> None:
    a = net("alpha", "a1" + "0" * 62, labels=(("k", "v"),), options=(("o", "1"),))
    b = net("beta", "a2" + "0" * 62, subnet="172.19.0.0/16", is_default=True)
    store.add(a)
    store.add(b)
    assert store.find("alpha") == a
    assert store.find(a.id) == a
    assert store.find("a1") == a
    assert store.default() == b
    assert a.prefixlen == 16
    with pytest.raises(Conflict, match="ambiguous"):
        store.find("a")
    with pytest.raises(NotFound, match="network nosuch not found"):
        store.find("nosuch")
    with pytest.raises(AlreadyExists, match="network with name alpha already exists"):
        store.add(net("alpha", "f" * 64))
    raw = store.conn.execute("SELECT labels, options FROM networks WHERE name='alpha'").fetchone()
    assert raw == ('{"k": "v"}', '{"o": "1"}')


def test_endpoints_unique_ip_per_network(store: NetworkStore) -> None:
    n = net("alpha", "a" * 64)
    store.add(n)
    e1 = Endpoint(n.id, "c1", "172.18.0.2", "02:42:ac:12:00:02", "eth0", ("db",))
    store.add_endpoint(e1)
    with pytest.raises(Conflict, match="Address already in use"):
        store.add_endpoint(Endpoint(n.id, "c2", "172.18.0.2", "m", "eth0"))
    assert store.endpoints(network_id=n.id) == [e1]
    assert store.endpoints(container_id="c1") == [e1]
    raw = store.conn.execute("SELECT aliases FROM endpoints").fetchone()[0]
    assert raw == '["db"]'  # a JSON list of the extra names
    store.remove_endpoints_of("c1")
    assert store.endpoints() == []


def test_published_and_ps_columns(store: NetworkStore) -> None:
    n = net("alpha", "a" * 64)
    store.add(n)
    store.add_endpoint(Endpoint(n.id, "c1", "172.18.0.2", "m", "eth0"))
    p = Published("c1", "tcp", "", 8080, 80)
    store.add_published([p])
    assert store.published("c1") == [p]
    with pytest.raises(sqlite3.IntegrityError):
        store.add_published([Published("c2", "tcp", "", 8080, 81)])
    assert ps_columns_all(store.conn)["c1"] == (["alpha"], [p])
    store.remove_published("c1")
    assert store.published() == []


def test_ps_columns_before_any_network(tmp_path: Path) -> None:
    assert ps_columns_all(open_db(tmp_path / "x.db")) == {}


def _decoded(msg: bytes) -> tuple[int, int, dict[int, bytes]]:
    """A netlink request: (type, flags, its top-level attributes)."""
    length, kind, flags, _seq, _pid = struct.unpack_from("=IHHII", msg)
    assert length == len(msg)
    head = {nl.RTM_NEWLINK: 16, nl.RTM_DELLINK: 16, nl.RTM_NEWADDR: 8, nl.RTM_NEWROUTE: 12}
    return kind, flags, dict(nl.attrs(msg, 16 + head[kind]))


def test_bridge_and_veth_requests(tmp_path: Path) -> None:
    b = br.BridgeSpec("dyabc123-0", IPv4Address("172.18.0.1"), IPv4Network("172.18.0.0/16"), 1400)
    made, mtu = br.bridge_requests(b)
    kind, flags, a = _decoded(made)
    assert kind == nl.RTM_NEWLINK and flags & nl.NLM_F_CREATE and flags & nl.NLM_F_EXCL
    assert a[nl.IFLA_IFNAME] == b"dyabc123-0\0"
    assert a[nl.IFLA_ADDRESS] == bytes.fromhex("0242ac120001")
    assert dict(nl.attrs(a[nl.IFLA_LINKINFO]))[nl.IFLA_INFO_KIND] == b"bridge\0"
    assert _decoded(mtu)[2][nl.IFLA_MTU] == struct.pack("=I", 1400)
    addr, up = br.bridge_address_requests(b, 7)
    kind, _, a = _decoded(addr)
    assert kind == nl.RTM_NEWADDR and struct.unpack_from("=BBBBI", addr, 16) == (2, 16, 0, 0, 7)
    assert a[nl.IFA_LOCAL] == IPv4Address("172.18.0.1").packed
    assert a[nl.IFA_BROADCAST] == IPv4Address("172.18.255.255").packed
    assert struct.unpack_from("=BxHiII", up, 16) == (0, 0, 7, nl.IFF_UP, nl.IFF_UP)

    v = br.VethSpec(
        host="vethdeadbeef",
        bridge="dyabc123-0",
        netns=tmp_path / "ns",
        ifname="eth0",
        mac="02:42:ac:12:00:02",
        ip=IPv4Address("172.18.0.2"),
        prefixlen=16,
        mtu=65535,
        gateway=IPv4Address("172.18.0.1"),
        route_mtu=1400,
    )
    req = br.veth_request(v, master=7, netns_fd=9)
    kind, flags, a = _decoded(req)
    assert kind == nl.RTM_NEWLINK and flags & nl.NLM_F_CREATE
    assert struct.unpack_from("=BxHiII", req, 16)[3] == nl.IFF_UP  # the host end up
    assert a[nl.IFLA_IFNAME] == b"vethdeadbeef\0"
    assert a[nl.IFLA_MASTER] == struct.pack("=I", 7)
    assert a[nl.IFLA_MTU] == struct.pack("=I", 65535)
    info = dict(nl.attrs(a[nl.IFLA_LINKINFO]))
    assert info[nl.IFLA_INFO_KIND] == b"veth\0"
    peer = dict(nl.attrs(info[nl.IFLA_INFO_DATA]))[nl.VETH_INFO_PEER]
    pa = dict(nl.attrs(peer, 16))
    assert pa[nl.IFLA_IFNAME] == b"eth0\0"
    assert pa[nl.IFLA_ADDRESS] == bytes.fromhex("0242ac120002")
    assert pa[nl.IFLA_NET_NS_FD] == struct.pack("=I", 9)

    addr, up, route = br.veth_inner_requests(v, 2)
    assert _decoded(addr)[2][nl.IFA_LOCAL] == IPv4Address("172.18.0.2").packed
    assert struct.unpack_from("=BxHiII", up, 16)[2:4] == (2, nl.IFF_UP)
    kind, flags, a = _decoded(route)
    assert kind == nl.RTM_NEWROUTE and flags & nl.NLM_F_REPLACE
    assert a[nl.RTA_GATEWAY] == IPv4Address("172.18.0.1").packed
    assert a[nl.RTA_OIF] == struct.pack("=I", 2)
    assert dict(nl.attrs(a[nl.RTA_METRICS]))[nl.RTAX_MTU] == struct.pack("=I", 1400)
    # no MTU on the route when the link's is not bigger; no route off the gateway network
    same = br.VethSpec(v.host, v.bridge, v.netns, "eth1", v.mac, v.ip, 16, 1400, v.gateway, 1400)
    assert nl.RTA_METRICS not in _decoded(br.veth_inner_requests(same, 3)[-1])[2]
    inner = br.VethSpec(v.host, v.bridge, v.netns, "eth1", v.mac, v.ip, 16, 65535, None)
    assert len(br.veth_inner_requests(inner, 3)) == 2


def test_names() -> None:
    tag = br.root_tag("/var/lib/dockyard")
    assert len(tag) == 6 and tag != br.root_tag("/tmp/other")
    assert len(br.bridge_name(tag, 999999)) == 15
    with pytest.raises(ValueError):
        br.bridge_name(tag, 1000000)
    v = br.veth_name("n" * 64, "c" * 64)
    assert v.startswith("veth") and len(v) == 12
    assert v == br.veth_name("n" * 64, "c" * 64) != br.veth_name("m" * 64, "c" * 64)


PROC_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 17 1
   2: 0200A8C0:D2F0 0100A8C0:0050 01 00000000:00000000 00:00000000 00000000     0        0 99 1
"""
PROC_TCP6 = (
    "  sl  local_address                         remote_address                        st\n"
    "   0: 00000000000000000000000000000000:1F91 00000000000000000000000000000000:0000 0A "
    "0:0 0:0 0 0 0 77 1\n"
)


def test_parse_proc_net() -> None:
    got = hostports.parse_proc_net(PROC_TCP, "tcp")
    assert got == [
        hostports.Listener("tcp", "127.0.0.1", 8080, 4242),
        hostports.Listener("tcp", "0.0.0.0", 22, 17),
    ]
    six = hostports.parse_proc_net(PROC_TCP6, "tcp")
    assert six == [hostports.Listener("tcp", "::", 8081, 77)]
    assert hostports.clashing(got, "tcp", "", 8080) == got[0]
    assert hostports.clashing(got, "tcp", "10.0.0.1", 8080) is None
    assert hostports.clashing(got, "tcp", "10.0.0.1", 22) == got[1]
    assert hostports.clashing(got, "udp", "", 22) is None
    free = hostports.pick_free("tcp", "", taken={32768}, found=got + six, start=32768, end=32770)
    assert free == 32769
    assert (
        hostports.pick_free("tcp", "", taken={8079}, found=got + six, start=8079, end=8081) is None
    )


def test_ports_column_like_docker_ps() -> None:
    assert ports_column([(8049, "tcp", "", 6543)]) == "0.0.0.0:6543->8049/tcp"
    assert (
        ports_column(
            [(80, "tcp", "127.0.0.1", 80), (81, "tcp", "127.0.0.1", 81), (53, "udp", "", 5353)],
            ["443/tcp", "9000/tcp", "9001/tcp", "80/tcp"],
        )
        # the docker CLI's order: a group is written out when the next port breaks it
        == "443/tcp, 127.0.0.1:80-81->80-81/tcp, 9000-9001/tcp, 0.0.0.0:5353->53/udp"
    )
    assert ports_column([], ["6379/tcp"]) == "6379/tcp"
    assert ports_column([]) == ""


def test_resolv_conf_for_user_networks() -> None:
    from dockyard.engine.container_config import ContainerCreate
    from dockyard.engine.container_create import resolv_conf

    host = "search corp.example\nnameserver 127.0.0.53\nnameserver 10.1.1.1\noptions edns0\n"
    req = ContainerCreate(image="x", network="appnet")
    assert resolv_conf(req, ["172.20.0.1"], host) == (
        "search corp.example\nnameserver 172.20.0.1\noptions edns0\n"
    )
    # the default bridge: the host's servers, minus loopback ones (as Docker)
    assert resolv_conf(ContainerCreate(image="x"), None, host) == (
        "search corp.example\nnameserver 10.1.1.1\noptions edns0\n"
    )
    # only loopback servers on the host: Docker's fallback
    assert "nameserver 8.8.8.8\n" in resolv_conf(
        ContainerCreate(image="x"), None, "nameserver 127.0.0.53\n"
    )
    # on a user network the embedded DNS stays the server; it forwards to --dns
    with_dns = ContainerCreate(image="x", network="appnet", dns=("9.9.9.9",))
    assert "nameserver 172.20.0.1\n" in resolv_conf(with_dns, ["172.20.0.1"], host)
    assert "9.9.9.9" not in resolv_conf(with_dns, ["172.20.0.1"], host)
    # on the default bridge --dns is the server
    bridged = ContainerCreate(image="x", dns=("9.9.9.9",))
    assert "nameserver 9.9.9.9\n" in resolv_conf(bridged, None, host)
    # --network host: the host's file, loopback servers included
    assert "nameserver 127.0.0.53" in resolv_conf(
        ContainerCreate(image="x", network="host"), None, host
    )
