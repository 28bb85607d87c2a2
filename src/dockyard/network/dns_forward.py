"""Forwarding the names the embedded DNS does not know to the host's resolvers.

- :class:`Upstream`, :func:`parse_upstream`, :func:`host_upstreams`: which servers
  (the nameservers of the host's /etc/resolv.conf, or given ones for tests);
- :class:`Reactor` (one ``selectors`` loop with timers: no threads, no asyncio) and
  :class:`Forwarder`, one forwarded query driven by it: UDP with a 2 s timeout per
  server, TCP when the answer comes back truncated, the next server on a timeout, a
  refused port, SERVFAIL or REFUSED;
- :func:`forward`: the same, blocking (tests, tools).
"""

from __future__ import annotations

import errno
import heapq
import os
import selectors
import socket
import struct
import time
from typing import NamedTuple

from dockyard.network import dns_wire as w
from dockyard.network.dns import canonical_ip

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

FORWARD_TIMEOUT = 2.0
RESOLV_CONF = "/etc/resolv.conf"


class Upstream(NamedTuple):
    address: str
    port: int = 53

    def sockaddr(self, kind: int) -> tuple[int, tuple[object, ...]]:
        """(family, sockaddr) for a socket of ``kind``; raises OSError."""
        info = socket.getaddrinfo(self.address, self.port, type=kind,
                                  flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV)  # fmt: skip
        return info[0][0], info[0][4]

    def __str__(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"


def parse_upstream(text: str) -> Upstream:
    """``1.2.3.4``, ``1.2.3.4:5353``, ``::1``, ``[::1]:5353``; raises ValueError."""
    text = text.strip()
    port = 53
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"bad DNS server address {text!r}")
        if rest:
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, p = text.partition(":")
        port = int(p)
    else:
        host = text
    if canonical_ip(host.split("%", 1)[0]) is None or not 0 < port < 65536:
        raise ValueError(f"bad DNS server address {text!r}")
    return Upstream(host, port)


def host_upstreams(path: str = RESOLV_CONF) -> tuple[Upstream, ...]:
    """The nameservers of the host's resolv.conf, in order (bad lines skipped)."""
    out: list[Upstream] = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return ()
    for line in lines:
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            try:
                up = Upstream(parse_upstream(words[1]).address)  # port 53 only
            except ValueError:
                continue
            if up not in out:
                out.append(up)
    return tuple(out)


# -- a small event loop ----------------------------------------------------------------


def _nothing() -> None:
    pass


class Timer:
    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        """Never run it. Drops the callback at once: a cancelled timer waits in the
        heap until its time, and must not keep what the callback refers to (a
        finished forwarder, its buffers) alive that long."""
        self.cancelled = True
        self.callback = _nothing


class Reactor:
    """``selectors`` plus timers: what the server and the forwarder run on (asyncio
    would cost the server 50 ms of start-up and several MB)."""

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self._timers: list[tuple[float, int, Timer]] = []
        self._seq = 0
        self._compact_at = 64

    def watch(self, sock: socket.socket, events: int, callback: Callable[[int], None]) -> None:
        """Call ``callback(mask)`` when ``sock`` is ready for ``events`` (replaces a
        previous watch of ``sock``)."""
        try:
            self.selector.modify(sock, events, callback)
        except KeyError:
            self.selector.register(sock, events, callback)

    def unwatch(self, sock: socket.socket) -> None:
        try:
            self.selector.unregister(sock)
        except (KeyError, ValueError):
            pass

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        t = Timer(time.monotonic() + delay, callback)
        self._seq += 1
        heapq.heappush(self._timers, (t.when, self._seq, t))
        if len(self._timers) >= self._compact_at:  # mostly cancelled ones, under load
            self._timers[:] = [e for e in self._timers if not e[2].cancelled]
            heapq.heapify(self._timers)
            self._compact_at = max(64, 2 * len(self._timers))
        return t

    def run_once(self, timeout: float | None = None) -> None:
        """Wait for one batch of events (at most ``timeout`` s, or until the next
        timer), run their callbacks and the timers due."""
        timers = self._timers
        while timers and timers[0][2].cancelled:
            heapq.heappop(timers)
        if timers:
            wait = max(0.0, timers[0][0] - time.monotonic())
            timeout = wait if timeout is None else min(timeout, wait)
        ready = self.selector.select(timeout)
        smap = self.selector.get_map()
        for key, mask in ready:
            current = smap.get(key.fd)
            if current is None or current.data is not key.data:
                continue  # unwatched by an earlier callback of this batch
            key.data(mask)
        now = time.monotonic()
        while timers and timers[0][0] <= now:
            t = heapq.heappop(timers)[2]
            if not t.cancelled:
                t.cancelled = True
                t.callback()

    def close(self) -> None:
        self.selector.close()


# -- forwarding ------------------------------------------------------------------------

_RETRY_NEXT = (w.SERVFAIL, w.NOTIMP, w.REFUSED)


