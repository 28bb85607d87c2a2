"""Published and exposed ports: ``-p``/``--publish``, compose ``ports:``, ``--expose``.

Short syntax ``[ip:][hostPort:]containerPort[/proto]``, as go-connections'
``nat.ParsePortSpec`` reads it (Docker's and compose's parser both):

- ``80``: container port 80/tcp on a random host port, all addresses;
- ``8080:80``, ``127.0.0.1:8080:80``, ``127.0.0.1::80`` (random host port),
  ``[::1]:8080:80`` (an IPv6 address in brackets, or bare: ``::1:8080:80``);
- ranges: ``8000-8002:80-82`` is three bindings; ``8000-8010:80`` is one binding
  whose host port is picked from the range;
- protocols ``tcp`` (default), ``udp``, ``sctp``, in any case.

``-p`` also takes the long syntax ``published=8080,target=80,protocol=udp``.
The messages are Docker's (``invalid containerPort: x``, ``invalid proto: x``...).
"""

from __future__ import annotations

from dockyard._util.record import OrderedRecord
from dockyard.specs._go import GoError, fail, is_ip, parse_int

PROTOCOLS = ("tcp", "udp", "sctp")


def _port_range(text: str) -> tuple[int, int]:
    """``nat.ParsePortRange``; raises GoError with strconv's message."""
    if not text:
        raise GoError("empty string specified for ports")
    start_text, dash, end_text = text.partition("-")
    start = parse_int(start_text, func="ParseUint", bits=16, signed=False)
    if not dash:
        return start, start
    end = parse_int(end_text, func="ParseUint", bits=16, signed=False)
    if end < start:
        raise GoError(f"invalid range specified for port: {text}")
    return start, end


def _split_proto(text: str) -> tuple[str, str]:
    """``nat.SplitProtoPort``: (proto, port); ``80`` and ``80/`` are tcp."""
    parts = text.split("/")
    if not text or not parts[0]:
        return "", ""
    if len(parts) == 1 or not parts[1]:
        return "tcp", parts[0]
    return parts[1], parts[0]


def _unbracket(ip: str) -> str:
    """``net.SplitHostPort(ip + ":")``'s host, with its errors."""
    hostport = ip + ":"
    end = hostport.find("]")
    if end < 0:
        raise GoError(f"address {hostport}: missing ']' in address")
    if end + 1 != len(hostport) - 1:
        why = "too many colons" if hostport[end + 1] == ":" else "missing port"
        raise GoError(f"address {hostport}: {why} in address")
    host = hostport[1:end]
    if "[" in host:
        raise GoError(f"address {hostport}: unexpected '[' in address")
    return host


