"""``dockyard exec``: run a command in a running container.

The process is started by this CLI (no daemon in between) and is its child:

- without ``-t`` it gets our own stdin (with ``-i``, else /dev/null), stdout and
  stderr, nothing is copied; SIGINT/SIGTERM/SIGHUP/SIGQUIT are forwarded to it
  (Docker's CLI leaves the process running when you press ctrl-c: we do not);
- with ``-t`` it gets the slave of a pty that we open in the container's devpts
  (``tty`` says /dev/pts/N in there, as with Docker); our terminal goes raw
  (``-i``) and bytes are copied both ways, the pty follows our terminal's size,
  ctrl-p ctrl-q (``--detach-keys``) detaches: the process keeps running, its
  terminal held by a small background process;
- ``-d`` starts it on /dev/null and returns at once.

The exit code is the process's (128+N when killed by signal N); 126/127 when the
command cannot be invoked / is not found, with the runtime's message.
"""

from __future__ import annotations

import os
import sys

from dockyard.cli.args import Parser, UsageError
from dockyard.cli.context import Context
from dockyard.cli.streams import TextSink, fileno, isatty
from dockyard.runtime.errors import ContainerStartError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from typing import TextIO

    from dockyard.engine.container_exec import PreparedExec

USAGE = "[OPTIONS] CONTAINER COMMAND [ARG...]"
ESCAPE_MESSAGE = "read escape sequence"  # Docker's text (and exit 1) on a detach


def _parser(command: str) -> Parser:
    p = Parser(command, USAGE, "Execute a command in a running container")
    a = p.add_argument
    a("-d", "--detach", action="store_true", help="Detached mode: run command in the background")
    a("--detach-keys", default="ctrl-p,ctrl-q", help="Override the key sequence for detaching")
    a("-e", "--env", action="append", default=[], help="Set environment variables")
    a("--env-file", action="append", default=[], help="Read in a file of environment variables")
    a("-i", "--interactive", action="store_true", help="Keep STDIN open even if not attached")
    a("--privileged", action="store_true", help="Give extended privileges to the command")
    a("-t", "--tty", action="store_true", help="Allocate a pseudo-TTY")
    a("-u", "--user", default="", help="Username or UID (format: <name|uid>[:<group|gid>])")
    a("-w", "--workdir", default="", help="Working directory inside the container")
    a("container", nargs="?", help="container")
    a("command", nargs="...", help="command")
    return p


def _env(ns: argparse.Namespace) -> tuple[str, ...]:
    if not ns.env_file and not ns.env:
        return ()
    from dockyard.specs.env import env_from_flags

    return tuple(env_from_flags(ns.env_file, ns.env))


def exec_(ctx: Context, args: list[str], command: str = "exec") -> int:
    from dockyard.engine.container_exec import ExecConfig, prepare_exec, start_exec_detached

    ns = _parser(command).parse(args)
    if not ns.container or not ns.command:
        raise UsageError(
            f'"dockyard {command}" requires at least 2 arguments.\n'
            f"See 'dockyard {command} --help'.\n\nUsage:  dockyard {command} {USAGE}\n\n"
            "Execute a command in a running container",
            command,
            exit_code=1,
        )
    if ns.tty and ns.interactive and not ns.detach and not isatty(fileno(sys.stdin)):
        ctx.err.write("the input device is not a TTY\n")
        return 1
    from dockyard.runtime.shim_client import parse_detach_keys

    keys = parse_detach_keys(ns.detach_keys)
    cfg = ExecConfig(
        cmd=tuple(ns.command),
        env=_env(ns),
        workdir=ns.workdir,
        user=ns.user,
        tty=ns.tty,
        privileged=ns.privileged,
    )
    try:
        from dockyard.engine.container_list import ContainerLookup

        lookup = ContainerLookup(ctx.config, ctx.engine.db)  # not the whole container service
        prepared = prepare_exec(lookup, ns.container, cfg)
        if ns.detach:
            start_exec_detached(prepared)
            return 0
        if ns.tty:
            return _run_tty(ctx, prepared, ns.interactive, keys)
        return _run_plain(ctx, prepared, ns.interactive)
    except ContainerStartError as e:
        ctx.err.write(e.message + "\n")
        return e.exit_code


def exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


# -- without a tty: the process has our fds ------------------------------------------


