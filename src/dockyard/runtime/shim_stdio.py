"""The supervisor's two kinds of streams: the container's stdio (:class:`Stdio`) and
a client connection on the shim socket (:class:`Client`), with Docker's multiplexed
frame for attach. Imported by the long-lived supervisor: only small stdlib modules.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard._util.sock import Socket


def frame(stream: int, data: bytes) -> bytes:
    """Docker's multiplexed stream frame."""
    return bytes((stream, 0, 0, 0)) + len(data).to_bytes(4, "big") + data


class Stdio:
    """One run's stdio: ``outs`` (our read ends -> stream), ``stdin`` (our write end,
    -1 if none) and ``child`` (the container's 0, 1, 2; closed once it started)."""

    def __init__(self, tty: bool, open_stdin: bool) -> None:
        self.tty, self.stdin = tty, -1
        self.child: tuple[int, ...]
        if tty:
            m, s = os.openpty()
            self.outs, self.child = {m: "stdout"}, (s, s, s)
            if open_stdin:
                self.stdin = os.dup(m)
        else:
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            if open_stdin:
                in_r, self.stdin = os.pipe()
            else:
                in_r = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
            self.outs, self.child = {out_r: "stdout", err_r: "stderr"}, (in_r, out_w, err_w)
        for fd in (*self.outs, self.stdin):
            if fd >= 0:
                os.set_blocking(fd, False)

    def close_child(self) -> None:
        for fd in set(self.child):
            os.close(fd)
        self.child = ()

    def adopt_console(self, master: int) -> None:
        """Use ``master``, a pty an external runtime made in the container, instead of
        ours (tty only)."""
        for fd in {*self.outs, self.stdin, *self.child} - {-1}:
            os.close(fd)
        self.child = ()
        self.outs = {master: "stdout"}
        self.stdin = -1 if self.stdin < 0 else os.dup(master)
        for fd in (master, self.stdin):
            if fd >= 0:
                os.set_blocking(fd, False)

    def close(self) -> None:
        self.close_child()
        for fd in (*self.outs, self.stdin):
            if fd >= 0:
                os.close(fd)
        self.outs, self.stdin = {}, -1

    def to_json(self) -> dict[str, Any]:
        return {"tty": self.tty, "outs": list(self.outs.items()), "stdin": self.stdin}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Stdio:
        self = cls.__new__(cls)
        self.tty, self.stdin, self.child = d["tty"], d["stdin"], ()
        self.outs = {int(fd): s for fd, s in d["outs"]}
        return self


class Client:
    __slots__ = ("attached", "eof", "err", "inp", "out", "rbuf", "removes", "sock", "stdin_once",
                 "wbuf")  # fmt: skip

    def __init__(self, sock: Socket) -> None:
        sock.setblocking(False)
        self.sock, self.rbuf, self.wbuf = sock, b"", bytearray()
        self.attached = self.eof = self.inp = self.out = self.err = self.stdin_once = False
        self.removes = False  # an attach that removes the container when it hears the end
