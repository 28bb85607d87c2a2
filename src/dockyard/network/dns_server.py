"""The embedded DNS server process: one per engine root, on every user network's gateway.

Started on demand by the engine, detached (its own session, stdio on /dev/null,
not the caller's child), it outlives the CLI like a container's shim does::

    from dockyard.network.dns_control import ensure_dns_server
    ensure_dns_server(config.root, config.runroot)   # -> pid

**Who calls it.** The network service (``engine/networks.py``,
``NetworkService.prepare``) calls :func:`ensure_dns_server` whenever a container's
network is set up on a user-defined network (``start``/``run``, ``network
connect`` of a running container, ``system restore``), after the bridges carry
their gateway addresses and the endpoint rows are committed. It is cheap when the
server runs (a pid file read, a ``/proc`` check and a SIGHUP that makes the server
look for new bridges at once: ~0.1 ms); otherwise it starts one (~20 ms) and
returns once it listens. It is not needed for the default ``bridge`` network (no
name resolution there, as with Docker). :func:`stop_dns_server` stops it (tests,
``system`` commands); nothing else needs to: the server exits by itself when it
has had nothing to listen on for 10 s (the last container on a user network
removed: its bridge is gone).

The process (``python -m dockyard.network.dns_server --root R --runroot RR``):

- reads ``R/state.db`` read-only (:class:`dockyard.network.dns.StateDB`: re-read
  after every commit, so answers follow the endpoints at once);
- every second (and at once on SIGHUP) binds UDP and TCP port 53 on the gateway
  of each user network whose bridge (the ``bridge`` column) exists and carries
  that address -- the server answers on our own bridges only -- and closes the
  sockets of networks whose row, bridge or address went away;
- answers with :func:`dockyard.network.dns.handle_packet`, forwards other names
  to the nameservers of the host's /etc/resolv.conf (re-read when it changes),
  concurrently (one ``selectors`` loop, no threads, no asyncio);
- writes ``RR/dns.pid`` (``PID STARTTIME``, the start time from /proc/PID/stat,
  so a reused pid is not taken for the server) and removes it when it exits;
- prints nothing; ``--log FILE`` (or ``DOCKYARD_DNS_LOG=1`` for
  :func:`ensure_dns_server`: ``RR/dns.log``) logs binds, errors and queries;
- exits on SIGTERM/SIGINT, or after 10 s with nothing to listen on.

``RR/dns.lock`` (flock) orders starters against each other and against a server
that is about to exit, so :func:`ensure_dns_server` never returns the pid of a
server that is leaving.

Measured on this VM (2 vCPUs; tests/integration/test_dns_server.py and a soak of
80,000 mixed queries against 100 containers): RSS 13.2 MB idle, 14.8 MB after the
soak and flat (half of it the shared interpreter and libraries); a round trip
from the host, UDP, median 0.035 ms for a local answer, 0.11 ms forwarded to a
loopback upstream; ``ensure_dns_server`` 20-50 ms when it starts the server,
0.1 ms when it runs.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from dockyard.network.dns_control import Lock, remove_pid_file, running_pid, write_pid_file

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from collections.abc import Callable, Sequence

    from dockyard.network.dns import Forward, Liveness, OwnDns, StateDB
    from dockyard.network.dns_forward import Reactor, Upstream

PORT = 53
IDLE_EXIT = 10.0
RESCAN = 1.0
MAX_FORWARDS = 256
MAX_TCP_CLIENTS = 64
TCP_IDLE = 10.0


# -- the server --------------------------------------------------------------------------


def bridge_has_address(bridge: str, address: str) -> bool:
    """``bridge`` exists and carries ``address`` (IPv4: its primary address, IPv6: any)."""
    import socket

    if not bridge or len(bridge) >= 16 or "/" in bridge:
        return False
    if ":" in address:
        want = socket.inet_pton(socket.AF_INET6, address).hex()
        try:
            with open("/proc/net/if_inet6") as f:
                return any(
                    line.split()[0] == want and line.split()[-1] == bridge for line in f if line
                )
        except OSError:
            return False
    import fcntl
    import struct

    siocgifaddr = 0x8915
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            res = fcntl.ioctl(s.fileno(), siocgifaddr, struct.pack("256s", bridge.encode()))
        except OSError:  # no such device, or no IPv4 address
            return False
    return socket.inet_ntoa(res[20:24]) == address


class _Bound:
    def __init__(self, network_id: str, udp: socket.socket, tcp: socket.socket) -> None:
        self.network_id = network_id
        self.udp = udp
        self.tcp = tcp


class _TcpClient:
    """One TCP connection: length-prefixed queries in, answers out (in any order)."""

    def __init__(self, server: Server, sock: socket.socket, src: str, local: str) -> None:
        self.server = server
        self.sock = sock
        self.src = src
        self.local = local
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.pending = 0
        self.eof = False
        self.closed = False
        self.timer = server.reactor.call_later(TCP_IDLE, self.close)
        self._watch()

    def _watch(self) -> None:
        import selectors

        events = 0 if self.eof else selectors.EVENT_READ
        if self.outbuf:
            events |= selectors.EVENT_WRITE
        if events:
            self.server.reactor.watch(self.sock, events, self._ready)
        else:
            self.server.reactor.unwatch(self.sock)

    def _touch(self) -> None:
        self.timer.cancel()
        self.timer = self.server.reactor.call_later(TCP_IDLE, self.close)

    def _ready(self, mask: int) -> None:
        import selectors

        if mask & selectors.EVENT_WRITE:
            self._flush()
        if self.closed or not mask & selectors.EVENT_READ:
            return
        try:
            chunk = self.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            self.close()
            return
        self._touch()
        if not chunk:
            self.eof = True
        self.inbuf += chunk
        if len(self.inbuf) > 2 * 65537:
            self.close()
            return
        while len(self.inbuf) >= 2:
            n = int.from_bytes(self.inbuf[:2], "big")
            if len(self.inbuf) < 2 + n:
                break
            frame = bytes(self.inbuf[2 : 2 + n])
            del self.inbuf[: 2 + n]
            self.pending += 1
            self.server.query(frame, self.src, self.local, self._answer, tcp=True)
        self._maybe_close()
        if not self.closed:
            self._watch()

    def _answer(self, data: bytes) -> None:
        self.pending -= 1
        if self.closed or not data:
            self._maybe_close()
            return
        self.outbuf += len(data).to_bytes(2, "big") + data
        self._flush()

    def _flush(self) -> None:
        if self.outbuf:
            try:
                n = self.sock.send(self.outbuf)
                del self.outbuf[:n]
            except BlockingIOError:
                pass
            except OSError:
                self.close()
                return
        self._maybe_close()
        if not self.closed:
            self._watch()

    def _maybe_close(self) -> None:
        if self.eof and not self.pending and not self.outbuf:
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.timer.cancel()
        self.server.reactor.unwatch(self.sock)
        self.sock.close()
        self.server.tcp_clients.discard(self)


class Server:
    def __init__(
        self,
        root: str,
        runroot: str,
        *,
        upstreams: Sequence[Upstream] | None = None,
        log_path: str | None = None,
        idle_exit: float = IDLE_EXIT,
        port: int = PORT,
        alive: Liveness | None = None,
        own_dns: OwnDns | None = None,
    ) -> None:
        from dockyard.network.dns import StateDB
        from dockyard.network.dns_forward import Reactor

        self.root = root
        self.runroot = runroot
        self.alive = alive
        self.own_dns = own_dns
        self._own_upstreams: dict[tuple[str, ...], tuple[Upstream, ...]] = {}
        self.db: StateDB = StateDB(os.path.join(root, "state.db"))
        self.reactor: Reactor = Reactor()
        self.fixed_upstreams = None if upstreams is None else tuple(upstreams)
        self._host_upstreams: tuple[Upstream, ...] = ()
        self._resolv_stamp: tuple[int, int, int] | None = None
        self.bound: dict[str, _Bound] = {}
        self.tcp_clients: set[_TcpClient] = set()
        self.forwards = 0
        self.rotate = 0
        self.idle_exit = idle_exit
        self.port = port
        self.empty_since: float | None = None
        self.host_addrs: frozenset[str] = frozenset()
        self.stopping = False
        self.log_file = None if log_path is None else open(log_path, "a", buffering=1)
        self._wake_sockets: tuple[socket.socket, socket.socket] | None = None
        self._exit_lock: Lock | None = None
        self._rescan_timer = self.reactor.call_later(RESCAN, self._tick)

    # -- plumbing

    def log(self, msg: str) -> None:
        if self.log_file is not None:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
            self.log_file.write(f"{stamp} [{os.getpid()}] {msg}\n")

    def install_signals(self) -> None:
        import selectors
        import socket

        r, w = socket.socketpair()
        r.setblocking(False)
        w.setblocking(False)
        self._wake_sockets = (r, w)
        signal.set_wakeup_fd(w.fileno(), warn_on_full_buffer=False)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, lambda *_: None)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        self.reactor.watch(r, selectors.EVENT_READ, self._on_signal)

    def _on_signal(self, mask: int) -> None:
        assert self._wake_sockets is not None
        try:
            data = self._wake_sockets[0].recv(256)
        except BlockingIOError:
            return
        if int(signal.SIGTERM) in data or int(signal.SIGINT) in data:
            self.log("stopping on a signal")
            self.stopping = True
        if int(signal.SIGHUP) in data:
            self.rescan()

    def upstreams_for(self, cid: str | None) -> tuple[Upstream, ...]:
        """The asking container's own ``--dns`` servers if it has any, else the
        host's (or the fixed ones)."""
        own: Sequence[str] = ()
        if cid is not None and self.own_dns is not None:
            try:
                own = tuple(self.own_dns(cid))
            except Exception as e:  # a torn record: the host's servers
                self.log(f"--dns servers of {cid[:12]}: {e}")
        if not own:
            return self.upstreams()
        key = tuple(own)
        if key not in self._own_upstreams:
            from dockyard.network.dns_forward import parse_upstream

            ups = []
            for text in key:
                try:
                    ups.append(parse_upstream(text))
                except ValueError:
                    self.log(f"--dns server {text!r} of {cid}: not an address")
            self._own_upstreams[key] = tuple(u for u in ups if u.address not in self.bound)
        return self._own_upstreams[key] or self.upstreams()

    def upstreams(self) -> tuple[Upstream, ...]:
        if self.fixed_upstreams is not None:
            return self.fixed_upstreams
        from dockyard.network.dns_forward import RESOLV_CONF, host_upstreams

        try:
            st = os.stat(RESOLV_CONF)
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        if stamp != self._resolv_stamp:
            self._resolv_stamp = stamp
            self._host_upstreams = host_upstreams()
            self.log("upstreams: " + " ".join(map(str, self._host_upstreams)))
        return tuple(u for u in self._host_upstreams if u.address not in self.bound)

    # -- networks

    def _tick(self) -> None:
        self.rescan()
        self._rescan_timer = self.reactor.call_later(RESCAN, self._tick)

    def rescan(self) -> None:
        """Listen on the gateway of each user network whose bridge carries it; stop
        where the network or the bridge (or its address) went away."""
        from dockyard.network.dns import host_addresses

        self.host_addrs = host_addresses()
        view = self.db.view()
        present = {
            n.gateway: n for n in view.user_networks if bridge_has_address(n.bridge, n.gateway)
        }
        for gw in list(self.bound):
            net = present.get(gw)
            if net is None or net.id != self.bound[gw].network_id:
                self._unbind(gw)
        for gw, net in present.items():
            if gw not in self.bound:
                self._bind(gw, net.id)
        now = time.monotonic()
        if self.bound:
            self.empty_since = None
        elif self.empty_since is None:
            self.empty_since = now
        elif now - self.empty_since >= self.idle_exit:
            self._exit_if_still_idle()

    def _bind(self, gw: str, network_id: str) -> None:
        import selectors
        import socket

        family = socket.AF_INET6 if ":" in gw else socket.AF_INET
        udp = socket.socket(family, socket.SOCK_DGRAM)
        tcp = socket.socket(family, socket.SOCK_STREAM)
        try:
            udp.bind((gw, self.port))
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((gw, self.port))
            tcp.listen(64)
        except OSError as e:
            udp.close()
            tcp.close()
            self.log(f"cannot listen on {gw}:{self.port} yet: {e}")
            return
        udp.setblocking(False)
        tcp.setblocking(False)
        self.bound[gw] = _Bound(network_id, udp, tcp)
        self.reactor.watch(udp, selectors.EVENT_READ, lambda m: self._on_udp(udp, gw))
        self.reactor.watch(tcp, selectors.EVENT_READ, lambda m: self._on_accept(tcp, gw))
        self.log(f"listening on {gw}:{self.port} (network {network_id[:12]})")

    def _unbind(self, gw: str) -> None:
        b = self.bound.pop(gw)
        for s in (b.udp, b.tcp):
            self.reactor.unwatch(s)
            s.close()
        for c in [c for c in self.tcp_clients if c.local == gw]:
            c.close()
        self.log(f"stopped listening on {gw}")

    def _exit_if_still_idle(self) -> None:
        lock = Lock(self.runroot, block=False)
        if not lock.acquire():
            return  # someone is starting a server: they will find us, stay
        self.db.close()  # a fresh connection: no doubt about what is committed
        view = self.db.view()
        if any(bridge_has_address(n.bridge, n.gateway) for n in view.user_networks):
            lock.release()
            self.empty_since = None
            return
        self.log(f"nothing to listen on for {self.idle_exit:g} s: exiting")
        remove_pid_file(self.runroot)
        self.stopping = True
        self._exit_lock = lock  # held until the process exits

    # -- queries

    def _on_udp(self, sock: socket.socket, local: str) -> None:
        for _ in range(64):
            try:
                data, addr = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue
            src = addr[0].split("%", 1)[0]

            def send(out: bytes, addr: tuple[str, int] = addr) -> None:
                try:
                    sock.sendto(out, addr)
                except OSError as e:
                    self.log(f"cannot answer {addr[0]}: {e}")

            self.query(data, src, local, send, tcp=False)

    def _on_accept(self, sock: socket.socket, local: str) -> None:
        for _ in range(16):
            try:
                conn, addr = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if len(self.tcp_clients) >= MAX_TCP_CLIENTS:
                conn.close()
                continue
            conn.setblocking(False)
            self.tcp_clients.add(_TcpClient(self, conn, addr[0].split("%", 1)[0], local))

    def query(
        self,
        data: bytes,
        src: str,
        local: str,
        send: Callable[[bytes], None],
        *,
        tcp: bool,
    ) -> None:
        from dockyard.network.dns import forwarded_reply, handle_packet, is_loopback
        from dockyard.network.dns_forward import Forwarder

        self.rotate = (self.rotate + 1) & 0xFFFF
        from_host = src in self.host_addrs or is_loopback(src)
        view = self.db.view()
        result = handle_packet(view, data, src, local, tcp=tcp, rotate=self.rotate,
                               from_host=from_host, alive=self.alive)  # fmt: skip
        if result is None:
            if tcp:
                send(b"")  # settles the TCP client's count of pending answers; not sent
            return
        if isinstance(result, bytes):
            if self.log_file is not None:
                self.log(f"{src} -> {local}: answered {len(result)} bytes, rcode {result[3] & 15}")
            send(result)
            return
        ups = self.upstreams_for(view.container_at(local, src))
        if not ups or self.forwards >= MAX_FORWARDS:
            send(forwarded_reply(result, None, tcp=tcp))
            return
        fwd: Forward = result
        self.forwards += 1

        def done(answer: bytes | None) -> None:
            self.forwards -= 1
            if self.log_file is not None:
                q = fwd.query.questions[0]
                got = "no answer" if answer is None else f"rcode {answer[3] & 15}"
                self.log(f"{src} -> {local}: forwarded {q.name!r} type {q.qtype}: {got}")
            send(forwarded_reply(fwd, answer, tcp=tcp))

        Forwarder(self.reactor, data, ups, done).start()

    # -- running

    def run(self) -> None:
        while not self.stopping:
            self.reactor.run_once(RESCAN)
        self.close()

    def close(self) -> None:
        for gw in list(self.bound):
            self._unbind(gw)
        for c in list(self.tcp_clients):
            c.close()
        self.db.close()
        if self.log_file is not None:
            self.log_file.close()
            self.log_file = None