class Forwarder:
    """One query to the upstreams, one at a time: UDP (``timeout`` s each), TCP when
    the answer is truncated; the next server on a timeout, an error, SERVFAIL,
    NOTIMP or REFUSED. ``done`` gets the answer with the client's id (the last
    server's SERVFAIL/REFUSED if that was all there was), or None."""

    def __init__(
        self,
        reactor: Reactor,
        query: bytes,
        upstreams: Sequence[Upstream],
        done: Callable[[bytes | None], None],
        *,
        timeout: float = FORWARD_TIMEOUT,
    ) -> None:
        self.reactor = reactor
        self.client_id, _, q = w.question_of(query)
        self.question = None if q is None else (w.name_key(q.name), q.qtype, q.qclass)
        self.query = query
        self.upstreams = tuple(upstreams)
        self.done = done
        self.timeout = timeout
        self._index = -1
        self._sock: socket.socket | None = None
        self._timer: Timer | None = None
        self._id = 0
        self._wire = b""
        self._out = b""
        self._in = bytearray()
        self._fallback: bytes | None = None
        self.finished = False

    def start(self) -> None:
        self._next()

    def cancel(self) -> None:
        self._cleanup()
        self.finished = True

    # -- steps

    def _cleanup(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._sock is not None:
            self.reactor.unwatch(self._sock)
            self._sock.close()
            self._sock = None

    def _finish(self, answer: bytes | None) -> None:
        self._cleanup()
        if self.finished:
            return
        self.finished = True
        self.done(None if answer is None else w.with_id(answer, self.client_id))

    def _next(self) -> None:
        while True:
            self._cleanup()
            self._index += 1
            if self._index >= len(self.upstreams):
                self._finish(self._fallback)
                return
            self._id = int.from_bytes(os.urandom(2), "big")
            self._wire = w.with_id(self.query, self._id)
            try:
                family, addr = self.upstreams[self._index].sockaddr(socket.SOCK_DGRAM)
                s = socket.socket(family, socket.SOCK_DGRAM)
            except OSError:
                continue
            self._sock = s
            try:
                s.setblocking(False)
                s.connect(addr)  # answers from anyone else are not delivered
                s.send(self._wire)
            except OSError:
                continue
            self.reactor.watch(s, selectors.EVENT_READ, self._on_udp)
            self._timer = self.reactor.call_later(self.timeout, self._next)
            return

    def _matches(self, data: bytes) -> bool:
        try:
            mid, flags, q = w.question_of(data)
        except w.WireError:
            return False
        if mid != self._id or not flags & w.QR:
            return False
        got = None if q is None else (w.name_key(q.name), q.qtype, q.qclass)
        return got == self.question

    def _accept(self, data: bytes) -> None:
        rcode = data[3] & 0xF
        if rcode in _RETRY_NEXT and self._index + 1 < len(self.upstreams):
            self._fallback = data
            self._next()
            return
        self._finish(data)

    def _on_udp(self, mask: int) -> None:
        s = self._sock
        assert s is not None
        for _ in range(16):
            try:
                data = s.recv(w.MAX_MESSAGE)
            except BlockingIOError:
                return
            except OSError:  # ICMP port unreachable and friends
                self._next()
                return
            if not self._matches(data):
                continue  # a stray or spoofed packet: keep waiting
            if data[2] & (w.TC >> 8):
                self._start_tcp()
            else:
                self._accept(data)
            return

    def _start_tcp(self) -> None:
        self._cleanup()
        try:
            family, addr = self.upstreams[self._index].sockaddr(socket.SOCK_STREAM)
            s = socket.socket(family, socket.SOCK_STREAM)
        except OSError:
            self._next()
            return
        self._sock = s
        s.setblocking(False)
        err = s.connect_ex(addr)
        if err not in (0, errno.EINPROGRESS):
            self._next()
            return
        self._out = struct.pack("!H", len(self._wire)) + self._wire
        self._in = bytearray()
        self.reactor.watch(s, selectors.EVENT_WRITE, self._on_tcp)
        self._timer = self.reactor.call_later(self.timeout, self._next)

    def _on_tcp(self, mask: int) -> None:
        s = self._sock
        assert s is not None
        try:
            if self._out:
                n = s.send(self._out)
                self._out = self._out[n:]
                if not self._out:
                    self.reactor.watch(s, selectors.EVENT_READ, self._on_tcp)
                return
            chunk = s.recv(65537)
        except BlockingIOError:
            return
        except OSError:
            self._next()
            return
        if not chunk:
            self._next()
            return
        self._in += chunk
        if len(self._in) >= 2:
            need = struct.unpack_from("!H", self._in)[0]
            if len(self._in) >= 2 + need:
                data = bytes(self._in[2 : 2 + need])
                if self._matches(data):
                    self._accept(data)
                else:
                    self._next()


def forward(
    query: bytes, upstreams: Sequence[Upstream], *, timeout: float = FORWARD_TIMEOUT
) -> bytes | None:
    """Blocking :class:`Forwarder`: the upstreams' answer to ``query`` (with its id),
    or None. Raises :class:`dns_wire.WireError` if ``query`` is no message."""
    reactor = Reactor()
    result: list[bytes | None] = []
    try:
        Forwarder(reactor, query, upstreams, result.append, timeout=timeout).start()
        while not result:
            reactor.run_once()
    finally:
        reactor.close()
    return result[0]
