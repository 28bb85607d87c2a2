"""Copying a container's streams to and from the terminal (run, start -a, attach).

The shim sends Docker's multiplexed frames (8-byte header: stream, 0, 0, 0, length)
without a tty and raw bytes with one; stdin goes back raw. With a tty on our own
stdin, the terminal is put in raw mode and restored on the way out, and ctrl-p
ctrl-q detaches.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import struct
import sys
from collections.abc import Callable


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


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def pump(
    sock: socket.socket,
    *,
    tty: bool,
    stdin: bool,
    detach_keys: str = "ctrl-p,ctrl-q",
    on_resize: Callable[[int, int], None] | None = None,
) -> bool:
    """Copy until the container's output ends; True if the user detached."""
    from dockyard.runtime.shim_client import DetachDetector, parse_detach_keys

    out_fd, err_fd = sys.stdout.fileno(), sys.stderr.fileno()
    sys.stdout.flush()
    in_fd = sys.stdin.fileno() if stdin else -1
    raw_terminal = tty and stdin and os.isatty(in_fd)
    saved = None
    if raw_terminal:
        import termios
        import tty as ttymod

        saved = termios.tcgetattr(in_fd)
        ttymod.setraw(in_fd)
        if on_resize is not None:
            _send_size(in_fd, on_resize)
            signal.signal(signal.SIGWINCH, lambda *_: _send_size(in_fd, on_resize))
    detector = DetachDetector(parse_detach_keys(detach_keys)) if stdin else None
    demux = _Demux()
    sock_fd = sock.fileno()
    watch = [sock_fd] + ([in_fd] if in_fd >= 0 else [])
    detached = False
    try:
        while True:
            try:
                ready, _, _ = select.select(watch, [], [])
            except InterruptedError:
                continue
            if sock_fd in ready:
                data = sock.recv(65536)
                if not data:
                    break
                if tty:
                    _write_all(out_fd, data)
                else:
                    for stream, chunk in demux.feed(data):
                        _write_all(err_fd if stream == 2 else out_fd, chunk)
            if in_fd in ready:
                data = os.read(in_fd, 65536)
                if not data:
                    watch.remove(in_fd)
                    try:
                        sock.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    continue
                assert detector is not None
                data, detached = detector.feed(data)
                if data:
                    try:
                        sock.sendall(data)
                    except OSError:
                        pass
                if detached:
                    break
    finally:
        if saved is not None:
            import termios

            termios.tcsetattr(in_fd, termios.TCSADRAIN, saved)
            signal.signal(signal.SIGWINCH, signal.SIG_DFL)
        sock.close()
    return detached


def _send_size(fd: int, on_resize: Callable[[int, int], None]) -> None:
    try:
        size = os.get_terminal_size(fd)
        on_resize(size.lines, size.columns)
    except OSError:
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
