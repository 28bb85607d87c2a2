"""Runs one command: builds the engine, calls the command, maps errors to exit codes."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

from dockyard.cli.args import UsageError
from dockyard.cli.context import Context
from dockyard.errors import DockyardError, Interrupted

# Docker's exit codes: 125 when the engine itself fails for run/create, 1 otherwise.
ENGINE_ERROR_EXIT = 1


def run_command(target: str, name: str, args: list[str], opts: dict[str, str]) -> int:
    module_name, func_name = target.split(":")
    module = importlib.import_module(f"dockyard.cli.commands.{module_name}")
    func: Callable[[Context, list[str]], int] = getattr(module, func_name)
    ctx = Context.from_options(opts, command=name)
    try:
        return func(ctx, args)
    except UsageError as e:
        see = f"See 'dockyard {e.command or name} --help'."
        sys.stderr.write(e.message + ("" if "See 'dockyard" in e.message else "\n" + see) + "\n")
        return e.exit_code
    except DockyardError as e:
        report_error(e, name)
        return getattr(e, "exit_code", ENGINE_ERROR_EXIT)
    except KeyboardInterrupt:
        report_error(Interrupted("interrupted"), name)
        return 130
    except BrokenPipeError:
        return 141
    finally:
        ctx.close()


def report_error(e: DockyardError, command: str = "") -> None:
    prefix = "dockyard: " if command in ("run", "create") else ""
    sys.stderr.write(f"{prefix}Error response from daemon: {e.message}\n")
    if e.hint:
        sys.stderr.write(f"hint: {e.hint}\n")
