"""The networks themselves: ``network create``, ``ls``, ``rm``, ``prune``, lookup by
id, name or prefix, and the predefined ``bridge`` (made on first use), ``host``
and ``none``.

A network's row lives from ``network create`` (the default ``bridge``: first use)
to ``network rm``; its subnet is claimed machine-wide (see
:mod:`dockyard.network.claims`) for as long. Its Linux bridge is the container
side's (:mod:`network_attachments`)."""

from __future__ import annotations

import os
import time

from dockyard._util.lazy import Regex
from dockyard._util.sha import sha256
from dockyard.engine.network_common import (
    BRIDGE_NAME_OPT,
    DEFAULT_NETWORK,
    MTU_OPT,
    PREDEFINED,
    NetworkLock,
    drop_bridge,
    endpoint_id,
)
from dockyard.errors import AlreadyExists, Conflict, DockyardError, InvalidArgument, NotFound
from dockyard.network import bridge as br
from dockyard.network.store import NetworkRecord

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from ipaddress import IPv4Network
    from typing import Any

    from dockyard.config import EngineConfig
    from dockyard.engine.network_firewall import NetworkFirewall
    from dockyard.network.ipam import IPAMConfig
    from dockyard.network.store import NetworkStore


class NetworkDefinitions:
    def __init__(
        self,
        config: EngineConfig,
        store: NetworkStore,
        lock: NetworkLock,
        firewall: NetworkFirewall,
        *,
        tag: str,
        container_name: Callable[[str], str | None],
    ) -> None:
        self.config = config
        self.store = store
        self.lock = lock
        self.firewall = firewall
        self.tag = tag
        self.container_name = container_name
        self._default: NetworkRecord | None = None

    def _routes_and_taken(self) -> tuple[list[Any], list[tuple[IPv4Network, str]], set[str]]:
        from ipaddress import IPv4Network

        from dockyard.network.claims import claimed_by_others
        from dockyard.network.ipam import host_routes

        nets = self.store.all()
        taken = [(IPv4Network(n.subnet), n.name) for n in nets if n.subnet]
        taken += [
            (net, f"of the Dockyard engine at {root}")
            for net, root in claimed_by_others(self.config.root)
        ]
        return host_routes(), taken, {n.bridge for n in nets}

    def _configure(self, subnet: str = "", gateway: str = "", ip_range: str = "") -> IPAMConfig:
        """The new network's addressing, its subnet claimed machine-wide (see
        :mod:`dockyard.network.claims`): another root may have just taken a pool."""
        from dockyard.engine.network_janitor import collect_dead_roots
        from dockyard.network.claims import claim
        from dockyard.network.ipam import configure

        collect_dead_roots()  # their bridges would hold pools (and routes) forever
        routes, taken, ours = self._routes_and_taken()
        for _ in range(32):
            cfg = configure(
                subnet, gateway, ip_range, routes=routes, taken=taken, ignore_devices=ours
            )
            holder = claim(cfg.subnet, self.config.root)
            if holder is None:
                return cfg
            if subnet:
                raise Conflict(
                    "Pool overlaps with other one on this address space",
                    hint=f"{cfg.subnet} is used by the Dockyard engine at {holder}",
                )
            taken.append((cfg.subnet, holder))
        raise Conflict("could not claim a subnet for the network")

    def _bridge_index_name(self) -> str:
        used = {n.bridge for n in self.store.all()}
        for i in range(100000):
            name = br.bridge_name(self.tag, i)
            if name not in used:
                return name
        raise Conflict("no free bridge name")

    def _new_record(
        self,
        name: str,
        cfg: IPAMConfig,
        *,
        bridge: str,
        internal: bool = False,
        labels: dict[str, str] | None = None,
        options: dict[str, str] | None = None,
        is_default: bool = False,
    ) -> NetworkRecord:
        import secrets

        from dockyard.runtime.state import rfc3339_nano

        return NetworkRecord(
            id=secrets.token_hex(32),
            name=name,
            driver="bridge",
            subnet=str(cfg.subnet),
            gateway=str(cfg.gateway),
            ip_range=str(cfg.ip_range) if cfg.ip_range else "",
            bridge=bridge,
            internal=internal,
            labels=tuple(sorted((labels or {}).items())),
            options=tuple(sorted((options or {}).items())),
            created=rfc3339_nano(time.time_ns()),
            is_default=is_default,
        )

    def default_network(self) -> NetworkRecord:
        """The default ``bridge`` network, made on first use (its row never changes and
        cannot be removed: read once per service)."""
        if self._default is None:
            self._default = self.store.default() or self._make_default()
        return self._default

    def _make_default(self) -> NetworkRecord:
        with self.lock.held(), self.store.transaction():
            found = self.store.default()
            if found is not None:
                return found
            cfg = self._configure()
            rec = self._new_record(
                DEFAULT_NETWORK, cfg, bridge=self._bridge_index_name(), is_default=True
            )
            self.store.add(rec)
            return rec

    def create(
        self,
        name: str,
        *,
        driver: str = "bridge",
        subnet: str = "",
        gateway: str = "",
        ip_range: str = "",
        internal: bool = False,
        labels: dict[str, str] | None = None,
        options: dict[str, str] | None = None,
    ) -> NetworkRecord:
        """``network create``. The bridge itself appears with the first container."""
        if name in PREDEFINED:
            raise Conflict(f"operation is not permitted on predefined {name} network")
        if not _valid_name(name):
            raise InvalidArgument(
                f"invalid network name {name!r}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )
        if driver in ("host", "null"):
            raise Conflict(f'only one instance of "{driver}" network is allowed')
        if driver != "bridge":
            raise NotFound(
                f'plugin "{driver}" not found', hint="Dockyard has the bridge driver only"
            )
        options = dict(options or {})
        if MTU_OPT in options:
            try:
                mtu = int(options[MTU_OPT])
                if not 68 <= mtu <= 65535:
                    raise ValueError
            except ValueError:
                raise InvalidArgument(f"invalid MTU {options[MTU_OPT]!r}")
        with self.lock.held(), self.store.transaction():
            if self.store.by_name(name) is not None:
                raise AlreadyExists(f"network with name {name} already exists")
            ours = {n.bridge for n in self.store.all()}
            bridge = options.get(BRIDGE_NAME_OPT, "")
            if bridge:
                if len(bridge) > br.IFNAMSIZ or not _valid_ifname(bridge):
                    raise InvalidArgument(f"invalid bridge name {bridge!r}")
                if bridge in ours or br.link_exists(bridge):
                    raise Conflict(
                        f"bridge name {bridge} is already in use",
                        hint="an interface of that name exists; Dockyard only uses bridges "
                        "it makes",
                    )
            else:
                bridge = self._bridge_index_name()
            cfg = self._configure(subnet, gateway, ip_range)
            rec = self._new_record(
                name,
                cfg,
                bridge=bridge,
                internal=internal,
                labels=labels,
                options=options,
            )
            self.store.add(rec)
        return rec

    def get(self, ref: str) -> NetworkRecord:
        """A network by id, name or id prefix, ``host``/``none`` included."""
        if ref == DEFAULT_NETWORK:
            return self.default_network()
        pseudo = self._pseudo()
        for p in pseudo:
            if ref in (p.name, p.id):
                return p
        try:
            return self.store.find(ref)
        except NotFound:
            matches = [p for p in pseudo if ref and p.id.startswith(ref)]
            if len(matches) == 1:
                return matches[0]
            raise

    def _pseudo(self) -> list[NetworkRecord]:
        out = []
        for name, driver in (("host", "host"), ("none", "null")):
            nid = sha256(f"{self.config.root_dir}/{name}".encode()).hexdigest()
            out.append(
                NetworkRecord(
                    id=nid,
                    name=name,
                    driver=driver,
                    subnet="",
                    gateway="",
                    bridge="",
                    internal=False,
                    created=_root_created(self.config.root_dir),
                )
            )
        return out

    def all(self) -> list[NetworkRecord]:
        """Every network, ``bridge``, ``host`` and ``none`` included, by name."""
        self.default_network()
        nets = self.store.all() + self._pseudo()
        return sorted(nets, key=lambda n: n.name)

    def remove(self, ref: str) -> NetworkRecord:
        net = self.get(ref)
        if net.name in PREDEFINED and (net.is_default or not net.bridge):
            raise Conflict(f"{net.name} is a pre-defined network and cannot be removed")
        with self.lock.held():
            eps = self.store.endpoints(network_id=net.id)
            if eps:
                holders = " ".join(
                    f'name:"{self.container_name(e.container_id) or ""}" '
                    f'id:"{endpoint_id(net.id, e.container_id)[:12]}"'
                    for e in eps
                )
                raise Conflict(
                    f"error while removing network: network {net.name} has active endpoints "
                    f"({holders})",
                    hint="remove those containers or disconnect them first",
                )
            with self.store.transaction():
                self.store.remove(net.id)
            from ipaddress import IPv4Network

            from dockyard.network.claims import release

            release(IPv4Network(net.subnet), self.config.root)
            drop_bridge(net)
            self.firewall.sync()
        return net

    def prune(self, labels: Sequence[str] = ()) -> list[str]:
        """Remove user networks no container uses; their names."""
        removed: list[str] = []
        for net in self.store.all():
            if net.is_default or not _labels_match(dict(net.labels), labels):
                continue
            if self.store.endpoints(network_id=net.id):
                continue
            try:
                self.remove(net.id)
            except DockyardError:
                continue
            removed.append(net.name)
        return removed

    def used_by(self, network_id: str) -> list[str]:
        return [e.container_id for e in self.store.endpoints(network_id=network_id)]


_NAME = Regex(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")


def _valid_name(name: str) -> bool:
    return _NAME.fullmatch(name) is not None


def _valid_ifname(name: str) -> bool:
    return (
        bool(name)
        and "/" not in name
        and not any(c.isspace() for c in name)
        and name
        not in (
            ".",
            "..",
        )
    )


def _labels_match(labels: dict[str, str], filters: Sequence[str]) -> bool:
    for f in filters:
        negate = f.startswith("!")
        key, eq, value = f.lstrip("!").partition("=")
        has = key in labels and (not eq or labels[key] == value)
        if has == negate:
            return False
    return True


def _root_created(root: str) -> str:
    from dockyard.runtime.state import rfc3339_nano

    try:
        return rfc3339_nano(os.stat(root).st_ctime_ns)
    except OSError:
        return rfc3339_nano(0)
