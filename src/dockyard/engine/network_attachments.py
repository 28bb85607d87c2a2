"""Each container's side of its networks: endpoints (address, MAC, aliases) from
``create``/``connect`` to ``rm``/``disconnect`` (a container keeps its address
across restarts); its namespace file and veths from ``start`` (remade there when a
reboot took them) to ``rm``; the bridges, made with the first container's
endpoint and deleted with the last one, so that nothing stays on the machine once
the containers are gone.

Every change to bridges, veths and namespaces happens under the network lock;
addresses are handed out in database transactions."""

from __future__ import annotations

import os
import time

from dockyard.engine.network_common import (
    DEFAULT_MODES,
    MTU_OPT,
    Attachment,
    NetworkLock,
    drop_bridge,
    is_bridge_mode,
)
from dockyard.errors import Conflict, InvalidArgument
from dockyard.network import bridge as br
from dockyard.network.store import Endpoint

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from dockyard.config import EngineConfig
    from dockyard.engine.container_config import ContainerCreate
    from dockyard.engine.network_definitions import NetworkDefinitions
    from dockyard.engine.network_firewall import NetworkFirewall
    from dockyard.engine.network_ports import PortPublisher
    from dockyard.network.store import NetworkRecord, NetworkStore
    from dockyard.specs.ports import PortBinding


