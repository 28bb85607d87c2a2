"""Published ports: the host ports of ``-p`` (checked free, or picked), their rows
in the state database from ``start`` to ``stop``/``rm``, and the warnings at
``create``. The nft table that forwards them is :mod:`network_firewall`'s."""

from __future__ import annotations

from dockyard.engine.network_common import DATABASE_PORTS, is_bridge_mode
from dockyard.errors import Conflict, InvalidArgument
from dockyard.network.published import Published

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    from dockyard.engine.container_config import ContainerCreate
    from dockyard.engine.network_common import Attachment, NetworkLock
    from dockyard.engine.network_firewall import NetworkFirewall
    from dockyard.network.store import NetworkStore
    from dockyard.specs.ports import PortBinding


def publish_warnings(req: ContainerCreate) -> list[str]:
    """At ``create``: ports that are discarded, or open to everyone."""
    out: list[str] = []
    if (req.ports or req.publish_all) and not is_bridge_mode(req.network):
        mode = "host" if req.network == "host" else req.network.split(":")[0]
        out.append(f"WARNING: Published ports are discarded when using {mode} network mode")
        return out
    for p in req.ports:
        if p.host_ip in ("", "0.0.0.0") and p.container_port in DATABASE_PORTS:
            host = p.host_port or "<random>"
            out.append(
                f"WARNING: {DATABASE_PORTS[p.container_port]} port {p.container_port} is "
                f"published on every address of this host (0.0.0.0:{host}): anyone who "
                f"can reach the host can connect; use -p 127.0.0.1:{p.host_port or ''}:"
                f"{p.container_port} to keep it local"
            )
    return out


class PortPublisher:
    def __init__(
        self,
        store: NetworkStore,
        lock: NetworkLock,
        firewall: NetworkFirewall,
        *,
        container_name: Callable[[str], str | None],
        is_running: Callable[[str], bool],
    ) -> None:
        self.store = store
        self.lock = lock
        self.firewall = firewall
        self.container_name = container_name
        self.is_running = is_running

    def published(self, cid: str) -> list[Published]:
        return self.store.published(cid)

    def bindings_of(self, cid: str) -> list[PortBinding]:
        """The container's published ports as ``-p`` bindings (to publish them again)."""
        from dockyard.specs.ports import PortBinding

        return [
            PortBinding(p.container_port, p.proto, p.host_ip, p.host_port)
            for p in self.store.published(cid)
        ]

    def release(self, cid: str) -> None:
        """At ``stop``: the ports go back to the host (Docker's behaviour)."""
        if not self.store.published(cid):
            return
        with self.lock.held():
            with self.store.transaction():
                self.store.remove_published(cid)
            self.firewall.sync()

    def publish(
        self,
        cid: str,
        atts: Sequence[Attachment],
        bindings: Sequence[PortBinding],
        warnings: list[str],
    ) -> bool:
        """Bind ``bindings`` for ``cid`` in the table (under the lock); True when the
        rows changed."""
        previous = self.store.published(cid)
        if not bindings:
            if previous:
                with self.store.transaction():
                    self.store.remove_published(cid)
                return True
            return False
        if all(a.network.internal for a in atts):
            warnings.append(
                "WARNING: published ports are ignored on internal networks (no traffic "
                "enters or leaves them)"
            )
            return False
        found: dict[str, list[Any]] = {}  # hostports.Listener
        with self.store.transaction():
            self.store.remove_published(cid)
            # rows of containers that stopped without us seeing it
            for other in {r.container_id for r in self.store.published()}:
                if not self.is_running(other):
                    self.store.remove_published(other)
            rows = [r for r in self.store.published() if r.container_id != cid]
            made: list[Published] = []
            for b in _unique(bindings):
                if ":" in b.host_ip:
                    raise InvalidArgument(
                        f"cannot publish on {b.host_ip}: IPv6 publishing is not supported yet"
                    )
                if b.host_ip and not b.host_ip.startswith("127.") and b.host_ip != "0.0.0.0":
                    _check_local_address(b.host_ip, b)
                host_ip = "" if b.host_ip == "0.0.0.0" else b.host_ip
                if b.proto not in found:
                    found[b.proto] = self._foreign_listeners(b.proto)
                listening = found[b.proto]
                ours = [r for r in rows + made if r.proto == b.proto]
                if b.host_port and not b.host_port_end:
                    port = b.host_port
                    self._check_free(b, port, host_ip, ours, listening)
                else:
                    port = _pick_port(b, host_ip, ours, listening, previous)
                made.append(Published(cid, b.proto, host_ip, port, b.container_port))
            self.store.add_published(made)
        return True

    def _foreign_listeners(self, proto: str) -> list[Any]:
        """The host's listening sockets, less our embedded DNS on our gateways: it
        is never DNAT'd away (see firewall.render), so port 53 stays publishable."""
        from dockyard.network import hostports

        gateways = {n.gateway for n in self.store.all() if not n.is_default and n.gateway}
        return [
            lst for lst in hostports.listeners(proto) if not (lst.port == 53 and lst.ip in gateways)
        ]

    def _check_free(
        self,
        b: PortBinding,
        port: int,
        host_ip: str,
        ours: Sequence[Published],
        listening: Sequence[Any],
    ) -> None:
        from dockyard.network import hostports

        shown = f"{host_ip or '0.0.0.0'}:{port}"
        for r in ours:
            if r.host_port == port and _covers(r.host_ip, host_ip):
                name = self.container_name(r.container_id) or r.container_id[:12]
                raise Conflict(
                    f"Bind for {shown} failed: port is already allocated to container "
                    f"{name} ({r.container_id[:12]})",
                    hint=f"stop {name} or publish on another host port",
                )
        lst = hostports.clashing(listening, b.proto, host_ip, port)
        if lst is not None:
            who = hostports.holder(lst.inode)
            holder = f"{who.command} (pid {who.pid})" if who else "a process of the host"
            raise Conflict(
                f"Bind for {shown} failed: port is already in use by a host process: {holder} "
                f"listening on {lst.ip}:{lst.port}/{lst.proto}",
                hint="stop that process or publish on another host port",
            )


