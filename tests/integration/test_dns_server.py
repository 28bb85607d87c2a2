"""The embedded DNS server process on a bridge of the test's own (root).

Each test makes a bridge ``dyt<hex>`` with 10.250.N.1/24 (N chosen so that no host
route or address overlaps), a state database in a temporary root with a user
network on that bridge and two containers' endpoints, and a fake upstream DNS
server on 127.0.0.1 that the DNS server forwards to instead of the host's
resolvers. Queries go only to that bridge's address (and loopback). The bridge,
the server and the files are removed whatever happens.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dockyard._util.db import open_db
from dockyard._util.proc import proc_start_time
from dockyard.network import dns_wire as w
from dockyard.network.dns_control import (
    PID_FILE,
    ensure_dns_server,
    running_pid,
    server_argv,
    stop_dns_server,
)
from tests.unit.test_dns import (
    A_ID,
    B_ID,
    C_ID,
    FakeUpstream,
    add_container,
    add_endpoint,
    make_db,
)

pytestmark = pytest.mark.root

BUSYBOX = "/bin/busybox"


def _routes() -> list[tuple[int, int]]:
    out = []
    with open("/proc/net/route") as f:
        next(f)
        for line in f:
            fields = line.split()
            dst, mask = (
                int.from_bytes(bytes.fromhex(x)[::-1], "big") for x in (fields[1], fields[7])
            )
            if mask:
                out.append((dst, mask))
    return out


def _local_addresses() -> list[int]:
    text = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
    out = []
    for line in text.splitlines():
        addr = line.split()[3].split("/")[0]
        out.append(int.from_bytes(socket.inet_aton(addr), "big"))
    return out


def free_subnets(count: int, *, second: int = 250) -> list[int]:
    """``count`` values of N such that 10.SECOND.N.0/24 overlaps no route or address."""
    routes, addrs = _routes(), _local_addresses()
    candidates = list(range(1, 255))
    random.shuffle(candidates)
    out = []
    for n in candidates:
        net = (10 << 24) | (second << 16) | (n << 8)
        mask = 0xFFFFFF00
        if any((dst & m & mask) == (net & m & mask) for dst, m in routes):
            continue
        if any((a & mask) == net for a in addrs):
            continue
        out.append(n)
        if len(out) == count:
            return out
    pytest.skip("no free 10.250.N.0/24 subnet")


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@dataclass
class Env:
    root: Path
    run: Path
    db: sqlite3.Connection
    upstream: FakeUpstream
    prefix: str
    bridges: list[str] = field(default_factory=list)
    subnets: list[int] = field(default_factory=list)

    def add_bridge(self, n: int, *, address: bool = True) -> str:
        name = f"{self.prefix}{len(self.bridges)}"
        ip("link", "add", name, "type", "bridge")
        self.bridges.append(name)
        if address:
            ip("addr", "add", f"10.250.{n}.1/24", "dev", name)
        ip("link", "set", name, "up")
        return name

    def add_network(self, nid: str, name: str, n: int, bridge: str, **kw: object) -> str:
        self.db.execute(
            "INSERT INTO networks (id, name, driver, subnet, gateway, ip_range, bridge, internal,"
            " labels, options, created, is_default) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                nid,
                name,
                "bridge",
                f"10.250.{n}.0/24",
                f"10.250.{n}.1",
                "",
                bridge,
                int(bool(kw.get("internal"))),
                "{}",
                "{}",
                "2024-01-01T00:00:00Z",
                0,
            ),
        )
        return f"10.250.{n}.1"


@pytest.fixture
def env(tmp_path: Path, prefix: str) -> Iterator[Env]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    root, run = tmp_path / "root", tmp_path / "run"
    root.mkdir()

    def upstream_handler(q: w.Message, tcp: bool) -> bytes:
        name = w.name_key(q.questions[0].name)
        if name == "upstream.test":
            rr = w.Record(q.questions[0].name, w.A, w.IN, 30, "198.51.100.7")
            return w.encode(w.reply(q, answers=(rr,)))
        if name == "slow.test":
            time.sleep(0.5)
        return w.encode(w.reply(q, w.NXDOMAIN))

    e = Env(root, run, make_db(open_db(root / "state.db")), FakeUpstream(upstream_handler), prefix)
    try:
        yield e
    finally:
        stop_dns_server(run)
        for br in e.bridges:
            subprocess.run(["ip", "link", "del", br], capture_output=True)
        e.upstream.close()
        e.db.close()
        shutil.rmtree(tmp_path, ignore_errors=True)


@dataclass
class Net:
    gateway: str
    n: int
    bridge: str


@pytest.fixture
def net(env: Env) -> Net:
    """Network "dnsnet" on its bridge: web (10.250.N.2, alias www) and db (.3); the
    container "other" is on a second network "elsewhere" (no bridge needed)."""
    n, m = free_subnets(2)
    bridge = env.add_bridge(n)
    gw = env.add_network("aa" * 32, "dnsnet", n, bridge)
    env.add_network("bb" * 32, "elsewhere", m, f"{env.prefix}x")  # its bridge does not exist
    add_container(env.db, A_ID, "web")
    add_container(env.db, B_ID, "db")
    add_container(env.db, C_ID, "other")
    add_endpoint(env.db, "aa" * 32, A_ID, f"10.250.{n}.2", ("www",))
    add_endpoint(env.db, "aa" * 32, B_ID, f"10.250.{n}.3")
    add_endpoint(env.db, "bb" * 32, C_ID, f"10.250.{m}.2")
    ensure_dns_server(env.root, env.run, upstreams=[str(env.upstream.upstream)])
    return Net(gw, n, bridge)


def udp_query(server: str, name: str, qtype: int = w.A, *, src: str | None = None,
              timeout: float = 3.0, mid: int | None = None) -> w.Message:  # fmt: skip
    mid = random.getrandbits(16) if mid is None else mid
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        if src is not None:
            s.bind((src, 0))
        s.sendto(w.encode(w.Message(mid, w.RD, questions=(w.Question(name, qtype),))), (server, 53))
        msg = w.parse(s.recv(65535))
    assert msg.id == mid
    return msg


def tcp_query(server: str, names: list[str]) -> list[w.Message]:
    """Several queries pipelined on one connection."""
    with socket.create_connection((server, 53), timeout=3) as s:
        for i, name in enumerate(names):
            q = w.encode(w.Message(i, w.RD, questions=(w.Question(name, w.A),)))
            s.sendall(struct.pack("!H", len(q)) + q)
        out: list[w.Message] = []
        buf = b""
        while len(out) < len(names):
            chunk = s.recv(65535)
            assert chunk, "connection closed early"
            buf += chunk
            while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
                n = struct.unpack("!H", buf[:2])[0]
                out.append(w.parse(buf[2 : 2 + n]))
                buf = buf[2 + n :]
    return sorted(out, key=lambda m: m.id)


def addresses(msg: w.Message) -> list[str]:
    assert msg.rcode == w.NOERROR, msg
    return [str(r.data) for r in msg.answers]


def nslookup(name: str, server: str) -> str:
    p = subprocess.run([BUSYBOX, "nslookup", name, server], capture_output=True, text=True,
                       timeout=20)  # fmt: skip
    return p.stdout + p.stderr


def listening(address: str) -> set[str]:
    """Which of udp/tcp have a socket bound to ``address``:53 (from /proc/net)."""
    want = socket.inet_aton(address)[::-1].hex().upper() + ":0035"
    out: set[str] = set()
    for proto in ("udp", "tcp"):
        with open(f"/proc/net/{proto}") as f:
            if any(line.split()[1] == want for line in list(f)[1:]):
                out.add(proto)
    return out


def wait_for(predicate: object, timeout: float = 5.0) -> float:
    t0 = time.monotonic()
    while not predicate():  # type: ignore[operator]
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout} s")
        time.sleep(0.02)
    return time.monotonic() - t0


# -- answers -------------------------------------------------------------------------------


def test_names_aliases_short_ids_and_ptr(env: Env, net: Net) -> None:
    web, db = f"10.250.{net.n}.2", f"10.250.{net.n}.3"
    assert listening(net.gateway) == {"udp", "tcp"}
    assert addresses(udp_query(net.gateway, "web")) == [web]
    assert addresses(udp_query(net.gateway, "WWW.")) == [web]
    assert addresses(udp_query(net.gateway, A_ID[:12])) == [web]
    assert addresses(udp_query(net.gateway, "db.dnsnet")) == [db]
    msg = udp_query(net.gateway, "web")
    assert msg.flags & w.AA and msg.answers[0].ttl == 1
    assert addresses(udp_query(net.gateway, "web", w.AAAA)) == []
    ptr = udp_query(net.gateway, w.reverse_name(web), w.PTR)
    assert addresses(ptr) == ["web.dnsnet"]
    assert udp_query(net.gateway, f"99.{net.n}.250.10.in-addr.arpa", w.PTR).rcode == w.NXDOMAIN
    assert [addresses(m) for m in tcp_query(net.gateway, ["web", "www", "db"])] == [
        [web],
        [web],
        [db],
    ]


def test_busybox_nslookup(env: Env, net: Net) -> None:
    web = f"10.250.{net.n}.2"
    for name in ("web", "www", A_ID[:12]):
        out = nslookup(name, net.gateway)
        assert f"Address: {web}" in out, out
    out = nslookup(web, net.gateway)
    assert "name = web.dnsnet" in out, out


def test_follows_endpoint_changes_at_once(env: Env, net: Net) -> None:
    assert addresses(udp_query(net.gateway, "web")) == [f"10.250.{net.n}.2"]
    new = f"10.250.{net.n}.42"
    env.db.execute("UPDATE endpoints SET ip = ? WHERE container_id = ?", (new, A_ID))
    t0 = time.monotonic()
    assert addresses(udp_query(net.gateway, "web")) == [new]  # the very next query
    assert time.monotonic() - t0 < 1.0
    env.db.execute("DELETE FROM endpoints WHERE container_id = ?", (A_ID,))
    assert udp_query(net.gateway, "web").rcode == w.NXDOMAIN  # forwarded: not known upstream
    add_endpoint(env.db, "aa" * 32, A_ID, f"10.250.{net.n}.43", ("www",))
    assert addresses(udp_query(net.gateway, "www")) == [f"10.250.{net.n}.43"]


def test_other_networks_and_unknown_names_go_upstream(env: Env, net: Net) -> None:
    before = len(env.upstream.queries)
    assert udp_query(net.gateway, "other").rcode == w.NXDOMAIN  # on "elsewhere" only
    assert udp_query(net.gateway, "other.elsewhere").rcode == w.NXDOMAIN
    assert addresses(udp_query(net.gateway, "upstream.test")) == ["198.51.100.7"]
    assert addresses(tcp_query(net.gateway, ["upstream.test"])[0]) == ["198.51.100.7"]
    asked = [name for name, _ in env.upstream.queries[before:]]
    assert asked == ["other", "other.elsewhere", "upstream.test", "upstream.test"]


def test_a_slow_upstream_does_not_hold_local_answers(env: Env, net: Net) -> None:
    slow = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    slow.settimeout(3)
    q = w.encode(w.Message(1, w.RD, questions=(w.Question("slow.test", w.A),)))
    slow.sendto(q, (net.gateway, 53))
    time.sleep(0.05)
    t0 = time.monotonic()
    assert addresses(udp_query(net.gateway, "web")) == [f"10.250.{net.n}.2"]
    assert time.monotonic() - t0 < 0.2
    assert w.parse(slow.recv(512)).rcode == w.NXDOMAIN
    slow.close()


_CLIENT = """
import socket, sys
sys.path.insert(0, sys.argv[1])
from dockyard.network import dns_wire as w
src, server, name = sys.argv[2:5]
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.settimeout(3)
    s.bind((src, 0))
    s.sendto(w.encode(w.Message(1, w.RD, questions=(w.Question(name, w.A),))), (server, 53))
    m = w.parse(s.recv(4096))
