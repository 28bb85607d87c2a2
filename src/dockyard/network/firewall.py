"""nftables: Dockyard's own table, generated whole and replaced whole.

One table per engine root, ``table inet dockyard_<6 hex>``, holds everything:

- ``forward``: ``--internal`` networks keep to their bridge; published ports
  (DNAT'd connections) reach containers from anywhere; our networks cannot reach
  each other; from outside only replies enter a bridge.
- ``prerouting``/``output`` -> ``published``: DNAT of each published port, for
  packets addressed to the host (from other machines, from containers, from the
  host itself including 127.0.0.1, which needs ``route_localnet`` on the bridge).
- ``postrouting``: masquerade for egress (not for internal networks), for
  connections that came from 127.0.0.0/8, and hairpin (a container reaching a
  published port of its own network through the host's address).

:func:`render` is pure. :func:`apply` replaces the table in one atomic ``nft -f -``
transaction (add, delete, define) and in the same call lists the chains of every
table, so that a ``policy drop`` on another table's forward hook — which would drop
our forwarded packets whatever our table says, e.g. dockerd's ``ip filter FORWARD`` —
is reported. Other tables are never touched.
"""

from __future__ import annotations

from collections.abc import Sequence

from dockyard._util.record import OrderedRecord, Record
from dockyard.errors import ExternalToolFailed, Unsupported


def table_name(tag: str) -> str:
    return f"dockyard_{tag}"


class BridgeNet(OrderedRecord):
    """One bridge; ``dns``: the gateway address the embedded DNS listens on ("" none)."""

    __slots__ = ("bridge", "subnet", "internal", "dns")  # noqa: RUF023 (constructor order)
    bridge: str
    subnet: str
    internal: bool
    dns: str

    def __init__(self, bridge: str, subnet: str, internal: bool = False, dns: str = "") -> None:
        self._set(bridge=bridge, subnet=subnet, internal=internal, dns=dns)


class PortForward(OrderedRecord):
    """``host_ip:host_port/proto`` -> ``ip:port`` (``host_ip`` "" = any host address)."""

    __slots__ = ("proto", "host_port", "host_ip", "ip", "port", "bridge")  # noqa: RUF023
    proto: str
    host_port: int
    host_ip: str
    ip: str
    port: int
    bridge: str

    def __init__(
        self, proto: str, host_port: int, host_ip: str, ip: str, port: int, bridge: str
    ) -> None:
        self._set(
            proto=proto, host_port=host_port, host_ip=host_ip, ip=ip, port=port, bridge=bridge
        )


class Ruleset(Record):
    __slots__ = ("table", "bridges", "forwards")  # noqa: RUF023 (constructor order)
    table: str
    bridges: tuple[BridgeNet, ...]
    forwards: tuple[PortForward, ...]

    def __init__(
        self,
        table: str,
        bridges: tuple[BridgeNet, ...] = (),
        forwards: tuple[PortForward, ...] = (),
    ) -> None:
        self._set(table=table, bridges=bridges, forwards=forwards)


def _q(name: str) -> str:
    return f'"{name}"'


def _set(names: Sequence[str]) -> str:
    if len(names) == 1:
        return _q(names[0])
    return "{ " + ", ".join(_q(n) for n in names) + " }"