def _covers(a: str, b: str) -> bool:
    return a in ("", "0.0.0.0") or b in ("", "0.0.0.0") or a == b


def _pick_port(
    b: PortBinding,
    host_ip: str,
    ours: Sequence[Published],
    listening: Sequence[Any],
    previous: Sequence[Published],
) -> int:
    """A host port for ``-p 80`` (random, from the ephemeral range) or ``-p
    8000-8010:80`` (from that range): last run's if still free, else the lowest free."""
    from dockyard.network import hostports

    if b.host_port:
        start, end = b.host_port, b.host_port_end
    else:
        start, end = hostports.ephemeral_range()
    taken = {r.host_port for r in ours if _covers(r.host_ip, host_ip)}
    for p in previous:
        same = (p.container_port, p.proto) == (b.container_port, b.proto)
        free = p.host_port not in taken and start <= p.host_port <= end
        if same and free and not hostports.clashing(listening, b.proto, host_ip, p.host_port):
            return p.host_port
    port = hostports.pick_free(b.proto, host_ip, taken=taken, found=listening, start=start, end=end)
    if not port:
        raise Conflict(
            f"Bind for {b.host_ip or '0.0.0.0'}:{start}-{end} failed: port is already allocated",
            hint="every port of that range is taken",
        )
    return port


def _unique(bindings: Sequence[PortBinding]) -> list[PortBinding]:
    seen: set[PortBinding] = set()
    out = []
    for b in bindings:
        if b not in seen:
            seen.add(b)
            out.append(b)
    return out


def _check_local_address(ip: str, b: PortBinding) -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((ip, 0))
        except OSError as e:
            raise InvalidArgument(
                f"cannot publish {b.render()}: {ip} is not an address of this host ({e.strerror})"
            )
