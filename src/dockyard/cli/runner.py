"""Runs one command: builds the engine, calls the command, maps errors to exit codes."""

from __future__ import annotations

import os
import sys

from dockyard.cli.args import UsageError
from dockyard.cli.context import Context
from dockyard.errors import DockyardError, Interrupted

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

# Docker's exit codes: 125 when the engine itself fails for run/create, 1 otherwise.
ENGINE_ERROR_EXIT = 1


def run_command(target: str, name: str, args: list[str], opts: dict[str, str]) -> int:
    entry_point = _is_entry_point()
    # the program's end closes the state database for it: SQLite's close of the last
    # connection checkpoints the write-ahead log into the database and fsyncs it
    # (0.5-0.9 ms of every command here); left open, the next command opens the log
    # as it is (every commit in it is whole) and SQLite checkpoints when it grows
    code = _run_command(target, name, args, opts, close=not entry_point)
    if entry_point:
        exit_now(code)
    return code


def _run_command(
    target: str, name: str, args: list[str], opts: dict[str, str], *, close: bool = True
) -> int:
    module_name, func_name = target.split(":")
    # __import__, not importlib.import_module: the importlib package imports warnings
    # (~0.8 ms together, on every command)
    module = __import__(f"dockyard.cli.commands.{module_name}", fromlist=[func_name])
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
        if close:
            ctx.close()
        if name == "run":
            from dockyard.runtime import shim_prefork

            shim_prefork.discard()  # forked ahead, not taken: the command failed first


def _is_entry_point() -> bool:
    """True when this process is the ``dockyard`` program itself: the console script
    (``bin/dockyard``) or ``python -m dockyard``, which exit with main()'s result; not
    a program (a test, a script) that calls ``main()`` and goes on."""
    from dockyard.cli import main

    entry = sys.modules.get("__main__")
    if getattr(entry, "main", None) is not main.main:
        return False
    spec = getattr(entry, "__spec__", None)
    if spec is not None:
        return bool(spec.name == "dockyard.__main__")
    return os.path.basename(getattr(entry, "__file__", "") or "") == "dockyard"


def exit_now(code: int) -> None:
    """End the process with ``code`` once the command is done, without the
    interpreter's shutdown: clearing every imported module and a last garbage
    collection cost 3-6 ms, a tenth of a ``ps``. What a normal exit must still do is
    done here: the atexit handlers (temporary directories, ...) and flushing stdout
    and stderr. Returns (for the normal exit) if threads still run or a flush fails
    (a closed pipe), where the interpreter's own handling decides."""
    if type(code) is not int:
        return  # sys.exit's own conversion (None is 0)
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        return
    import atexit

    atexit._run_exitfuncs()
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except BaseException:
        return
    os._exit(code)


def report_error(e: DockyardError, command: str = "") -> None:
    prefix = "dockyard: " if command in ("run", "create") else ""
    sys.stderr.write(f"{prefix}Error response from daemon: {e.message}\n")
    if e.hint:
        sys.stderr.write(f"hint: {e.hint}\n")
