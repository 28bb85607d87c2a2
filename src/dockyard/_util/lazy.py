"""Things made on first use, without the modules that usually make them.

``run``, ``ps`` and ``exec`` pay for every module they import, every time (see
tests/unit/test_startup_imports.py). ``re`` costs about 3 ms here with ``enum``,
``functools`` about 2 ms with ``collections``; most commands match no pattern
and need no cache. These stand-ins import nothing:

- :class:`Regex`: a pattern compiled (and ``re`` imported) on its first match;
- :func:`cache`: ``functools.cache`` for functions of hashable positional arguments;
- :class:`cached_property`: ``functools.cached_property`` without its lock;
- :func:`as_path`: ``pathlib.Path(p)``, pathlib (with ``re``, ``fnmatch`` and
  ``urllib.parse``) imported only by the call, for the methods that hand out paths.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from collections.abc import Callable
    from pathlib import Path
    from typing import Any, TypeVar

    R = TypeVar("R")


class Regex:
    """``re.compile(pattern, flags)``, compiled on the first call of a method."""

    __slots__ = ("_compiled", "flags", "pattern")

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.pattern, self.flags = pattern, flags
        self._compiled: re.Pattern[str] | None = None

    @property
    def compiled(self) -> re.Pattern[str]:
        if self._compiled is None:
            import re

            self._compiled = re.compile(self.pattern, self.flags)
        return self._compiled

    def match(self, s: str, pos: int = 0) -> re.Match[str] | None:
        return self.compiled.match(s, pos)

    def fullmatch(self, s: str, pos: int = 0) -> re.Match[str] | None:
        return self.compiled.fullmatch(s, pos)

    def sub(self, repl: Any, s: str, count: int = 0) -> str:
        return self.compiled.sub(repl, s, count)


def as_path(p: str) -> Path:
    """``pathlib.Path(p)``, importing pathlib now rather than with the module."""
    from pathlib import Path

    return Path(p)


def cache(fn: Callable[..., R]) -> Callable[..., R]:
    """``functools.cache`` for positional, hashable arguments."""
    memo: dict[tuple[Any, ...], Any] = {}

    def cached(*args: Any) -> R:
        try:
            return memo[args]  # type: ignore[no-any-return]
        except KeyError:
            memo[args] = value = fn(*args)
            return value

    cached.__name__, cached.__doc__ = fn.__name__, fn.__doc__
    cached.__wrapped__ = fn  # type: ignore[attr-defined]
    cached.cache_clear = memo.clear  # type: ignore[attr-defined]
    return cached


if TYPE_CHECKING:
    from functools import cached_property as cached_property
else:

    class cached_property:
        """``functools.cached_property``: computed once per instance, then an attribute."""

        def __init__(self, fn):
            self.fn, self.__doc__ = fn, fn.__doc__
            self.name = fn.__name__

        def __set_name__(self, owner, name):
            self.name = name

        def __get__(self, obj, owner=None):
            if obj is None:
                return self
            value = obj.__dict__[self.name] = self.fn(obj)
            return value
