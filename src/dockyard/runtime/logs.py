"""Docker's json-file log driver: the shim's writer and the engine's reader.

Format (one JSON object per line, byte-compatible with Docker's ``jsonlog``)::

    {"log":"hello\\n","stream":"stdout","time":"2024-01-02T03:04:05.123456789Z"}

- A message is one line of output including its ``\\n``. A line longer than 16 KiB
  is cut into 16 KiB pieces without ``\\n`` (Docker's "partial" messages), and what
  is left when a stream ends is written without ``\\n`` too.
- Escaping as Docker's encoder does: ``\\"``, ``\\\\``, ``\\n``, ``\\r``; other control
  characters, ``<``, ``>`` and ``&`` as ``\\u00XX``; each invalid UTF-8 byte as
  ``\\ufffd``; U+2028/U+2029 escaped; everything else as raw UTF-8.
- ``time`` is when the shim read the output, UTC, always 9 fraction digits.
- With a tty there is one stream, ``stdout`` (the terminal merges them).

Rotation (``--log-opt max-size=10m --log-opt max-file=3``): before a message would
make ``<id>-json.log`` larger than max-size, the files shift (``.1`` -> ``.2``,
the live file -> ``.1``, the oldest beyond max-file is deleted) and a new file
starts. Unlike Docker, which rotates only once a file has *passed* max-size, a
file here never exceeds max-size (unless one message alone is larger). max-file 1
truncates in place. Compression of rotated files is not supported.

:func:`read_logs` reads across the rotated files (oldest first), with Docker's
``--tail``, ``--since``/``--until`` (inclusive) and ``--follow``. Following polls
the live file every 50 ms (a poll costs one read(2); inotify would save little for
a human watching) and switches files when a rotation happened; it ends when the
container's state is final (written by the shim after its last log write) or the
shim is dead, once the file is drained.
"""

from __future__ import annotations

import os
import time

from dockyard._util import jsonlite
from dockyard.errors import InvalidArgument
from dockyard.runtime import state as st
from dockyard.specs.units import parse_bytes_decimal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

MAX_LINE = 16 * 1024
POLL_INTERVAL = 0.05

_ESCAPES = {chr(c): f"\\u{c:04x}" for c in range(0x20)}
_ESCAPES.update(
    {
        "\n": "\\n",
        "\r": "\\r",
        '"': '\\"',
        "\\": "\\\\",
        "<": "\\u003c",
        ">": "\\u003e",
        "&": "\\u0026",
        "\u2028": "\\u2028",
        "\u2029": "\\u2029",
    }
)
_ESCAPES.update({chr(c): "\\ufffd" for c in range(0xDC80, 0xDD00)})  # surrogateescape'd bytes
# str.translate, not a regex: the shim writes logs without importing re (3 ms at start)
_TRANSLATE = {ord(k): v for k, v in _ESCAPES.items()}


def log_path(container_dir: str, cid: str) -> str:
    return os.path.join(container_dir, f"{cid}-json.log")


def parse_max_size(text: str) -> int:
    """json-file's ``max-size`` as Docker reads it (go-units ``FromHumanSize``,
    decimal: ``10m`` is 10,000,000 bytes), as it was checked at create; ``-1`` or
    empty: no rotation."""
    t = text.strip()
    return -1 if t in ("", "-1") else parse_bytes_decimal(t)


