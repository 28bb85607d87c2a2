"""Networks, their endpoints and published ports in the state database.

The ``networks`` and ``endpoints`` tables (owner ``networks``) are a contract: the
embedded DNS server reads them, so their columns stay exactly as below.

- ``networks``: one row per network Dockyard made (the default ``bridge`` has
  ``is_default`` 1; ``host`` and ``none`` have no row). ``labels`` and ``options``
  are JSON objects; ``bridge`` is the Linux bridge's name.
- ``endpoints``: one row per (network, container) from ``create`` (or ``network
  connect``) to ``rm`` (or ``disconnect``); ``ip`` is unique per network; ``aliases``
  is a JSON list of the extra names (``--network-alias``), not the container's name;
  ``ifname`` is the interface inside the container (``eth0``...).
- ``published_ports`` (owner ``published_ports``): the host side actually bound for
  a container's ``-p``/``-P`` while it runs (a random port resolved).
"""

from __future__ import annotations

from dockyard._util import jsonlite as json
from dockyard._util.db import IntegrityError, Transaction, ensure_schema
from dockyard._util.record import Record
from dockyard.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from dockyard.network.published import Published

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from dockyard._util.db import Connection

OWNER = "networks"
VERSION = 1
DDL = """
CREATE TABLE IF NOT EXISTS networks (
    id TEXT PRIMARY KEY,
    name TEXT UNIQUE NOT NULL,
    driver TEXT NOT NULL,
    subnet TEXT NOT NULL,
    gateway TEXT NOT NULL,
    ip_range TEXT NOT NULL DEFAULT '',
    bridge TEXT NOT NULL,
    internal INTEGER NOT NULL,
    labels TEXT NOT NULL,
    options TEXT NOT NULL,
    created TEXT NOT NULL,
    is_default INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS endpoints (
    network_id TEXT NOT NULL,
    container_id TEXT NOT NULL,
    ip TEXT NOT NULL,
    mac TEXT NOT NULL,
    aliases TEXT NOT NULL,
    ifname TEXT NOT NULL,
    PRIMARY KEY (network_id, container_id),
    UNIQUE (network_id, ip)
);
CREATE INDEX IF NOT EXISTS endpoints_by_container ON endpoints (container_id)
"""

PORTS_OWNER = "published_ports"
PORTS_VERSION = 1
PORTS_DDL = """
CREATE TABLE IF NOT EXISTS published_ports (
    container_id TEXT NOT NULL,
    proto TEXT NOT NULL,
    host_ip TEXT NOT NULL,
    host_port INTEGER NOT NULL,
    container_port INTEGER NOT NULL,
    PRIMARY KEY (proto, host_ip, host_port)
);
CREATE INDEX IF NOT EXISTS published_by_container ON published_ports (container_id)
"""


class NetworkRecord(Record):
    """A network's row (``labels``/``options`` as sorted pairs)."""

    __slots__ = (  # noqa: RUF023 (field order: the constructor's)
        "id",
        "name",
        "driver",
        "subnet",
        "gateway",
        "bridge",
        "internal",
        "created",
        "ip_range",
        "labels",
        "options",
        "is_default",
    )
    id: str
    name: str
    driver: str
    subnet: str
    gateway: str
    bridge: str
    internal: bool
    created: str
    ip_range: str
    labels: tuple[tuple[str, str], ...]
    options: tuple[tuple[str, str], ...]
    is_default: bool

    def __init__(
        self,
        id: str,
        name: str,
        driver: str,
        subnet: str,
        gateway: str,
        bridge: str,
        internal: bool,
        created: str,
        ip_range: str = "",
        labels: tuple[tuple[str, str], ...] = (),
        options: tuple[tuple[str, str], ...] = (),
        is_default: bool = False,
    ) -> None:
        self._set(
            id=id,
            name=name,
            driver=driver,
            subnet=subnet,
            gateway=gateway,
            bridge=bridge,
            internal=internal,
            created=created,
            ip_range=ip_range,
            labels=labels,
            options=options,
            is_default=is_default,
        )

    @property
    def prefixlen(self) -> int:
        return int(self.subnet.split("/")[1])