class _Options:
    def __init__(self) -> None:
        self.root = ""
        self.runroot = ""
        self.upstreams: list[str] = []
        self.no_upstreams = False
        self.log: str | None = None
        self.report_fd = -1
        self.idle_exit = IDLE_EXIT
        self.foreground = False


_USAGE = (
    "usage: python -m dockyard.network.dns_server --root ROOT --runroot RUNROOT"
    " [--upstream IP[:PORT]]... [--no-upstreams] [--log FILE] [--idle-exit S]"
    " [--foreground] [--report-fd FD]"
)


def _parse_args(argv: Sequence[str]) -> _Options:
    o = _Options()
    it = iter(argv)
    for arg in it:
        if arg in ("--no-upstreams", "--foreground"):
            setattr(o, arg[2:].replace("-", "_"), True)
            continue
        if arg not in ("--root", "--runroot", "--log", "--report-fd", "--upstream", "--idle-exit"):
            raise SystemExit(_USAGE)
        value = next(it, None)
        if value is None:
            raise SystemExit(f"dns_server: {arg} needs a value")
        try:
            if arg == "--upstream":
                o.upstreams.append(value)
            elif arg == "--report-fd":
                o.report_fd = int(value)
            elif arg == "--idle-exit":
                o.idle_exit = float(value)
            else:
                setattr(o, arg[2:], value)
        except ValueError:
            raise SystemExit(f"dns_server: bad value for {arg}: {value!r}") from None
    if not o.root or not o.runroot:
        raise SystemExit("dns_server: --root and --runroot are required\n" + _USAGE)
    return o


