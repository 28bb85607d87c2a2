"""Copying a container's streams to and from the terminal (run, start -a, attach, exec).

The shim sends Docker's multiplexed frames (8-byte header: stream, 0, 0, 0, length)
without a tty and raw bytes with one; stdin goes back raw. As in Docker's CLI, with
a tty: our terminal is put in raw mode (when stdin is attached and is a terminal)
and restored on the way out, the detach keys (ctrl-p ctrl-q) are watched for, and
the container's terminal follows the size of ours (SIGWINCH). Without a tty stdin
is copied as it is: piped binary data never detaches by accident.

Output goes to our stdout/stderr fds, or, when those are in-memory streams (pytest's
capsys, an embedding program), decoded into them.
"""

from __future__ import annotations

import codecs
import os
import select
import struct
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
    from collections.abc import Callable
    from types import TracebackType
    from typing import Any, TextIO

    from dockyard._util.sock import Socket
else:
    import _signal as signal  # signal.py's enums cost 2 ms on every run; these are ints


class _Demux:
    def __init__(self) -> None:
        self.buf = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self.buf += data
        out = []
        while len(self.buf) >= 8:
            stream, length = self.buf[0], struct.unpack(">I", self.buf[4:8])[0]
            if len(self.buf) < 8 + length:
                break
            out.append((stream, self.buf[8 : 8 + length]))
            self.buf = self.buf[8 + length :]
        return out


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


class TextSink:
    """Bytes into a text stream (UTF-8, bad bytes replaced, characters never split)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def write(self, data: bytes) -> None:
        self.stream.write(self.decoder.decode(data))
        self.stream.flush()

    def close(self) -> None:
        rest = self.decoder.decode(b"", final=True)
        if rest:
            self.stream.write(rest)
        self.stream.flush()


class _Out:
    """Where one stream goes: an fd, or a :class:`TextSink`."""

    def __init__(self, stream: TextIO) -> None:
        stream.flush()
        self.fd = fileno(stream)
        self.sink = TextSink(stream) if self.fd < 0 else None

    def write(self, data: bytes) -> None:
        if self.sink is not None:
            self.sink.write(data)
        else:
            write_all(self.fd, data)

    def close(self) -> None:
        if self.sink is not None:
            self.sink.close()


def fileno(stream: TextIO | None) -> int:
    """The stream's fd, or -1 for an in-memory stream (pytest's capsys)."""
    try:
        return stream.fileno() if stream is not None else -1
    except (OSError, ValueError, AttributeError):  # io.UnsupportedOperation is an OSError
        return -1


def isatty(fd: int) -> bool:
    return fd >= 0 and os.isatty(fd)


class RawTerminal:
    """Puts the terminal ``fd`` in raw mode for the ``with`` block (no-op for -1)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.saved: list[Any] | None = None

    def __enter__(self) -> RawTerminal:
        if self.fd >= 0:
            import termios
            import tty

            self.saved = termios.tcgetattr(self.fd)
            tty.setraw(self.fd)
        return self

    def __exit__(
        self,
        typ: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.saved is not None:
            import termios

            try:
                termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)
            except termios.error:
                pass
            self.saved = None


def terminal_size(fd: int) -> tuple[int, int] | None:
    """(rows, columns) of the terminal ``fd``, or None."""
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return None
    return size.lines, size.columns


def copy_winsize(src: int, dst: int) -> None:
    """Give the pty ``dst`` the size of the terminal ``src`` (its foreground process
    group gets SIGWINCH from the kernel)."""
    import fcntl
    import termios

    size = terminal_size(src)
    if size is not None and size != (0, 0):
        try:
            fcntl.ioctl(dst, termios.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))
        except OSError:
            pass


def pump(
    sock: Socket,
    *,
    tty: bool,
    stdin: bool,
    detach_keys: str = "ctrl-p,ctrl-q",
    on_resize: Callable[[int, int], None] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> bool:
    """Copy until the container's output ends; True if the user detached.

    ``tty``: the container has a terminal (raw bytes; raw mode, detach keys and
    resizing apply). ``stdin``: copy our stdin to the container. ``on_resize(h, w)``
    is called with our terminal's size, at the start and on SIGWINCH. ``out``/``err``
    default to sys.stdout/sys.stderr."""
    from dockyard._util.sock import SHUT_WR
    from dockyard.runtime.shim_client import DetachDetector, parse_detach_keys

    keys = parse_detach_keys(detach_keys)
    outs = _Out(out or sys.stdout)
    errs = _Out(err or sys.stderr)
    in_fd = fileno(sys.stdin) if stdin else -1
    detector = DetachDetector(keys) if tty and in_fd >= 0 else None
    size_fd = next((fd for fd in (outs.fd, in_fd) if isatty(fd)), -1) if tty else -1
    old_winch = None
    if on_resize is not None and size_fd >= 0:
        _send_size(size_fd, on_resize)
        old_winch = signal.signal(signal.SIGWINCH, lambda *_: _send_size(size_fd, on_resize))
    demux = _Demux()
    sock_fd = sock.fileno()
    watch = [sock_fd] + ([in_fd] if in_fd >= 0 else [])
    detached = False
    try:
        with RawTerminal(in_fd if tty and isatty(in_fd) else -1):
            while True:
                ready, _, _ = select.select(watch, [], [])
                if sock_fd in ready:
                    try:
                        data = sock.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        break
                    if tty:
                        outs.write(data)
                    else:
                        for stream, chunk in demux.feed(data):
                            (errs if stream == 2 else outs).write(chunk)
                if in_fd in ready:
                    data = os.read(in_fd, 65536)
                    if not data:
                        watch.remove(in_fd)
                        try:
                            sock.shutdown(SHUT_WR)
                        except OSError:
                            pass
                        continue
                    if detector is not None:
                        data, detached = detector.feed(data)
                    if data:
                        try:
                            sock.sendall(data)
                        except OSError:
                            pass
                    if detached:
                        break
    finally:
        if old_winch is not None:
            signal.signal(signal.SIGWINCH, old_winch)
        sock.close()
        outs.close()
        errs.close()
    return detached


def _send_size(fd: int, on_resize: Callable[[int, int], None]) -> None:
    size = terminal_size(fd)
    if size is None or size == (0, 0):
        return
    try:
        on_resize(*size)
    except Exception:  # the container may be gone: nothing to resize
        pass


class SignalProxy:
    """Forward SIGINT/SIGTERM/SIGHUP/SIGQUIT to the container while active (--sig-proxy)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)

    def __init__(self, send: Callable[[int], None]) -> None:
        self.send = send
        self.saved: dict[int, object] = {}

    def __enter__(self) -> SignalProxy:
        for s in self.SIGNALS:
            self.saved[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, signum: int, frame: object) -> None:
        try:
            self.send(signum)
        except Exception:
            pass

    def __exit__(self, *exc: object) -> None:
        for s, h in self.saved.items():
            signal.signal(s, h)  # type: ignore[arg-type]