def _run_plain(ctx: Context, p: PreparedExec, interactive: bool) -> int:
    from dockyard.cli.streams import SignalProxy
    from dockyard.engine.container_exec import start_exec

    ctx.out.flush()
    ctx.err.flush()
    opened: list[int] = []
    readers: dict[int, TextSink] = {}

    def target(stream: TextIO) -> int:
        fd = fileno(stream)
        if fd >= 0:
            return fd
        r, w = os.pipe()  # copied into the in-memory stream below
        readers[r] = TextSink(stream)
        opened.append(w)
        return w

    stdin = fileno(sys.stdin) if interactive else -1
    if stdin < 0:
        stdin = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        opened.append(stdin)
    try:
        out, err = target(ctx.out), target(ctx.err)
        pid = start_exec(p, stdio=(stdin, out, err))
    except BaseException:
        for fd in (*opened, *readers):
            os.close(fd)
        raise
    for fd in opened:
        os.close(fd)
    with SignalProxy(lambda sig: _kill(pid, sig)):
        if readers:
            _copy_pipes(readers)
        _, status = os.waitpid(pid, 0)
    return exit_code(status)


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _copy_pipes(readers: dict[int, TextSink]) -> None:
    import select

    while readers:
        ready, _, _ = select.select(list(readers), [], [])
        for fd in ready:
            data = os.read(fd, 65536)
            if data:
                readers[fd].write(data)
            else:
                readers.pop(fd).close()
                os.close(fd)


# -- with a tty: a pty, copied to and from our terminal ---------------------------------


def _run_tty(ctx: Context, p: PreparedExec, interactive: bool, keys: bytes) -> int:
    import select
    import signal

    from dockyard.cli.streams import RawTerminal, copy_winsize, write_all
    from dockyard.engine.container_exec import open_pty, start_exec
    from dockyard.runtime.shim_client import DetachDetector

    ctx.out.flush()
    out_fd = fileno(ctx.out)
    sink = TextSink(ctx.out) if out_fd < 0 else None
    in_fd = fileno(sys.stdin) if interactive else -1
    size_fd = next((fd for fd in (out_fd, in_fd) if isatty(fd)), -1)
    master, slave = open_pty(p)  # in the container's devpts: /dev/pts/N in there
    if size_fd >= 0:
        copy_winsize(size_fd, master)
    try:
        pid = start_exec(p, stdio=(slave, slave, slave))
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)
    pidfd = os.pidfd_open(pid)
    detector = DetachDetector(keys) if in_fd >= 0 else None
    old_winch = None
    if size_fd >= 0:
        old_winch = signal.signal(signal.SIGWINCH, lambda *_: copy_winsize(size_fd, master))
    detached = False
    raw = RawTerminal(in_fd if isatty(in_fd) else -1)

    def emit(data: bytes) -> None:
        if sink is not None:
            sink.write(data)
        else:
            write_all(out_fd, data)

    try:
        with raw:
            watch = [master, pidfd] + ([in_fd] if in_fd >= 0 else [])
            while True:
                ready, _, _ = select.select(watch, [], [])
                if master in ready:
                    data = _read_master(master)
                    if data is None:
                        break
                    emit(data)
                if in_fd in ready:
                    data = os.read(in_fd, 65536)
                    if not data:  # our input ended: end the process's input as a terminal would
                        watch.remove(in_fd)
                        write_all(master, b"\x04")
                        continue
                    assert detector is not None
                    data, detached = detector.feed(data)
                    if data:
                        write_all(master, data)
                    if detached:
                        break
                if pidfd in ready and master not in ready:
                    _drain(master, emit)  # the process ended: take what it wrote, then stop
                    break
    except BaseException:
        os.close(master)  # the process gets a hangup, as on a closed terminal
        raise
    finally:
        if old_winch is not None:
            signal.signal(signal.SIGWINCH, old_winch)
        os.close(pidfd)
        if sink is not None:
            sink.close()
    if detached:
        _hold_terminal(master, pid)
        os.close(master)
        ctx.err.write(ESCAPE_MESSAGE + "\n")
        return 1
    os.close(master)
    _, status = os.waitpid(pid, 0)
    return exit_code(status)


def _read_master(master: int) -> bytes | None:
    """Bytes from the pty, or None once every slave fd is closed (EIO)."""
    try:
        data = os.read(master, 65536)
    except OSError:
        return None
    return data or None


def _drain(master: int, emit: Callable[[bytes], None]) -> None:
    import select

    while select.select([master], [], [], 0.05)[0]:
        data = _read_master(master)
        if data is None:
            return
        emit(data)


def _hold_terminal(master: int, pid: int) -> None:
    """After a detach: keep the process's terminal open (and its output drained) from
    a background process until the process ends, as Docker's daemon would; else the
    process would get a hangup when we exit."""
    import select

    child = os.fork()
    if child:
        os.waitpid(child, 0)
        return
    try:  # pragma: no cover (runs in the child, then in its child)
        os.setsid()
        if os.fork():
            os._exit(0)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            os._exit(0)
        while True:
            ready, _, _ = select.select([master, pidfd], [], [])
            if pidfd in ready or _read_master(master) is None:
                break
    finally:
        os._exit(0)
