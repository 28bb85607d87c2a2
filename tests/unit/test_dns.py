"""The embedded DNS's decisions (in-memory state DB) and its forwarding client (loopback)."""

from __future__ import annotations

import json
import socket
import sqlite3
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard._util.db import ensure_schema
from dockyard.engine.container_records import SCHEMA as CONTAINERS_SCHEMA
from dockyard.network import dns, dns_forward
from dockyard.network import dns_wire as w
from dockyard.network.store import DDL as NETWORKS_DDL

A_ID = "a1" * 32
B_ID = "b2" * 32
C_ID = "c3" * 32
D_ID = "d4" * 32
E_ID = "e5" * 32

GW1, GW2, GW_INT, GW_DEF = "172.18.0.1", "172.19.0.1", "172.20.0.1", "172.17.0.1"


def make_db(conn: sqlite3.Connection) -> sqlite3.Connection:
    ensure_schema(conn, "networks", 1, NETWORKS_DDL)
    ensure_schema(conn, "containers", 1, CONTAINERS_SCHEMA)
    return conn


def add_network(
    conn: sqlite3.Connection,
    nid: str,
    name: str,
    subnet: str,
    gateway: str,
    *,
    internal: bool = False,
    default: bool = False,
) -> None:
    conn.execute(
        "INSERT INTO networks (id, name, driver, subnet, gateway, ip_range, bridge, internal,"
        " labels, options, created, is_default) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            nid,
            name,
            "bridge",
            subnet,
            gateway,
            "",
            f"br-{nid[:12]}",
            int(internal),
            "{}",
            "{}",
            "2024-01-01T00:00:00Z",
            int(default),
        ),
    )


def add_container(conn: sqlite3.Connection, cid: str, name: str) -> None:
    conn.execute(
        "INSERT INTO containers (id, name, image_id, image_name, command, created, created_ns,"
        " labels, config) VALUES (?,?,?,?,?,?,?,?,?)",
        (cid, name, "sha256:00", "busybox", "[]", "2024-01-01T00:00:00Z", 0, "{}", "{}"),
    )


def add_endpoint(
    conn: sqlite3.Connection, nid: str, cid: str, ip: str, aliases: tuple[str, ...] = ()
) -> None:
    conn.execute(
        "INSERT INTO endpoints (network_id, container_id, ip, mac, aliases, ifname)"
        " VALUES (?,?,?,?,?,?)",
        (nid, cid, ip, "02:42:00:00:00:00", json.dumps(list(aliases)), "eth0"),
    )


def populate(conn: sqlite3.Connection) -> None:
    """net1 (172.18/16): web (alias www, app), db (alias app); net2 (172.19/16): other, and
    web again; internal (172.20/16): lone; the default bridge (172.17/16): plain."""
    add_network(conn, "n1" * 32, "net1", "172.18.0.0/16", GW1)
    add_network(conn, "n2" * 32, "net2", "172.19.0.0/16", GW2)
    add_network(conn, "n3" * 32, "internal", "172.20.0.0/16", GW_INT, internal=True)
    add_network(conn, "n0" * 32, "bridge", "172.17.0.0/16", GW_DEF, default=True)
    add_container(conn, A_ID, "web")
    add_container(conn, B_ID, "db")
    add_container(conn, C_ID, "other")
    add_container(conn, D_ID, "lone")
    add_container(conn, E_ID, "plain")
    add_endpoint(conn, "n1" * 32, A_ID, "172.18.0.2", ("www", "app"))
    add_endpoint(conn, "n1" * 32, B_ID, "172.18.0.3", ("app",))
    add_endpoint(conn, "n2" * 32, C_ID, "172.19.0.2")
    add_endpoint(conn, "n2" * 32, A_ID, "172.19.0.3")
    add_endpoint(conn, "n3" * 32, D_ID, "172.20.0.2")
    add_endpoint(conn, "n0" * 32, E_ID, "172.17.0.2")


@pytest.fixture
def view() -> dns.View:
    conn = make_db(sqlite3.connect(":memory:", isolation_level=None))
    populate(conn)
    return dns.load_view(conn)


