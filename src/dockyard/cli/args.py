"""Flags, Docker style: errors raise UsageError (exit 125 for flags, 1 for arity).

:class:`Parser` takes argparse's ``add_argument`` calls but builds an argparse
parser (:mod:`dockyard.cli.argparse_parser`) only when a command line needs one.
Importing argparse and building a parser costs more than all the work of ``ps``;
so the plain command lines (flags that are whole words, values that do not start
with "-", positional arguments after the flags) are parsed here, to the values
argparse gives. Anything else (``--help``, errors, combined short flags,
``--``, a value that looks like a flag, ...) goes to argparse.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from argparse import ArgumentParser, Namespace
    from collections.abc import Sequence
    from typing import Any
else:

    class Namespace:
        """argparse.Namespace for the command lines parsed without argparse."""

        def __init__(self, **kwargs: Any) -> None:
            self.__dict__.update(kwargs)

        def __eq__(self, other: object) -> bool:
            if not isinstance(other, Namespace):
                return NotImplemented
            return vars(self) == vars(other)

        def __contains__(self, key: str) -> bool:
            return key in self.__dict__

        def __repr__(self) -> str:
            body = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
            return f"Namespace({body})"


class UsageError(Exception):
    def __init__(self, message: str, command: str = "", exit_code: int = 125) -> None:
        super().__init__(message)
        self.message = message
        self.command = command
        self.exit_code = exit_code


REMAINDER = "..."  # argparse.REMAINDER
_SIMPLE_ACTIONS = ("store", "store_true", "append")
_POSITIONAL_NARGS = ("?", "*", REMAINDER)


class _Fallback(Exception):
    """This command line is argparse's to parse."""


class Parser:
    """A command's flags: ``add_argument`` as argparse's, then ``parse``."""

    def __init__(self, command: str, usage: str, description: str = "", **kw: Any) -> None:
        self.command = command
        self.usage = f"dockyard {command} {usage}".rstrip()
        self._usage = usage
        self._description = description
        self._kw = kw
        self._arguments: list[tuple[tuple[str, ...], dict[str, Any]]] = []

    def add_argument(self, *names: str, **kw: Any) -> None:
        self._arguments.append((names, kw))

    def argparser(self) -> ArgumentParser:
        """The equivalent argparse parser."""
        from dockyard.cli.argparse_parser import ArgumentParser

        p = ArgumentParser(self.command, self._usage, self._description, **self._kw)
        for names, kw in self._arguments:
            p.add_argument(*names, **kw)
        return p

    def parse(self, args: Sequence[str]) -> Namespace:
        try:
            return self.parse_simple(args)
        except _Fallback:
            return self.argparser().parse_args(list(args))

    def parse_simple(self, args: Sequence[str]) -> Namespace:
        """Parse without argparse, to argparse's result; :class:`_Fallback` when the
        command line (or a flag definition) is beyond this simple parser."""
        options: dict[str, tuple[str, dict[str, Any]]] = {}
        positionals: list[tuple[str, dict[str, Any]]] = []
        values: dict[str, Any] = {}
        if self._kw.get("add_help", True):
            options["-h"] = options["--help"] = ("help", {"action": "help"})
        for names, kw in self._arguments:
            action = kw.get("action", "store")
            if "required" in kw:
                raise _Fallback
            if not names[0].startswith("-"):
                if action != "store" or kw.get("nargs") not in _POSITIONAL_NARGS:
                    raise _Fallback
                positionals.append((names[0], kw))
                continue
            dest = kw.get("dest") or _dest(names)
            for name in names:
                options[name] = (dest, kw)
            if action == "help":
                continue
            if action not in _SIMPLE_ACTIONS or "nargs" in kw or "const" in kw:
                raise _Fallback
            if dest not in values:  # argparse: the first default of a dest wins
                values[dest] = kw.get("default", False if action == "store_true" else None)
        given: set[str] = set()
        i, n = 0, len(args)
        if "--" in args:
            raise _Fallback
        while i < n and args[i].startswith("-"):
            token, explicit = args[i], None
            if token.startswith("--") and "=" in token:
                token, explicit = token.split("=", 1)
                if not explicit:
                    raise _Fallback
            dest, kw = options.get(token) or _fallback()
            action = kw.get("action", "store")
            if action == "store_true":
                if explicit is not None:
                    raise _Fallback
                values[dest] = True
            elif action in ("store", "append"):
                if explicit is None:
                    i += 1
                    if i >= n or args[i].startswith("-"):
                        raise _Fallback
                    explicit = args[i]
                value = _convert(kw, explicit)
                if action == "store":
                    values[dest] = value
                else:
                    values[dest] = [*(values[dest] or ()), value]
            else:
                raise _Fallback  # help
            given.add(dest)
            i += 1
        rest = list(args[i:])
        if not any(kw["nargs"] == REMAINDER for _, kw in positionals) and any(
            a.startswith("-") for a in rest
        ):
            raise _Fallback  # flags between arguments
        for dest, kw in positionals:
            nargs = kw["nargs"]
            if nargs == "?":
                if rest:
                    values[dest] = _convert(kw, rest.pop(0))
                else:
                    values[dest] = _default(kw)
            elif rest:
                values[dest] = [_convert(kw, a, check=nargs != REMAINDER) for a in rest]
                rest = []
            else:
                default = kw.get("default")
                values[dest] = default if default is not None and nargs == "*" else []
        if rest:
            raise _Fallback  # too many arguments: argparse's error
        for names, kw in self._arguments:
            if names[0].startswith("-") and kw.get("action") != "help":
                dest = kw.get("dest") or _dest(names)
                if dest not in given and isinstance(values[dest], str) and "type" in kw:
                    values[dest] = _convert(kw, values[dest], check=False)
        return Namespace(**values)


def _fallback() -> tuple[str, dict[str, Any]]:
    raise _Fallback


def _dest(names: Sequence[str]) -> str:
    long = [n for n in names if n.startswith("--")]
    return (long or list(names))[0].lstrip("-").replace("-", "_")


def _convert(kw: dict[str, Any], text: str, *, check: bool = True) -> Any:
    convert = kw.get("type")
    try:
        value = text if convert is None else convert(text)
    except (TypeError, ValueError):
        raise _Fallback from None
    if check and "choices" in kw and value not in kw["choices"]:
        raise _Fallback
    return value


def _default(kw: dict[str, Any]) -> Any:
    default = kw.get("default")
    if isinstance(default, str):
        return _convert(kw, default)
    return default


def require_args(ns_value: Sequence[str], command: str, usage: str, minimum: int = 1) -> None:
    if len(ns_value) < minimum:
        what = "argument" if minimum == 1 else "arguments"
        raise UsageError(
            f'"dockyard {command}" requires at least {minimum} {what}.\n'
            f"See 'dockyard {command} --help'.\n\nUsage:  dockyard {command} {usage}",
            command,
            exit_code=1,
        )


def parse_filters(values: Sequence[str] | None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for v in values or ():
        key, eq, value = v.partition("=")
        if not eq:
            raise UsageError(f"bad format of filter (expected name=value): {v}")
        out.setdefault(key.strip().lower(), []).append(value)
    return out
