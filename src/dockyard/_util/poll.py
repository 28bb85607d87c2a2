"""An epoll selector with the part of ``selectors.DefaultSelector``'s interface the
shim uses: ``register``, ``unregister``, ``modify``, ``select``, ``get_map``.

``selectors`` imports ``collections`` (namedtuple, Mapping) and ``math``: 3 ms of a
shim's start-up here, and the shim forked ahead of ``run`` is sometimes the last
one ready when the CLI hands it the container. ``select.epoll`` is what
``DefaultSelector`` is on Linux; this keeps its keys (``fd``, ``fileobj``,
``events``, ``data``) and its event bits.
"""

from __future__ import annotations

import select

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

EVENT_READ = 1  # selectors.EVENT_READ
EVENT_WRITE = 2  # selectors.EVENT_WRITE


def _fd(fileobj: Any) -> int:
    return fileobj if isinstance(fileobj, int) else int(fileobj.fileno())


class SelectorKey:
    """``selectors.SelectorKey``: what was registered for one fd."""

    __slots__ = ("data", "events", "fd", "fileobj")

    def __init__(self, fileobj: Any, fd: int, events: int, data: Any) -> None:
        self.fileobj, self.fd, self.events, self.data = fileobj, fd, events, data


def _mask(events: int) -> int:
    return (select.EPOLLIN if events & EVENT_READ else 0) | (
        select.EPOLLOUT if events & EVENT_WRITE else 0
    )


class EpollSelector:
    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._keys: dict[int, SelectorKey] = {}

    def register(self, fileobj: Any, events: int, data: Any = None) -> SelectorKey:
        fd = _fd(fileobj)
        if fd in self._keys:
            raise KeyError(f"{fileobj!r} (FD {fd}) is already registered")
        key = SelectorKey(fileobj, fd, events, data)
        self._epoll.register(fd, _mask(events))
        self._keys[fd] = key
        return key

    def unregister(self, fileobj: Any) -> SelectorKey:
        key = self._keys.pop(_fd(fileobj))
        try:
            self._epoll.unregister(key.fd)
        except OSError:
            pass  # closed already: epoll forgot it
        return key

    def modify(self, fileobj: Any, events: int, data: Any = None) -> SelectorKey:
        key = self._keys[_fd(fileobj)]
        if events != key.events:
            self._epoll.modify(key.fd, _mask(events))
        key.events, key.data = events, data
        return key

    def select(self, timeout: float | None = None) -> list[tuple[SelectorKey, int]]:
        if timeout is not None and timeout <= 0:
            timeout = 0
        ready = []
        for fd, ev in self._epoll.poll(-1 if timeout is None else timeout, len(self._keys) or 1):
            key = self._keys.get(fd)
            if key is None:
                continue
            events = (EVENT_READ if ev & ~select.EPOLLOUT else 0) | (
                EVENT_WRITE if ev & ~select.EPOLLIN else 0
            )
            ready.append((key, events & key.events))
        return ready

    def get_map(self) -> dict[int, SelectorKey]:
        return self._keys

    def close(self) -> None:
        self._epoll.close()
        self._keys.clear()
