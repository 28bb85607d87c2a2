"""IPv4 addresses as ints, for the paths every bridged ``run`` takes.

:mod:`ipaddress` costs ~1 ms to import (and its objects are slow to make); a
container start only needs to turn the dotted quads of its records into bytes
for netlink, add one to a number and print it back. ``network create``, which
validates what a user typed, keeps :mod:`ipaddress` (see :mod:`dockyard.network.ipam`).

Everything here takes the text of our own records (or anything whose ``str`` is
that: ``IPv4Address``/``IPv4Network`` objects print the same).
"""

from __future__ import annotations


def parse(text: str) -> int:
    """``a.b.c.d`` (strict: four decimal octets) as an int; ValueError otherwise."""
    parts = text.split(".")
    if len(parts) != 4:
        raise ValueError(f"not an IPv4 address: {text!r}")
    n = 0
    for p in parts:
        if not p.isdigit() or not p.isascii() or len(p) > 3 or (len(p) > 1 and p[0] == "0"):
            raise ValueError(f"not an IPv4 address: {text!r}")
        b = int(p)
        if b > 255:
            raise ValueError(f"not an IPv4 address: {text!r}")
        n = n << 8 | b
    return n


def fmt(n: int) -> str:
    """The dotted quad of ``n``."""
    return f"{n >> 24 & 255}.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


def packed(addr: object) -> bytes:
    """The 4 bytes (network order) of an address (text, or an object that prints as one)."""
    return parse(str(addr)).to_bytes(4, "big")


def mask(prefixlen: int) -> int:
    return (0xFFFFFFFF << (32 - prefixlen)) & 0xFFFFFFFF


def network(cidr: object) -> tuple[int, int]:
    """``a.b.c.d/n`` as (network address, prefix length); host bits are cleared."""
    addr, _, plen = str(cidr).partition("/")
    prefixlen = int(plen) if plen else 32
    if not 0 <= prefixlen <= 32:
        raise ValueError(f"not an IPv4 network: {cidr!r}")
    return parse(addr) & mask(prefixlen), prefixlen


def broadcast(addr: int, prefixlen: int) -> int:
    return (addr & mask(prefixlen)) | (~mask(prefixlen) & 0xFFFFFFFF)


def mac_for(addr: object) -> str:
    """Docker's classic MAC for an address: ``02:42`` then the four octets."""
    return "02:42:" + ":".join(f"{b:02x}" for b in packed(addr))
