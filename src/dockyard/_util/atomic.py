"""Atomic file writes: temp file in the same directory, fsync, rename, fsync dir.

Paths as ``str`` or ``os.PathLike`` (no ``pathlib`` import: this is on every path
that writes state, ``exec`` and ``ps`` included)."""

from __future__ import annotations

import os


def fsync_dir(path: str | os.PathLike[str]) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(
    path: str | os.PathLike[str], data: bytes, mode: int = 0o644, *, durable: bool = True
) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never half.
    ``durable``: on disk (file and directory fsynced) when this returns; without it,
    only whole for readers (what a file that a crash makes moot needs)."""
    path = os.fspath(path)
    parent, name = os.path.split(path)
    os.makedirs(parent or ".", exist_ok=True)
    tmp = os.path.join(parent, f".{name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if durable:
        fsync_dir(parent or ".")