print(m.rcode, *[r.data for r in m.answers])
"""


@dataclass
class Sandbox:
    ns: str
    outside: str


@pytest.fixture
def sandbox(env: Env, net: Net) -> Iterator[Sandbox]:
    """A network namespace like a container's on the test bridge: web's and db's
    addresses (10.250.N.2, .3) and one outside every subnet (10.251.M.5/32, with a
    host route to it over the bridge so that replies stay on the machine)."""
    ns = f"{env.prefix}ns"
    (m,) = free_subnets(1, second=251)
    outside = f"10.251.{m}.5"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        ip("link", "add", f"{env.prefix}h", "type", "veth", "peer", "name", f"{env.prefix}c")
        ip("link", "set", f"{env.prefix}c", "netns", ns)
        ip("link", "set", f"{env.prefix}h", "master", net.bridge, "up")
        for cmd in (
            ["addr", "add", f"10.250.{net.n}.2/24", "dev", f"{env.prefix}c"],
            ["addr", "add", f"10.250.{net.n}.3/24", "dev", f"{env.prefix}c"],
            ["addr", "add", f"{outside}/32", "dev", f"{env.prefix}c"],
            ["link", "set", f"{env.prefix}c", "up"],
            ["link", "set", "lo", "up"],
            ["route", "add", f"10.251.{m}.0/24", "dev", f"{env.prefix}c"],
        ):
            ip("-n", ns, *cmd)
        ip("route", "add", f"{outside}/32", "dev", net.bridge)
        yield Sandbox(ns, outside)
    finally:
        subprocess.run(["ip", "route", "del", f"{outside}/32"], capture_output=True)
        subprocess.run(["ip", "link", "del", f"{env.prefix}h"], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def ask_from(ns: str, src: str, server: str, name: str) -> list[str]:
    """``[rcode, addresses...]`` of a query sent from ``src`` inside ``ns``."""
    from dockyard.network.dns_control import _src_dir

    p = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-I", "-S", "-c", _CLIENT,
                        _src_dir(), src, server, name],
                       capture_output=True, text=True, timeout=20, check=True)  # fmt: skip
    return p.stdout.split()


def test_who_asks_decides_what_is_seen(env: Env, net: Net, sandbox: Sandbox) -> None:
    web, db, ns = f"10.250.{net.n}.2", f"10.250.{net.n}.3", sandbox.ns
    # from a container's address: answered
    assert ask_from(ns, db, net.gateway, "web") == ["0", web]
    # web joins "elsewhere" too: asked from web's address, "other" (only there) resolves
    gw2 = env.db.execute("SELECT gateway FROM networks WHERE id = ?", ("bb" * 32,)).fetchone()[0]
    add_endpoint(env.db, "bb" * 32, A_ID, gw2.rsplit(".", 1)[0] + ".9")
    other = env.db.execute("SELECT ip FROM endpoints WHERE container_id = ?", (C_ID,)).fetchone()
    assert ask_from(ns, web, net.gateway, "other") == ["0", other[0]]
    # ...but not from db's address (db is not on "elsewhere"): forwarded, NXDOMAIN
    assert ask_from(ns, db, net.gateway, "other") == [str(w.NXDOMAIN)]
    # a source outside the network's subnet, not the host's: REFUSED, not even forwarded
    before = len(env.upstream.queries)
    assert ask_from(ns, sandbox.outside, net.gateway, "web") == [str(w.REFUSED)]
    assert ask_from(ns, sandbox.outside, net.gateway, "upstream.test") == [str(w.REFUSED)]
    assert len(env.upstream.queries) == before


def test_the_host_may_ask_from_any_of_its_addresses(env: Env, net: Net) -> None:
    web = f"10.250.{net.n}.2"
    assert addresses(udp_query(net.gateway, "web", src="127.0.0.1")) == [web]
    uplink = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"],
                            capture_output=True, text=True).stdout.split()  # fmt: skip
    host_addr = next(
        (x.split("/")[0] for x in uplink if "/" in x and not x.startswith("10.250.")), None
    )
    if host_addr is not None:
        assert addresses(udp_query(net.gateway, "web", src=host_addr)) == [web]


def test_malformed_queries_do_not_hurt(env: Env, net: Net) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        for junk in (b"", b"\x00", os.urandom(11), os.urandom(40), b"\xff" * 512):
            s.sendto(junk, (net.gateway, 53))
        s.sendto(bytes.fromhex("abcd01000001000000000000") + b"\x05web", (net.gateway, 53))
        while True:  # FORMERR for the one with a header; the random ones may get one too
            msg = w.parse(s.recv(512))
            if msg.id == 0xABCD:
                break
        assert msg.rcode == w.FORMERR
    with socket.create_connection((net.gateway, 53), timeout=2) as c:
        c.sendall(b"\x00\x05junk!")  # a frame that is no message, then a hang-up
    assert addresses(udp_query(net.gateway, "web")) == [f"10.250.{net.n}.2"]


# -- networks come and go --------------------------------------------------------------------


def test_listens_on_new_networks_and_drops_removed_ones(env: Env, net: Net) -> None:
    (n2,) = [x for x in free_subnets(3) if x != net.n][:1]
    bridge2 = env.add_bridge(n2)
    gw2 = env.add_network("cc" * 32, "second", n2, bridge2)
    add_endpoint(env.db, "cc" * 32, A_ID, f"10.250.{n2}.5")
    took = wait_for(lambda: listening(gw2) == {"udp", "tcp"}, timeout=3)
    assert took < 1.5  # the once-a-second rescan
    assert addresses(udp_query(gw2, "web")) == [f"10.250.{n2}.5"]
    assert udp_query(gw2, "db").rcode == w.NXDOMAIN  # the host asking there sees "second" only
    env.db.execute("DELETE FROM endpoints WHERE network_id = ?", ("cc" * 32,))
    env.db.execute("DELETE FROM networks WHERE id = ?", ("cc" * 32,))
    wait_for(lambda: not listening(gw2), timeout=3)
    assert listening(net.gateway) == {"udp", "tcp"}


def test_ensure_makes_a_running_server_rescan_at_once(env: Env, net: Net) -> None:
    (n2,) = [x for x in free_subnets(3) if x != net.n][:1]
    bridge2 = env.add_bridge(n2)
    gw2 = env.add_network("cc" * 32, "second", n2, bridge2)
    pid = running_pid(env.run)
    assert ensure_dns_server(env.root, env.run) == pid
    assert wait_for(lambda: listening(gw2) == {"udp", "tcp"}, timeout=3) < 0.3


def test_only_on_our_bridges_with_their_address(env: Env, net: Net) -> None:
    # "elsewhere" names a bridge that does not exist: not bound
    m = int(env.db.execute("SELECT gateway FROM networks WHERE id = ?", ("bb" * 32,))
            .fetchone()[0].split(".")[2])  # fmt: skip
    assert listening(f"10.250.{m}.1") == set()
    # a bridge that exists but lacks the gateway address: not bound until it has it
    bridge = env.add_bridge(m, address=False)
    env.db.execute("UPDATE networks SET bridge = ? WHERE id = ?", (bridge, "bb" * 32))
    ensure_dns_server(env.root, env.run)
    time.sleep(0.3)
    assert listening(f"10.250.{m}.1") == set()
    ip("addr", "add", f"10.250.{m}.1/24", "dev", bridge)
    assert wait_for(lambda: listening(f"10.250.{m}.1") == {"udp", "tcp"}, timeout=3) < 1.5
    assert addresses(udp_query(f"10.250.{m}.1", "other")) == [f"10.250.{m}.2"]


# -- the process ---------------------------------------------------------------------------


def test_process_is_detached_small_and_fast(env: Env, net: Net) -> None:
    pid = running_pid(env.run)
    assert pid is not None
    status = Path(f"/proc/{pid}/status").read_text()
    ppid = int(status.split("PPid:")[1].split()[0])
    assert ppid != os.getpid()
    assert os.getsid(pid) != os.getsid(0)
    fds = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            fds.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except FileNotFoundError:
            pass  # a socket of a query in flight, closed meanwhile
    assert {"/dev/null"} <= fds
    # latency of local answers, from the host (UDP, sequential)
    lat = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        for i in range(500):
            q = w.encode(w.Message(i, w.RD, questions=(w.Question("web", w.A),)))
            t0 = time.perf_counter()
            s.sendto(q, (net.gateway, 53))
            s.recv(512)
            lat.append(time.perf_counter() - t0)
    lat.sort()
    rss_kb = int(Path(f"/proc/{pid}/status").read_text().split("VmRSS:")[1].split()[0])
    print(f"\nDNS server: RSS {rss_kb / 1024:.1f} MB; local answer round trip "
          f"median {lat[250] * 1e3:.3f} ms, p99 {lat[495] * 1e3:.3f} ms")  # fmt: skip
    assert rss_kb < 15 * 1024
    assert lat[250] < 0.005


def test_start_stop_and_stale_pid_files(env: Env) -> None:
    env.run.mkdir()
    # a pid file naming a live process that is not the server (start time differs)
    (env.run / PID_FILE).write_text(f"{os.getpid()} 1\n")
    assert running_pid(env.run) is None
    t0 = time.monotonic()
    pid = ensure_dns_server(env.root, env.run, upstreams=[])
    started = time.monotonic() - t0
    assert pid != os.getpid() and running_pid(env.run) == pid
    t0 = time.monotonic()
    assert ensure_dns_server(env.root, env.run) == pid
    again = time.monotonic() - t0
    print(f"\nensure_dns_server: start {started * 1e3:.1f} ms, when running {again * 1e3:.2f} ms")
    # a second server for the same runroot refuses to start and leaves the pid file alone
    argv = server_argv(sys.executable, env.root, env.run, "--foreground", "--no-upstreams")
    assert subprocess.run(argv, capture_output=True, timeout=10).returncode == 1
    assert running_pid(env.run) == pid
    stop_dns_server(env.run)
    assert running_pid(env.run) is None and not (env.run / PID_FILE).exists()
    assert proc_start_time(pid) is None  # gone (or a zombie until pid 1 reaps it)
    stop_dns_server(env.run)  # nothing to stop: fine


def test_exits_by_itself_without_user_networks(env: Env) -> None:
    n = free_subnets(1)[0]
    bridge = env.add_bridge(n)
    gw = env.add_network("dd" * 32, "brief", n, bridge)
    argv = server_argv(sys.executable, env.root, env.run, "--foreground", "--idle-exit", "0.5",
                       "--no-upstreams")  # fmt: skip
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)  # fmt: skip
    try:
        wait_for(lambda: running_pid(env.run) == proc.pid and listening(gw), timeout=5)
        time.sleep(1.0)
        assert proc.poll() is None  # a network exists: it stays
        env.db.execute("DELETE FROM networks")
        out, err = proc.communicate(timeout=5)
        assert proc.returncode == 0
        assert out == b"" and err == b""  # prints nothing
        assert not (env.run / PID_FILE).exists()
        assert not listening(gw)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