def parse_max_file(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise InvalidArgument(f"invalid max-file: {text!r}") from None
    if n < 1:
        raise InvalidArgument("max-file cannot be less than 1")
    return n


def encode_entry(stream: str, line: bytes, time_text: str) -> bytes:
    """One json-file line, exactly as Docker writes it."""
    s = line.decode("utf-8", "surrogateescape")
    s = s.translate(_TRANSLATE)
    return f'{{"log":"{s}","stream":"{stream}","time":"{time_text}"}}\n'.encode()


class JsonFileWriter:
    """Appends a container's output to ``path`` as json-file lines, with rotation."""

    def __init__(self, path: str, *, max_size: int = -1, max_file: int = 1) -> None:
        self.path = path
        self.max_size = max_size
        self.max_file = max(1, max_file)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self._size = os.fstat(self._fd).st_size
        self._pending: dict[str, bytes] = {}
        self._sec = -1
        self._prefix = ""

    def _time(self, ns: int) -> str:
        sec, frac = divmod(ns, 1_000_000_000)
        if sec != self._sec:  # strftime once per second, not per line
            self._sec = sec
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        return f"{self._prefix}.{frac:09d}Z"

    def write(self, stream: str, data: bytes, now_ns: int | None = None) -> None:
        """Log ``data`` read from ``stream``; complete lines are written at once, a
        trailing partial line waits for its end (or :meth:`flush`)."""
        if not data:
            return
        buf = self._pending.pop(stream, b"") + data
        start, n = 0, len(buf)
        out: list[bytes] = []
        ts = self._time(time.time_ns() if now_ns is None else now_ns)
        while start < n:
            i = buf.find(b"\n", start, start + MAX_LINE)
            if i >= 0:
                end = i + 1
            elif n - start >= MAX_LINE:
                end = start + MAX_LINE
            else:
                break
            out.append(encode_entry(stream, buf[start:end], ts))
            start = end
        if start < n:
            self._pending[stream] = buf[start:]
        self._emit(out)

    def flush(self, stream: str | None = None, now_ns: int | None = None) -> None:
        """Write pending partial lines (of ``stream``, or all) as they are."""
        ts = self._time(time.time_ns() if now_ns is None else now_ns)
        names = [stream] if stream is not None else list(self._pending)
        self._emit([encode_entry(s, self._pending.pop(s), ts) for s in names if s in self._pending])

    def _emit(self, entries: list[bytes]) -> None:
        if self.max_size <= 0:
            if entries:
                self._write(b"".join(entries))
            return
        chunk: list[bytes] = []
        size = self._size
        for e in entries:
            if size > 0 and size + len(e) > self.max_size:
                if chunk:
                    self._write(b"".join(chunk))
                    chunk = []
                self._rotate()
                size = 0
            chunk.append(e)
            size += len(e)
        if chunk:
            self._write(b"".join(chunk))

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self._size += len(data)

    def _rotate(self) -> None:
        if self.max_file == 1:
            os.ftruncate(self._fd, 0)
            self._size = 0
            return
        for i in range(self.max_file - 1, 0, -1):
            src = self.path if i == 1 else f"{self.path}.{i - 1}"
            try:
                os.replace(src, f"{self.path}.{i}")
            except FileNotFoundError:
                pass
        os.close(self._fd)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self._size = 0

    def close(self) -> None:
        if self._fd >= 0:
            self.flush()
            os.close(self._fd)
            self._fd = -1


# -- reading -----------------------------------------------------------------


def log_files(container_dir: str, cid: str) -> list[str]:
    """The live file and its rotations, oldest first (only those that exist)."""
    base = f"{cid}-json.log."
    nums = []
    try:
        names = os.listdir(container_dir)
    except FileNotFoundError:
        return []
    for name in names:
        if name.startswith(base) and name[len(base) :].isdigit():
            nums.append(int(name[len(base) :]))
    out = [log_path(container_dir, cid) + f".{i}" for i in sorted(nums, reverse=True)]
    live = log_path(container_dir, cid)
    return [*out, live] if os.path.exists(live) else out


def parse_line(line: bytes) -> tuple[str, bytes, int] | None:
    """(stream, data, time_ns) of one json-file line; None for a corrupt line."""
    try:
        d = jsonlite.loads(line)
        return d.get("stream", "stdout"), d.get("log", "").encode(), st.parse_rfc3339(d["time"])
    except (ValueError, KeyError, TypeError, AttributeError, InvalidArgument):
        return None


def _open_all(container_dir: str, cid: str) -> list[int]:
    """Open the files newest first, skipping one already opened under another name (a
    rotation between two opens), and return the fds oldest first."""
    fds: list[int] = []
    seen: set[int] = set()
    for path in reversed(log_files(container_dir, cid)):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        ino = os.fstat(fd).st_ino
        if ino in seen:
            os.close(fd)
            continue
        seen.add(ino)
        fds.append(fd)
    return fds[::-1]


def _lines(fd: int, carry: bytearray) -> Iterator[bytes]:
    """Complete lines readable from ``fd`` now; a trailing partial line stays in carry."""
    while chunk := os.read(fd, 1 << 16):
        carry += chunk
        start = 0
        while (i := carry.find(b"\n", start)) >= 0:
            yield bytes(carry[start : i + 1])
            start = i + 1
        del carry[:start]


def _next_file(container_dir: str, cid: str, ino: int) -> str:
    """The log file written after the one with inode ``ino`` (several rotations may
    have happened since it was the live file)."""
    files: list[str] = []
    for _ in range(20):  # a rotation renaming files under the scan: look again
        files = log_files(container_dir, cid)
        for i, path in enumerate(files[:-1]):
            try:
                if os.stat(path).st_ino == ino:
                    return files[i + 1]
            except FileNotFoundError:
                continue
        time.sleep(0.001)
    return files[0] if files else log_path(container_dir, cid)  # it was rotated out


def _container_done(container_dir: str) -> bool:
    s = st.read_state(container_dir)
    return s.status in st.FINAL or not st.pid_alive(s.shim_pid, s.shim_start)


def read_logs(
    container_dir: str,
    cid: str,
    *,
    follow: bool = False,
    tail: int | None = None,
    since: int | None = None,
    until: int | None = None,
    timestamps: bool = False,
    stdout: bool = True,
    stderr: bool = True,
    done: Callable[[], bool] | None = None,
) -> Iterator[tuple[str, bytes, int]]:
    """Yield ``(stream, data, time_ns)`` for each logged message, oldest first.

    ``tail``: only the last N messages that pass the filters (None or negative: all).
    ``since``/``until``: unix nanoseconds, inclusive. ``timestamps``: prefix data with
    the time as Docker prints it (``2024-...Z ``). ``follow``: then wait for new
    messages until ``done()`` (default: the container's state is final or its shim is
    gone) and the file is drained.
    """
    streams = {s for s, on in (("stdout", stdout), ("stderr", stderr)) if on}

    def filtered(lines: Iterator[bytes]) -> Iterator[tuple[str, bytes, int]]:
        for line in lines:
            e = parse_line(line)
            if e is None or e[0] not in streams or (since is not None and e[2] < since):
                continue
            if until is not None and e[2] > until:
                continue
            if timestamps:
                e = (e[0], st.rfc3339_nano(e[2]).encode() + b" " + e[1], e[2])
            yield e

    fds = _open_all(container_dir, cid)
    cur = fds.pop() if follow and fds else -1
    carry = bytearray()
    try:
        keep = tail if tail is not None and tail >= 0 else -1
        from collections import deque

        last: deque[tuple[str, bytes, int]] = deque(maxlen=max(keep, 0))
        for fd in [*fds, cur] if cur >= 0 else fds:
            carry.clear()
            for e in filtered(_lines(fd, carry)):
                if keep < 0:
                    yield e
                else:
                    last.append(e)
        yield from last
        if follow:
            fd, cur = cur, -1  # _follow owns it now
            yield from filtered(_follow(container_dir, cid, fd, carry, until, done))
    finally:
        for fd in fds if cur < 0 else [*fds, cur]:
            os.close(fd)


def _follow(
    container_dir: str,
    cid: str,
    cur: int,
    carry: bytearray,
    until: int | None,
    done: Callable[[], bool] | None,
) -> Iterator[bytes]:
    """Lines appended to the live file from ``cur``'s position on (``cur`` is closed
    at the end); switches files on rotation."""
    done = done or (lambda: _container_done(container_dir))
    live = log_path(container_dir, cid)
    try:
        while True:
            finished = done()
            got = False
            if cur >= 0:
                if os.fstat(cur).st_size < os.lseek(cur, 0, os.SEEK_CUR):  # max-file 1
                    os.lseek(cur, 0, os.SEEK_SET)
                    carry.clear()
                for line in _lines(cur, carry):
                    got = True
                    yield line
            try:
                ino = os.stat(live).st_ino
            except FileNotFoundError:
                ino = -1
            if ino >= 0 and (cur < 0 or ino != os.fstat(cur).st_ino):
                nxt = live
                if cur >= 0:  # rotated: the shim no longer writes there; drain, go on
                    yield from _lines(cur, carry)  # with the next newer file
                    nxt = _next_file(container_dir, cid, os.fstat(cur).st_ino)
                    os.close(cur)
                    cur = -1
                try:
                    cur = os.open(nxt, os.O_RDONLY | os.O_CLOEXEC)
                except FileNotFoundError:
                    pass  # rotated again meanwhile: next round
                carry.clear()
                continue
            if finished and not got:
                return
            if until is not None and time.time_ns() > until:
                return
            if not got:
                time.sleep(POLL_INTERVAL)
    finally:
        if cur >= 0:
            os.close(cur)
