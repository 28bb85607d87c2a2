"""run, create, start, stop, kill, restart, rm, wait, rename, pause, unpause, logs."""

from __future__ import annotations

import sys

from dockyard.cli.args import Parser, UsageError, require_args
from dockyard.cli.context import Context
from dockyard.errors import DockyardError, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from dockyard.engine.containers import Container
    from dockyard.runtime.shim_prefork import PendingShim

ENGINE_EXIT = 125


class RunFailed(DockyardError):
    """An engine error in run/create: Docker exits 125 for these."""

    exit_code = ENGINE_EXIT


def _as_run_error(e: DockyardError) -> DockyardError:
    err = RunFailed(e.message, hint=e.hint)
    err.exit_code = getattr(e, "exit_code", ENGINE_EXIT)
    return err


def _create(
    ctx: Context, args: list[str], command: str
) -> tuple[Container, argparse.Namespace, PendingShim | None]:
    """Parse and create; for ``run``, also a shim forked ahead (while the container
    is made, it imports the runtime on the other core: runtime/shim_prefork.py)."""
    from dockyard.cli.create_flags import USAGE, create_request, new_parser

    p = new_parser(command)
    p.add_argument("-d", "--detach", action="store_true", help="Run in background")
    p.add_argument("--detach-keys", default="ctrl-p,ctrl-q", help="Detach key sequence")
    p.add_argument("--sig-proxy", default="true", help="Proxy received signals to the process")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress the pull output")
    ns = p.parse(args)
    if not ns.image:
        raise UsageError(
            f'"dockyard {command}" requires at least 1 argument.\n'
            f"See 'dockyard {command} --help'.\n\nUsage:  dockyard {command} {USAGE}",
            command,
            exit_code=1,
        )
    if ns.detach and ns.attach:
        raise UsageError("conflicting options: cannot specify both --attach and --detach", command)
    try:
        req = create_request(ns)
    except DockyardError as e:
        # a bad flag value: the client's error in Docker (no "Error response from daemon")
        hint = f"\nhint: {e.hint}" if e.hint else ""
        raise UsageError(e.message + hint, command) from None
    pending = None
    if command == "run":
        from dockyard.runtime import shim_prefork

        pending = shim_prefork.take()  # forked by cli/main.py before the imports
    try:
        container = ctx.engine.containers.create(req, pending=pending)
    except BaseException as e:
        if pending is not None:
            pending.cancel()
        if isinstance(e, NotFound) and e.message.startswith("No such image"):
            from dockyard.oci.reference import parse_reference

            ctx.err.write(f"Unable to find image '{parse_reference(req.image).familiar}' locally\n")
            raise RunFailed(
                f"No such image: {req.image}: it is not in the local store and Docker Hub is "
                "out of reach",
                hint="dockyard bootstrap makes busybox, debian, python, redis and postgres; "
                "dockyard load -i takes an image archive",
            ) from None
        if isinstance(e, DockyardError):
            raise _as_run_error(e) from None
        raise
    for warning in container.warnings:
        ctx.err.write(warning + "\n")
    return container, ns, pending


def create(ctx: Context, args: list[str], command: str = "create") -> int:
    container, _, _ = _create(ctx, args, command)
    ctx.print(container.id)
    return 0


def run(ctx: Context, args: list[str], command: str = "run") -> int:
    container, ns, pending = _create(ctx, args, command)
    cid: str = container.id
    svc = ctx.engine.containers
    if ns.detach:
        try:
            svc.start(cid, pending=pending, created=container)
        except DockyardError as e:
            if ns.rm:
                _remove_quietly(ctx, cid)
            raise _as_run_error(e)
        for warning in svc.start_warnings:
            ctx.err.write(warning + "\n")
        ctx.print(cid)
        return 0
    return _run_attached(ctx, container, ns, pending)


