"""Just enough rtnetlink to make a container's veth and configure its inside: one
``NETLINK_ROUTE`` socket, hand-built messages, several of them in one ``send``.

Spawning ``ip -batch`` twice (once on the host, once through ``nsenter``) cost a
container start ~8-12 ms; these requests take well under one. pyroute2 is not an
option on the start path (its import alone costs 130-180 ms).

The message builders are pure (tests read their bytes); :class:`Netlink` sends them
and reads the acknowledgements. A socket belongs to the network namespace it was
made in: :func:`dockyard.network.netns.create` hands out one made inside the new
namespace.
"""

from __future__ import annotations

import os
import struct

from dockyard.errors import ExternalToolFailed
from dockyard.network import ip4

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Container, Sequence

AF_UNSPEC = 0
AF_INET = 2
AF_NETLINK = 16
# netlink
NLMSG_ERROR = 2
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
# rtnetlink message types
RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_GETLINK = 18
RTM_NEWADDR = 20
RTM_NEWROUTE = 24
# link attributes
IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_MTU = 4
IFLA_MASTER = 10
IFLA_LINKINFO = 18
IFLA_NET_NS_FD = 28
IFLA_GSO_MAX_SIZE = 41
IFLA_GSO_IPV4_MAX_SIZE = 63  # Linux 6.3: IPv4 BIG TCP
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
VETH_INFO_PEER = 1
IFF_UP = 0x1
# address attributes
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_BROADCAST = 4
# routes
RTA_OIF = 4
RTA_GATEWAY = 5
RTA_METRICS = 8
RTAX_MTU = 2
RT_TABLE_MAIN = 254
RTPROT_BOOT = 3
RT_SCOPE_UNIVERSE = 0
RTN_UNICAST = 1

_HDR = struct.Struct("=IHHII")  # nlmsghdr: len, type, flags, seq, pid
_IFINFO = struct.Struct("=BxHiII")  # ifinfomsg: family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBI")  # ifaddrmsg: family, prefixlen, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")  # rtmsg


def attr(kind: int, data: bytes) -> bytes:
    """One attribute (type-length-value), padded to 4 bytes."""
    n = 4 + len(data)
    return struct.pack("=HH", n, kind) + data + b"\0" * (-n & 3)


def attr_str(kind: int, s: str) -> bytes:
    return attr(kind, s.encode() + b"\0")


def attr_u32(kind: int, v: int) -> bytes:
    return attr(kind, struct.pack("=I", v))


def ifinfo(index: int = 0, *, up: bool = False) -> bytes:
    return _IFINFO.pack(AF_UNSPEC, 0, index, IFF_UP if up else 0, IFF_UP if up else 0)


def message(kind: int, flags: int, body: bytes) -> bytes:
    """A request without its sequence number (:meth:`Netlink.request` numbers them)."""
    return _HDR.pack(_HDR.size + len(body), kind, NLM_F_REQUEST | NLM_F_ACK | flags, 0, 0) + body


def mac_bytes(mac: str) -> bytes:
    return bytes(int(b, 16) for b in mac.split(":"))


def ifinfo_index(payload: bytes) -> int:
    """The link index of an RTM_NEWLINK answer (its ifinfomsg)."""
    return int(_IFINFO.unpack_from(payload)[2])


def attrs(data: bytes, offset: int = 0) -> list[tuple[int, bytes]]:
    """The attributes in ``data`` from ``offset`` (type without the nested flag)."""
    out = []
    while offset + 4 <= len(data):
        n, kind = struct.unpack_from("=HH", data, offset)
        if n < 4:
            break
        out.append((kind & 0x3FFF, data[offset + 4 : offset + n]))
        offset += (n + 3) & ~3
    return out


def new_veth(
    host: str,
    peer: str,
    *,
    mtu: int,
    master: int,
    peer_mac: str,
    peer_netns_fd: int,
) -> bytes:
    """A veth pair in one request: ``host`` up on the bridge with index ``master``,
    its peer ``peer`` (address ``peer_mac``; down: the kernel cannot open it before
    the pair is complete, ENOTCONN) made directly in the namespace ``peer_netns_fd``."""
    peer_body = ifinfo() + b"".join(
        (
            attr_str(IFLA_IFNAME, peer),
            attr(IFLA_ADDRESS, mac_bytes(peer_mac)),
            attr_u32(IFLA_MTU, mtu),
            attr_u32(IFLA_NET_NS_FD, peer_netns_fd),
        )
    )
    info = attr_str(IFLA_INFO_KIND, "veth") + attr(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer_body))
    body = ifinfo(up=True) + b"".join(
        (
            attr_str(IFLA_IFNAME, host),
            attr_u32(IFLA_MTU, mtu),
            attr_u32(IFLA_MASTER, master),
            attr(IFLA_LINKINFO, info),
        )
    )
    return message(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body)