class Endpoint(Record):
    __slots__ = ("network_id", "container_id", "ip", "mac", "ifname", "aliases")  # noqa: RUF023
    network_id: str
    container_id: str
    ip: str
    mac: str
    ifname: str
    aliases: tuple[str, ...]

    def __init__(
        self,
        network_id: str,
        container_id: str,
        ip: str,
        mac: str,
        ifname: str,
        aliases: tuple[str, ...] = (),
    ) -> None:
        self._set(
            network_id=network_id,
            container_id=container_id,
            ip=ip,
            mac=mac,
            ifname=ifname,
            aliases=aliases,
        )


_NET_COLS = (
    "id, name, driver, subnet, gateway, ip_range, bridge, internal, labels, options, "
    "created, is_default"
)
_NET_COLS_N = ", ".join(f"n.{c.strip()}" for c in _NET_COLS.split(","))


def _network(row: Sequence[object]) -> NetworkRecord:
    (nid, name, driver, subnet, gateway, ip_range, bridge, internal, labels, options,
     created, is_default) = row  # fmt: skip
    return NetworkRecord(
        id=str(nid),
        name=str(name),
        driver=str(driver),
        subnet=str(subnet),
        gateway=str(gateway),
        ip_range=str(ip_range),
        bridge=str(bridge),
        internal=bool(internal),
        labels=tuple(sorted(json.loads(str(labels)).items())),
        options=tuple(sorted(json.loads(str(options)).items())),
        created=str(created),
        is_default=bool(is_default),
    )


def _endpoint(row: Sequence[object]) -> Endpoint:
    nid, cid, ip, mac, aliases, ifname = row
    return Endpoint(
        str(nid), str(cid), str(ip), str(mac), str(ifname), tuple(json.loads(str(aliases)))
    )


