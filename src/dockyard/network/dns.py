"""The embedded DNS: who may ask, what the answer is, and forwarding the rest.

Docker gives every container on a user-defined network a resolver (127.0.0.11
inside the container) that knows the containers around it. Ours listens on each
user network's gateway address (:mod:`dockyard.network.dns_server` runs it; the
container's /etc/resolv.conf says ``nameserver <gateway>``). This module is the
server's logic, free of sockets except the forwarding client:

- :class:`View`: the networks and endpoints as the state database holds them,
  indexed for lookups; :class:`StateDB` keeps one current, re-reading the tables
  only when another connection has committed (``PRAGMA data_version``, a few
  microseconds per query), so an answer always reflects the last commit: a
  restarted container's new address is answered as soon as it is recorded.
- :func:`decide`: one question from one source address, received on one gateway
  -> a local answer, or "forward".
- :func:`handle_packet`: bytes in -> bytes out, or a :class:`Forward` request, or
  nothing (responses and runts are dropped).
- forwarding lives in :mod:`dockyard.network.dns_forward`.

Who may ask, and which names they see
    A query is served only when its source address lies in the subnet of the
    network whose gateway received it (its containers), or is one of the host's
    own addresses (the host itself: its queries to the gateway come from the
    gateway, or from the uplink's address once the engine's masquerade rule has
    rewritten them). Anyone else (a container on another network or on the
    default bridge, a remote host routing to the gateway) gets REFUSED: the server
    is no open resolver. The asking container (the endpoint with the source
    address on that network) sees the names of every user-defined network it is
    attached to, as with Docker, the receiving network's first; a source that is
    no endpoint (the host, or a container whose endpoint is not recorded yet)
    sees that network's names.

Names
    On each such network, a container answers to its name, its short id (12 hex
    digits) and its aliases on that network (``--network-alias``, compose service
    names), and to ``NAME.NETWORK`` (Docker's form to pick the network). Case does
    not matter. Several containers with one alias all answer, rotated per query
    (Docker's DNS round robin). An endpoint without an address is not resolvable.
    A known name answers A (AAAA for IPv6 endpoints); other types get an empty
    NOERROR answer (so a resolver asking A and AAAA in parallel, as musl does,
    takes the A). ``d.c.b.a.in-addr.arpa`` of a container address answers PTR
    ``NAME.NETWORK`` (Docker's form); an address in the networks' subnets that no
    container holds is NXDOMAIN; any other name is forwarded, single labels too,
    as Docker does. On the default ``bridge`` network there is no name
    resolution at all (Docker's behaviour: its containers get the host's
    resolv.conf), and the server does not listen on its gateway.

TTL
    Local answers carry a TTL of 1 s, not Docker's 600. A caching resolver in a
    container (nscd, dnsmasq, a JVM, nginx's resolver) would otherwise keep a
    restarted container's old address for ten minutes; the promise here is the
    new address within a second. Stub resolvers (glibc, musl, busybox) do not
    cache, so the only cost is a query per lookup, which is a local SQLite read.

Forwarding
    Names that are not containers go to the nameservers of the host's
    /etc/resolv.conf and nowhere else (a loopback one like 127.0.0.53 works: the
    server runs on the host). A container attached only to ``--internal``
    networks gets SERVFAIL instead (Docker does not forward for them either).
    A container's own ``--dns`` servers replace the host's for its queries (the
    engine tells them: :mod:`dockyard.engine.dns_service`), as Docker does.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
from typing import NamedTuple

from dockyard.network import dns_wire as w

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    #: container id -> whether it runs (the engine knows how to tell; this layer not)
    Liveness = Callable[[str], bool]
    #: container id -> its own ``--dns`` servers ("IP[:PORT]"), the upstreams for its
    #: forwarded queries in place of the host's (Docker's behaviour)
    OwnDns = Callable[[str], Sequence[str]]

TTL = 1

# -- addresses -------------------------------------------------------------------------


def canonical_ip(text: str | None) -> str | None:
    """``"172.18.0.2"`` (a ``/prefix`` dropped, IPv6 compressed), None if no address."""
    if not text:
        return None
    text = text.split("/", 1)[0].strip()
    family = socket.AF_INET6 if ":" in text else socket.AF_INET
    try:
        return socket.inet_ntop(family, socket.inet_pton(family, text))
    except (OSError, ValueError):
        return None


def _ip_int(ip: str) -> tuple[int, int] | None:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    try:
        raw = socket.inet_pton(family, ip)
    except (OSError, ValueError):
        return None
    return len(raw) * 8, int.from_bytes(raw, "big")


def in_subnet(ip: str, subnet: str | None) -> bool:
    """``ip`` lies in ``subnet`` (``"172.18.0.0/16"``)."""
    if not subnet or "/" not in subnet:
        return False
    base, _, plen = subnet.partition("/")
    a, b = _ip_int(ip), _ip_int(base)
    if a is None or b is None or a[0] != b[0] or not plen.isdigit():
        return False
    bits = a[0]
    prefix = int(plen)
    if prefix > bits:
        return False
    shift = bits - prefix
    return (a[1] >> shift) == (b[1] >> shift)


def host_addresses(
    fib_trie: str = "/proc/net/fib_trie", if_inet6: str = "/proc/net/if_inet6"
) -> frozenset[str]:
    """The host's own addresses (the local IPv4 ones of every routing table, every
    IPv6 one). Packets from outside with such a source are dropped by the kernel
    (martians), so a query from one of these comes from the host itself."""
    out: set[str] = set()
    try:
        with open(fib_trie) as f:
            last = ""
            for line in f:
                stripped = line.strip()
                if stripped.startswith("|-- "):
                    last = stripped[4:]
                elif stripped == "/32 host LOCAL" and last:
                    out.add(last)
    except OSError:
        pass
    try:
        with open(if_inet6) as f:
            for line in f:
                hexaddr = line.split()[0] if line.strip() else ""
                if len(hexaddr) == 32:
                    out.add(socket.inet_ntop(socket.AF_INET6, bytes.fromhex(hexaddr)))
    except (OSError, ValueError):
        pass
    return frozenset(out)


def is_loopback(ip: str) -> bool:
    return ip.startswith("127.") or ip == "::1"


# -- the view ------------------------------------------------------------------------


class Network(NamedTuple):
    id: str
    name: str
    subnet: str
    gateway: str  # canonical, "" if none
    bridge: str
    internal: bool = False
    is_default: bool = False


class Endpoint(NamedTuple):
    network_id: str
    container_id: str
    container_name: str  # "" if the container has no record
    ip: str  # canonical, "" if none
    aliases: tuple[str, ...] = ()


class View:
    """Networks and endpoints, indexed. Immutable once built."""

    def __init__(self, networks: Iterable[Network] = (), endpoints: Iterable[Endpoint] = ()):
        self.networks = tuple(networks)
        self.endpoints = tuple(endpoints)
        nets = {n.id: n for n in self.networks}
        #: user-defined networks with a gateway: the ones the server listens on
        self.user_networks = tuple(n for n in self.networks if not n.is_default and n.gateway)
        self.by_gateway = {n.gateway: n for n in self.user_networks}
        self._names: dict[str, dict[str, list[str]]] = {}
        self._by_ip: dict[tuple[str, str], Endpoint] = {}
        self._networks_of: dict[str, list[str]] = {}
        for ep in self.endpoints:
            net = nets.get(ep.network_id)
            if net is None or net.is_default or not ep.ip:
                continue
            self._by_ip.setdefault((net.id, ep.ip), ep)
            self._networks_of.setdefault(ep.container_id, []).append(net.id)
            names = self._names.setdefault(net.id, {})
            keys = {w.name_key(a) for a in ep.aliases if a}
            if ep.container_name:
                keys.add(w.name_key(ep.container_name))
            if len(ep.container_id) >= 12:
                keys.add(ep.container_id[:12].lower())
            for key in keys:
                ips = names.setdefault(key, [])
                if ep.ip not in ips:
                    ips.append(ep.ip)
        self._nets = nets

    def asker_networks(self, received_on: Network, src: str) -> list[Network]:
        """The networks whose names ``src`` sees (see the module docstring)."""
        ep = self._by_ip.get((received_on.id, src))
        out = [received_on]
        if ep is not None:
            for nid in self._networks_of.get(ep.container_id, ()):
                net = self._nets[nid]
                if net not in out:
                    out.append(net)
        return out

    def container_at(self, gateway: str, src: str) -> str | None:
        """The id of the container that holds ``src`` on the network of ``gateway``."""
        net = self.by_gateway.get(gateway)
        ep = None if net is None else self._by_ip.get((net.id, src))
        return None if ep is None else ep.container_id

    def lookup(
        self, networks: Sequence[Network], key: str, alive: Liveness | None = None
    ) -> list[str]:
        """Addresses of ``key`` (a :func:`dns_wire.name_key`) on the first network of
        ``networks`` that knows it; ``NAME.NETWORK`` picks the network. ``alive``
        (container id -> runs?) leaves out stopped containers, as Docker does."""
        for net in networks:
            ips = self._live(net, self._names.get(net.id, {}).get(key), alive)
            if ips:
                return ips
        for net in networks:
            suffix = "." + w.name_key(net.name)
            if key.endswith(suffix) and len(key) > len(suffix):
                ips = self._live(net, self._names.get(net.id, {}).get(key[: -len(suffix)]), alive)
                if ips:
                    return ips
        return []

    def _live(self, net: Network, ips: list[str] | None, alive: Liveness | None) -> list[str]:
        if not ips or alive is None:
            return ips or []
        out = []
        for ip in ips:
            ep = self._by_ip.get((net.id, ip))
            if ep is None or alive(ep.container_id):
                out.append(ip)
        return out

    def reverse(self, networks: Sequence[Network], ip: str) -> str | None:
        """``NAME.NETWORK`` of the container holding ``ip`` on one of ``networks``."""
        for net in networks:
            ep = self._by_ip.get((net.id, ip))
            if ep is not None:
                name = ep.container_name or ep.container_id[:12]
                return f"{name}.{net.name}" if name else None
        return None


EMPTY_VIEW = View()


def _rows(conn: sqlite3.Connection, sql: str) -> list[dict[str, object]]:
    try:
        cur = conn.execute(sql)
    except sqlite3.OperationalError:  # the table is not there (yet)
        return []
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def _text(v: object) -> str:
    return v if isinstance(v, str) else ""


def _aliases(v: object) -> tuple[str, ...]:
    if isinstance(v, str) and v:
        try:
            v = json.loads(v)
        except ValueError:
            return ()
    if isinstance(v, list):
        return tuple(a for a in v if isinstance(a, str) and a)
    return ()


def load_view(conn: sqlite3.Connection) -> View:
    """Read the tables (one read transaction). Missing tables or columns read as
    empty: the networking schema may not exist yet."""
    conn.execute("BEGIN")
    try:
        net_rows = _rows(conn, "SELECT * FROM networks")
        ep_rows = _rows(conn, "SELECT * FROM endpoints")
        names = {
            _text(r.get("id")): _text(r.get("name"))
            for r in _rows(
                conn,
                "SELECT c.id AS id, c.name AS name FROM containers c"
                " WHERE c.id IN (SELECT container_id FROM endpoints)",
            )
        }
    finally:
        conn.execute("COMMIT")
    networks = [
        Network(
            id=_text(r.get("id")),
            name=_text(r.get("name")),
            subnet=_text(r.get("subnet")),
            gateway=canonical_ip(_text(r.get("gateway"))) or "",
            bridge=_text(r.get("bridge")),
            internal=bool(r.get("internal")),
            is_default=bool(r.get("is_default")),
        )
        for r in net_rows
    ]
    endpoints = []
    for r in ep_rows:
        cid = _text(r.get("container_id"))
        endpoints.append(
            Endpoint(
                network_id=_text(r.get("network_id")),
                container_id=cid,
                container_name=names.get(cid, "").lstrip("/"),
                ip=canonical_ip(_text(r.get("ip"))) or "",
                aliases=_aliases(r.get("aliases")),
            )
        )
    return View(networks, endpoints)


class StateDB:
    """The engine's state.db, read-only, as a current :class:`View`."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._version: int | None = None
        self._view = EMPTY_VIEW

    def _connect(self) -> sqlite3.Connection | None:
        if self._conn is None:
            if not os.path.exists(self.path):
                return None
            quoted = self.path.replace("%", "%25").replace("?", "%3f").replace("#", "%23")
            try:
                self._conn = sqlite3.connect(
                    f"file:{quoted}?mode=ro",
                    uri=True,
                    timeout=1.0,
                    isolation_level=None,
                    check_same_thread=False,
                )
                # the few rows read here need no 2 MB page cache (SQLite's default):
                # it would be most of the server's memory
                self._conn.execute("PRAGMA cache_size = -128")
            except sqlite3.Error:
                self.close()
                return None
            self._version = None
        return self._conn

    def view(self) -> View:
        """The view as of the last commit. On a database error, the last good view."""
        conn = self._connect()
        if conn is None:
            return self._view
        try:
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            if version != self._version:
                self._view = load_view(conn)
                self._version = version
        except sqlite3.Error:
            self.close()
        return self._view

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


