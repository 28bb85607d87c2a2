"""One-pass reader of (possibly compressed) tar streams, as layers and imports are.

`open_tar_stream` detects the compression from the first bytes, decompresses as it
goes, and hashes the uncompressed bytes while they pass, so that the digest of a
layer (its DiffID) comes out of the same single pass that parses it. `TarReader`
parses headers itself (ustar, GNU long names, PAX) instead of using `tarfile`, for
speed (file data is written straight out of the read buffer) and so that every
truncation or corruption is reported rather than read as the end of the archive.

What the reader accepts follows Go's archive/tar, which Docker uses: the archive
may end at a header boundary without the zero blocks; anything after the first zero
block is ignored (but hashed); GNU sparse files, multi-volume archives and unknown
entry types are refused; PAX global headers are ignored.
"""

from __future__ import annotations

import hashlib
import io
import os
import zlib
from collections.abc import Callable, Iterator

from dockyard._util.litedc import dataclass, field
from dockyard.errors import InvalidContent

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO, Final

    from _typeshed import WriteableBuffer

BLOCK: Final = 512
_CHUNK: Final = 1 << 20
_MAX_META: Final = 1 << 20  # longest PAX / GNU long-name record accepted (as Go's reader)
_ZERO: Final = bytes(BLOCK)
_HINT: Final = "the file may be truncated or corrupt; fetch, export or save it again"

# Entry types, as their one-byte typeflag (old-style "\0" and contiguous "7" are REG).
REG: Final = "0"
LNK: Final = "1"
SYM: Final = "2"
CHR: Final = "3"
BLK: Final = "4"
DIR: Final = "5"
FIFO: Final = "6"
_TYPES: Final = {
    b"0": REG,
    b"\0": REG,
    b"7": REG,
    b"1": LNK,
    b"2": SYM,
    b"3": CHR,
    b"4": BLK,
    b"5": DIR,
    b"6": FIFO,
}
_MAGICS: Final = (
    (b"\x1f\x8b", "gzip"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"BZh", "bzip2"),
)


def detect_compression(head: bytes) -> str:
    """The compression of a stream from its first bytes (6 are enough):
    "gzip", "zstd", "xz", "bzip2" or "none"."""
    for magic, name in _MAGICS:
        if head.startswith(magic):
            return name
    return "none"


@dataclass(frozen=True, slots=True)
class TarEntry:
    """One member of a tar stream; names are as written (not yet cleaned)."""

    name: str
    type: str  # one of REG, LNK, SYM, CHR, BLK, DIR, FIFO
    mode: int  # permission bits incl. setuid/setgid/sticky (no file type bits)
    uid: int
    gid: int
    size: int  # bytes of data that follow (0 for all but regular files)
    mtime_ns: int
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict[str, bytes] = field(default_factory=dict)


class _Prefixed(io.RawIOBase):
    """`src` with the bytes already peeked from it put back in front."""

    def __init__(self, head: bytes, src: BinaryIO) -> None:
        self._head = head
        self._src = src

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        head, self._head = self._head, b""
        if not head:
            return self._src.read(size)
        if size < 0:
            return head + self._src.read()
        if size <= len(head):
            self._head = head[size:]
            return head[:size]
        return head + self._src.read(size - len(head))

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)


class _ZstdReader:
    """zstd decompression that notices a truncated frame (the library's stream
    reader returns a short result instead) and keeps memory bounded by feeding
    the decompressor small pieces."""

    _FEED = 1 << 14

    def __init__(self, raw: _Prefixed, source_name: str) -> None:
        import zstandard

        self._error: type[Exception] = zstandard.ZstdError
        self._dctx = zstandard.ZstdDecompressor()
        self._obj = self._dctx.decompressobj()
        self._in_frame = False
        self._pending = b""
        self._raw = raw
        self._name = source_name

    def read(self, size: int) -> bytes:
        out: list[bytes] = []
        got = 0
        while got < size:
            if not self._pending:
                self._pending = self._raw.read(1 << 16)
                if not self._pending:
                    if self._in_frame:
                        raise _bad(self._name, "zstd stream", "unexpected end of data")
                    break
            feed, self._pending = self._pending[: self._FEED], self._pending[self._FEED :]
            try:
                data = self._obj.decompress(feed)
            except self._error as e:
                raise _bad(self._name, "zstd stream", str(e)) from None
            self._in_frame = True
            if self._obj.eof:
                self._pending = self._obj.unused_data + self._pending
                self._obj = self._dctx.decompressobj()
                self._in_frame = False
            out.append(data)
            got += len(data)
        return b"".join(out)