def main(
    argv: Sequence[str] | None = None,
    alive: Callable[[str, str], Liveness] | None = None,
    own_dns: Callable[[str, str], OwnDns] | None = None,
) -> int:
    """The process entry. Detaches unless ``--foreground``: the started process forks,
    its parent exits at once, and the child reports ``ok PID`` (or ``error: ...``)
    on ``--report-fd`` once it listens. ``alive(root, runroot)`` makes the liveness
    check of containers (without one every recorded endpoint answers); ``own_dns(root,
    runroot)`` tells the containers' own ``--dns`` servers (without it: the host's)."""
    o = _parse_args(sys.argv[1:] if argv is None else argv)
    if not o.foreground:
        if os.fork():
            os._exit(0)
        os.chdir("/")
    os.umask(0o022)
    root, runroot = os.path.abspath(o.root), os.path.abspath(o.runroot)
    try:
        from dockyard.network.dns_forward import parse_upstream

        ups = None
        if o.upstreams or o.no_upstreams:
            ups = [parse_upstream(u) for u in o.upstreams]
        os.makedirs(runroot, mode=0o755, exist_ok=True)
        other = running_pid(runroot)
        if other is not None and other != os.getpid():
            raise RuntimeError(f"a DNS server runs for {runroot} already (pid {other})")
        check = None if alive is None else alive(root, runroot)
        theirs = None if own_dns is None else own_dns(root, runroot)
        server = Server(root, runroot, upstreams=ups, log_path=o.log, idle_exit=o.idle_exit,
                        alive=check, own_dns=theirs)  # fmt: skip
        server.install_signals()
        server.rescan()
        write_pid_file(runroot)
    except Exception as e:
        if o.report_fd >= 0:
            os.write(o.report_fd, f"error: {type(e).__name__}: {e}\n".encode())
        return 1
    server.log(f"started (root {root})")
    if o.report_fd >= 0:
        os.write(o.report_fd, f"ok {os.getpid()}\n".encode())
        os.close(o.report_fd)
    try:
        server.run()
    finally:
        remove_pid_file(runroot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
