"""The argparse parser behind :class:`dockyard.cli.args.Parser`, Docker style:
errors raise UsageError (exit 125 for flags, 1 for arity).

Imported only when a command line needs argparse (help, an error, a form the fast
path of ``Parser.parse`` leaves to argparse).
"""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

from dockyard.cli.args import UsageError


class ArgumentParser(argparse.ArgumentParser):
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
