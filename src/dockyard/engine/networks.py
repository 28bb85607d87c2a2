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
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from dockyard._util.record import Record
from dockyard.config import EngineConfig
from dockyard.errors import AlreadyExists, Conflict, DockyardError, InvalidArgument, NotFound
from dockyard.network import bridge as br
from dockyard.network import firewall as fw
from dockyard.network.store import Endpoint, NetworkRecord, NetworkStore, Published

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard.engine.container_config import ContainerCreate
    from dockyard.network.ipam import IPAMConfig
    from dockyard.specs.ports import PortBinding

DEFAULT_NETWORK = "bridge"
PREDEFINED = ("bridge", "host", "none")
DEFAULT_MODES = ("default", "bridge", "")
DATABASE_PORTS = {5432: "postgres", 3306: "mysql", 6379: "redis", 27017: "mongodb"}
BRIDGE_NAME_OPT = "com.docker.network.bridge.name"
MTU_OPT = "com.docker.network.driver.mtu"
# Docker's fallback when the host has only loopback resolvers (systemd-resolved)
FALLBACK_DNS = ("8.8.8.8", "8.8.4.4")


def endpoint_id(network_id: str, container_id: str) -> str:
    return hashlib.sha256(f"endpoint/{network_id}/{container_id}".encode()).hexdigest()


def sandbox_id(container_id: str) -> str:
    return hashlib.sha256(f"sandbox/{container_id}".encode()).hexdigest()


def is_bridge_mode(mode: str) -> bool:
    return mode not in ("host", "none") and not mode.startswith("container:")


class Attachment(Record):
    """One of a container's endpoints with its network."""

    __slots__ = ("network", "endpoint")  # noqa: RUF023 (constructor order)
    network: NetworkRecord
    endpoint: Endpoint

    def __init__(self, network: NetworkRecord, endpoint: Endpoint) -> None:
        self._set(network=network, endpoint=endpoint)


