"""The network service: networks (create, ls, inspect, rm, connect, disconnect,
prune) and each container's side of them (addresses, namespace, veths, published
ports, firewall).

Lifetimes:

- a network's row lives from ``network create`` (the default ``bridge``: first
  use) to ``network rm``; its Linux bridge only while at least one container has
  an endpoint on it (made at the first container's start, deleted with the last
  endpoint), so that nothing stays on the machine once the containers are gone;
- an endpoint (address, MAC, aliases) from ``create``/``connect`` to
  ``rm``/``disconnect``: a container keeps its address across restarts;
- the container's namespace file and veths from ``start`` (remade there when a
  reboot took them) to ``rm``;
- published ports from ``start`` to ``stop``/``rm`` (a random host port is picked
  again at the next start, kept if still free);
- the nft table while any of our bridges exists.

Every change to bridges, veths, namespaces and the table happens under one lock
file in the runroot; addresses are handed out in database transactions.

:class:`NetworkService` is the facade the engine and the CLI use; the work is done
by its parts: :mod:`network_definitions` (the networks), :mod:`network_attachments`
(containers on them), :mod:`network_ports` (published ports) and
:mod:`network_firewall` (the nft table), with what they share in
:mod:`network_common`.
"""

from __future__ import annotations

import os

from dockyard._util.lazy import cached_property
from dockyard.engine.network_attachments import ContainerAttachments, changed_sysctls
from dockyard.engine.network_common import (
    BRIDGE_NAME_OPT,
    DATABASE_PORTS,
    DEFAULT_MODES,
    DEFAULT_NETWORK,
    MTU_OPT,
    PREDEFINED,
    Attachment,
    NetworkLock,
    endpoint_id,
    is_bridge_mode,
    sandbox_id,
)
from dockyard.engine.network_definitions import NetworkDefinitions
from dockyard.engine.network_firewall import NetworkFirewall
from dockyard.network import bridge as br
from dockyard.network.store import NetworkStore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    from dockyard._util.db import Connection
    from dockyard.config import EngineConfig
    from dockyard.engine.container_config import ContainerCreate
    from dockyard.engine.network_ports import PortPublisher
    from dockyard.network.published import Published
    from dockyard.network.store import NetworkRecord
    from dockyard.specs.ports import PortBinding