# -- deciding --------------------------------------------------------------------------


class Answer(NamedTuple):
    rcode: int
    records: tuple[w.Record, ...] = ()


class Forward(NamedTuple):
    """Ask the host's resolvers: ``data`` is the query as received."""

    query: w.Message
    data: bytes


FORWARD = "forward"  # decide()'s other result


def _rotated(items: list[str], n: int) -> list[str]:
    if len(items) < 2:
        return items
    k = n % len(items)
    return items[k:] + items[:k]


def decide(
    view: View,
    q: w.Question,
    src: str,
    local: str,
    *,
    rotate: int = 0,
    from_host: bool = False,
    alive: Liveness | None = None,
) -> Answer | str:
    """The answer to ``q`` from ``src`` received on gateway ``local``, or
    :data:`FORWARD`. Both addresses canonical (:func:`canonical_ip`); ``from_host``:
    ``src`` is one of the host's own addresses (:func:`host_addresses`)."""
    net = view.by_gateway.get(local)
    if net is None or not (from_host or in_subnet(src, net.subnet)):
        return Answer(w.REFUSED)
    networks = view.asker_networks(net, src)
    may_forward = not all(n.internal for n in networks)
    key = w.name_key(q.name)
    if key.endswith((".in-addr.arpa", ".ip6.arpa")):
        address = w.reverse_address(q.name)
        if address is not None:
            target = view.reverse(networks, address)
            if target is not None:
                if q.qtype in (w.PTR, w.ANY):
                    return Answer(w.NOERROR, (w.Record(q.name, w.PTR, w.IN, TTL, target),))
                return Answer(w.NOERROR)
            if any(in_subnet(address, n.subnet) for n in networks):
                return Answer(w.NXDOMAIN)
        return FORWARD if may_forward else Answer(w.SERVFAIL)
    ips = view.lookup(networks, key, alive)
    if not ips:
        return FORWARD if may_forward else Answer(w.SERVFAIL)
    want = []
    if q.qtype in (w.A, w.ANY):
        want.append((w.A, [ip for ip in ips if ":" not in ip]))
    if q.qtype in (w.AAAA, w.ANY):
        want.append((w.AAAA, [ip for ip in ips if ":" in ip]))
    records = tuple(
        w.Record(q.name, rtype, w.IN, TTL, ip)
        for rtype, group in want
        for ip in _rotated(group, rotate)
    )
    return Answer(w.NOERROR, records)