class NetworkService:
    def __init__(
        self,
        config: EngineConfig,
        db: sqlite3.Connection,
        *,
        container_name: Callable[[str], str | None],
        is_running: Callable[[str], bool],
    ) -> None:
        self.config = config
        self.store = NetworkStore(db)
        self.container_name = container_name
        self.is_running = is_running
        self.tag = br.root_tag(config.root)
        self.table = fw.table_name(self.tag)
        self.state_dir = config.runroot / "network"
        self.netns_dir = config.runroot / "netns"

    # -- locking, paths ------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[int]:
        """The network lock (flock on ``$RUNROOT/network/lock``); yields its fd, which a
        detached finisher may inherit to hold the lock until it is done."""
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.state_dir / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield fd
        finally:
            os.close(fd)

    def settle(self) -> None:
        """Wait until no network change (a detached finisher's too) is in progress."""
        with self._locked():
            pass

    def netns_path(self, cid: str) -> Path:
        return self.netns_dir / cid

    # -- networks ------------------------------------------------------------------
    def _routes_and_taken(self) -> tuple[list[Any], list[tuple[IPv4Network, str]], set[str]]:
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
        """The default ``bridge`` network, made on first use."""
        found = self.store.default()
        if found is not None:
            return found
        with self._locked(), self.store.transaction():
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
        with self._locked(), self.store.transaction():
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
            nid = hashlib.sha256(f"{self.config.root}/{name}".encode()).hexdigest()
            out.append(
                NetworkRecord(
                    id=nid,
                    name=name,
                    driver=driver,
                    subnet="",
                    gateway="",
                    bridge="",
                    internal=False,
                    created=_root_created(self.config.root),
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
        with self._locked():
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
            from dockyard.network.claims import release

            release(IPv4Network(net.subnet), self.config.root)
            self._drop_bridge(net)
            self._sync_firewall()
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

    # -- inspect ---------------------------------------------------------------------
    def inspect(self, net: NetworkRecord) -> dict[str, Any]:
        """``docker network inspect``'s object."""
        from dockyard.engine.network_inspect import inspect_network

        return inspect_network(self, net)

    # -- a container's networks at create -------------------------------------------
    def resolve_mode(self, req: ContainerCreate) -> NetworkRecord | None:
        """The network a bridge-mode request joins (None for host/none/container:);
        checks ``--ip`` and ``--network-alias`` as Docker does."""
        mode = req.network
        if not is_bridge_mode(mode):
            if req.ip:
                raise InvalidArgument(
                    "user specified IP address is supported on user defined networks only"
                )
            if req.network_aliases:
                raise InvalidArgument(
                    "network-scoped alias is supported only for containers in user defined networks"
                )
            return None
        net = self.default_network() if mode in DEFAULT_MODES else self.get(mode)
        if net.driver != "bridge":
            return None
        if net.is_default:
            if req.ip:
                raise InvalidArgument(
                    "user specified IP address is supported on user defined networks only"
                )
            if req.network_aliases:
                raise InvalidArgument(
                    "network-scoped alias is supported only for containers in user defined networks"
                )
        return net

    def create_warnings(self, req: ContainerCreate) -> list[str]:
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

    def attach(self, cid: str, req: ContainerCreate) -> list[Attachment]:
        """The endpoint of a new container on its network (nothing for host/none/
        container:). Undone by :meth:`teardown`."""
        net = self.resolve_mode(req)
        if net is None:
            return []
        ep = self._allocate(net, cid, ip=req.ip, aliases=req.network_aliases, ifname="eth0")
        return [Attachment(net, ep)]

    def _allocate(
        self,
        net: NetworkRecord,
        cid: str,
        *,
        ip: str,
        aliases: Sequence[str],
        ifname: str,
    ) -> Endpoint:
        from dockyard.network.ipam import IPAMConfig, allocate, mac_for

        cfg = IPAMConfig(
            IPv4Network(net.subnet),
            IPv4Address(net.gateway),
            IPv4Network(net.ip_range) if net.ip_range else None,
        )
        with self.store.transaction():
            used = [IPv4Address(e.ip) for e in self.store.endpoints(network_id=net.id)]
            addr = allocate(cfg, used, network=net.name, network_id=net.id, requested=ip)
            ep = Endpoint(net.id, cid, str(addr), mac_for(addr), ifname, tuple(aliases))
            self.store.add_endpoint(ep)
        return ep

    def attachments(self, cid: str) -> list[Attachment]:
        out = []
        nets = {n.id: n for n in self.store.all()}
        for e in self.store.endpoints(container_id=cid):
            n = nets.get(e.network_id)
            if n is not None:
                out.append(Attachment(n, e))
        return out

    def hosts_lines(self, cid: str, hostname: str, domainname: str = "") -> list[str]:
        """``/etc/hosts`` lines naming the container itself (Docker: its first address)."""
        atts = self.attachments(cid)
        if not atts:
            return []
        names = f"{hostname}.{domainname} {hostname}" if domainname else hostname
        return [f"{atts[0].endpoint.ip}\t{names}"]

    def nameservers(self, cid: str) -> list[str] | None:
        """On a user network, its gateway (the embedded DNS listens there); None: the
        host's resolvers (the default bridge, as Docker: no container names there)."""
        for a in self.attachments(cid):
            if not a.network.is_default:
                return [a.network.gateway]
        return None

    # -- start: bridges, namespace, veths, ports, firewall ----------------------------
    def prepare(self, cid: str, bindings: Sequence[PortBinding] = ()) -> list[str]:
        """Everything the container's network needs before its process starts; made
        again when missing (after a reboot). Returns warnings for the user."""
        atts = self.attachments(cid)
        if not atts:
            return []
        from dockyard.network import netns

        warnings: list[str] = []
        with self._locked():
            host_lines: list[str] = []
            made_bridges = []
            for a in atts:
                if not br.link_exists(a.network.bridge):
                    self._check_claim(a.network)
                    host_lines += br.bridge_script(self._bridge_spec(a.network))
                    made_bridges.append(a.network)
            path = self.netns_path(cid)
            fresh = not netns.is_netns(path)
            if fresh:
                stale = [br.veth_name(a.network.id, cid) for a in atts]
                br.delete_links(stale)  # left by a namespace that is gone (a reboot)
                netns.create(path)
            inner: list[str] = []
            gateway = self._gateway_attachment(atts)
            hairpin = br.bridge_netfilter()
            for a in atts:
                host = br.veth_name(a.network.id, cid)
                if not fresh and br.link_exists(host):
                    continue
                spec = self._veth_spec(a, cid, gw=a is gateway)
                host_lines += br.veth_host_script(spec, hairpin=hairpin)
                inner += br.veth_inner_script(spec)
            try:
                br.ip_batch(host_lines)
                for n in made_bridges:
                    self._bridge_sysctls(n)
                br.ip_batch(inner, netns=path)
            except BaseException:
                if fresh:
                    self._remove_sandbox(cid, atts)
                raise
            ports_changed = self._publish(cid, atts, bindings, warnings)
            if made_bridges or ports_changed:
                warnings += self._sync_firewall()
        if any(not a.network.is_default for a in atts):
            # names on user networks: the embedded DNS answers on their gateways. If
            # it cannot start, the container still runs (by address): a warning
            from dockyard.engine import dns_service
            from dockyard.errors import DockyardError

            try:
                dns_service.ensure(self.config.root, self.config.runroot)
            except DockyardError as e:
                warnings.append(f"WARNING: no name resolution on user networks: {e}")
        return warnings

    def _check_claim(self, net: NetworkRecord) -> None:
        """Before a bridge goes up: its subnet must not be another root's (a network
        made before claims existed, or a lost race)."""
        from dockyard.network.claims import claim

        holder = claim(IPv4Network(net.subnet), self.config.root)
        if holder is not None:
            raise Conflict(
                f"the subnet {net.subnet} of network {net.name} is in use by the Dockyard "
                f"engine at {holder}",
                hint="remove this network and make it again (it gets another subnet), or "
                "stop using that engine's network",
            )

    def _gateway_attachment(self, atts: Sequence[Attachment]) -> Attachment | None:
        for a in atts:
            if not a.network.internal:
                return a
        return None

    def mtu(self, net: NetworkRecord) -> int:
        """The network's MTU toward the outside: ``-o com.docker.network.driver.mtu``,
        else the uplink's (the interface of the default route)."""
        opt = dict(net.options).get(MTU_OPT)
        if opt:
            return int(opt)
        from dockyard.network.ipam import host_routes, uplink

        return br.uplink_mtu(uplink(host_routes()))

    def link_mtu(self, net: NetworkRecord) -> int:
        """The MTU of the bridge and veths: big (traffic between containers and with
        the host stays on the machine; the default route carries :meth:`mtu`), unless
        the user set one."""
        opt = dict(net.options).get(MTU_OPT)
        return int(opt) if opt else br.LOCAL_MTU

    def _bridge_spec(self, net: NetworkRecord) -> br.BridgeSpec:
        return br.BridgeSpec(
            net.bridge, IPv4Address(net.gateway), IPv4Network(net.subnet), self.link_mtu(net)
        )

    def _veth_spec(self, a: Attachment, cid: str, *, gw: bool) -> br.VethSpec:
        net, ep = a.network, a.endpoint
        return br.VethSpec(
            host=br.veth_name(net.id, cid),
            bridge=net.bridge,
            netns=self.netns_path(cid),
            ifname=ep.ifname,
            mac=ep.mac,
            ip=IPv4Address(ep.ip),
            prefixlen=net.prefixlen,
            mtu=self.link_mtu(net),
            gateway=IPv4Address(net.gateway) if gw else None,
            route_mtu=self.mtu(net) if gw else None,
        )

    def _bridge_sysctls(self, net: NetworkRecord) -> None:
        """route_localnet on the bridge (127.0.0.1 -> published port); ip_forward once."""
        br.set_sysctl(f"net.ipv4.conf.{net.bridge}.route_localnet", "1")
        old = br.set_sysctl("net.ipv4.ip_forward", "1")
        if old is not None:
            self._record_sysctl("net.ipv4.ip_forward", "1", old)

    def _record_sysctl(self, key: str, value: str, old: str) -> None:
        from dockyard._util.atomic import atomic_write
        from dockyard.runtime.state import rfc3339_nano

        path = self.config.root / "network" / "sysctls.json"
        data = changed_sysctls(self.config.root)
        data[key] = {"value": value, "was": old, "at": rfc3339_nano(time.time_ns())}
        atomic_write(path, json.dumps(data, indent=1).encode())

    # -- published ports ---------------------------------------------------------------
    def _publish(
        self,
        cid: str,
        atts: Sequence[Attachment],
        bindings: Sequence[PortBinding],
        warnings: list[str],
    ) -> bool:
        """Bind ``bindings`` for ``cid`` in the table; True when the rows changed."""
        from dockyard.network import hostports

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
        found: dict[str, list[hostports.Listener]] = {}
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

    def published(self, cid: str) -> list[Published]:
        return self.store.published(cid)

    def release_ports(self, cid: str) -> None:
        """At ``stop``: the ports go back to the host (Docker's behaviour)."""
        if not self.store.published(cid):
            return
        with self._locked():
            with self.store.transaction():
                self.store.remove_published(cid)
            self._sync_firewall()

    # -- firewall ----------------------------------------------------------------------
    def _ruleset(self) -> fw.Ruleset:
        nets = {n.id: n for n in self.store.all()}
        # every bridge that exists, a lingering idle one too: the next container on it
        # then finds the table as it needs it
        bridges = tuple(
            fw.BridgeNet(n.bridge, n.subnet, n.internal, "" if n.is_default else n.gateway)
            for n in nets.values()
            if n.bridge and br.is_bridge(n.bridge)
        )
        up = {b.bridge for b in bridges}
        forwards: list[fw.PortForward] = []
        by_container: dict[str, list[Endpoint]] = {}
        for e in self.store.endpoints():
            by_container.setdefault(e.container_id, []).append(e)
        for p in self.store.published():
            target = None
            for e in by_container.get(p.container_id, []):
                n = nets.get(e.network_id)
                if n is not None and not n.internal and n.bridge in up:
                    target = (e, n)
                    break
            if target is None:
                continue
            e, n = target
            forwards.append(
                fw.PortForward(p.proto, p.host_port, p.host_ip, e.ip, p.container_port, n.bridge)
            )
        return fw.Ruleset(self.table, bridges, tuple(forwards))

    def _firewall_change(self, *, force: bool = False) -> tuple[str, bool] | None:
        """The nft script that makes our table match the records, and whether it
        defines the table (else it deletes it); None when the table is as last applied
        (``nft.rules`` in the runroot, which this updates)."""
        rs = self._ruleset()
        cache = self.state_dir / "nft.rules"
        try:
            applied: str | None = cache.read_text()
        except OSError:
            applied = None
        if not rs.bridges:
            if applied is None and not force:
                return None
            cache.unlink(missing_ok=True)
            return fw.delete_script(self.table), False
        script = fw.render(rs)
        if script == applied and not force:
            return None
        cache.write_text(script)
        return script, True

    def _sync_firewall(self, *, force: bool = False) -> list[str]:
        """Make the table match the records (under the lock). Returns warnings."""
        change = self._firewall_change(force=force)
        if change is None:
            return []
        script, defines = change
        try:
            if not defines:
                fw.delete(self.table)
                return []
            drops = fw.apply(script, self.table)
        except BaseException:
            (self.state_dir / "nft.rules").unlink(missing_ok=True)
            raise
        warning = fw.forward_drop_warning(drops)
        return [warning] if warning else []

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
        if net.driver != "bridge" or not is_bridge_mode(req.network):
            if req.network == "host" or net.driver == "host":
                raise Conflict(
                    "container cannot be disconnected from host network or connected to host "
                    "network"
                )
            if req.network == "none" or net.driver == "null":
                raise Conflict(
                    "container cannot be connected to multiple networks with one of the "
                    "networks in private (none) mode"
                )
            raise Conflict(
                "container sharing network namespace with another container or host cannot "
                "be connected to any other network"
            )
        if net.is_default and (ip or aliases):
            raise InvalidArgument(
                "network-scoped alias is supported only for containers in user defined networks"
                if aliases
                else "user specified IP address is supported on user defined networks only"
            )
        atts = self.attachments(cid)
        name = self.container_name(cid) or cid[:12]
        if any(a.network.id == net.id for a in atts):
            raise Conflict(f"endpoint with name {name} already exists in network {net.name}")
        used = {a.endpoint.ifname for a in atts}
        ifname = next(f"eth{i}" for i in range(len(used) + 1) if f"eth{i}" not in used)
        self._allocate(net, cid, ip=ip, aliases=aliases, ifname=ifname)
        if self.is_running(cid):
            try:
                return self.prepare(cid, self._bindings_of(cid))
            except BaseException:
                with self.store.transaction():
                    self.store.remove_endpoint(net.id, cid)
                raise
        return []

    def _bindings_of(self, cid: str) -> list[PortBinding]:
        from dockyard.specs.ports import PortBinding

        return [
            PortBinding(p.container_port, p.proto, p.host_ip, p.host_port)
            for p in self.store.published(cid)
        ]

    def disconnect(self, net: NetworkRecord, cid: str, *, force: bool = False) -> None:
        atts = self.attachments(cid)
        mine = [a for a in atts if a.network.id == net.id]
        if not mine:
            if force:
                return
            raise Conflict(f"container {cid} is not connected to network {net.name}")
        with self._locked():
            br.delete_links([br.veth_name(net.id, cid)])
            with self.store.transaction():
                self.store.remove_endpoint(net.id, cid)
            rest = [a for a in atts if a.network.id != net.id]
            was_gateway = mine[0] is self._gateway_attachment(atts)
            if rest and was_gateway and os.path.lexists(self.netns_path(cid)):
                gw = self._gateway_attachment(rest)
                if gw is not None:  # the default route moves to the next network
                    route = br.veth_inner_script(self._veth_spec(gw, cid, gw=True))[-1]
                    br.ip_batch([route], netns=self.netns_path(cid), force=True)
            if not self.store.endpoints(network_id=net.id):
                self._drop_bridge(net)
            self._sync_firewall()

    # -- removal -------------------------------------------------------------------------
    def _remove_sandbox(self, cid: str, atts: Sequence[Attachment]) -> None:
        from dockyard.network import netns

        br.delete_links([br.veth_name(a.network.id, cid) for a in atts])
        netns.remove(self.netns_path(cid))

    def _drop_bridge(self, net: NetworkRecord) -> None:
        if net.bridge and br.is_bridge(net.bridge):
            br.delete_links([net.bridge])

    def teardown(self, cid: str) -> None:
        """At ``rm`` (and when ``create`` fails): namespace, veths, addresses, ports;
        the bridges nobody uses any more, and the table. Idempotent.

        Deleting links is slow in the kernel (a bridge ~45 ms, a veth ~18 ms, an nft
        transaction ~15 ms), so unless ``DOCKYARD_NETWORK_LINGER=0`` the veths and the
        table update go to a detached finisher that holds the network lock until done,
        and an idle bridge lingers for that many seconds (default 5): back-to-back
        ``run --rm`` reuse it, and a janitor process deletes it (and the table) after."""
        from dockyard.network import netns

        atts = self.attachments(cid)
        path = self.netns_path(cid)
        if not atts and not os.path.lexists(path) and not self.store.published(cid):
            return
        from dockyard.engine.network_janitor import linger_seconds

        linger = linger_seconds()
        with self._locked() as lock:
            netns.remove(path)  # the kernel drops the veths with it; deleted below as well
            with self.store.transaction():
                self.store.remove_endpoints_of(cid)
                self.store.remove_published(cid)
            links = [br.veth_name(a.network.id, cid) for a in atts]
            idle = [a.network for a in atts if not self.store.endpoints(network_id=a.network.id)]
            if linger <= 0:
                links += [n.bridge for n in idle if n.bridge and br.is_bridge(n.bridge)]
                br.delete_links(links)
                self._sync_firewall()
                return
            change = self._firewall_change()
            from dockyard.engine.network_janitor import finish_later

            finish_later(lock, links, change[0] if change else "")
        if any(n.bridge and br.is_bridge(n.bridge) for n in idle):
            self._schedule_janitor(linger)

    def collect(self) -> None:
        """Delete the bridges no container uses any more; make the table match."""
        with self._locked():
            in_use = {e.network_id for e in self.store.endpoints()}
            for n in self.store.all():
                if n.id not in in_use:
                    self._drop_bridge(n)
            self._sync_firewall()

    def _schedule_janitor(self, linger: float) -> None:
        from dockyard.engine.network_janitor import schedule_janitor

        schedule_janitor(self.config, linger)

    def repair(self, known: set[str]) -> list[str]:
        """``system restore``: forget what belongs to no container, remake the table.
        Returns the container ids whose leftovers were removed."""
        cleaned: list[str] = []
        with self._locked():
            for cid in self.store.containers_with_endpoints() - known:
                if _young(self.config.root / "containers" / cid):
                    continue  # a create in progress in another process
                self._remove_sandbox(cid, self.attachments(cid))
                with self.store.transaction():
                    self.store.remove_endpoints_of(cid)
                    self.store.remove_published(cid)
                cleaned.append(cid)
            try:
                files = os.listdir(self.netns_dir)
            except FileNotFoundError:
                files = []
            from dockyard.network import netns

            for name in files:
                if name not in known and name not in self.store.containers_with_endpoints():
                    netns.remove(self.netns_dir / name)
                    if name not in cleaned:
                        cleaned.append(name)
            in_use = {e.network_id for e in self.store.endpoints()}
            for n in self.store.all():
                if n.id not in in_use:
                    self._drop_bridge(n)
            self._sync_firewall(force=True)
        return cleaned

    # -- inspect of a container ------------------------------------------------------------
    def network_settings(
        self, cid: str, req: ContainerCreate, *, running: bool, exposed: Sequence[str]
    ) -> dict[str, Any]:
        """``NetworkSettings`` of ``docker container inspect``."""
        from dockyard.engine.network_inspect import network_settings

        return network_settings(self, cid, req, running=running, exposed=exposed)


def changed_sysctls(root: Path) -> dict[str, dict[str, str]]:
    """The machine-wide sysctls an engine root changed, with their old values
    (``dockyard info`` shows them). Per-bridge ones (route_localnet) go with the bridge."""
    try:
        data = json.loads((root / "network" / "sysctls.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


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


def _valid_name(name: str) -> bool:
    import re

    return re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", name) is not None


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


def _young(path: Path, grace: float = 60.0) -> bool:
    try:
        return time.time() - os.stat(path).st_mtime < grace
    except FileNotFoundError:
        return False


def _root_created(root: Path) -> str:
    from dockyard.runtime.state import rfc3339_nano

    try:
        return rfc3339_nano(os.stat(root).st_ctime_ns)
    except OSError:
        return rfc3339_nano(0)


__all__ = ["Attachment", "NetworkService", "endpoint_id", "is_bridge_mode"]
