"""Containers find each other by name through the embedded DNS, end to end (root).

Real containers on a user network made with the CLI: a busybox httpd serving its
/etc, reached by name and by ``--network-alias`` with ``wget``, ``nslookup`` from
another container, not across networks, and after a restart. The DNS server of
the module's engine root is started first with a fake upstream on 127.0.0.1, so
that names the server forwards never leave the machine (the engine's own
``ensure_dns_server`` call then finds it running).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest

from dockyard.engine import dns_service
from dockyard.network import dns_wire as w
from dockyard.network.bridge import root_tag
from dockyard.network.dns_control import running_pid, stop_dns_server
from tests.conftest import CLI
from tests.integration.test_run_flags import Site, inspect, make_cli, make_site
from tests.unit.test_dns import FakeUpstream

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    gen = make_site(tmp_path_factory)
    s = next(gen)
    try:
        yield s
    finally:
        next(gen, None)  # containers and volumes removed, the root deleted
        # what a failed test may have left: the root's bridges (named after its tag)
        tag = root_tag(s.root)
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        for line in links.splitlines():
            name = line.split(":")[1].strip().split("@")[0]
            if name.startswith(f"dy{tag}-"):
                subprocess.run(["ip", "link", "del", name], capture_output=True)


@pytest.fixture(scope="module")
def upstream(site: Site) -> Iterator[FakeUpstream]:
    def handler(q: w.Message, tcp: bool) -> bytes:
        if w.name_key(q.questions[0].name) == "upstream.test":
            rr = w.Record(q.questions[0].name, w.A, w.IN, 30, "198.51.100.7")
            return w.encode(w.reply(q, answers=(rr,) if q.questions[0].qtype == w.A else ()))
        return w.encode(w.reply(q, w.NXDOMAIN))

    up = FakeUpstream(handler)
    dns_service.ensure(site.root, site.runroot, upstreams=[str(up.upstream)])
    try:
        yield up
    finally:
        stop_dns_server(site.runroot)
        up.close()


@pytest.fixture
def nets(site: Site, capsys: pytest.CaptureFixture[str]) -> Iterator[list[str]]:
    """Networks a test made; removed after its containers (``dy`` depends on this)."""
    made: list[str] = []
    yield made
    cli = CLI(site.root, capsys)
    cli.runroot = site.runroot
    for name in made:
        deadline = time.monotonic() + 10  # a --rm container may still be going away
        while (r := cli("network", "rm", name)).code != 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert r.code == 0, r.err


@pytest.fixture
def dy(
    site: Site, upstream: FakeUpstream, nets: list[str], capsys: pytest.CaptureFixture[str]
) -> Iterator[CLI]:
    pid = running_pid(site.runroot)
    yield from make_cli(site, capsys)
    assert running_pid(site.runroot) == pid  # the engine found the running server


def network(dy: CLI, nets: list[str], name: str) -> str:
    dy.ok("network", "create", name)
    nets.append(name)
    return name


def gateway_of(dy: CLI, net: str) -> str:
    return dy.ok("network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", net).strip()


def ip_of(dy: CLI, container: str, net: str) -> str:
    return inspect(dy, container, f"{{{{.NetworkSettings.Networks.{net}.IPAddress}}}}")


def test_names_and_aliases_between_containers(dy: CLI, nets: list[str], prefix: str) -> None:
    net = network(dy, nets, f"{prefix}n")
    cid = dy.ok("run", "-d", "--network", net, "--name", f"{prefix}a",
                "--network-alias", f"{prefix}web", "busybox",
                "httpd", "-f", "-p", "80", "-h", "/etc").strip()  # fmt: skip
    ip = ip_of(dy, f"{prefix}a", net)
    assert ip
    for name in (f"{prefix}a", f"{prefix}web", cid[:12]):
        out = dy.ok("run", "--rm", "--network", net, "busybox", "wget", "-qO-",
                    f"http://{name}/hostname")  # fmt: skip
        assert out.strip() == cid[:12]
    out = dy.ok("run", "--rm", "--network", net, "busybox", "nslookup", f"{prefix}a")
    assert f"Address: {ip}" in out
    # PTR: NAME.NETWORK, as Docker answers
    out = dy.ok("run", "--rm", "--network", net, "busybox", "nslookup", ip)
    assert f"name = {prefix}a.{net}" in out
    # a name that is no container goes to the (fake) upstream
    out = dy.ok("run", "--rm", "--network", net, "busybox", "nslookup", "upstream.test")
    assert "Address: 198.51.100.7" in out


def test_not_across_networks_nor_on_the_default_bridge(
    dy: CLI, nets: list[str], prefix: str
) -> None:
    net1, net2 = network(dy, nets, f"{prefix}one"), network(dy, nets, f"{prefix}two")
    dy.ok("run", "-d", "--network", net1, "--name", f"{prefix}a", "busybox", "sleep", "60")
    r = dy("run", "--rm", "--network", net2, "busybox", "nslookup", f"{prefix}a")
    assert r.code != 0 and "NXDOMAIN" in r.out + r.err
    # the default bridge: the host's resolvers, no names (as Docker)
    resolv = dy.ok("run", "--rm", "busybox", "cat", "/etc/resolv.conf")
    assert f"nameserver {gateway_of(dy, net1)}" not in resolv
    assert f"nameserver {gateway_of(dy, net2)}" not in resolv
    # a container on both networks sees the names of both
    dy.ok("create", "--network", net2, "--name", f"{prefix}b", "busybox", "nslookup", f"{prefix}a")
    dy.ok("network", "connect", net1, f"{prefix}b")
    out = dy.ok("start", "-a", f"{prefix}b")
    assert f"Address: {ip_of(dy, f'{prefix}a', net1)}" in out


def test_restart_and_removal_are_followed(dy: CLI, nets: list[str], prefix: str) -> None:
    net = network(dy, nets, f"{prefix}n")
    dy.ok("run", "-d", "--network", net, "--name", f"{prefix}a", "busybox",
          "httpd", "-f", "-p", "80", "-h", "/etc")  # fmt: skip
    dy.ok("restart", "-t", "1", f"{prefix}a")
    ip = ip_of(dy, f"{prefix}a", net)
    out = dy.ok("run", "--rm", "--network", net, "busybox", "nslookup", f"{prefix}a")
    assert f"Address: {ip}" in out
    cid = inspect(dy, f"{prefix}a", "{{.Id}}")
    out = dy.ok("run", "--rm", "--network", net, "busybox", "wget", "-qO-",
                f"http://{prefix}a/hostname")  # fmt: skip
    assert out.strip() == cid[:12]
    # a stopped container has no name (Docker's behaviour), and has it back at start
    dy.ok("stop", "-t", "0", f"{prefix}a")
    r = dy("run", "--rm", "--network", net, "busybox", "nslookup", f"{prefix}a")
    assert r.code != 0 and "NXDOMAIN" in r.out + r.err
    dy.ok("start", f"{prefix}a")
    out = dy.ok("run", "--rm", "--network", net, "busybox", "nslookup", f"{prefix}a")
    assert f"Address: {ip}" in out
    dy.ok("rm", "-f", f"{prefix}a")
    r = dy("run", "--rm", "--network", net, "busybox", "nslookup", f"{prefix}a")
    assert r.code != 0 and "NXDOMAIN" in r.out + r.err


def test_host_side_view(dy: CLI, nets: list[str], prefix: str) -> None:
    """From the host, busybox nslookup against the network's gateway answers too."""
    net = network(dy, nets, f"{prefix}n")
    dy.ok("run", "-d", "--network", net, "--name", f"{prefix}a", "busybox", "sleep", "60")
    gateway, ip = gateway_of(dy, net), ip_of(dy, f"{prefix}a", net)
    p = subprocess.run(["/bin/busybox", "nslookup", f"{prefix}a", gateway],
                       capture_output=True, text=True, timeout=20)  # fmt: skip
    assert f"Address: {ip}" in p.stdout, p.stdout + p.stderr