class PortBinding(OrderedRecord):
    """One container port published on the host. ``host_ip`` ``""`` means every
    address; ``host_port`` 0 means a random port; ``host_port_end`` > ``host_port``
    means "any free port in host_port..host_port_end" (``8000-8010:80``)."""

    __slots__ = (  # noqa: RUF023 (field order)
        "container_port",
        "proto",
        "host_ip",
        "host_port",
        "host_port_end",
    )
    container_port: int
    proto: str
    host_ip: str
    host_port: int
    host_port_end: int

    def __init__(
        self,
        container_port: int,
        proto: str = "tcp",
        host_ip: str = "",
        host_port: int = 0,
        host_port_end: int = 0,
    ) -> None:
        self._set(
            container_port=container_port,
            proto=proto,
            host_ip=host_ip,
            host_port=host_port,
            host_port_end=host_port_end,
        )

    @classmethod
    def parse(cls, text: str) -> list[PortBinding]:
        """Every binding ``text`` stands for (a range stands for several)."""
        if "=" in text:
            text = _long_to_short(text)
        parts = text.split(":")
        container = parts[-1]
        ip, host = "", ""
        if len(parts) == 2:
            host = parts[0]
        elif len(parts) >= 3:
            ip, host = ":".join(parts[:-2]), parts[-2]
        proto, container = _split_proto(container)
        if ip.startswith("["):
            try:
                ip = _unbracket(ip)
            except GoError as e:
                fail(f"invalid IP address {ip}: {e}")
        if ip and not is_ip(ip):
            fail(f"invalid IP address: {ip}")
        if not container:
            fail(f"no port specified: {text}<empty>")
        try:
            start, end = _port_range(container)
        except GoError:
            fail(f"invalid containerPort: {container}")
        host_start = host_end = 0
        if host:
            try:
                host_start, host_end = _port_range(host)
            except GoError:
                fail(f"invalid hostPort: {host}")
        if host and end - start != host_end - host_start and end != start:
            fail(f"invalid ranges specified for container and host Ports: {container} and {host}")
        if proto.lower() not in PROTOCOLS:
            fail(f"invalid proto: {proto}", hint="use tcp, udp or sctp")
        proto = proto.lower()
        if start == end:
            span = host_end if host_end != host_start else 0
            return [cls(start, proto, ip, host_start, span)]
        return [
            cls(port, proto, ip, host_start + i if host else 0)
            for i, port in enumerate(range(start, end + 1))
        ]

    def render(self) -> str:
        """The canonical short form: ``8080:80``, ``127.0.0.1::53/udp``, ``80``."""
        port = str(self.container_port)
        if self.proto != "tcp":
            port += "/" + self.proto
        host = str(self.host_port) if self.host_port else ""
        if self.host_port_end:
            host += f"-{self.host_port_end}"
        if self.host_ip:
            ip = f"[{self.host_ip}]" if ":" in self.host_ip else self.host_ip
            return f"{ip}:{host}:{port}"
        return f"{host}:{port}" if host else port

    @property
    def port_key(self) -> str:
        """The container side as Docker keys it: ``80/tcp``."""
        return f"{self.container_port}/{self.proto}"

    def __str__(self) -> str:
        return self.render()


def _long_to_short(text: str) -> str:
    """``-p published=8080,target=80,protocol=udp`` (docker CLI's
    ``convertToStandardNotation``) as ``8080:80/udp``."""
    params = {"protocol": "tcp"}
    for param in text.split(","):
        key, eq, value = param.partition("=")
        if not eq or not key:
            fail(f"invalid publish opts format (should be name=value but got '{param}')")
        params[key] = value
    return f"{params.get('published', '')}:{params.get('target', '')}/{params['protocol']}"


class ExposedPort(OrderedRecord):
    """A port the container listens on (``EXPOSE``, ``--expose``, compose ``expose:``)."""

    __slots__ = ("port", "proto")
    port: int
    proto: str

    def __init__(self, port: int, proto: str = "tcp") -> None:
        self._set(port=port, proto=proto)

    @classmethod
    def parse(cls, text: str) -> ExposedPort:
        """``80``, ``80/udp`` (one port; see :func:`parse_expose` for ranges)."""
        ports = parse_expose(text)
        if len(ports) != 1:
            fail(f"invalid port: {text}: a single port is expected, not a range")
        return ports[0]

    def render(self) -> str:
        """``80/tcp``: the key Docker uses in ``ExposedPorts``."""
        return f"{self.port}/{self.proto}"

    def __str__(self) -> str:
        return self.render()


def parse_expose(text: str) -> list[ExposedPort]:
    """``--expose``: ``3000``, ``3000/udp``, ``3000-3005`` (a port per number)."""
    if ":" in text:
        fail(f"invalid port format for --expose: {text}")
    proto, port = _split_proto(text)
    try:
        start, end = _port_range(port)
    except GoError as e:
        fail(f"invalid range format for --expose: {text}, error: {e}")
    if proto.lower() not in PROTOCOLS:
        fail(f"invalid proto: {proto}", hint="use tcp, udp or sctp")
    return [ExposedPort(p, proto.lower()) for p in range(start, end + 1)]
