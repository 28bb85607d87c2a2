"""Subnet claims shared by every Dockyard engine root on the machine.

A root picks a network's subnet when the network is made, but its bridge (and so the
host route IPAM looks at) appears only with the first container, and goes away with
the last. Two roots (two test runs, a test next to /var/lib/dockyard) could pick one
subnet in that window; both bridges would then carry it and break each other. So
each root claims its subnets in a machine-wide directory: one file per subnet that
names the root. A claim whose root's state database is gone is stale and taken over.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from ipaddress import IPv4Network
from pathlib import Path

ENV = "DOCKYARD_SUBNET_CLAIMS"
DEFAULT_DIR = "/run/dockyard-subnets"


def claims_dir() -> Path:
    return Path(os.environ.get(ENV) or DEFAULT_DIR)


def _file(net: IPv4Network) -> Path:
    return claims_dir() / str(net).replace("/", "_")


def _holder(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def _live(root: str) -> bool:
    return os.path.exists(os.path.join(root, "state.db"))


def dead_roots() -> list[tuple[IPv4Network, str]]:
    """Claims whose root's state database is gone: (subnet, root)."""
    out = []
    try:
        names = os.listdir(claims_dir())
    except OSError:
        return []
    for name in names:
        holder = _holder(claims_dir() / name)
        if holder is None or _live(holder):
            continue
        try:
            out.append((IPv4Network(name.replace("_", "/")), holder))
        except ValueError:
            continue
    return out


def forget(net: IPv4Network, root: str) -> None:
    """Drop a stale claim (its root is gone)."""
    path = _file(net)
    if _holder(path) == root and not _live(root):
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def claimed_by_others(root: Path) -> Iterator[tuple[IPv4Network, str]]:
    """The subnets other live roots hold, with the root that holds each."""
    try:
        names = os.listdir(claims_dir())
    except OSError:
        return
    for name in names:
        holder = _holder(claims_dir() / name)
        if holder is None or holder == str(root) or not _live(holder):
            continue
        try:
            yield IPv4Network(name.replace("_", "/")), holder
        except ValueError:
            continue


def claim(net: IPv4Network, root: Path) -> str | None:
    """Claim ``net`` for ``root``; None when done, else the live root holding it."""
    d = claims_dir()
    d.mkdir(parents=True, exist_ok=True, mode=0o755)
    path = _file(net)
    for _ in range(3):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            holder = _holder(path)
            if holder == str(root):
                return None
            if holder is not None and _live(holder):
                return holder
            try:  # stale: its root is gone
                path.unlink()
            except FileNotFoundError:
                pass
            continue
        with os.fdopen(fd, "w") as f:
            f.write(str(root) + "\n")
        return None
    return _holder(path) or "another engine"


def release(net: IPv4Network, root: Path) -> None:
    path = _file(net)
    if _holder(path) == str(root):
        try:
            path.unlink()
        except FileNotFoundError:
            pass