def _bad(source_name: str, what: str, why: str) -> InvalidContent:
    return InvalidContent(f"{source_name} is not a valid {what}: {why}", hint=_HINT)


def open_decompressed(src: BinaryIO, source_name: str) -> tuple[str, Callable[[int], bytes]]:
    """The compression of `src` (from its first bytes) and a ``read(size)`` of its
    decompressed bytes, which raises InvalidContent on bad or truncated data.
    (Reads may return more than `size` bytes.)"""
    head = b""
    while len(head) < 6:
        more = src.read(6 - len(head))
        if not more:
            break
        head += more
    kind = detect_compression(head)
    raw = _Prefixed(head, src)
    bad_data: tuple[type[BaseException], ...] = (EOFError, zlib.error, OSError)
    read: Callable[[int], bytes]
    if kind == "none":  # (decompressors are imported when needed)
        return kind, raw.read
    if kind == "gzip":
        import gzip

        read = gzip.GzipFile(fileobj=raw, mode="rb").read
    elif kind == "xz":
        import lzma

        read = lzma.LZMAFile(io.BufferedReader(raw, _CHUNK)).read
        bad_data += (lzma.LZMAError,)
    elif kind == "bzip2":
        import bz2

        read = bz2.BZ2File(io.BufferedReader(raw, _CHUNK)).read
    else:
        read = _ZstdReader(raw, source_name).read

    def checked(size: int) -> bytes:
        try:
            return read(size)
        except bad_data as e:
            if isinstance(e, OSError) and e.errno is not None:
                raise  # a real I/O error of the source, not bad data
            why = "unexpected end of data" if isinstance(e, EOFError) else str(e)
            raise _bad(source_name, f"{kind} stream", why) from None

    return kind, checked


class _Decompressed(io.RawIOBase):
    def __init__(self, read: Callable[[int], bytes]) -> None:
        self._read = read
        self._rest = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self._rest or self._read(len(view))
        n = min(len(data), len(view))
        view[:n] = data[:n]
        self._rest = data[n:]
        return n


def decompressed(src: BinaryIO, *, source_name: str = "layer") -> BinaryIO:
    """`src` decompressed as its first bytes say (gzip, zstd, xz, bzip2 or none).
    Reading it raises InvalidContent, naming `source_name`, on bad or truncated data."""
    return io.BufferedReader(_Decompressed(open_decompressed(src, source_name)[1]), _CHUNK)


class _Prefetch:
    """Reads (decompressing) and hashes the stream in a thread, a few chunks ahead
    of the parser. Reading, decompression and hashing release the GIL, so they
    overlap with the system calls of the extraction, as gzip runs beside `tar -xz`."""

    def __init__(self, read: Callable[[int], bytes]) -> None:
        import queue
        import threading

        self.hash = hashlib.sha256()  # of everything read; complete once get() gave b""
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(maxsize=4)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(
            target=self._run, args=(read,), name="tar-read-ahead", daemon=True
        )
        self._thread.start()

    def _run(self, read: Callable[[int], bytes]) -> None:
        import queue

        while not self._stop.is_set():
            item: bytes | BaseException
            try:
                item = read(_CHUNK)
                self.hash.update(item)
            except BaseException as e:  # handed over to the thread that reads
                item = e
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if not isinstance(item, bytes) or not item:
                return

    def get(self) -> bytes:
        if self._done:
            return b""
        item = self._queue.get()
        if isinstance(item, bytes) and item:
            return item
        self._done = True
        self._thread.join()
        if isinstance(item, BaseException):
            raise item
        return b""

    def close(self) -> None:
        """Stop the thread; it may still finish a read it is blocked in."""
        self._stop.set()