class NetworkService:
    def __init__(
        self,
        config: EngineConfig,
        db: Connection,
        *,
        container_name: Callable[[str], str | None],
        is_running: Callable[[str], bool],
    ) -> None:
        self.config = config
        self.store = NetworkStore(db)
        self.container_name = container_name
        self.is_running = is_running
        self.tag = br.root_tag(config.root_dir)
        self.state_dir = os.path.join(config.runroot_dir, "network")
        self.netns_dir = os.path.join(config.runroot_dir, "netns")
        self.lock = NetworkLock(self.state_dir)
        self.firewall = NetworkFirewall(self.store, self.tag, self.state_dir)
        self.definitions = NetworkDefinitions(
            config,
            self.store,
            self.lock,
            self.firewall,
            tag=self.tag,
            container_name=container_name,
        )
        self.container_side = ContainerAttachments(
            config,
            self.store,
            self.lock,
            self.firewall,
            self.definitions,
            lambda: self.ports,
            netns_dir=self.netns_dir,
            container_name=container_name,
            is_running=is_running,
        )

    @property
    def table(self) -> str:
        """Our nft table's name."""
        return self.firewall.table

    @cached_property
    def ports(self) -> PortPublisher:
        """Made on first use: a container without published ports never needs it."""
        from dockyard.engine.network_ports import PortPublisher

        return PortPublisher(
            self.store,
            self.lock,
            self.firewall,
            container_name=self.container_name,
            is_running=self.is_running,
        )

    # -- locking, paths ------------------------------------------------------------
    def settle(self) -> None:
        """Wait until no network change (a detached finisher's too) is in progress."""
        with self.lock.held():
            pass

    def netns_path(self, cid: str) -> str:
        return self.container_side.netns_path(cid)

    # -- networks ------------------------------------------------------------------
    def default_network(self) -> NetworkRecord:
        """The default ``bridge`` network, made on first use."""
        return self.definitions.default_network()

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
        return self.definitions.create(
            name,
            driver=driver,
            subnet=subnet,
            gateway=gateway,
            ip_range=ip_range,
            internal=internal,
            labels=labels,
            options=options,
        )

    def get(self, ref: str) -> NetworkRecord:
        """A network by id, name or id prefix, ``host``/``none`` included."""
        return self.definitions.get(ref)

    def all(self) -> list[NetworkRecord]:
        """Every network, ``bridge``, ``host`` and ``none`` included, by name."""
        return self.definitions.all()

    def remove(self, ref: str) -> NetworkRecord:
        return self.definitions.remove(ref)

    def prune(self, labels: Sequence[str] = ()) -> list[str]:
        """Remove user networks no container uses; their names."""
        return self.definitions.prune(labels)

    def used_by(self, network_id: str) -> list[str]:
        return self.definitions.used_by(network_id)

    # -- inspect ---------------------------------------------------------------------
    def inspect(self, net: NetworkRecord) -> dict[str, Any]:
        """``docker network inspect``'s object."""
        from dockyard.engine.network_inspect import inspect_network

        return inspect_network(self, net)

    # -- a container's networks at create -------------------------------------------
    def resolve_mode(self, req: ContainerCreate) -> NetworkRecord | None:
        """The network a bridge-mode request joins (None for host/none/container:);
        checks ``--ip`` and ``--network-alias`` as Docker does."""
        return self.container_side.resolve_mode(req)

    def create_warnings(self, req: ContainerCreate) -> list[str]:
        if not (req.ports or req.publish_all):
            return []  # what publish_warnings says, without importing it
        from dockyard.engine.network_ports import publish_warnings

        return publish_warnings(req)

    def attach(self, cid: str, req: ContainerCreate) -> list[Attachment]:
        """The endpoint of a new container on its network (nothing for host/none/
        container:). Undone by :meth:`teardown`."""
        return self.container_side.attach(cid, req)

    def attachments(self, cid: str) -> list[Attachment]:
        return self.container_side.attachments(cid)

    def hosts_lines(self, cid: str, hostname: str, domainname: str = "") -> list[str]:
        """``/etc/hosts`` lines naming the container itself (Docker: its first address)."""
        return self.container_side.hosts_lines(cid, hostname, domainname)

    def nameservers(self, cid: str) -> list[str] | None:
        """On a user network, its gateway (the embedded DNS listens there); None: the
        host's resolvers (the default bridge, as Docker: no container names there)."""
        return self.container_side.nameservers(cid)

    # -- start / stop ----------------------------------------------------------------
    def prepare(self, cid: str, bindings: Sequence[PortBinding] = ()) -> list[str]:
        """Everything the container's network needs before its process starts; made
        again when missing (after a reboot). Returns warnings for the user."""
        return self.container_side.prepare(cid, bindings)

    def mtu(self, net: NetworkRecord) -> int:
        """The network's MTU toward the outside."""
        return self.container_side.mtu(net)

    def link_mtu(self, net: NetworkRecord) -> int:
        """The MTU of the bridge and veths."""
        return self.container_side.link_mtu(net)

    def published(self, cid: str) -> list[Published]:
        return self.ports.published(cid)

    def release_ports(self, cid: str) -> None:
        """At ``stop``: the ports go back to the host (Docker's behaviour)."""
        self.ports.release(cid)

    # -- connect / disconnect -----------------------------------------------------------
    def connect(
        self,
        net: NetworkRecord,
        cid: str,
        req: ContainerCreate,
        *,
        aliases: Sequence[str] = (),
        ip: str = "",
    ) -> list[str]:
        return self.container_side.connect(net, cid, req, aliases=aliases, ip=ip)

    def disconnect(self, net: NetworkRecord, cid: str, *, force: bool = False) -> None:
        self.container_side.disconnect(net, cid, force=force)

    # -- removal -------------------------------------------------------------------------
    def teardown(self, cid: str) -> None:
        """At ``rm`` (and when ``create`` fails): namespace, veths, addresses, ports;
        the bridges nobody uses any more, and the table. Idempotent."""
        self.container_side.teardown(cid)

    def collect(self) -> None:
        """Delete the bridges no container uses any more; make the table match."""
        self.container_side.collect()

    def repair(self, known: set[str]) -> list[str]:
        """``system restore``: forget what belongs to no container, remake the table.
        Returns the container ids whose leftovers were removed."""
        return self.container_side.repair(known)

    # -- inspect of a container ------------------------------------------------------------
    def network_settings(
        self, cid: str, req: ContainerCreate, *, running: bool, exposed: Sequence[str]
    ) -> dict[str, Any]:
        """``NetworkSettings`` of ``docker container inspect``."""
        from dockyard.engine.network_inspect import network_settings

        return network_settings(self, cid, req, running=running, exposed=exposed)


__all__ = [
    "BRIDGE_NAME_OPT",
    "DATABASE_PORTS",
    "DEFAULT_MODES",
    "DEFAULT_NETWORK",
    "MTU_OPT",
    "PREDEFINED",
    "Attachment",
    "NetworkService",
    "changed_sysctls",
    "endpoint_id",
    "is_bridge_mode",
    "sandbox_id",
]
