"""Host ports: who listens where, who holds a port, and a free one for ``-p 80``.

Read from ``/proc/net/{tcp,tcp6,udp,udp6}`` (the host's network namespace: the
containers' listeners are in theirs) and, to name a holder, ``/proc/*/fd``.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Collection, Iterator

from dockyard._util.record import Record

TCP_LISTEN = "0A"
UDP_UNCONNECTED = "07"
EPHEMERAL = "/proc/sys/net/ipv4/ip_local_port_range"


class Listener(Record):
    __slots__ = ("proto", "ip", "port", "inode")  # noqa: RUF023 (constructor order)
    proto: str
    ip: str  # "0.0.0.0" / "::" for every address
    port: int
    inode: int

    def __init__(self, proto: str, ip: str, port: int, inode: int) -> None:
        self._set(proto=proto, ip=ip, port=port, inode=inode)


def _hex_ip(text: str) -> str:
    raw = bytes.fromhex(text)
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw[::-1]))
    # IPv6: four little-endian 32-bit words
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    v6 = ipaddress.IPv6Address(words)
    return str(v6.ipv4_mapped) if v6.ipv4_mapped else str(v6)


def parse_proc_net(text: str, proto: str) -> list[Listener]:
    """Listening TCP sockets / bound UDP sockets of one ``/proc/net/*`` file."""
    want = TCP_LISTEN if proto == "tcp" else UDP_UNCONNECTED
    out: list[Listener] = []
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 10 or f[3] != want:
            continue
        ip_hex, _, port_hex = f[1].partition(":")
        try:
            out.append(Listener(proto, _hex_ip(ip_hex), int(port_hex, 16), int(f[9])))
        except ValueError:
            continue
    return out


def listeners(proto: str) -> list[Listener]:
    out: list[Listener] = []
    for suffix in ("", "6"):
        try:
            with open(f"/proc/net/{proto}{suffix}") as f:
                out += parse_proc_net(f.read(), proto)
        except OSError:
            pass
    return out


def _covers(a: str, b: str) -> bool:
    """Whether binding on address ``a`` and on ``b`` would clash ("" = every address)."""
    wild = ("", "0.0.0.0", "::")
    return a in wild or b in wild or a == b


def clashing(found: Collection[Listener], proto: str, host_ip: str, port: int) -> Listener | None:
    for lst in found:
        if lst.proto == proto and lst.port == port and _covers(lst.ip, host_ip):
            return lst
    return None


class Holder(Record):
    __slots__ = ("pid", "command")  # noqa: RUF023 (constructor order)
    pid: int
    command: str

    def __init__(self, pid: int, command: str) -> None:
        self._set(pid=pid, command=command)


def _pids() -> Iterator[int]:
    for name in os.listdir("/proc"):
        if name.isdigit():
            yield int(name)


def holder(inode: int) -> Holder | None:
    """The process with socket ``inode`` open (the first found)."""
    target = f"socket:[{inode}]"
    for pid in _pids():
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"{fd_dir}/{fd}") == target:
                    return Holder(pid, _command(pid))
            except OSError:
                continue
    return None


def _command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
        if args:
            return " ".join(" ".join(args).split())[:80]
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def ephemeral_range() -> tuple[int, int]:
    try:
        with open(EPHEMERAL) as f:
            lo, hi = (int(x) for x in f.read().split())
        return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def pick_free(
    proto: str,
    host_ip: str,
    *,
    taken: Collection[int],
    found: Collection[Listener],
    start: int,
    end: int,
) -> int | None:
    """The lowest port in ``start..end`` that nobody listens on and we have not given out."""
    busy = {lst.port for lst in found if lst.proto == proto and _covers(lst.ip, host_ip)}
    for port in range(start, end + 1):
        if port not in taken and port not in busy:
            return port
    return None