class ContainerAttachments:
    def __init__(
        self,
        config: EngineConfig,
        store: NetworkStore,
        lock: NetworkLock,
        firewall: NetworkFirewall,
        networks: NetworkDefinitions,
        ports: Callable[[], PortPublisher],
        *,
        netns_dir: str | os.PathLike[str],
        container_name: Callable[[str], str | None],
        is_running: Callable[[str], bool],
    ) -> None:
        self.config = config
        self.store = store
        self.lock = lock
        self.firewall = firewall
        self.networks = networks
        self.ports = ports
        self.netns_dir = os.fspath(netns_dir)
        self.container_name = container_name
        self.is_running = is_running

    def netns_path(self, cid: str) -> str:
        return os.path.join(self.netns_dir, cid)

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
        net = self.networks.default_network() if mode in DEFAULT_MODES else self.networks.get(mode)
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
        from dockyard.network.ipam import allocate_ip, mac_for

        with self.store.transaction():
            used = [e.ip for e in self.store.endpoints(network_id=net.id)]
            addr = allocate_ip(
                net.subnet,
                net.gateway,
                net.ip_range,
                used,
                network=net.name,
                network_id=net.id,
                requested=ip,
            )
            ep = Endpoint(net.id, cid, addr, mac_for(addr), ifname, tuple(aliases))
            self.store.add_endpoint(ep)
        return ep

    def attachments(self, cid: str) -> list[Attachment]:
        return [Attachment(n, e) for n, e in self.store.endpoints_with_networks(cid)]

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
        with self.lock.held():
            made_bridges = []
            for a in atts:
                if not br.link_exists(a.network.bridge):
                    self._check_claim(a.network)
                    br.add_bridge(self._bridge_spec(a.network))
                    made_bridges.append(a.network)
                    self._bridge_sysctls(a.network)
            path = self.netns_path(cid)
            fresh = not netns.is_netns(path)
            inner = None
            try:
                if fresh:
                    stale = [br.veth_name(a.network.id, cid) for a in atts]
                    br.delete_links(stale)  # left by a namespace that is gone (a reboot)
                    inner = netns.create(path)
                gateway = self._gateway_attachment(atts)
                specs = [
                    self._veth_spec(a, cid, gw=a is gateway)
                    for a in atts
                    if fresh or not br.link_exists(br.veth_name(a.network.id, cid))
                ]
                if specs:
                    if inner is None:
                        inner = netns.open_netlink(path)
                    br.add_veths(specs, inner, hairpin=br.bridge_netfilter())
            except BaseException:
                if fresh:
                    self._remove_sandbox(cid, atts)
                raise
            finally:
                if inner is not None:
                    inner.close()  # it holds the namespace too
            # publish() changes nothing without bindings nor rows (its module unneeded)
            ports_changed = bool(bindings or self.store.published(cid)) and self.ports().publish(
                cid, atts, bindings, warnings
            )
            if made_bridges or ports_changed:
                warnings += self.firewall.sync()
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
        from ipaddress import IPv4Network

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
        from dockyard.network.ipam import default_route_device

        return br.uplink_mtu(default_route_device())

    def link_mtu(self, net: NetworkRecord) -> int:
        """The MTU of the bridge and veths: big (traffic between containers and with
        the host stays on the machine; the default route carries :meth:`mtu`), unless
        the user set one."""
        opt = dict(net.options).get(MTU_OPT)
        return int(opt) if opt else br.LOCAL_MTU

    def _bridge_spec(self, net: NetworkRecord) -> br.BridgeSpec:
        return br.BridgeSpec(net.bridge, net.gateway, net.subnet, self.link_mtu(net))

    def _veth_spec(self, a: Attachment, cid: str, *, gw: bool) -> br.VethSpec:
        net, ep = a.network, a.endpoint
        return br.VethSpec(
            host=br.veth_name(net.id, cid),
            bridge=net.bridge,
            netns=self.netns_path(cid),
            ifname=ep.ifname,
            mac=ep.mac,
            ip=ep.ip,
            prefixlen=net.prefixlen,
            mtu=self.link_mtu(net),
            gateway=net.gateway if gw else None,
            route_mtu=self.mtu(net) if gw else None,
        )

    def _bridge_sysctls(self, net: NetworkRecord) -> None:
        """route_localnet on the bridge (127.0.0.1 -> published port); ip_forward once."""
        br.set_sysctl(f"net.ipv4.conf.{net.bridge}.route_localnet", "1")
        old = br.set_sysctl("net.ipv4.ip_forward", "1")
        if old is not None:
            self._record_sysctl("net.ipv4.ip_forward", "1", old)

    def _record_sysctl(self, key: str, value: str, old: str) -> None:
        import json

        from dockyard._util.atomic import atomic_write
        from dockyard.runtime.state import rfc3339_nano

        path = os.path.join(self.config.root_dir, "network", "sysctls.json")
        data = changed_sysctls(self.config.root_dir)
        data[key] = {"value": value, "was": old, "at": rfc3339_nano(time.time_ns())}
        atomic_write(path, json.dumps(data, indent=1).encode())

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
                return self.prepare(cid, self.ports().bindings_of(cid))
            except BaseException:
                with self.store.transaction():
                    self.store.remove_endpoint(net.id, cid)
                raise
        return []

    def disconnect(self, net: NetworkRecord, cid: str, *, force: bool = False) -> None:
        atts = self.attachments(cid)
        mine = [a for a in atts if a.network.id == net.id]
        if not mine:
            if force:
                return
            raise Conflict(f"container {cid} is not connected to network {net.name}")
        with self.lock.held():
            br.delete_links([br.veth_name(net.id, cid)])
            with self.store.transaction():
                self.store.remove_endpoint(net.id, cid)
            rest = [a for a in atts if a.network.id != net.id]
            was_gateway = mine[0] is self._gateway_attachment(atts)
            if rest and was_gateway and os.path.lexists(self.netns_path(cid)):
                gw = self._gateway_attachment(rest)
                if gw is not None:  # the default route moves to the next network
                    self._move_default_route(self._veth_spec(gw, cid, gw=True))
            if not self.store.endpoints(network_id=net.id):
                drop_bridge(net)
            self.firewall.sync()

    def _move_default_route(self, spec: br.VethSpec) -> None:
        from dockyard.errors import DockyardError
        from dockyard.network import netns

        try:
            with netns.open_netlink(spec.netns) as inner:
                br.set_default_route(spec, inner)
        except (DockyardError, OSError):
            pass  # as ``ip -force``: the container keeps its other routes

    # -- removal -------------------------------------------------------------------------
    def _remove_sandbox(self, cid: str, atts: Sequence[Attachment]) -> None:
        from dockyard.network import netns

        br.delete_links([br.veth_name(a.network.id, cid) for a in atts])
        netns.remove(self.netns_path(cid))

    def teardown(self, cid: str) -> None:
        """At ``rm`` (and when ``create`` fails): namespace, veths, addresses, ports;
        the bridges nobody uses any more, and the table. Idempotent.

        Deleting links is slow in the kernel (a bridge ~45 ms, a veth ~18 ms, an nft
        transaction ~15 ms), so unless ``DOCKYARD_NETWORK_LINGER=0``: the veths go with
        the namespace (the kernel deletes both ends in the background once its file is
        unmounted; :meth:`collect` deletes any still there later), a table update goes
        to a detached finisher that holds the network lock until done, and an idle
        bridge lingers for that many seconds (default 5): back-to-back ``run --rm``
        reuse it, and a janitor process deletes it (and the table) after."""
        from dockyard.network import netns

        atts = self.attachments(cid)
        path = self.netns_path(cid)
        had_ports = bool(self.store.published(cid))
        if not atts and not os.path.lexists(path) and not had_ports:
            return
        from dockyard.engine.network_janitor import linger_seconds

        linger = linger_seconds()
        links = [br.veth_name(a.network.id, cid) for a in atts]
        with self.lock.held() as lock:
            br.release_links(links)  # off the bridge now; deleted with the namespace
            netns.remove(path)
            with self.store.transaction():
                self.store.remove_endpoints_of(cid)
                self.store.remove_published(cid)
            idle = [a.network for a in atts if not self.store.has_endpoints(a.network.id)]
            if linger <= 0:
                links += [n.bridge for n in idle if n.bridge and br.is_bridge(n.bridge)]
                br.delete_links(links)
                self.firewall.sync()
                return
            if links:
                with open(self._gone_veths, "a") as f:
                    f.write("".join(f"{n}\n" for n in links))
            # the table names bridges and published ports: with the bridges lingering,
            # only a container that had ports changes it
            change = self.firewall.change() if had_ports else None
            if change is not None:
                from dockyard.engine.network_janitor import finish_later

                finish_later(lock, [], change[0])
        if any(n.bridge and br.is_bridge(n.bridge) for n in idle):
            self._schedule_janitor(linger)

    @property
    def _gone_veths(self) -> str:
        """The veths of removed containers (their namespace took them, normally)."""
        return os.path.join(self.lock.state_dir, "veths.gone")

    def _delete_gone_veths(self) -> None:
        """Delete the veths of removed containers that are still there: something
        else held their namespace (under the lock)."""
        try:
            with open(self._gone_veths) as f:
                names = f.read().split()
        except FileNotFoundError:
            return
        br.delete_links(names)
        try:
            os.unlink(self._gone_veths)
        except FileNotFoundError:
            pass

    def collect(self) -> None:
        """Delete the bridges no container uses any more; make the table match."""
        with self.lock.held():
            self._delete_gone_veths()
            in_use = {e.network_id for e in self.store.endpoints()}
            for n in self.store.all():
                if n.id not in in_use:
                    drop_bridge(n)
            self.firewall.sync()

    def _schedule_janitor(self, linger: float) -> None:
        from dockyard.engine.network_janitor import schedule_janitor

        schedule_janitor(self.config, linger)

    def repair(self, known: set[str]) -> list[str]:
        """``system restore``: forget what belongs to no container, remake the table.
        Returns the container ids whose leftovers were removed."""
        cleaned: list[str] = []
        with self.lock.held():
            for cid in self.store.containers_with_endpoints() - known:
                if _young(os.path.join(self.config.root_dir, "containers", cid)):
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
                    netns.remove(os.path.join(self.netns_dir, name))
                    if name not in cleaned:
                        cleaned.append(name)
            in_use = {e.network_id for e in self.store.endpoints()}
            for n in self.store.all():
                if n.id not in in_use:
                    drop_bridge(n)
            self.firewall.sync(force=True)
        return cleaned


def changed_sysctls(root: str | os.PathLike[str]) -> dict[str, dict[str, str]]:
    """The machine-wide sysctls an engine root changed, with their old values
    (``dockyard info`` shows them). Per-bridge ones (route_localnet) go with the bridge."""
    from dockyard._util import jsonlite

    try:
        with open(os.path.join(root, "network", "sysctls.json")) as f:
            data = jsonlite.loads(f.read())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _young(path: str, grace: float = 60.0) -> bool:
    try:
        return time.time() - os.stat(path).st_mtime < grace
    except FileNotFoundError:
        return False
