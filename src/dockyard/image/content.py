"""Content-addressed blob store, OCI image-layout compatible.

Blobs live at ``blobs/sha256/<hex>``. A blob is written to ``ingest/`` first,
its size and digest checked against what the caller expected, fsynced, and
renamed into place; a reader therefore never sees half a blob, whatever the
moment a writer is killed. Two writers of the same blob each write their own
ingest file; the second rename replaces identical bytes, so both succeed.
"""

from __future__ import annotations

import os
import time

from dockyard._util.atomic import atomic_write, fsync_dir
from dockyard._util.lazy import as_path
from dockyard._util.record import Record
from dockyard.errors import InvalidContent, NotFound
from dockyard.oci.digest import Digest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path
    from typing import BinaryIO

_CHUNK = 1 << 20
OCI_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'


class BlobInfo(Record):
    __slots__ = ("digest", "size")
    digest: Digest
    size: int

    def __init__(self, digest: Digest, size: int) -> None:
        self._set(digest=digest, size=size)


class BlobWriter:
    """Write a blob in chunks; ``commit()`` verifies and publishes it."""

    def __init__(self, store: ContentStore, expected: Digest | None, expected_size: int | None):
        import hashlib

        self._store = store
        self._expected = expected
        self._expected_size = expected_size
        self._hash = hashlib.sha256()
        self._size = 0
        store.ingest_dir.mkdir(parents=True, exist_ok=True)
        self.path = store.ingest_dir / f"{os.getpid()}-{time.monotonic_ns()}-{id(self):x}"
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)

    def write(self, data: bytes | memoryview) -> int:
        assert self._fd is not None, "writer already closed"
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self._hash.update(data)
        self._size += len(data)
        return len(data)

    def copy_from(self, src: BinaryIO, limit: int | None = None) -> None:
        remaining = limit
        while remaining is None or remaining > 0:
            chunk = src.read(_CHUNK if remaining is None else min(_CHUNK, remaining))
            if not chunk:
                break
            self.write(chunk)
            if remaining is not None:
                remaining -= len(chunk)

    @property
    def size(self) -> int:
        return self._size

    def commit(self, *, source: str = "blob") -> BlobInfo:
        assert self._fd is not None, "writer already closed"
        digest = Digest("sha256", self._hash.hexdigest())
        try:
            if self._expected_size is not None and self._size != self._expected_size:
                raise InvalidContent(
                    f"{source}: size mismatch: expected {self._expected_size} bytes, "
                    f"got {self._size} (truncated or corrupt)"
                )
            if self._expected is not None and digest != self._expected:
                raise InvalidContent(
                    f"{source}: digest mismatch: expected {self._expected}, got {digest}"
                )
            os.fsync(self._fd)
        except BaseException:
            self.abort()
            raise
        os.close(self._fd)
        self._fd = None
        target = self._store.path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.path, target)
        fsync_dir(target.parent)
        return BlobInfo(digest, self._size)

    def abort(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self._fd is not None:
            self.abort()


class ContentStore:
    """Blobs by digest under ``root`` (an OCI layout). The directories are kept as
    strings (``root_dir``, ``blobs``, ``ingest``); ``root``, ``blobs_dir``,
    ``ingest_dir`` and :meth:`path` give :class:`~pathlib.Path` objects."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root_dir = os.fspath(root)
        self.blobs = os.path.join(self.root_dir, "blobs", "sha256")
        self.ingest = os.path.join(self.root_dir, "ingest")

    @property
    def root(self) -> Path:
        return as_path(self.root_dir)

    @property
    def blobs_dir(self) -> Path:
        return as_path(self.blobs)

    @property
    def ingest_dir(self) -> Path:
        return as_path(self.ingest)

    def init(self) -> None:
        os.makedirs(self.blobs, exist_ok=True)
        os.makedirs(self.ingest, exist_ok=True)
        layout = os.path.join(self.root_dir, "oci-layout")
        if not os.path.exists(layout):
            atomic_write(layout, OCI_LAYOUT)

    def _file(self, digest: Digest) -> str:
        if digest.algorithm != "sha256":
            raise InvalidContent(f"unsupported digest algorithm {digest.algorithm}")
        return os.path.join(self.blobs, digest.hex)

    def path(self, digest: Digest) -> Path:
        return as_path(self._file(digest))

    def has(self, digest: Digest) -> bool:
        return os.path.exists(self._file(digest))

    def info(self, digest: Digest) -> BlobInfo:
        try:
            return BlobInfo(digest, os.stat(self._file(digest)).st_size)
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found in the content store")

    def open(self, digest: Digest) -> BinaryIO:
        try:
            return open(self._file(digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found in the content store")

    def read(self, digest: Digest) -> bytes:
        with self.open(digest) as f:
            return f.read()

    def writer(
        self, expected: Digest | None = None, expected_size: int | None = None
    ) -> BlobWriter:
        return BlobWriter(self, expected, expected_size)

    def put(self, data: bytes, expected: Digest | None = None) -> BlobInfo:
        digest = Digest.of_bytes(data)
        if expected is not None and digest != expected:
            raise InvalidContent(f"digest mismatch: expected {expected}, got {digest}")
        if self.has(digest):
            return BlobInfo(digest, len(data))
        with self.writer(digest, len(data)) as w:
            w.write(data)
            return w.commit()

    def adopt(self, path: Path, digest: Digest, size: int) -> BlobInfo:
        """Move an already verified file (same filesystem) into the store."""
        target = self.path(digest)
        if target.exists():
            path.unlink()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
            fsync_dir(target.parent)
        return BlobInfo(digest, size)

    def delete(self, digest: Digest) -> None:
        try:
            os.unlink(self._file(digest))
        except FileNotFoundError:
            pass

    def walk(self) -> Iterator[BlobInfo]:
        try:
            entries = list(os.scandir(self.blobs))
        except FileNotFoundError:
            return
        for entry in entries:
            if len(entry.name) == 64:
                yield BlobInfo(Digest("sha256", entry.name), entry.stat().st_size)

    def clean_ingest(self, older_than: float = 3600.0) -> None:
        """Remove ingest files left by writers that died (older than an hour)."""
        now = time.time()
        try:
            entries = list(os.scandir(self.ingest))
        except FileNotFoundError:
            return
        for entry in entries:
            try:
                if now - entry.stat().st_mtime > older_than:
                    if entry.is_dir():
                        import shutil

                        shutil.rmtree(entry.path, ignore_errors=True)
                    else:
                        os.unlink(entry.path)
            except FileNotFoundError:
                pass
