"""Published ports as ``ps`` reads them: the record and the one query ``ps`` makes.

Apart from :mod:`dockyard.network.store` (which re-exports both) so that ``ps``,
on every call, imports these forty lines and not the store's five hundred.
"""

from __future__ import annotations

from dockyard._util.db import OperationalError
from dockyard._util.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard._util.db import Connection


class Published(Record):
    """One published port as bound on the host (``host_ip`` "" = every address)."""

    __slots__ = ("container_id", "proto", "host_ip", "host_port", "container_port")  # noqa: RUF023
    container_id: str
    proto: str
    host_ip: str
    host_port: int
    container_port: int

    def __init__(
        self, container_id: str, proto: str, host_ip: str, host_port: int, container_port: int
    ) -> None:
        self._set(
            container_id=container_id,
            proto=proto,
            host_ip=host_ip,
            host_port=host_port,
            container_port=container_port,
        )


def ps_columns_all(conn: Connection) -> dict[str, tuple[list[str], list[Published]]]:
    """For ``ps``, read-only and without the store: each container's network names
    and published ports, for the whole listing in two queries (containers with
    neither are absent; nothing when the tables do not exist yet)."""
    out: dict[str, tuple[list[str], list[Published]]] = {}
    try:
        for cid, name in conn.execute(
            "SELECT e.container_id, n.name FROM endpoints e JOIN networks n "
            "ON n.id = e.network_id ORDER BY e.rowid"
        ):
            out.setdefault(str(cid), ([], []))[0].append(str(name))
        for cid, p, ip, hp, cp in conn.execute(
            "SELECT container_id, proto, host_ip, host_port, container_port FROM published_ports "
            "ORDER BY rowid"
        ):
            out.setdefault(str(cid), ([], []))[1].append(Published(str(cid), str(p), str(ip),
                                                                    int(hp), int(cp)))  # fmt: skip
    except OperationalError:
        return {}
    return out