class TarStream:
    """The uncompressed bytes of a tar stream, buffered, hashed as they are read."""

    def __init__(self, src: BinaryIO, source_name: str) -> None:
        self.name = source_name
        self.compression, read = open_decompressed(src, source_name)
        self._prefetch = _Prefetch(read)
        self._buf = b""
        self._view = memoryview(self._buf)
        self._pos = 0
        self.total = 0  # uncompressed bytes read from the source so far

    @property
    def offset(self) -> int:
        """Position of the next unconsumed byte in the uncompressed stream."""
        return self.total - (len(self._buf) - self._pos)

    def digest(self) -> str:
        """The sha256 of the whole uncompressed stream: call after `drain`."""
        return f"sha256:{self._prefetch.hash.hexdigest()}"

    def close(self) -> None:
        """Stop reading ahead (the stream need not have been read to its end)."""
        self._prefetch.close()

    def __enter__(self) -> TarStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _fill(self) -> bool:
        """Replace the (consumed) buffer with the next chunk."""
        chunk = self._prefetch.get()
        if not chunk:
            return False
        self.total += len(chunk)
        self._buf = chunk
        self._view = memoryview(chunk)
        self._pos = 0
        return True

    def take(self, n: int) -> bytes:
        """Up to `n` bytes: fewer only at the end of the stream."""
        pos = self._pos
        data = self._buf[pos : pos + n]
        self._pos = pos + len(data)
        if len(data) == n:
            return data
        parts = [data]  # across chunks: join just what is needed
        while n > len(data) and self._fill():
            parts.append(self._buf[: n - len(data)])
            self._pos = len(parts[-1])
            data = b"".join(parts)
        return data

    def skip(self, n: int) -> None:
        while n:
            if self._pos == len(self._buf) and not self._fill():
                raise _bad(self.name, "tar archive", "unexpected end of data")
            k = min(n, len(self._buf) - self._pos)
            self._pos += k
            n -= k

    def copy_to(self, fd: int, n: int) -> None:
        """Write the next `n` bytes to the file descriptor `fd`."""
        while n:
            if self._pos == len(self._buf) and not self._fill():
                raise _bad(self.name, "tar archive", "unexpected end of data")
            k = min(n, len(self._buf) - self._pos)
            view = self._view[self._pos : self._pos + k]
            while view:
                view = view[os.write(fd, view) :]
            self._pos += k
            n -= k

    def drain(self) -> None:
        """Read (and hash) the rest of the stream."""
        self._pos = len(self._buf)
        while self._fill():
            self._pos = len(self._buf)


def _num(raw: bytes) -> int:
    try:  # the common case, "0000644\0" or " 644 \0"
        return int(raw.replace(b"\0", b" "), 8)
    except ValueError:
        pass
    if raw and raw[0] & 0x80:  # GNU base-256
        if raw[0] == 0xFF:
            return int.from_bytes(raw, "big", signed=True)
        return int.from_bytes(bytes([raw[0] & 0x7F]) + raw[1:], "big")
    text = raw.split(b"\0", 1)[0].strip()
    return int(text, 8) if text else 0