def _run_attached(
    ctx: Context, container: Container, ns: argparse.Namespace, pending: PendingShim | None
) -> int:
    svc = ctx.engine.containers
    cid = container.id
    interactive = bool(ns.interactive)
    tty = bool(ns.tty)
    auto_remove = bool(ns.rm)
    if tty and interactive and not _stdin_is_a_tty():
        ctx.err.write("the input device is not a TTY\n")
        if pending is not None:
            pending.cancel()
        _remove_quietly(ctx, cid)  # Docker checks before it creates anything
        return 1
    # Docker closes the container's stdin when the client's input ends only without a
    # tty (CloseStdin && !TTY): a detach from run -it must leave the shell running
    once = interactive and not tty
    attach = {"stdin": interactive, "stdout": True, "stderr": True, "stdin_once": once,
              "remove": auto_remove}  # we remove it: the shim need not run its hook  # fmt: skip

    def meanwhile() -> None:  # while the shim starts it: what the rest of the run imports
        import dockyard.cli.streams  # noqa: F401

        if auto_remove:
            svc.prepare_remove()

    try:
        handle = svc.start(cid, attach=attach, pending=pending, meanwhile=meanwhile,
                           created=container)  # fmt: skip
    except DockyardError as e:
        if auto_remove:
            _remove_quietly(ctx, cid)
        raise _as_run_error(e)
    from dockyard.cli.streams import SignalProxy, pump

    for warning in svc.start_warnings:
        ctx.err.write(warning + "\n")
    assert handle is not None and handle.attach_socket is not None
    client = svc.client(cid)
    proxy = str(ns.sig_proxy).lower() not in ("false", "0") and not tty
    detached = False
    if proxy:
        with SignalProxy(client.signal):
            detached = pump(
                handle.attach_socket,
                tty=tty,
                stdin=interactive,
                detach_keys=ns.detach_keys,
            )
    else:
        detached = pump(
            handle.attach_socket,
            tty=tty,
            stdin=interactive,
            detach_keys=ns.detach_keys,
            on_resize=client.resize if tty else None,
        )
    if detached:
        return 0
    code = svc.wait_after_attach(cid, remove=auto_remove)
    if auto_remove:
        _remove_quietly(ctx, cid)
    return code


def _stdin_is_a_tty() -> bool:
    from dockyard.cli.streams import fileno, isatty

    return isatty(fileno(sys.stdin))


def _remove_quietly(ctx: Context, cid: str) -> None:
    try:
        ctx.engine.containers.remove(cid, force=True, volumes=True)
    except NotFound:
        pass


def _each(ctx: Context, refs: list[str], action: object) -> int:
    """Docker's multi-container commands: print each name as given, errors at the end."""
    status = 0
    for ref in refs:
        try:
            action(ref)  # type: ignore[operator]
            ctx.print(ref)
        except DockyardError as e:
            ctx.err.write(f"Error response from daemon: {e.message}\n")
            status = 1
    return status


def _refs_parser(command: str, usage: str = "[OPTIONS] CONTAINER [CONTAINER...]") -> Parser:
    p = Parser(command, usage)
    p.add_argument("containers", nargs="*")
    return p


def start(ctx: Context, args: list[str], command: str = "start") -> int:
    p = _refs_parser(command)
    p.add_argument("-a", "--attach", action="store_true", help="Attach STDOUT/STDERR")
    p.add_argument("-i", "--interactive", action="store_true", help="Attach container's STDIN")
    p.add_argument("--detach-keys", default="ctrl-p,ctrl-q")
    ns = p.parse(args)
    require_args(ns.containers, command, "[OPTIONS] CONTAINER [CONTAINER...]")
    svc = ctx.engine.containers
    if ns.attach or ns.interactive:
        from dockyard.cli.streams import SignalProxy, fileno, isatty, pump

        if len(ns.containers) > 1:
            ctx.err.write("you cannot start and attach multiple containers at once\n")
            return 1
        c = svc.get(ns.containers[0])
        req = c.create_request()
        stdin = bool(ns.interactive) and req.open_stdin
        if req.tty and stdin and not isatty(fileno(sys.stdin)):
            ctx.err.write("the input device is not a TTY\n")
            return 1
        attach = {
            "stdin": stdin,
            "stdout": True,
            "stderr": True,
            "stdin_once": stdin and req.stdin_once and not req.tty,  # as in run
        }
        handle = svc.start(c.id, attach=attach)
        client = svc.client(c.id)
        if handle is None or handle.attach_socket is None:
            once = bool(attach["stdin_once"])
            sock, tty = client.attach(stdin=stdin, stdin_once=once)
        else:
            sock, tty = handle.attach_socket, req.tty
        if tty:
            detached = pump(sock, tty=True, stdin=stdin, detach_keys=ns.detach_keys,
                            on_resize=client.resize)  # fmt: skip
        else:
            with SignalProxy(client.signal):
                detached = pump(sock, tty=False, stdin=stdin, detach_keys=ns.detach_keys)
        if detached:
            return 0
        return client.wait()
    return _each(ctx, ns.containers, lambda ref: svc.start(ref))


def stop(ctx: Context, args: list[str], command: str = "stop") -> int:
    p = _refs_parser(command)
    p.add_argument("-t", "--time", "--timeout", type=int, dest="time", help="Seconds to wait")
    p.add_argument("-s", "--signal", help="Signal to send to the container")
    ns = p.parse(args)
    require_args(ns.containers, command, "[OPTIONS] CONTAINER [CONTAINER...]")
    svc = ctx.engine.containers
    return _each(ctx, ns.containers, lambda ref: svc.stop(ref, ns.time, ns.signal))


