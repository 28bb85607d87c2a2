"""Unix stream sockets on ``_socket``, the C module under ``socket``.

``import socket`` costs about 3 ms here (``enum`` for its constants, ``selectors``
and ``collections``); the CLI talks to shims on every ``run``, ``exec``, ``stop``
and ``attach``. :class:`Socket` is ``_socket.socket`` plus the ``with`` support
that ``socket.socket`` adds (as that class, it subclasses ``_socket.socket``), and
what callers use of it works the same: ``sendall``, ``recv``, ``shutdown``,
``settimeout``, ``fileno``, ``detach``, ``sendmsg``/``recvmsg``. Where the rest
of ``socket`` is needed (``makefile``, ``send_fds``), use ``socket``.
"""

from __future__ import annotations

import _socket
from _socket import AF_UNIX, MSG_PEEK, SHUT_RDWR, SHUT_WR, SOCK_STREAM

__all__ = ["AF_UNIX", "MSG_PEEK", "SHUT_RDWR", "SHUT_WR", "SOCK_STREAM", "Socket",
           "socketpair", "unix_stream"]  # fmt: skip


class Socket(_socket.socket):
    """A socket that closes at the end of a ``with`` block."""

    __slots__ = ()

    def __enter__(self) -> Socket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def accept(self) -> tuple[Socket, object]:
        """``socket.socket.accept``: the connection (blocking unless this socket has
        a timeout) and the peer's address."""
        fd, addr = self._accept()  # type: ignore[attr-defined]  # _socket.socket._accept
        conn = Socket(self.family, self.type, self.proto, fileno=fd)
        if self.gettimeout():
            conn.setblocking(True)
        return conn, addr


def unix_stream() -> Socket:
    """A new AF_UNIX stream socket (close-on-exec, as ``socket.socket`` makes it)."""
    return Socket(AF_UNIX, SOCK_STREAM)


def socketpair() -> tuple[Socket, Socket]:
    """``socket.socketpair()`` for AF_UNIX streams."""
    a, b = _socket.socketpair(AF_UNIX, SOCK_STREAM)
    return Socket(fileno=a.detach()), Socket(fileno=b.detach())