def _set_raw(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else "{ " + ", ".join(items) + " }"


def render(rs: Ruleset) -> str:
    """The whole-table script: create (so that delete cannot fail), delete, define."""
    t = f"inet {rs.table}"
    bridges = sorted(set(rs.bridges))
    names = [b.bridge for b in bridges]
    open_ = [b.bridge for b in bridges if not b.internal]
    fwd: list[str] = []
    for b in bridges:
        if b.internal:
            fwd.append(f"iifname {_q(b.bridge)} oifname != {_q(b.bridge)} drop")
            fwd.append(f"oifname {_q(b.bridge)} iifname != {_q(b.bridge)} drop")
    if open_:
        fwd.append(f"oifname {_set(open_)} ct status dnat accept")
    for b in bridges:
        others = [n for n in names if n != b.bridge]
        if not b.internal and others:
            fwd.append(f"iifname {_q(b.bridge)} oifname {_set(others)} drop")
    for name in open_:
        fwd.append(f"oifname {_q(name)} iifname != {_q(name)} ct state established,related accept")
        fwd.append(f"oifname {_q(name)} iifname != {_q(name)} drop")
    published: list[str] = []
    for f in sorted(set(rs.forwards)):
        match = f"ip daddr {f.host_ip}" if f.host_ip else "meta nfproto ipv4"
        published.append(f"{match} {f.proto} dport {f.host_port} dnat ip to {f.ip}:{f.port}")
    post: list[str] = []
    for b in bridges:
        if not b.internal:
            post.append(f"oifname {_q(b.bridge)} ip saddr 127.0.0.0/8 masquerade")
            # a published port reached from the same network (the container itself
            # included: hairpin): else the reply would skip the host and its NAT
            post.append(f"oifname {_q(b.bridge)} ip saddr {b.subnet} ct status dnat masquerade")
    for b in bridges:
        if not b.internal:
            post.append(f"ip saddr {b.subnet} oifname != {_q(b.bridge)} masquerade")

    def chain(name: str, hook: str, rules: list[str]) -> list[str]:
        out = [f"\tchain {name} {{"]
        if hook:
            out.append(f"\t\t{hook}")
        out += [f"\t\t{r}" for r in rules]
        out.append("\t}")
        return out

    lines = [f"table {t} {{}}", f"delete table {t}", f"table {t} {{"]
    lines += chain("forward", "type filter hook forward priority filter; policy accept;", fwd)
    # the embedded DNS on a gateway is never DNAT'd away: a container publishing
    # port 53 on every address must not capture its network's name resolution
    dns = sorted({b.dns for b in bridges if b.dns})
    keep_dns = [f"ip daddr {_set_raw(dns)} meta l4proto {{ tcp, udp }} th dport 53 return"]
    keep_dns = keep_dns if dns else []
    lines += chain(
        "prerouting",
        "type nat hook prerouting priority dstnat; policy accept;",
        [*keep_dns, "fib daddr type local jump published"],
    )
    lines += chain(
        "output",
        "type nat hook output priority -100; policy accept;",
        [*keep_dns, "fib daddr type local jump published"],
    )
    lines += chain("published", "", published)
    lines += chain("postrouting", "type nat hook postrouting priority srcnat; policy accept;", post)
    lines.append("}")
    return "\n".join(lines) + "\n"


def delete_script(table: str) -> str:
    return f"table inet {table} {{}}\ndelete table inet {table}\n"


def _nft(script: str) -> str:
    import subprocess

    try:
        r = subprocess.run(
            ["nft", "-f", "-"], input=script, capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise Unsupported(
            "nft is not installed: bridge networking needs nftables",
            hint="apt-get install nftables",
        )
    if r.returncode != 0:
        detail = "; ".join(line.strip() for line in r.stderr.splitlines() if line.strip())
        raise ExternalToolFailed(f"nft: {detail or f'exit status {r.returncode}'}")
    return r.stdout


def apply(script: str, own_table: str) -> list[str]:
    """Replace our table; return the other tables' forward chains that drop by policy."""
    listing = _nft(script + "list chains\n")
    return forward_drops(listing, own_table)


def delete(table: str) -> None:
    _nft(delete_script(table))


def forward_drops(listing: str, own_table: str) -> list[str]:
    """From ``nft list chains``: ``"ip filter FORWARD"`` for each base chain on the
    forward hook with ``policy drop`` in a table other than ours."""
    out: list[str] = []
    table = chain = ""
    for raw in listing.splitlines():
        line = raw.strip()
        if line.startswith("table "):
            table = line.removeprefix("table ").removesuffix("{").strip()
        elif line.startswith("chain "):
            chain = line.removeprefix("chain ").removesuffix("{").strip()
        elif "hook forward" in line and "policy drop" in line and table.split()[-1:] != [own_table]:
            out.append(f"{table} {chain}")
    return out


def forward_drop_warning(drops: Sequence[str]) -> str | None:
    if not drops:
        return None
    where = ", ".join(f"table {d.rsplit(' ', 1)[0]} chain {d.rsplit(' ', 1)[1]}" for d in drops)
    return (
        f"WARNING: {where} drops forwarded packets by policy (dockerd sets this): containers "
        "on Dockyard networks have no egress and no access between networks while it is "
        "there. Dockyard never edits another engine's tables; stop that engine or accept "
        "our bridges in that chain yourself."
    )