def ask(view: dns.View, name: str, qtype: int = w.A, src: str = "172.18.0.3",
        local: str = GW1, rotate: int = 0) -> dns.Answer | str:  # fmt: skip
    return dns.decide(view, w.Question(name, qtype), src, local, rotate=rotate)


def ips(result: dns.Answer | str) -> list[str]:
    assert isinstance(result, dns.Answer), result
    assert result.rcode == w.NOERROR
    return [str(r.data) for r in result.records]


# -- decisions ---------------------------------------------------------------------------


def test_names_on_the_askers_network(view: dns.View) -> None:
    assert ips(ask(view, "web")) == ["172.18.0.2"]
    assert ips(ask(view, "WEB.")) == ["172.18.0.2"]  # case and the absolute form
    assert ips(ask(view, "www")) == ["172.18.0.2"]  # an alias
    assert ips(ask(view, A_ID[:12])) == ["172.18.0.2"]  # the short id
    assert ask(view, A_ID) == dns.FORWARD  # not the full id (Docker neither)
    assert ips(ask(view, "web.net1")) == ["172.18.0.2"]  # NAME.NETWORK
    answer = ask(view, "web")
    assert isinstance(answer, dns.Answer)
    (rr,) = answer.records
    assert rr == w.Record("web", w.A, w.IN, dns.TTL, "172.18.0.2")
    assert dns.TTL == 1


def test_stopped_containers_have_no_name(view: dns.View) -> None:
    """With a liveness check (the engine's), a stopped container is not answered:
    its name is forwarded, as Docker removes it at stop; an alias keeps the rest."""

    def alive(cid: str) -> bool:
        return cid != A_ID

    q = w.Question("web", w.A)
    assert dns.decide(view, q, "172.18.0.3", GW1, alive=alive) == dns.FORWARD
    answer = dns.decide(view, w.Question("app", w.A), "172.18.0.3", GW1, alive=alive)
    assert ips(answer) == ["172.18.0.3"]
    assert ips(dns.decide(view, q, "172.18.0.3", GW1, alive=lambda cid: True)) == ["172.18.0.2"]


def test_an_alias_of_several_containers_rotates(view: dns.View) -> None:
    assert sorted(ips(ask(view, "app"))) == ["172.18.0.2", "172.18.0.3"]
    firsts = {ips(ask(view, "app", rotate=n))[0] for n in range(4)}
    assert firsts == {"172.18.0.2", "172.18.0.3"}


def test_other_networks_are_not_answered(view: dns.View) -> None:
    # "other" is on net2 only; db (172.18.0.3) is on net1 only: forwarded, not answered
    assert ask(view, "other") == dns.FORWARD
    assert ask(view, "other.net2") == dns.FORWARD
    assert ask(view, "lone") == dns.FORWARD
    assert ask(view, "plain") == dns.FORWARD  # the default bridge has no names
    # web on net1 and net2 sees names on both, its receiving network's first
    assert ips(ask(view, "other", src="172.18.0.2")) == ["172.19.0.2"]
    assert ips(ask(view, "web", src="172.18.0.2")) == ["172.18.0.2"]
    assert ips(ask(view, "web", src="172.19.0.3", local=GW2)) == ["172.19.0.3"]
    assert ips(ask(view, "web.net2", src="172.18.0.2")) == ["172.19.0.3"]
    # other (net2) sees web's net2 address and not db
    assert ips(ask(view, "web", src="172.19.0.2", local=GW2)) == ["172.19.0.3"]
    assert ask(view, "db", src="172.19.0.2", local=GW2) == dns.FORWARD