def test_a_published_port_53_does_not_capture_names(dy: CLI, nets: list[str], prefix: str) -> None:
    """A container publishing 53 on every host address (a DNS server of the user's)
    must not take the queries its network sends to the embedded DNS."""
    net = network(dy, nets, f"{prefix}n")
    dy.ok("run", "-d", "--network", net, "--name", f"{prefix}a", "busybox", "sleep", "60")
    dy.ok("run", "-d", "--network", net, "--name", f"{prefix}dns", "-p", "53:53/udp",
          "-p", "53:53/tcp", "busybox", "sleep", "60")  # fmt: skip
    out = dy.ok("run", "--rm", "--network", net, "busybox", "nslookup", f"{prefix}a")
    assert f"Address: {ip_of(dy, f'{prefix}a', net)}" in out


def test_own_dns_servers_are_the_upstreams(dy: CLI, nets: list[str], prefix: str) -> None:
    """On a user network ``--dns`` does not bypass the embedded DNS (names keep
    working); it becomes the upstream for that container's other names (Docker)."""

    def handler(q: w.Message, tcp: bool) -> bytes:
        if w.name_key(q.questions[0].name) == "own.test":
            rr = w.Record(q.questions[0].name, w.A, w.IN, 30, "198.51.100.99")
            return w.encode(w.reply(q, answers=(rr,) if q.questions[0].qtype == w.A else ()))
        return w.encode(w.reply(q, w.NXDOMAIN))

    own = FakeUpstream(handler)
    try:
        net = network(dy, nets, f"{prefix}n")
        dy.ok("run", "-d", "--network", net, "--name", f"{prefix}a", "busybox", "sleep", "60")
        flags = ("--rm", "--network", net, "--dns", f"127.0.0.1:{own.port}", "busybox")
        resolv = dy.ok("run", *flags, "cat", "/etc/resolv.conf")
        assert f"nameserver {gateway_of(dy, net)}" in resolv
        out = dy.ok("run", *flags, "nslookup", f"{prefix}a")
        assert f"Address: {ip_of(dy, f'{prefix}a', net)}" in out
        out = dy.ok("run", *flags, "nslookup", "own.test")
        assert "Address: 198.51.100.99" in out
        # the others still use the module's upstream, which does not know own.test
        r = dy("run", "--rm", "--network", net, "busybox", "nslookup", "own.test")
        assert r.code != 0 and "NXDOMAIN" in r.out + r.err
    finally:
        own.close()