def handle_packet(
    view: View,
    data: bytes,
    src: str,
    local: str,
    *,
    tcp: bool = False,
    rotate: int = 0,
    from_host: bool = False,
    alive: Liveness | None = None,
) -> bytes | Forward | None:
    """One query's bytes -> the response's bytes, a :class:`Forward` (the caller
    forwards and sends the answer with :func:`forwarded_reply`), or None (not a query:
    drop it). Never raises for any ``data``."""
    try:
        query = w.parse(data)
    except w.WireError:
        return w.error_reply(data, w.FORMERR)
    if query.is_response:
        return None
    limit = w.MAX_MESSAGE if tcp else w.udp_limit(query)
    if query.opcode != w.OPCODE_QUERY:
        return w.encode(w.reply(query, w.NOTIMP), limit)
    if len(query.questions) != 1:
        return w.encode(w.reply(query, w.FORMERR), limit)
    if query.edns is not None and query.edns.version != 0:
        return w.encode(w.reply(query, w.BADVERS), limit)
    q = query.questions[0]
    if q.qclass not in (w.IN, w.CLASS_ANY):
        return w.encode(w.reply(query, w.REFUSED), limit)
    result = decide(view, q, src, local, rotate=rotate, from_host=from_host, alive=alive)
    if isinstance(result, str):
        return Forward(query, data)
    return w.encode(
        w.reply(query, result.rcode, result.records, authoritative=result.rcode != w.REFUSED),
        limit,
    )


def forwarded_reply(fwd: Forward, answer: bytes | None, *, tcp: bool = False) -> bytes:
    """What to send the client for an upstream's ``answer`` (None: SERVFAIL); an answer
    too long for the client's UDP limit becomes an empty one with TC set."""
    query = fwd.query
    if answer is None:
        return w.encode(w.reply(query, w.SERVFAIL))
    if not tcp and len(answer) > w.udp_limit(query):
        empty = w.reply(query)
        return w.encode(empty._replace(flags=empty.flags | w.TC))
    return answer


# -- upstreams -----------------------------------------------------------------------
