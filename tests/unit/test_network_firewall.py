"""The nft table: the whole-table script, and reading other tables' forward policies."""

from __future__ import annotations

from dockyard.network.firewall import (
    BridgeNet,
    PortForward,
    Ruleset,
    delete_script,
    forward_drop_warning,
    forward_drops,
    render,
    table_name,
)

EXPECTED = """\
table inet dockyard_abc123 {}
delete table inet dockyard_abc123
table inet dockyard_abc123 {
\tchain forward {
\t\ttype filter hook forward priority filter; policy accept;
\t\tiifname "dyabc123-2" oifname != "dyabc123-2" drop
\t\toifname "dyabc123-2" iifname != "dyabc123-2" drop
\t\toifname { "dyabc123-0", "dyabc123-1" } ct status dnat accept
\t\tiifname "dyabc123-0" oifname { "dyabc123-1", "dyabc123-2" } drop
\t\tiifname "dyabc123-1" oifname { "dyabc123-0", "dyabc123-2" } drop
\t\toifname "dyabc123-0" iifname != "dyabc123-0" ct state established,related accept
\t\toifname "dyabc123-0" iifname != "dyabc123-0" drop
\t\toifname "dyabc123-1" iifname != "dyabc123-1" ct state established,related accept
\t\toifname "dyabc123-1" iifname != "dyabc123-1" drop
\t}
\tchain prerouting {
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t\tfib daddr type local jump published
\t}
\tchain output {
\t\ttype nat hook output priority -100; policy accept;
\t\tfib daddr type local jump published
\t}
\tchain published {
\t\tip daddr 127.0.0.1 tcp dport 8080 dnat ip to 172.18.0.2:80
\t\tmeta nfproto ipv4 udp dport 5353 dnat ip to 172.19.0.3:53
\t}
\tchain postrouting {
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\toifname "dyabc123-0" ip saddr 127.0.0.0/8 masquerade
\t\toifname "dyabc123-0" ip saddr 172.18.0.0/16 ct status dnat masquerade
\t\toifname "dyabc123-1" ip saddr 127.0.0.0/8 masquerade
\t\toifname "dyabc123-1" ip saddr 172.19.0.0/16 ct status dnat masquerade
\t\tip saddr 172.18.0.0/16 oifname != "dyabc123-0" masquerade
\t\tip saddr 172.19.0.0/16 oifname != "dyabc123-1" masquerade
\t}
}
"""


def test_render_whole_table() -> None:
    rs = Ruleset(
        table_name("abc123"),
        (
            BridgeNet("dyabc123-1", "172.19.0.0/16"),
            BridgeNet("dyabc123-2", "172.20.0.0/16", internal=True),
            BridgeNet("dyabc123-0", "172.18.0.0/16"),
        ),
        (
            PortForward("udp", 5353, "", "172.19.0.3", 53, "dyabc123-1"),
            PortForward("tcp", 8080, "127.0.0.1", "172.18.0.2", 80, "dyabc123-0"),
        ),
    )
    assert render(rs) == EXPECTED


def test_render_is_deterministic_and_minimal() -> None:
    one = Ruleset("dockyard_x", (BridgeNet("b0", "10.0.0.0/24"),))
    text = render(one)
    assert text == render(Ruleset("dockyard_x", (BridgeNet("b0", "10.0.0.0/24"),) * 2))
    assert 'oifname "b0" ct status dnat accept' in text
    assert 'iifname "b0" oifname' not in text.replace('iifname "b0" oifname "b0"', "")
    internal_only = render(Ruleset("dockyard_x", (BridgeNet("b1", "10.0.1.0/24", True),)))
    assert "masquerade" not in internal_only


def test_the_embedded_dns_is_never_dnatted_away() -> None:
    """A container publishing 53 on every address must not capture the name
    resolution of user networks (the DNS server listens on their gateways)."""
    text = render(
        Ruleset(
            "dockyard_x",
            (BridgeNet("b0", "10.0.0.0/24", dns="10.0.0.1"), BridgeNet("b1", "10.0.1.0/24")),
            (PortForward("udp", 53, "", "10.0.0.2", 53, "b0"),),
        )
    )
    keep = "ip daddr 10.0.0.1 meta l4proto { tcp, udp } th dport 53 return"
    for chain in ("prerouting", "output"):
        body = text.split(f"chain {chain} {{")[1].split("\n\t}")[0]
        assert body.index(keep) < body.index("jump published"), body
    assert "ip daddr" not in render(Ruleset("dockyard_x", (BridgeNet("b0", "10.0.0.0/24"),)))


def test_delete_script_never_fails_on_a_missing_table() -> None:
    assert delete_script("dockyard_x") == (
        "table inet dockyard_x {}\ndelete table inet dockyard_x\n"
    )


LISTING = """\
table ip filter {
	chain DOCKER {
	}
	chain FORWARD {
		type filter hook forward priority filter; policy drop;
	}
}
table inet dockyard_abc123 {
	chain forward {
		type filter hook forward priority filter; policy drop;
	}
}
table inet other {
	chain fwd {
		type filter hook forward priority 10; policy accept;
	}
	chain input {
		type filter hook input priority 0; policy drop;
	}
}
"""


def test_forward_drops_of_other_tables() -> None:
    drops = forward_drops(LISTING, "dockyard_abc123")
    assert drops == ["ip filter FORWARD"]
    warning = forward_drop_warning(drops)
    assert warning is not None
    assert "table ip filter chain FORWARD" in warning and "dockerd" in warning
    assert forward_drop_warning([]) is None
