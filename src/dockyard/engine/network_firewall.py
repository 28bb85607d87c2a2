"""Our nft table, built from the records: the bridges that exist and the published
ports that reach a container on one of them. It lives while any of our bridges
exists; every change happens under the network lock."""

from __future__ import annotations

import os

from dockyard.network import bridge as br

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.network import firewall as fw
    from dockyard.network.store import Endpoint, NetworkStore


class NetworkFirewall:
    """The table ``dockyard_<tag>`` (:mod:`dockyard.network.firewall`, imported when the
    table is rendered or changed: a ``run`` on a lingering bridge does neither)."""

    def __init__(self, store: NetworkStore, tag: str, state_dir: str | os.PathLike[str]) -> None:
        self.store = store
        self.table = f"dockyard_{tag}"  # firewall.table_name(tag)
        self.state_dir = os.fspath(state_dir)

    @property
    def _applied_path(self) -> str:
        """The script last applied (``nft.rules`` in the runroot)."""
        return os.path.join(self.state_dir, "nft.rules")

    def ruleset(self) -> fw.Ruleset:
        from dockyard.network import firewall as fw

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

    def change(self, *, force: bool = False) -> tuple[str, bool] | None:
        """The nft script that makes our table match the records, and whether it
        defines the table (else it deletes it); None when the table is as last applied
        (``nft.rules`` in the runroot, which this updates)."""
        from dockyard.network import firewall as fw

        rs = self.ruleset()
        cache = self._applied_path
        try:
            with open(cache) as f:
                applied: str | None = f.read()
        except OSError:
            applied = None
        if not rs.bridges:
            if applied is None and not force:
                return None
            _unlink(cache)
            return fw.delete_script(self.table), False
        script = fw.render(rs)
        if script == applied and not force:
            return None
        with open(cache, "w") as f:
            f.write(script)
        return script, True

    def sync(self, *, force: bool = False) -> list[str]:
        """Make the table match the records (under the lock). Returns warnings."""
        change = self.change(force=force)
        if change is None:
            return []
        from dockyard.network import firewall as fw

        script, defines = change
        try:
            if not defines:
                fw.delete(self.table)
                return []
            drops = fw.apply(script, self.table)
        except BaseException:
            _unlink(self._applied_path)
            raise
        warning = fw.forward_drop_warning(drops)
        return [warning] if warning else []


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
