"""Bridge networks end to end, as root: addresses, isolation, internal networks,
published ports (TCP, UDP, random, conflicts), IPAM errors, connect/disconnect,
restarts, cleanup, and (slow) egress through NAT.

Traffic goes only to loopback, to the host's own addresses and to this module's
containers; "no egress" is proven with the route table and with the host's own
address, never by probing an outside address. The egress test fetches from
deb.debian.org, as a build does.

Every test removes what it made (the ``dy`` fixture: containers, volumes, user
networks), and the module ends by checking that no bridge, veth, network namespace,
nft table, mount or DNS server of its engine root is left.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CLI, Result
from tests.integration.test_run_flags import Site, make_site, remove_everything, wait_until
from tests.integration.test_runtime_helpers import mounts_under

pytestmark = pytest.mark.root

HTTPD = "mkdir -p /www && echo hello-$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www"
# the host's python, read-only, for a UDP echo server (busybox nc has no -u)
HOST_PYTHON = ("-v", "/usr:/usr:ro", "-v", "/usr/lib:/lib:ro", "-v", "/usr/lib64:/lib64:ro")
UDP_ECHO = (
    "import socket\n"
    "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    "s.bind(('0.0.0.0', 9999))\n"
    "while True:\n"
    "    d, a = s.recvfrom(512)\n"
    "    s.sendto(b'echo:' + d, a)\n"
)


class NetCLI(CLI):
    """The in-process CLI, noting every (network, container) endpoint it saw: their
    veths must all be gone at the end."""

    seen: set[tuple[str, str]]

    def __call__(self, *args: str) -> Result:
        r = super().__call__(*args)
        try:
            conn = sqlite3.connect(self.root / "state.db")
            try:
                rows = conn.execute("SELECT network_id, container_id FROM endpoints").fetchall()
            finally:
                conn.close()
            self.seen.update((str(n), str(c)) for n, c in rows)
        except sqlite3.Error:
            pass
        return r


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DOCKYARD_NETWORK_LINGER", "0")  # idle bridges go at once: checkable
        yield from make_site(tmp_path_factory)


@pytest.fixture(scope="module")
def seen() -> set[tuple[str, str]]:
    return set()


@pytest.fixture(scope="module", autouse=True)
def nothing_left(site: Site, seen: set[tuple[str, str]]) -> Iterator[None]:
    yield
    remove_everything(site)
    remove_networks(site)
    from dockyard.network.dns_control import stop_dns_server

    stop_dns_server(site.runroot)
    assert leftovers(site, seen) == []


@pytest.fixture
def dy(
    site: Site, seen: set[tuple[str, str]], capsys: pytest.CaptureFixture[str]
) -> Iterator[NetCLI]:
    cli = NetCLI(site.root, capsys)
    cli.runroot = site.runroot
    cli.seen = seen
    try:
        yield cli
    finally:
        remove_everything(site)
        remove_networks(site)


# -- helpers ------------------------------------------------------------------------------


def engine(site: Site):  # type: ignore[no-untyped-def]
    from dockyard.engine.wiring import Engine

    return Engine(site.config)


def remove_networks(site: Site) -> None:
    e = engine(site)
    try:
        for n in e.networks.all():
            if n.driver == "bridge" and not n.is_default:
                try:
                    e.networks.remove(n.id)
                except Exception:  # keep going
                    pass
        e.networks.collect()
    finally:
        e.close()


def tag(site: Site) -> str:
    from dockyard.network.bridge import root_tag

    return root_tag(site.root)


def link_names(kind: str) -> list[str]:
    out = subprocess.run(
        ["ip", "-o", "link", "show", "type", kind], capture_output=True, text=True, check=True
    ).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line]


def leftovers(site: Site, seen: set[tuple[str, str]]) -> list[str]:
    from dockyard.network.bridge import veth_name
    from dockyard.network.dns_control import running_pid

    t = tag(site)
    found = [f"bridge {b}" for b in link_names("bridge") if b.startswith(f"dy{t}-")]
    veths = {veth_name(n, c) for n, c in seen}
    found += [f"veth {v}" for v in link_names("veth") if v in veths]
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    if f"dockyard_{t}" in tables:
        found.append(f"nft table dockyard_{t}")
    netns_dir = site.runroot / "netns"
    if netns_dir.is_dir():
        found += [f"netns {n}" for n in os.listdir(netns_dir)]
    found += [f"mount {m}" for m in mounts_under(site.runroot)]
    if running_pid(site.runroot) is not None:
        found.append("dns server")
    return found


def host_address() -> str:
    """The host's own address on its uplink (the interface of the default route)."""
    from dockyard.network.ipam import host_routes, uplink

    dev = uplink(host_routes())
    assert dev, "no default route"
    out = subprocess.run(
        ["ip", "-j", "-4", "addr", "show", "dev", dev], capture_output=True, text=True, check=True
    ).stdout
    for iface in json.loads(out):
        for a in iface.get("addr_info", []):
            if a.get("scope") == "global":
                return str(a["local"])
    pytest.skip("the uplink has no IPv4 address")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])


