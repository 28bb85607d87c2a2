"""``--add-host name:ip`` and compose ``extra_hosts:`` (docker CLI's ``ValidateExtraHost``).

``name:ip`` or ``name=ip``; the address may be IPv4 or IPv6, optionally in
brackets (``name:[::1]``), or the special ``host-gateway``.
"""

from __future__ import annotations

from dockyard._util.record import Record
from dockyard.specs._go import fail, is_ip, quote

HOST_GATEWAY = "host-gateway"


class ExtraHost(Record):
    """One ``/etc/hosts`` entry to add; ``ip`` may be ``host-gateway``."""

    __slots__ = ("name", "ip")  # noqa: RUF023 (field order)
    name: str
    ip: str

    def __init__(self, name: str, ip: str) -> None:
        self._set(name=name, ip=ip)

    @classmethod
    def parse(cls, text: str, *, flag: str | None = None) -> ExtraHost:
        name, sep, ip = text.partition("=")
        if not sep:
            name, sep, ip = text.partition(":")  # only the first: IPv6 has colons
        if not sep or not name or ":" in name:
            fail(
                f"bad format for add-host: {quote(text)}",
                value=text,
                flag=flag,
                hint="write NAME:IP, for example db:10.0.0.2",
            )
        if ip != HOST_GATEWAY:
            if len(ip) > 2 and ip[0] == "[" and ip[-1] == "]":
                ip = ip[1:-1]
            if not is_ip(ip.strip()):
                fail(f"invalid IP address in add-host: {quote(ip)}", value=text, flag=flag)
        return cls(name, ip)

    @property
    def is_host_gateway(self) -> bool:
        return self.ip == HOST_GATEWAY

    def render(self) -> str:
        """``name:ip``, the form the API (and ``HostConfig.ExtraHosts``) uses."""
        return f"{self.name}:{self.ip}"

    def __str__(self) -> str:
        return self.render()