def kill(ctx: Context, args: list[str], command: str = "kill") -> int:
    p = _refs_parser(command)
    p.add_argument("-s", "--signal", default="KILL", help="Signal to send to the container")
    ns = p.parse(args)
    require_args(ns.containers, command, "[OPTIONS] CONTAINER [CONTAINER...]")
    from dockyard.specs.signals import parse_signal

    sig = parse_signal(ns.signal, flag="-s, --signal")
    svc = ctx.engine.containers
    return _each(ctx, ns.containers, lambda ref: svc.kill(ref, sig))


def restart(ctx: Context, args: list[str], command: str = "restart") -> int:
    p = _refs_parser(command)
    p.add_argument("-t", "--time", "--timeout", type=int, dest="time", help="Seconds to wait")
    ns = p.parse(args)
    require_args(ns.containers, command, "[OPTIONS] CONTAINER [CONTAINER...]")
    svc = ctx.engine.containers
    return _each(ctx, ns.containers, lambda ref: svc.restart(ref, ns.time))


def rm(ctx: Context, args: list[str], command: str = "rm") -> int:
    p = _refs_parser(command)
    p.add_argument("-f", "--force", action="store_true", help="Force the removal")
    p.add_argument("-v", "--volumes", action="store_true", help="Remove anonymous volumes")
    p.add_argument("-l", "--link", action="store_true", help="Remove the specified link")
    ns = p.parse(args)
    require_args(ns.containers, command, "[OPTIONS] CONTAINER [CONTAINER...]")
    svc = ctx.engine.containers
    return _each(
        ctx, ns.containers, lambda ref: svc.remove(ref, force=ns.force, volumes=ns.volumes)
    )


def wait(ctx: Context, args: list[str], command: str = "wait") -> int:
    p = _refs_parser(command, "CONTAINER [CONTAINER...]")
    p.add_argument("--condition", default="not-running")
    ns = p.parse(args)
    require_args(ns.containers, command, "CONTAINER [CONTAINER...]")
    status = 0
    for ref in ns.containers:
        try:
            ctx.print(str(ctx.engine.containers.wait(ref, ns.condition)))
        except DockyardError as e:
            ctx.err.write(f"Error response from daemon: {e.message}\n")
            status = 1
    return status


def rename(ctx: Context, args: list[str], command: str = "rename") -> int:
    p = Parser(command, "CONTAINER NEW_NAME")
    p.add_argument("names", nargs="*")
    ns = p.parse(args)
    if len(ns.names) != 2:
        raise UsageError(
            f'"dockyard {command}" requires exactly 2 arguments.\n'
            f"See 'dockyard {command} --help'.\n\nUsage:  dockyard {command} CONTAINER NEW_NAME",
            command,
            exit_code=1,
        )
    ctx.engine.containers.rename(ns.names[0], ns.names[1])
    return 0


def pause(ctx: Context, args: list[str], command: str = "pause") -> int:
    ns = _refs_parser(command, "CONTAINER [CONTAINER...]").parse(args)
    require_args(ns.containers, command, "CONTAINER [CONTAINER...]")
    return _each(ctx, ns.containers, ctx.engine.containers.pause)


def unpause(ctx: Context, args: list[str], command: str = "unpause") -> int:
    ns = _refs_parser(command, "CONTAINER [CONTAINER...]").parse(args)
    require_args(ns.containers, command, "CONTAINER [CONTAINER...]")
    return _each(ctx, ns.containers, ctx.engine.containers.unpause)


def logs(ctx: Context, args: list[str], command: str = "logs") -> int:
    p = Parser(command, "[OPTIONS] CONTAINER")
    p.add_argument("--details", action="store_true", help="Show extra details")
    p.add_argument("-f", "--follow", action="store_true", help="Follow log output")
    p.add_argument("--since", help="Show logs since timestamp or relative (e.g. 42m)")
    p.add_argument("-n", "--tail", default="all", help="Number of lines to show from the end")
    p.add_argument("-t", "--timestamps", action="store_true", help="Show timestamps")
    p.add_argument("--until", help="Show logs before a timestamp or relative (e.g. 42m)")
    p.add_argument("container", nargs="?")
    ns = p.parse(args)
    require_args([ns.container] if ns.container else [], command, "[OPTIONS] CONTAINER")
    import time

    from dockyard.specs.units import parse_timestamp

    now = time.time()
    since = parse_timestamp(ns.since, now, flag="--since") if ns.since else None
    until = parse_timestamp(ns.until, now, flag="--until") if ns.until else None
    tail = None if ns.tail in ("all", "-1") else int(ns.tail)
    out, err = sys.stdout.buffer, sys.stderr.buffer
    for stream, data, _t in ctx.engine.containers.logs(
        ns.container,
        follow=ns.follow,
        tail=tail,
        since=None if since is None else int(since * 1e9),
        until=None if until is None else int(until * 1e9),
        timestamps=ns.timestamps,
        stdout=True,
        stderr=True,
    ):
        target = err if stream == "stderr" else out
        target.write(data)
        target.flush()
    return 0
