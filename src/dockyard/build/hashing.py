"""Content hashes of COPY/ADD sources, for the layer cache.

A file's hash covers what ends up in the image: its path below the copied
source, type, permission bits, owner, symlink target and bytes; not its mtime
(touching a file does not invalidate the cache, editing it does). A source's
hash is the hash of its files' hashes in path order; :class:`SourceHash` keeps
the per-file hashes too, so ``--explain`` can name the file that changed.

Hashes of unchanged files are remembered by (device, inode, size, mtime, ctime)
in a :class:`HashMemo` that the engine may keep between builds.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from dockyard._util.litedc import dataclass, field

_CHUNK = 1 << 20


@dataclass(frozen=True)
class SourceHash:
    """``digest`` of all files; ``files``: (path, digest) in order."""

    digest: str
    files: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> str:
        return json.dumps([list(f) for f in self.files], separators=(",", ":"))

    @staticmethod
    def files_from_json(text: str) -> dict[str, str]:
        try:
            return {str(k): str(v) for k, v in json.loads(text or "[]")}
        except (ValueError, TypeError):
            return {}


@dataclass
class HashMemo:
    """content digests by file identity; ``dirty`` once anything was added."""

    entries: dict[str, str] = field(default_factory=dict)
    dirty: bool = False

    @staticmethod
    def identity(path: str, st: os.stat_result) -> str:
        return f"{path}\0{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"

    def load(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return
        if isinstance(data, dict):
            self.entries = {str(k): str(v) for k, v in data.items()}

    def save(self, path: Path, limit: int = 200_000) -> None:
        if not self.dirty:
            return
        from dockyard._util.atomic import atomic_write

        items = list(self.entries.items())[-limit:]
        atomic_write(path, json.dumps(dict(items), separators=(",", ":")).encode())
        self.dirty = False


def file_content_digest(path: str, st: os.stat_result, memo: HashMemo | None = None) -> str:
    """sha256 of a regular file's bytes (remembered in ``memo``)."""
    key = HashMemo.identity(path, st) if memo is not None else ""
    if memo is not None and key in memo.entries:
        return memo.entries[key]
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    digest = h.hexdigest()
    if memo is not None:
        memo.entries[key] = digest
        memo.dirty = True
    return digest


def entry_digest(rel: str, path: str, memo: HashMemo | None = None) -> str:
    """The hash of one path as COPY would put it in a layer (no mtime)."""
    st = os.lstat(path)
    mode = st.st_mode
    header = f"{rel}\0{stat.S_IFMT(mode):o}\0{stat.S_IMODE(mode):o}\0{st.st_uid}:{st.st_gid}\0"
    if stat.S_ISREG(mode):
        body = file_content_digest(path, st, memo)
    elif stat.S_ISLNK(mode):
        body = os.readlink(path)
    else:
        body = ""
    return hashlib.sha256((header + body).encode("utf-8", "surrogateescape")).hexdigest()


def combine(files: Iterable[tuple[str, str]]) -> SourceHash:
    items = tuple(files)
    h = hashlib.sha256()
    for rel, digest in items:
        h.update(f"{rel}\0{digest}\n".encode("utf-8", "surrogateescape"))
    return SourceHash(h.hexdigest(), items)


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()