def test_who_may_ask(view: dns.View) -> None:
    refused = dns.Answer(w.REFUSED)
    assert ask(view, "web", src="172.17.0.2") == refused  # default bridge -> net1's gateway
    assert ask(view, "web", src="172.19.0.2") == refused  # another network
    assert ask(view, "web", src="192.0.2.7") == refused  # anyone routing to us
    assert ask(view, "web", src="172.17.0.2", local=GW_DEF) == refused  # no DNS there
    assert ask(view, "web", local="10.9.9.9") == refused
    # the host itself (its queries to the gateway come from the gateway) sees net1
    assert ips(ask(view, "web", src=GW1)) == ["172.18.0.2"]
    # a source in the subnet that no endpoint has (not recorded yet): net1's names
    assert ips(ask(view, "db", src="172.18.9.9")) == ["172.18.0.3"]
    # the host from another of its addresses (masqueraded, or loopback): net1's names
    for src in ("192.0.2.2", "127.0.0.1"):
        answer = dns.decide(view, w.Question("db", w.A), src, GW1, from_host=True)
        assert ips(answer) == ["172.18.0.3"]
        assert dns.decide(view, w.Question("x.org", w.A), src, GW1, from_host=True) == dns.FORWARD
    assert dns.decide(view, w.Question("db", w.A), "192.0.2.2", "10.9.9.9", from_host=True) == (
        refused
    )  # still only on our gateways


def test_host_addresses(tmp_path: Path) -> None:
    trie = tmp_path / "fib_trie"
    trie.write_text(
        "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n"
        "     +-- 127.0.0.0/8 2 0 2\n           |-- 127.0.0.1\n              /32 host LOCAL\n"
        "        |-- 127.255.255.255\n           /32 link BROADCAST\n"
        "           |-- 192.0.2.0\n              /24 link UNICAST\n"
        "           |-- 192.0.2.2\n              /32 host LOCAL\n"
        "Local:\n           |-- 192.0.2.2\n              /32 host LOCAL\n"
    )
    inet6 = tmp_path / "if_inet6"
    inet6.write_text(
        "fd000000000000000000000000000002 04 40 00 82     eth0\n"
        "00000000000000000000000000000001 01 80 10 80       lo\n"
    )
    assert dns.host_addresses(str(trie), str(inet6)) == {"127.0.0.1", "192.0.2.2", "fd00::2", "::1"}
    assert dns.host_addresses(str(tmp_path / "no"), str(tmp_path / "no")) == frozenset()
    assert dns.is_loopback("127.0.0.53") and dns.is_loopback("::1")
    assert not dns.is_loopback("172.18.0.1")


def test_other_types_of_a_known_name(view: dns.View) -> None:
    assert ips(ask(view, "web", w.AAAA)) == []  # NOERROR, no records: not NXDOMAIN
    assert ips(ask(view, "web", w.MX)) == []
    assert ips(ask(view, "web", w.ANY)) == ["172.18.0.2"]


def test_ptr(view: dns.View) -> None:
    answer = ask(view, "2.0.18.172.in-addr.arpa", w.PTR)
    assert isinstance(answer, dns.Answer)
    assert answer.records == (w.Record("2.0.18.172.in-addr.arpa", w.PTR, w.IN, 1, "web.net1"),)
    assert ask(view, "9.9.18.172.in-addr.arpa", w.PTR) == dns.Answer(w.NXDOMAIN)
    assert ask(view, "2.0.19.172.in-addr.arpa", w.PTR) == dns.FORWARD  # not the asker's net
    assert ips(ask(view, "3.0.19.172.in-addr.arpa", w.PTR, src="172.18.0.2")) == ["web.net2"]
    assert ask(view, "1.2.0.192.in-addr.arpa", w.PTR) == dns.FORWARD
    assert ask(view, "18.172.in-addr.arpa", w.PTR) == dns.FORWARD


def test_internal_networks_do_not_forward(view: dns.View) -> None:
    lone = {"src": "172.20.0.2", "local": GW_INT}
    assert ips(ask(view, "lone", **lone)) == ["172.20.0.2"]  # type: ignore[arg-type]
    assert ask(view, "example.org", **lone) == dns.Answer(w.SERVFAIL)  # type: ignore[arg-type]


def test_unknown_names_are_forwarded(view: dns.View) -> None:
    assert ask(view, "example.org") == dns.FORWARD
    assert ask(view, "nosuchname") == dns.FORWARD  # single labels too, as Docker does