def link_up(index: int) -> bytes:
    return message(RTM_NEWLINK, 0, ifinfo(index, up=True))


def no_master(name: str) -> bytes:
    """``ip link set dev NAME nomaster``."""
    body = ifinfo() + attr_str(IFLA_IFNAME, name) + attr_u32(IFLA_MASTER, 0)
    return message(RTM_NEWLINK, 0, body)


def set_gso_max_size(size: int, *, name: str = "", index: int = 0) -> bytes:
    """``ip link set dev NAME gso_max_size SIZE gso_ipv4_max_size SIZE``: the biggest
    packet TCP hands to the link (segmented at the last link that needs it)."""
    body = ifinfo(index) + (attr_str(IFLA_IFNAME, name) if name else b"")
    body += attr_u32(IFLA_GSO_MAX_SIZE, size) + attr_u32(IFLA_GSO_IPV4_MAX_SIZE, size)
    return message(RTM_NEWLINK, 0, body)


def del_link(name: str) -> bytes:
    return message(RTM_DELLINK, 0, ifinfo() + attr_str(IFLA_IFNAME, name))


def get_link(name: str) -> bytes:
    return message(RTM_GETLINK, 0, ifinfo() + attr_str(IFLA_IFNAME, name))


def new_addr(index: int, ip: object, prefixlen: int, broadcast: object) -> bytes:
    """``ip addr add IP/PREFIXLEN broadcast BROADCAST dev INDEX`` (addresses as text,
    or objects that print as it: :mod:`dockyard.network.ip4`)."""
    local = ip4.packed(ip)
    body = _IFADDR.pack(AF_INET, prefixlen, 0, RT_SCOPE_UNIVERSE, index)
    body += attr(IFA_LOCAL, local) + attr(IFA_ADDRESS, local)
    body += attr(IFA_BROADCAST, ip4.packed(broadcast))
    return message(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, body)


def replace_default_route(index: int, gateway: object, mtu: int | None = None) -> bytes:
    """``ip route replace default via GATEWAY dev INDEX [mtu MTU]``."""
    body = _RTMSG.pack(
        AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0
    )
    body += attr(RTA_GATEWAY, ip4.packed(gateway)) + attr_u32(RTA_OIF, index)
    if mtu:
        body += attr(RTA_METRICS, attr_u32(RTAX_MTU, mtu))
    return message(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, body)


class NetlinkError(ExternalToolFailed):
    """A request the kernel refused; ``errno`` says why."""

    def __init__(self, err: int, what: str) -> None:
        super().__init__(f"netlink: {what}: {os.strerror(err)}")
        self.errno = err


class Netlink:
    """A ``NETLINK_ROUTE`` socket in the namespace it was made in (``_socket``'s: the
    :mod:`socket` wrapper imports ``enum`` and ``selectors``, ~1.5 ms of a ``run``)."""

    def __init__(self) -> None:
        import _socket

        self.sock = _socket.socket(AF_NETLINK, _socket.SOCK_RAW | _socket.SOCK_CLOEXEC, 0)
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Netlink:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(
        self,
        msgs: Sequence[bytes],
        what: Sequence[str] = (),
        *,
        ignore: Sequence[int] = (),
        optional: Container[int] = (),
    ) -> list[bytes]:
        """Send ``msgs`` in one datagram (the kernel runs them in order) and wait for
        each one's answer; raise :class:`NetlinkError` for the first refused one
        (``what`` names them), unless its errno is in ``ignore`` or its position in
        ``optional``. Returns the payloads of the non-ack answers (RTM_GETLINK's)."""
        if not msgs:
            return []
        first = self.seq + 1
        out = bytearray()
        for m in msgs:
            self.seq += 1
            out += m[:8] + struct.pack("=I", self.seq) + m[12:]
        self.sock.sendto(bytes(out), (0, 0))
        pending = set(range(first, self.seq + 1))
        answers: list[bytes] = []
        failure: NetlinkError | None = None
        while pending:
            data = self.sock.recv(65536)
            off = 0
            while off + _HDR.size <= len(data):
                length, kind, _flags, seq, _pid = _HDR.unpack_from(data, off)
                if length < _HDR.size:
                    break
                payload = data[off + _HDR.size : off + length]
                off += (length + 3) & ~3
                if seq not in pending:
                    continue
                if kind == NLMSG_ERROR:
                    pending.discard(seq)
                    err = -struct.unpack_from("=i", payload)[0]
                    i = seq - first
                    if err and err not in ignore and i not in optional and failure is None:
                        failure = NetlinkError(err, what[i] if i < len(what) else "request")
                else:
                    answers.append(payload)  # a GET's answer; its ack follows
        if failure is not None:
            raise failure
        return answers

    def link_index(self, name: str) -> int:
        """The index of the link ``name`` in this socket's namespace."""
        (payload,) = self.request([get_link(name)], [f"no link {name}"])
        return ifinfo_index(payload)
