"""Resolve paths inside a container root without escaping it.

An image may hold symlinks such as ``/etc/passwd -> /../../host/file`` or
``/proc -> /etc``; every path the runtime opens or mounts on under a rootfs goes
through :func:`secure_join`, which follows symlinks as if ``root`` were ``/``.
"""

from __future__ import annotations

import errno
import os
import stat

from dockyard.errors import InvalidArgument

_MAX_LINKS = 255


def secure_join(root: str, unsafe: str) -> str:
    """``root`` joined with ``unsafe``, symlinks resolved inside ``root``.

    Missing components are kept as written (the caller may create them); ``..``
    never climbs above ``root``.
    """
    root = root.rstrip("/") or "/"
    prefix = "" if root == "/" else root
    pending = [p for p in reversed(unsafe.split("/")) if p and p != "."]
    resolved: list[str] = []
    links = 0
    while pending:
        part = pending.pop()
        if part == ".":
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        full = prefix + "/" + "/".join([*resolved, part])
        try:
            st = os.lstat(full)
        except OSError as e:
            if e.errno not in (errno.ENOENT, errno.ENOTDIR):
                raise
            resolved.append(part)
            continue
        if not stat.S_ISLNK(st.st_mode):
            resolved.append(part)
            continue
        links += 1
        if links > _MAX_LINKS:
            raise InvalidArgument(f"too many levels of symbolic links resolving {unsafe!r}")
        target = os.readlink(full)
        if target.startswith("/"):
            resolved = []
        pending.extend(p for p in reversed(target.split("/")) if p and p != ".")
    return prefix + "/" + "/".join(resolved) if resolved else root