class NetworkStore:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        ensure_schema(conn, OWNER, VERSION, DDL)
        ensure_schema(conn, PORTS_OWNER, PORTS_VERSION, PORTS_DDL)

    def transaction(self) -> Transaction:
        return Transaction(self.conn)

    # -- networks ------------------------------------------------------------------
    def add(self, n: NetworkRecord) -> None:
        try:
            self.conn.execute(
                f"INSERT INTO networks ({_NET_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    n.id,
                    n.name,
                    n.driver,
                    n.subnet,
                    n.gateway,
                    n.ip_range,
                    n.bridge,
                    int(n.internal),
                    json.dumps(dict(n.labels)),
                    json.dumps(dict(n.options)),
                    n.created,
                    int(n.is_default),
                ),
            )
        except IntegrityError:
            raise AlreadyExists(f"network with name {n.name} already exists")

    def all(self) -> list[NetworkRecord]:
        rows = self.conn.execute(f"SELECT {_NET_COLS} FROM networks ORDER BY created, name")
        return [_network(r) for r in rows]

    def by_name(self, name: str) -> NetworkRecord | None:
        row = self.conn.execute(
            f"SELECT {_NET_COLS} FROM networks WHERE name = ?", (name,)
        ).fetchone()
        return _network(row) if row else None

    def default(self) -> NetworkRecord | None:
        row = self.conn.execute(f"SELECT {_NET_COLS} FROM networks WHERE is_default = 1").fetchone()
        return _network(row) if row else None

    def find(self, ref: str) -> NetworkRecord:
        """Docker's lookup: full id, then exact name, then a unique id prefix."""
        if not ref:
            raise InvalidArgument("invalid network name: empty")
        row = self.conn.execute(f"SELECT {_NET_COLS} FROM networks WHERE id = ?", (ref,)).fetchone()
        if row is None:
            row = self.conn.execute(
                f"SELECT {_NET_COLS} FROM networks WHERE name = ?", (ref,)
            ).fetchone()
        if row is not None:
            return _network(row)
        if all(c in "0123456789abcdef" for c in ref):
            rows = self.conn.execute(
                f"SELECT {_NET_COLS} FROM networks WHERE id LIKE ?", (ref + "%",)
            ).fetchall()
            if len(rows) == 1:
                return _network(rows[0])
            if len(rows) > 1:
                raise Conflict(
                    f"network {ref} is ambiguous ({len(rows)} matches found based on ID prefix)"
                )
        raise NotFound(f"network {ref} not found")

    def remove(self, network_id: str) -> None:
        self.conn.execute("DELETE FROM networks WHERE id = ?", (network_id,))

    # -- endpoints -----------------------------------------------------------------
    def endpoints(
        self, *, network_id: str | None = None, container_id: str | None = None
    ) -> list[Endpoint]:
        q = "SELECT network_id, container_id, ip, mac, aliases, ifname FROM endpoints"
        where: list[str] = []
        args: list[str] = []
        if network_id is not None:
            where.append("network_id = ?")
            args.append(network_id)
        if container_id is not None:
            where.append("container_id = ?")
            args.append(container_id)
        if where:
            q += " WHERE " + " AND ".join(where)
        q += " ORDER BY rowid"
        return [_endpoint(r) for r in self.conn.execute(q, args)]

    def endpoints_with_networks(self, container_id: str) -> list[tuple[NetworkRecord, Endpoint]]:
        """The container's endpoints (in the order they were made) with their networks,
        in one query (a start asks several times)."""
        rows = self.conn.execute(
            f"SELECT {_NET_COLS_N}, e.network_id, e.container_id, e.ip, e.mac, e.aliases, e.ifname "
            "FROM endpoints e JOIN networks n ON n.id = e.network_id "
            "WHERE e.container_id = ? ORDER BY e.rowid",
            (container_id,),
        )
        return [(_network(r[:12]), _endpoint(r[12:])) for r in rows]

    def has_endpoints(self, network_id: str) -> bool:
        """Whether any container has an endpoint on the network."""
        row = self.conn.execute(
            "SELECT 1 FROM endpoints WHERE network_id = ? LIMIT 1", (network_id,)
        ).fetchone()
        return row is not None

    def add_endpoint(self, ep: Endpoint) -> None:
        try:
            self.conn.execute(
                "INSERT INTO endpoints (network_id, container_id, ip, mac, aliases, ifname) "
                "VALUES (?,?,?,?,?,?)",
                (
                    ep.network_id,
                    ep.container_id,
                    ep.ip,
                    ep.mac,
                    json.dumps(list(ep.aliases)),
                    ep.ifname,
                ),
            )
        except IntegrityError:
            raise Conflict("Address already in use", hint=f"{ep.ip} is taken on that network")

    def remove_endpoint(self, network_id: str, container_id: str) -> None:
        self.conn.execute(
            "DELETE FROM endpoints WHERE network_id = ? AND container_id = ?",
            (network_id, container_id),
        )

    def remove_endpoints_of(self, container_id: str) -> None:
        self.conn.execute("DELETE FROM endpoints WHERE container_id = ?", (container_id,))

    def containers_with_endpoints(self) -> set[str]:
        return {str(r[0]) for r in self.conn.execute("SELECT DISTINCT container_id FROM endpoints")}

    # -- published ports -----------------------------------------------------------
    def published(self, container_id: str | None = None) -> list[Published]:
        q = "SELECT container_id, proto, host_ip, host_port, container_port FROM published_ports"
        args: tuple[str, ...] = ()
        if container_id is not None:
            q += " WHERE container_id = ?"
            args = (container_id,)
        q += " ORDER BY rowid"
        return [
            Published(str(c), str(p), str(ip), int(hp), int(cp))
            for c, p, ip, hp, cp in self.conn.execute(q, args)
        ]

    def add_published(self, ports: Iterable[Published]) -> None:
        self.conn.executemany(
            "INSERT INTO published_ports (container_id, proto, host_ip, host_port, "
            "container_port) VALUES (?,?,?,?,?)",
            [(p.container_id, p.proto, p.host_ip, p.host_port, p.container_port) for p in ports],
        )

    def remove_published(self, container_id: str) -> None:
        self.conn.execute("DELETE FROM published_ports WHERE container_id = ?", (container_id,))
