"""argparse, Docker style: errors raise UsageError (exit 125 for flags, 1 for arity)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, NoReturn


class UsageError(Exception):
    def __init__(self, message: str, command: str = "", exit_code: int = 125) -> None:
        super().__init__(message)
        self.message = message
        self.command = command
        self.exit_code = exit_code


class Parser(argparse.ArgumentParser):
    def __init__(self, command: str, usage: str, description: str = "", **kw: Any) -> None:
        kw.setdefault("add_help", True)
        super().__init__(
            prog=f"dockyard {command}",
            usage=f"dockyard {command} {usage}".rstrip(),
            description=description,
            allow_abbrev=False,
            **kw,
        )
        self.command = command

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments: "):
            arg = message.split(": ", 1)[1].split()[0]
            if arg.startswith("-"):
                raise UsageError(f"unknown flag: {arg}", self.command)
            raise UsageError(
                f'"dockyard {self.command}" accepts no argument(s) like {arg!r}.',
                self.command,
                exit_code=1,
            )
        if message.startswith("the following arguments are required"):
            raise UsageError(
                f'"dockyard {self.command}" requires at least 1 argument.\nUsage:  {self.usage}',
                self.command,
                exit_code=1,
            )
        raise UsageError(message, self.command)

    def parse(self, args: Sequence[str]) -> argparse.Namespace:
        return self.parse_args(list(args))


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