def http_get(url: str, timeout: float = 3.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def wait_http(url: str, timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return http_get(url)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def ip_of(dy: CLI, name: str, network: str) -> str:
    fmt = '{{(index .NetworkSettings.Networks "' + network + '").IPAddress}}'
    return dy.ok("inspect", "-f", fmt, name).strip()


def httpd(dy: CLI, name: str, *flags: str) -> str:
    return dy.ok("run", "-d", "--name", name, *flags, "busybox", "sh", "-c", HTTPD).strip()


def in_container(dy: CLI, network: str, script: str) -> Result:
    return dy("run", "--rm", "--network", network, "busybox", "sh", "-c", script)


# -- networks -------------------------------------------------------------------------------


def test_network_commands_and_inspect(dy: NetCLI) -> None:
    nid = dy.ok("network", "create", "--label", "team=a", "dytnet1").strip()
    assert re.fullmatch(r"[0-9a-f]{64}", nid)
    r = dy("network", "create", "dytnet1")
    assert r.code == 1 and "network with name dytnet1 already exists" in r.err
    lines = dy.ok("network", "ls").splitlines()
    assert lines[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    names = [line.split()[1] for line in lines[1:]]
    assert names == sorted(names) and {"bridge", "host", "none", "dytnet1"} <= set(names)
    assert dy.ok("network", "ls", "-q", "--filter", "name=dytnet1").strip() == nid[:12]
    assert dy.ok("network", "ls", "--filter", "label=team=a", "--format", "{{.Name}}") == (
        "dytnet1\n"
    )
    assert dy.ok("network", "ls", "--filter", "type=custom", "--format", "{{.Name}}") == (
        "dytnet1\n"
    )
    (obj,) = json.loads(dy.ok("network", "inspect", "dytnet1"))
    assert list(obj) == [
        "Name", "Id", "Created", "Scope", "Driver", "EnableIPv6", "IPAM", "Internal",
        "Attachable", "Ingress", "ConfigFrom", "ConfigOnly", "Containers", "Options", "Labels",
    ]  # fmt: skip
    assert obj["Id"] == nid and obj["Driver"] == "bridge" and obj["Scope"] == "local"
    assert obj["Labels"] == {"team": "a"}
    (cfg,) = obj["IPAM"]["Config"]
    assert cfg["Gateway"].endswith(".1") and cfg["Subnet"].endswith(("/16", "/20"))
    cid = dy.ok("run", "-d", "--network", "dytnet1", "--network-alias", "api", "--name",
                "dytc1", "busybox", "sleep", "60").strip()  # fmt: skip
    (obj,) = json.loads(dy.ok("network", "inspect", "dytnet1"))
    entry = obj["Containers"][cid]
    assert entry["Name"] == "dytc1" and entry["IPv4Address"].endswith("/" + cfg["Subnet"][-2:])
    settings = json.loads(dy.ok("inspect", "-f", "{{json .NetworkSettings}}", "dytc1"))
    ep = settings["Networks"]["dytnet1"]
    assert ep["NetworkID"] == nid and ep["Aliases"] == ["api"]
    assert ep["IPAddress"] == entry["IPv4Address"].split("/")[0]
    assert ep["DNSNames"] == ["dytc1", cid[:12], "api"]
    assert settings["SandboxKey"] == str(dy.runroot / "netns" / cid)
    # the container's own /etc/hosts line and the network's DNS server in resolv.conf
    hosts = dy.ok("exec", "dytc1", "cat", "/etc/hosts")
    assert f"{ep['IPAddress']}\t{cid[:12]}" in hosts
    resolv = dy.ok("exec", "dytc1", "cat", "/etc/resolv.conf")
    assert f"nameserver {cfg['Gateway']}" in resolv
    # Docker's texts for a network in use and for the predefined ones
    r = dy("network", "rm", "dytnet1")
    assert r.code == 1
    assert "error while removing network: network dytnet1 has active endpoints" in r.err
    assert 'name:"dytc1"' in r.err
    r = dy("network", "rm", "bridge")
    assert "bridge is a pre-defined network and cannot be removed" in r.err
    assert dy("network", "inspect", "nosuchnet").code == 1
    dy.ok("rm", "-f", "dytc1")
    assert dy.ok("network", "rm", "dytnet1") == "dytnet1\n"
    assert "dytnet1" not in dy.ok("network", "ls")


def test_default_network_is_dockers_bridge(dy: NetCLI) -> None:
    dy.ok("run", "-d", "--name", "dytd", "busybox", "sleep", "60")
    settings = json.loads(dy.ok("inspect", "-f", "{{json .NetworkSettings}}", "dytd"))
    ep = settings["Networks"]["bridge"]
    assert settings["IPAddress"] == ep["IPAddress"] and settings["Gateway"] == ep["Gateway"]
    assert ep["DNSNames"] is None
    assert dy.ok("inspect", "-f", "{{.HostConfig.NetworkMode}}", "dytd") == "bridge\n"
    from dockyard.network.bridge import LOCAL_MTU, uplink_mtu
    from dockyard.network.ipam import host_routes, uplink

    # big frames between containers; the uplink's MTU on the way out (the default
    # route's, which busybox's ip does not print)
    assert int(dy.ok("exec", "dytd", "cat", "/sys/class/net/eth0/mtu")) == LOCAL_MTU
    route = subprocess.run(
        ["nsenter", f"--net={settings['SandboxKey']}", "ip", "route"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    up = uplink_mtu(uplink(host_routes()))
    assert f"default via {ep['Gateway']} dev eth0 mtu {up}" in route, route
    (obj,) = json.loads(dy.ok("network", "inspect", "bridge"))
    assert obj["Options"]["com.docker.network.bridge.default_bridge"] == "true"
    assert obj["Options"]["com.docker.network.bridge.name"].startswith(f"dy{tag(dy_site(dy))}-")
    # no names on the default bridge (as Docker): the host's resolvers
    resolv = dy.ok("exec", "dytd", "cat", "/etc/resolv.conf")
    assert f"nameserver {ep['Gateway']}" not in resolv
    assert "bridge" in dy.ok("ps", "--format", "{{.Networks}}")


def dy_site(dy: CLI) -> Site:
    return Site(dy.root, dy.runroot)


def test_two_containers_reach_each_other_not_across_networks(dy: NetCLI) -> None:
    dy.ok("network", "create", "dytA")
    dy.ok("network", "create", "dytB")
    httpd(dy, "dytweb", "--network", "dytA")
    ip = ip_of(dy, "dytweb", "dytA")
    got = in_container(dy, "dytA", f"for i in $(seq 50); do wget -qO- http://{ip}/ && exit; "
                       "sleep 0.1; done; exit 1")  # fmt: skip
    assert got.code == 0 and got.out.startswith("hello-"), got
    got = in_container(dy, "dytA", f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc {ip} 80")
    assert "hello-" in got.out, got
    # another network, and the default bridge: dropped (the connection times out;
    # "; echo": timeout must not be the namespace's pid 1, which ignores SIGTERM)
    for other in ("dytB", "bridge"):
        r = in_container(dy, other, f"timeout 3 wget -qO- http://{ip}/; echo rc=$?")
        assert "rc=0" not in r.out and "hello-" not in r.out, (other, r)


class Listener:
    """A TCP listener on the host that answers ``hi`` and closes each connection."""

    def __init__(self, addr: str) -> None:
        import threading

        self.sock = socket.socket()
        self.sock.bind((addr, 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"hi\n")

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes accept()
        except OSError:
            pass
        self.sock.close()
        self.thread.join(5)


def test_internal_network_has_no_egress(dy: NetCLI) -> None:
    addr = host_address()
    with Listener(addr) as listener:  # on the host's own (non-loopback) address
        port = listener.port
        probe = (
            f"timeout 5 nc {addr} {port} </dev/null | grep -q hi && echo reached || echo blocked"
        )
        # the control: from a normal network the host's address is reachable
        dy.ok("network", "create", "dytopen")
        assert "reached" in in_container(dy, "dytopen", probe).out
        dy.ok("network", "create", "--internal", "dytint")
        r = in_container(dy, "dytint", f"ip route; {probe}")
        assert "default" not in r.out and "blocked" in r.out, r
        # inside the internal network containers still talk to each other
        httpd(dy, "dytiweb", "--network", "dytint")
        ip = ip_of(dy, "dytiweb", "dytint")
        r = in_container(
            dy, "dytint", f"for i in $(seq 50); do wget -qO- http://{ip}/ && exit; sleep 0.1; done"
        )
        assert "hello-" in r.out, r
        (obj,) = json.loads(dy.ok("network", "inspect", "dytint"))
        assert obj["Internal"] is True


# -- published ports --------------------------------------------------------------------------


def test_published_port_on_loopback_and_host_address(dy: NetCLI) -> None:
    addr = host_address()
    local_only, everywhere = free_port(), free_port()
    httpd(dy, "dytpub", "-p", f"127.0.0.1:{local_only}:80", "-p", f"{everywhere}:80")
    body = wait_http(f"http://127.0.0.1:{local_only}/")
    assert body.startswith("hello-")
    assert http_get(f"http://127.0.0.1:{everywhere}/") == body
    assert http_get(f"http://{addr}:{everywhere}/") == body
    with pytest.raises(OSError):  # published on 127.0.0.1 only
        http_get(f"http://{addr}:{local_only}/", timeout=2)
    # from another container through the host's address, and hairpin: the container
    # itself through its own published port
    r = in_container(dy, "bridge", f"wget -qO- http://{addr}:{everywhere}/")
    assert r.out == body, r
    assert dy.ok("exec", "dytpub", "wget", "-qO-", f"http://{addr}:{everywhere}/") == body
    lines = dy.ok("port", "dytpub").splitlines()
    assert lines == sorted([f"80/tcp -> 0.0.0.0:{everywhere}", f"80/tcp -> 127.0.0.1:{local_only}"])
    ports = dy.ok("ps", "--format", "{{.Ports}}").strip()
    assert f"0.0.0.0:{everywhere}->80/tcp" in ports and f"127.0.0.1:{local_only}->80/tcp" in ports
    table = subprocess.run(
        ["nft", "list", "table", "inet", f"dockyard_{tag(dy_site(dy))}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert f"tcp dport {everywhere} dnat ip to" in table
    # stop gives the ports back, start takes them again (same address: a fixed endpoint)
    ip = ip_of(dy, "dytpub", "bridge")
    dy.ok("stop", "-t", "0", "dytpub")
    assert dy.ok("port", "dytpub") == ""
    assert f"dport {everywhere}" not in subprocess.run(
        ["nft", "list", "table", "inet", f"dockyard_{tag(dy_site(dy))}"],
        capture_output=True, text=True,
    ).stdout  # fmt: skip
    dy.ok("start", "dytpub")
    assert ip_of(dy, "dytpub", "bridge") == ip
    assert wait_http(f"http://127.0.0.1:{everywhere}/") == body


def test_udp_publish(dy: NetCLI) -> None:
    port = free_port()
    dy.ok("run", "-d", "--name", "dytudp", *HOST_PYTHON, "-p", f"127.0.0.1:{port}:9999/udp",
          "busybox", "/usr/bin/python3", "-c", UDP_ECHO)  # fmt: skip
    assert dy.ok("port", "dytudp", "9999/udp").strip() == f"127.0.0.1:{port}"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        deadline = time.monotonic() + 15
        while True:
            s.sendto(b"ping", ("127.0.0.1", port))
            try:
                assert s.recv(512) == b"echo:ping"
                break
            except TimeoutError:
                assert time.monotonic() < deadline, "no UDP answer through the published port"


def test_random_host_port_and_publish_all(dy: NetCLI) -> None:
    httpd(dy, "dytrnd", "-p", "80", "--expose", "8080")
    line = dy.ok("port", "dytrnd", "80").strip()
    host, _, port = line.rpartition(":")
    assert host == "0.0.0.0" and 32768 <= int(port) <= 65535
    assert wait_http(f"http://127.0.0.1:{port}/").startswith("hello-")
    ports = dy.ok("ps", "--format", "{{.Ports}}").strip()
    assert ports == f"8080/tcp, 0.0.0.0:{port}->80/tcp"
    r = dy("port", "dytrnd", "8080")
    assert r.code == 1 and "No public port '8080/tcp' published for dytrnd" in r.err
    httpd(dy, "dytall", "-P", "--expose", "8080")
    got = dy.ok("port", "dytall").splitlines()
    assert [g.split(" -> ")[0] for g in got] == ["8080/tcp"]
    assert got[0].split(":")[-1] != port
    settings = json.loads(dy.ok("inspect", "-f", "{{json .NetworkSettings.Ports}}", "dytrnd"))
    assert settings == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": port}], "8080/tcp": None}


def test_port_conflict_names_the_holder(dy: NetCLI) -> None:
    port = free_port()
    dy.ok("run", "-d", "--name", "dytholder", "-p", f"{port}:80", "busybox", "sleep", "60")
    r = dy("run", "-d", "--name", "dytloser", "-p", f"{port}:80", "busybox", "true")
    assert r.code == 125
    assert f"Bind for 0.0.0.0:{port} failed: port is already allocated to container dytholder" in (
        r.err
    )
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        r = dy("run", "-d", "--name", "dytloser2", "-p", f"{taken}:80", "busybox", "true")
        assert r.code == 125
        assert f"Bind for 0.0.0.0:{taken} failed: port is already in use by a host process" in r.err
        assert f"(pid {os.getpid()})" in r.err and "python" in r.err
    # a database port on every address gets a warning
    r = dy("create", "--name", "dytpg", "-p", "5432", "busybox")
    assert r.code == 0 and "WARNING: postgres port 5432 is published on every address" in r.err
    r = dy("create", "--name", "dytpg2", "-p", "127.0.0.1::5432", "busybox")
    assert "WARNING" not in r.err


def test_ipam_exhaustion_and_requested_address(dy: NetCLI) -> None:
    third = int.from_bytes(os.urandom(1), "big")
    subnet = f"10.213.{third}.0/30"
    nid = dy.ok("network", "create", "--subnet", subnet, "dyttiny").strip()
    dy.ok("run", "-d", "--name", "dytt1", "--network", "dyttiny", "busybox", "sleep", "60")
    assert ip_of(dy, "dytt1", "dyttiny") == f"10.213.{third}.2"
    r = dy("run", "-d", "--name", "dytt2", "--network", "dyttiny", "busybox", "sleep", "60")
    assert r.code == 125
    assert f"no available IPv4 addresses on this network's address pools: dyttiny ({nid})" in r.err
    assert "dytt2" not in dy.ok("ps", "-a", "--format", "{{.Names}}")
    dy.ok("network", "create", "--subnet", f"10.214.{third}.0/24", "dytfixed")
    dy.ok("run", "-d", "--name", "dytt3", "--network", "dytfixed", "--ip", f"10.214.{third}.77",
          "busybox", "sleep", "60")  # fmt: skip
    assert ip_of(dy, "dytt3", "dytfixed") == f"10.214.{third}.77"
    r = dy("run", "-d", "--network", "dytfixed", "--ip", f"10.214.{third}.77", "busybox", "true")
    assert r.code == 125 and "Address already in use" in r.err
    r = dy("run", "-d", "--ip", "172.17.0.77", "busybox", "true")
    assert "user specified IP address is supported on user defined networks only" in r.err
    r = dy("network", "create", "--subnet", f"10.214.{third}.128/25", "dytover")
    assert r.code == 1 and "Pool overlaps with other one on this address space" in r.err


def test_connect_disconnect(dy: NetCLI) -> None:
    dy.ok("network", "create", "dytc")
    httpd(dy, "dytcweb", "--network", "dytc")
    ip = ip_of(dy, "dytcweb", "dytc")
    dy.ok("run", "-d", "--name", "dytclient", "busybox", "sleep", "60")
    r = dy("exec", "dytclient", "timeout", "3", "wget", "-qO-", f"http://{ip}/")
    assert r.code != 0
    dy.ok("network", "connect", "--alias", "cli", "dytc", "dytclient")
    assert "eth1" in dy.ok("exec", "dytclient", "ip", "-o", "addr")
    assert dy.ok("exec", "dytclient", "wget", "-qO-", f"http://{ip}/").startswith("hello-")
    assert sorted(dy.ok("ps", "--filter", "name=dytclient", "--format", "{{.Networks}}")
                  .strip().split(",")) == ["bridge", "dytc"]  # fmt: skip
    r = dy("network", "connect", "dytc", "dytclient")
    assert "endpoint with name dytclient already exists in network dytc" in r.err
    dy.ok("network", "disconnect", "dytc", "dytclient")
    assert "eth1" not in dy.ok("exec", "dytclient", "ip", "-o", "addr")
    r = dy("network", "disconnect", "dytc", "dytclient")
    assert r.code == 1 and "is not connected to network dytc" in r.err


def test_namespace_made_again_at_start(dy: NetCLI) -> None:
    """After a reboot the runroot is empty: start makes namespace and veths again."""
    from dockyard.network import netns

    port = free_port()
    cid = httpd(dy, "dytreboot", "-p", f"127.0.0.1:{port}:80")
    ip = ip_of(dy, "dytreboot", "bridge")
    body = wait_http(f"http://127.0.0.1:{port}/")
    dy.ok("stop", "-t", "0", "dytreboot")
    netns.remove(dy.runroot / "netns" / cid)  # as a reboot would
    dy.ok("start", "dytreboot")
    assert ip_of(dy, "dytreboot", "bridge") == ip
    assert wait_http(f"http://127.0.0.1:{port}/") == body


def test_host_ca_bundle(dy: NetCLI, tmp_path: Path) -> None:
    bundle = tmp_path / "ca.crt"
    bundle.write_text("-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n")
    out = dy.ok("--ca-bundle", str(bundle), "run", "--rm", "--with-host-ca", "busybox", "sh",
                "-c", "cat /etc/ssl/certs/ca-certificates.crt; echo x >> "
                "/etc/ssl/certs/ca-certificates.crt || echo read-only; echo $PIP_CERT")  # fmt: skip
    assert out.startswith(bundle.read_text())
    assert "read-only" in out and "/etc/ssl/certs/ca-certificates.crt" in out
    r = dy(
        "--ca-bundle", str(tmp_path / "nope"), "run", "--rm", "--with-host-ca", "busybox", "true"
    )
    assert r.code == 125 and "does not exist" in r.err


def test_nothing_left_after_rm(dy: NetCLI, site: Site, seen: set[tuple[str, str]]) -> None:
    dy.ok("network", "create", "dytgone")
    for i in range(3):
        dy.ok("run", "-d", "--name", f"dytg{i}", "--network", "dytgone", "-p", "80",
              "busybox", "sleep", "60")  # fmt: skip
    dy.ok("run", "-d", "--name", "dytg9", "busybox", "sleep", "60")
    assert any(b.startswith(f"dy{tag(site)}-") for b in link_names("bridge"))
    ids = dy.ok("ps", "-aq").split()
    dy.ok("rm", "-f", *ids)
    dy.ok("network", "rm", "dytgone")
    e = engine(site)
    try:
        e.networks.settle()
    finally:
        e.close()
    from dockyard.network.dns_control import running_pid

    # the DNS server leaves by itself once no user network is left
    wait_until(lambda: running_pid(site.runroot) is None, timeout=20, what="the DNS server")
    assert leftovers(site, seen) == []


def test_idle_bridge_lingers_then_goes(
    dy: NetCLI, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKYARD_NETWORK_LINGER", "1")
    dy.ok("run", "--rm", "busybox", "true")
    mine = [b for b in link_names("bridge") if b.startswith(f"dy{tag(site)}-")]
    assert mine, "the idle bridge lingers for a while"
    wait_until(
        lambda: not any(b.startswith(f"dy{tag(site)}-") for b in link_names("bridge")),
        timeout=10,
        what="the janitor to delete the idle bridge",
    )


@pytest.mark.slow
def test_egress_through_nat(dy: NetCLI) -> None:
    url = "http://deb.debian.org/debian/dists/bookworm/Release"
    try:
        http_get(url, timeout=20).index("Origin: Debian")
    except (OSError, ValueError) as e:
        pytest.skip(f"the host itself cannot fetch {url}: {e}")
    r = dy("run", "--rm", "busybox", "sh", "-c", f"nslookup deb.debian.org >/dev/null && "
           f"wget -qO- {url} | head -5")  # fmt: skip
    assert r.code == 0 and "Origin: Debian" in r.out, r


HTTPS_GET = (
    "import ssl, urllib.request\n"
    "ctx = ssl.create_default_context(cafile='/etc/ssl/certs/ca-certificates.crt')\n"
    "r = urllib.request.urlopen('https://pypi.org/simple/pip/', context=ctx, timeout=60)\n"
    "print(r.status, len(r.read()))\n"
)


@pytest.mark.slow
def test_https_egress_with_the_host_ca(dy: NetCLI) -> None:
    """pip's index over TLS, verified against the host's CA bundle (an intercepting
    proxy's CA is only there), with full-size segments on the uplink's MTU."""
    import ssl

    try:
        ctx = ssl.create_default_context()
        with urllib.request.urlopen("https://pypi.org/simple/pip/", context=ctx, timeout=30):
            pass
    except OSError as e:
        pytest.skip(f"the host itself cannot fetch from pypi.org: {e}")
    r = dy("run", "--rm", *HOST_PYTHON, "--with-host-ca", "busybox", "/usr/bin/python3", "-c",
           HTTPS_GET)  # fmt: skip
    assert r.code == 0 and r.out.startswith("200 "), r
    assert int(r.out.split()[1]) > 10_000