def test_view_tolerates_missing_tables_and_odd_rows() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    assert dns.load_view(conn).user_networks == ()
    make_db(conn)
    add_network(conn, "n1" * 32, "net1", "172.18.0.0/16", GW1)
    add_endpoint(conn, "n1" * 32, A_ID, "172.18.0.2/16", ("x",))  # no container row, a prefix
    conn.execute("INSERT INTO endpoints VALUES (?,?,?,?,?,?)",
                 ("n1" * 32, B_ID, "", "", "not json", "eth0"))  # fmt: skip
    v = dns.load_view(conn)
    assert ips(dns.decide(v, w.Question("x", w.A), GW1, GW1)) == ["172.18.0.2"]
    assert ips(dns.decide(v, w.Question(A_ID[:12], w.A), GW1, GW1)) == ["172.18.0.2"]
    answer = dns.decide(v, w.Question("2.0.18.172.in-addr.arpa", w.PTR), GW1, GW1)
    assert ips(answer) == [f"{A_ID[:12]}.net1"]


# -- whole packets -----------------------------------------------------------------------


def query(name: str, qtype: int = w.A, *, mid: int = 77, edns: w.Edns | None = None) -> bytes:
    return w.encode(w.Message(mid, w.RD, questions=(w.Question(name, qtype),), edns=edns))


def test_handle_packet(view: dns.View) -> None:
    out = dns.handle_packet(view, query("web"), "172.18.0.3", GW1)
    assert isinstance(out, bytes)
    msg = w.parse(out)
    assert msg.id == 77 and msg.is_response and msg.flags & w.AA and msg.flags & w.RD
    assert msg.flags & w.RA and msg.rcode == w.NOERROR
    assert [r.data for r in msg.answers] == ["172.18.0.2"]
    fwd = dns.handle_packet(view, query("example.org"), "172.18.0.3", GW1)
    assert isinstance(fwd, dns.Forward) and fwd.data == query("example.org")
    refused = dns.handle_packet(view, query("web"), "10.0.0.1", GW1)
    assert isinstance(refused, bytes) and w.parse(refused).rcode == w.REFUSED


def test_handle_packet_odd_queries(view: dns.View) -> None:
    src = "172.18.0.3"

    def rcode(data: bytes) -> int:
        out = dns.handle_packet(view, data, src, GW1)
        assert isinstance(out, bytes)
        return w.parse(out).rcode

    assert dns.handle_packet(view, b"\x00\x01", src, GW1) is None  # runt
    response = w.encode(w.Message(1, w.QR, questions=(w.Question("web", w.A),)))
    assert dns.handle_packet(view, response, src, GW1) is None  # never answer answers
    assert rcode(query("web")[:-2]) == w.FORMERR
    notify = w.encode(w.Message(1, 4 << 11, questions=(w.Question("web", w.A),)))
    assert rcode(notify) == w.NOTIMP
    assert rcode(w.encode(w.Message(1, 0))) == w.FORMERR  # no question
    two = w.Message(1, 0, questions=(w.Question("web", w.A), w.Question("db", w.A)))
    assert rcode(w.encode(two)) == w.FORMERR
    assert rcode(query("web", edns=w.Edns(version=1))) == w.BADVERS
    chaos = w.encode(w.Message(1, 0, questions=(w.Question("version.bind", w.TXT, 3),)))
    assert rcode(chaos) == w.REFUSED


def test_forwarded_reply_fits_the_client() -> None:
    q = w.parse(query("big"))
    fwd = dns.Forward(q, query("big"))
    assert w.parse(dns.forwarded_reply(fwd, None)).rcode == w.SERVFAIL
    answers = tuple(w.Record("big", w.A, w.IN, 60, f"10.0.0.{i}") for i in range(40))
    big = w.encode(w.reply(q, answers=answers))
    assert len(big) > 512
    cut = w.parse(dns.forwarded_reply(fwd, big))
    assert cut.truncated and not cut.answers and cut.id == 77
    assert dns.forwarded_reply(fwd, big, tcp=True) == big


@given(st.binary(max_size=300))
@settings(max_examples=500)
def test_handle_packet_never_raises(data: bytes) -> None:
    dns.handle_packet(_FUZZ_VIEW, data, "172.18.0.3", GW1)


