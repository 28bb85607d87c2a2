"""Our nft table, built from the records: the bridges that exist and the published
ports that reach a container on one of them. It lives while any of our bridges
exists; every change happens under the network lock."""

from __future__ import annotations

from pathlib import Path

from dockyard.network import bridge as br
from dockyard.network import firewall as fw
from dockyard.network.store import Endpoint, NetworkStore


class NetworkFirewall:
    def __init__(self, store: NetworkStore, table: str, state_dir: Path) -> None:
        self.store = store
        self.table = table
        self.state_dir = state_dir

    @property
    def _applied_path(self) -> Path:
        """The script last applied (``nft.rules`` in the runroot)."""
        return self.state_dir / "nft.rules"

    def ruleset(self) -> fw.Ruleset:
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
        rs = self.ruleset()
        cache = self._applied_path
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

    def sync(self, *, force: bool = False) -> list[str]:
        """Make the table match the records (under the lock). Returns warnings."""
        change = self.change(force=force)
        if change is None:
            return []
        script, defines = change
        try:
            if not defines:
                fw.delete(self.table)
                return []
            drops = fw.apply(script, self.table)
        except BaseException:
            self._applied_path.unlink(missing_ok=True)
            raise
        warning = fw.forward_drop_warning(drops)
        return [warning] if warning else []