def _str(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _pax_time(value: bytes) -> int:
    text = value.decode("ascii")
    sign = -1 if text.startswith("-") else 1
    sec, _, frac = text.lstrip("+-").partition(".")
    return sign * (int(sec or "0") * 1_000_000_000 + int((frac + "000000000")[:9]))


def parse_pax(data: bytes) -> dict[str, bytes]:
    """PAX extended header records ("LEN key=value\\n") as a dict."""
    out: dict[str, bytes] = {}
    pos = 0
    while pos < len(data) and data[pos] != 0:
        space = data.find(b" ", pos)
        length = int(data[pos:space]) if space > pos else 0
        end = pos + length
        if length <= space - pos or end > len(data) or data[end - 1] != 0x0A:
            raise ValueError(f"bad PAX record at byte {pos}")
        key, eq, value = data[space + 1 : end - 1].partition(b"=")
        if not eq:
            raise ValueError(f"bad PAX record at byte {pos}")
        out[key.decode("utf-8", "surrogateescape")] = value
        pos = end
    return out


class TarReader:
    """Iterates the entries of a `TarStream`. The data of a regular file is either
    written out with `copy_data` before the next entry is asked for, or skipped."""

    def __init__(self, stream: TarStream) -> None:
        self.stream = stream
        self._data = 0  # unread data bytes of the current entry
        self._pad = 0  # padding after them

    def copy_data(self, fd: int) -> None:
        self.stream.copy_to(fd, self._data)
        self._data = 0

    def _error(self, offset: int, why: str) -> InvalidContent:
        return _bad(self.stream.name, "tar archive", f"{why} (header at byte {offset})")

    def __iter__(self) -> Iterator[TarEntry]:
        s = self.stream
        pax: dict[str, bytes] = {}
        long_name: str | None = None
        long_link: str | None = None
        while True:
            if self._data or self._pad:
                s.skip(self._data + self._pad)
                self._data = self._pad = 0
            blk = s.take(BLOCK)
            if len(blk) < BLOCK:
                if blk or pax or long_name is not None or long_link is not None:
                    raise _bad(s.name, "tar archive", "unexpected end of data")
                return
            if blk == _ZERO:
                return
            offset = s.offset - BLOCK
            try:
                chksum = _num(blk[148:156])
            except ValueError:
                chksum = -1
            unsigned = sum(blk) - sum(blk[148:156]) + 256
            if chksum != unsigned and chksum != unsigned - 256 * sum(
                1 for b in blk if b & 0x80
            ):  # old tars summed signed chars
                what = "invalid header" if offset else "unknown format"
                raise self._error(offset, f"{what}: bad checksum")
            flag = blk[156:157]
            kind = _TYPES.get(flag)
            try:
                if kind is None:
                    if flag in (b"x", b"g", b"L", b"K"):
                        meta = self._meta(blk, offset)
                        if flag == b"x":
                            pax.update(parse_pax(meta))
                        elif flag == b"g":
                            parse_pax(meta)  # validated, then ignored as Docker does
                        elif flag == b"L":
                            long_name = _str(meta)
                        else:
                            long_link = _str(meta)
                        continue
                    what = "sparse file" if flag == b"S" else f"entry type {flag!r}"
                    raise self._error(offset, f"unsupported {what}")
                if pax and any(k.startswith("GNU.sparse.") for k in pax):
                    raise self._error(offset, "unsupported sparse file")
                if long_name is None:
                    name = _str(blk[0:100])
                    if blk[257:263] == b"ustar\0" and blk[345] != 0:
                        name = f"{_str(blk[345:500])}/{name}"
                else:
                    name = long_name
                if flag == b"\0" and name.endswith("/"):
                    kind = DIR
                entry = self._entry(blk, kind, name, long_link, pax)
            except (ValueError, UnicodeDecodeError) as e:
                raise self._error(offset, f"invalid header: {e}") from None
            pax, long_name, long_link = {}, None, None
            self._data = entry.size
            self._pad = -entry.size % BLOCK
            yield entry

    def _meta(self, blk: bytes, offset: int) -> bytes:
        """The data of a PAX or GNU long-name header."""
        size = _num(blk[124:136])
        if not 0 <= size <= _MAX_META:
            raise self._error(offset, f"extended header of {size} bytes")
        data = self.stream.take(size)
        if len(data) < size:
            raise _bad(self.stream.name, "tar archive", "unexpected end of data")
        self.stream.skip(-size % BLOCK)
        return data

    @staticmethod
    def _entry(
        blk: bytes, kind: str, name: str, link: str | None, pax: dict[str, bytes]
    ) -> TarEntry:
        size = _num(blk[124:136])
        uid, gid, mtime_ns = _num(blk[108:116]), _num(blk[116:124]), _num(blk[136:148]) * 10**9
        xattrs: dict[str, bytes] = {}
        if pax:
            name = pax["path"].decode("utf-8", "surrogateescape") if pax.get("path") else name
            if pax.get("linkpath"):
                link = pax["linkpath"].decode("utf-8", "surrogateescape")
            size = int(pax["size"]) if pax.get("size") else size
            uid = int(pax["uid"]) if pax.get("uid") else uid
            gid = int(pax["gid"]) if pax.get("gid") else gid
            mtime_ns = _pax_time(pax["mtime"]) if pax.get("mtime") else mtime_ns
            for key, value in pax.items():
                if key.startswith("SCHILY.xattr."):
                    xattrs[key[13:]] = value
        if uid < 0 or gid < 0 or size < 0:
            raise ValueError("negative uid, gid or size")
        if kind == REG:
            devmajor = devminor = 0
        else:
            size = 0  # other types carry no data, whatever the header says (as Go)
            devmajor = _num(blk[329:337]) if kind in (CHR, BLK) else 0
            devminor = _num(blk[337:345]) if kind in (CHR, BLK) else 0
        return TarEntry(
            name=name,
            type=kind,
            mode=_num(blk[100:108]) & 0o7777,
            uid=uid,
            gid=gid,
            size=size,
            mtime_ns=mtime_ns,
            linkname=link if link is not None else (_str(blk[157:257]) if blk[157] else ""),
            devmajor=devmajor,
            devminor=devminor,
            xattrs=xattrs,
        )


def open_tar_stream(src: BinaryIO, source_name: str) -> TarReader:
    """A reader of the tar stream `src`, decompressed as its first bytes say."""
    return TarReader(TarStream(src, source_name))