@given(st.data())
@settings(max_examples=500)
def test_handle_packet_never_raises_on_mutated_queries(data: st.DataObject) -> None:
    raw = bytearray(query(data.draw(st.sampled_from(["web", "2.0.18.172.in-addr.arpa", "x.org"])),
                          data.draw(st.sampled_from([w.A, w.AAAA, w.PTR, w.ANY])),
                          edns=data.draw(st.sampled_from([None, w.Edns()]))))  # fmt: skip
    for _ in range(data.draw(st.integers(1, 6))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    out = dns.handle_packet(_FUZZ_VIEW, bytes(raw), "172.18.0.3", GW1)
    if isinstance(out, bytes):
        w.parse(out)  # whatever we send is a well-formed message


def _fuzz_view() -> dns.View:
    conn = make_db(sqlite3.connect(":memory:", isolation_level=None))
    populate(conn)
    return dns.load_view(conn)


_FUZZ_VIEW = _fuzz_view()


# -- the state database ---------------------------------------------------------------


def test_state_db_follows_commits(tmp_path: Path) -> None:
    from dockyard._util.db import open_db

    path = tmp_path / "state.db"
    db = dns.StateDB(str(path))
    assert db.view().user_networks == ()  # no file yet
    writer = make_db(open_db(path))
    populate(writer)
    v1 = db.view()
    assert ips(dns.decide(v1, w.Question("web", w.A), "172.18.0.3", GW1)) == ["172.18.0.2"]
    assert db.view() is v1  # nothing committed since: the same view, no re-read
    writer.execute("UPDATE endpoints SET ip = '172.18.0.9' WHERE container_id = ?", (A_ID,))
    v2 = db.view()
    assert ips(dns.decide(v2, w.Question("web", w.A), "172.18.0.3", GW1)) == ["172.18.0.9"]
    writer.close()
    db.close()


# -- upstreams -------------------------------------------------------------------------------


def test_host_upstreams(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text(
        "# comment\nsearch example.org\nnameserver 127.0.0.53\nnameserver 10.0.0.1\n"
        "nameserver fe80::1%eth0\nnameserver bogus\nnameserver 10.0.0.1\noptions edns0\n"
    )
    assert dns_forward.host_upstreams(str(conf)) == (
        dns_forward.Upstream("127.0.0.53"),
        dns_forward.Upstream("10.0.0.1"),
        dns_forward.Upstream("fe80::1%eth0"),
    )
    assert dns_forward.host_upstreams(str(tmp_path / "missing")) == ()


def test_parse_upstream() -> None:
    assert dns_forward.parse_upstream("1.2.3.4") == dns_forward.Upstream("1.2.3.4", 53)
    assert dns_forward.parse_upstream("1.2.3.4:5353") == dns_forward.Upstream("1.2.3.4", 5353)
    assert dns_forward.parse_upstream("::1") == dns_forward.Upstream("::1", 53)
    assert dns_forward.parse_upstream("[::1]:5353") == dns_forward.Upstream("::1", 5353)
    assert str(dns_forward.Upstream("::1", 5353)) == "[::1]:5353"
    for bad in ("example.org", "1.2.3.4:0", "[::1", "1.2.3.4:99999", ""):
        with pytest.raises(ValueError):
            dns_forward.parse_upstream(bad)


# -- the forwarding client, against fake upstreams on loopback ---------------------------------

Handler = Callable[[w.Message, bool], bytes | None]


class FakeUpstream:
    """A DNS server on 127.0.0.1 (UDP and TCP, one port) in a thread. ``handler(query,
    tcp)`` returns the answer's bytes or None (no answer)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.port = self.udp.getsockname()[1]
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("127.0.0.1", self.port))
        self.tcp.listen(8)
        self.queries: list[tuple[str, bool]] = []
        self.stop = False
        self.threads = [threading.Thread(target=self._udp, daemon=True),
                        threading.Thread(target=self._tcp, daemon=True)]  # fmt: skip
        for t in self.threads:
            t.start()

    @property
    def upstream(self) -> dns_forward.Upstream:
        return dns_forward.Upstream("127.0.0.1", self.port)

    def _udp(self) -> None:
        self.udp.settimeout(0.1)
        while not self.stop:
            try:
                data, addr = self.udp.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            q = w.parse(data)
            self.queries.append((q.questions[0].name, False))
            out = self.handler(q, False)
            if out is not None:
                self.udp.sendto(out, addr)

    def _tcp(self) -> None:
        self.tcp.settimeout(0.1)
        while not self.stop:
            try:
                conn, _ = self.tcp.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                n = struct.unpack("!H", conn.recv(2))[0]
                data = b""
                while len(data) < n:
                    data += conn.recv(n - len(data))
                q = w.parse(data)
                self.queries.append((q.questions[0].name, True))
                out = self.handler(q, True)
                if out is not None:
                    conn.sendall(struct.pack("!H", len(out)) + out)

    def close(self) -> None:
        self.stop = True
        for t in self.threads:
            t.join()
        self.udp.close()
        self.tcp.close()


@pytest.fixture
def upstreams() -> Iterator[Callable[[Handler], FakeUpstream]]:
    made: list[FakeUpstream] = []

    def make(handler: Handler) -> FakeUpstream:
        made.append(FakeUpstream(handler))
        return made[-1]

    yield make
    for u in made:
        u.close()


def answer_with(address: str, rcode: int = w.NOERROR) -> Handler:
    def handler(q: w.Message, tcp: bool) -> bytes:
        rrs = () if rcode else (w.Record(q.questions[0].name, w.A, w.IN, 30, address),)
        return w.encode(w.reply(q, rcode, rrs))

    return handler


def a_of(answer: bytes | None) -> list[str]:
    assert answer is not None
    return [str(r.data) for r in w.parse(answer).answers]


def test_forward_udp(upstreams: Callable[[Handler], FakeUpstream]) -> None:
    up = upstreams(answer_with("198.51.100.7"))
    answer = dns_forward.forward(query("example.org", mid=4242), [up.upstream])
    assert answer is not None and w.parse(answer).id == 4242  # the client's id again
    assert a_of(answer) == ["198.51.100.7"]
    assert up.queries == [("example.org", False)]


def test_forward_falls_back_to_tcp_when_truncated(
    upstreams: Callable[[Handler], FakeUpstream],
) -> None:
    def handler(q: w.Message, tcp: bool) -> bytes:
        if not tcp:
            r = w.reply(q)
            return w.encode(r._replace(flags=r.flags | w.TC))
        rrs = tuple(w.Record("big.example", w.A, w.IN, 30, f"10.1.0.{i}") for i in range(50))
        return w.encode(w.reply(q, answers=rrs))

    up = upstreams(handler)
    answer = dns_forward.forward(query("big.example"), [up.upstream])
    assert len(a_of(answer)) == 50
    assert up.queries == [("big.example", False), ("big.example", True)]


def test_forward_next_server_on_timeout_refusal_and_servfail(
    upstreams: Callable[[Handler], FakeUpstream],
) -> None:
    silent = upstreams(lambda q, tcp: None)
    failing = upstreams(answer_with("", w.SERVFAIL))
    good = upstreams(answer_with("198.51.100.8"))
    closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    closed.bind(("127.0.0.1", 0))
    refused = dns_forward.Upstream("127.0.0.1", closed.getsockname()[1])
    closed.close()  # nothing listens there now: ICMP port unreachable
    t0 = time.monotonic()
    ups = [refused, silent.upstream, failing.upstream, good.upstream]
    answer = dns_forward.forward(query("example.org"), ups, timeout=0.3)
    assert a_of(answer) == ["198.51.100.8"]
    assert 0.3 <= time.monotonic() - t0 < 1.5
    # all servers failing: the last SERVFAIL is passed on; none answering: None
    last = dns_forward.forward(query("example.org"), [failing.upstream], timeout=0.3)
    assert last is not None and w.parse(last).rcode == w.SERVFAIL
    assert dns_forward.forward(query("example.org"), [silent.upstream], timeout=0.2) is None
    assert dns_forward.forward(query("example.org"), [], timeout=0.2) is None


def test_forward_ignores_answers_that_do_not_match(
    upstreams: Callable[[Handler], FakeUpstream],
) -> None:
    def handler(q: w.Message, tcp: bool) -> bytes:
        wrong = w.reply(q, answers=(w.Record("evil", w.A, w.IN, 1, "6.6.6.6"),))
        return w.encode(wrong._replace(questions=(w.Question("evil", w.A),)))

    up = upstreams(handler)
    assert dns_forward.forward(query("example.org"), [up.upstream], timeout=0.3) is None
