"""``dockyard attach``: connect our terminal to a running container's streams.

Through the container's shim (``ShimClient.attach``): its output comes here, our
stdin goes to it when it was created with ``-i`` (unless ``--no-stdin``). With a
tty our terminal goes raw, ctrl-c is a byte for the container's terminal and the
detach keys (ctrl-p ctrl-q) detach: Docker then prints ``read escape sequence`` and
exits 1, and so do we. Without a tty, SIGINT/SIGTERM/... are forwarded to the
container (``--sig-proxy``, default true). Once the container stops we exit with
its exit code.
"""

from __future__ import annotations

import sys

from dockyard.cli.args import Parser, require_args
from dockyard.cli.context import Context
from dockyard.cli.streams import fileno, isatty

USAGE = "[OPTIONS] CONTAINER"
ESCAPE_MESSAGE = "read escape sequence"

_NOT_RUNNING = {
    "paused": "You cannot attach to a paused container, unpause it first",
    "restarting": "You cannot attach to a restarting container, wait until it is running",
}


def _bool_flag(value: str, flag: str) -> bool:
    from dockyard.cli.args import UsageError

    v = value.strip().lower()
    if v in ("1", "t", "true"):
        return True
    if v in ("0", "f", "false"):
        return False
    raise UsageError(
        f'invalid argument "{value}" for "{flag}" flag: strconv.ParseBool: parsing '
        f'"{value}": invalid syntax'
    )


def attach(ctx: Context, args: list[str], command: str = "attach") -> int:
    from dockyard.cli.streams import SignalProxy, pump
    from dockyard.errors import DockyardError
    from dockyard.runtime.shim_client import parse_detach_keys

    p = Parser(command, USAGE, "Attach local standard input, output, and error streams")
    p.add_argument("--detach-keys", default="ctrl-p,ctrl-q", help="Override the detach keys")
    p.add_argument("--no-stdin", action="store_true", help="Do not attach STDIN")
    p.add_argument("--sig-proxy", nargs="?", const="true", default="true",
                   help="Proxy all received signals to the process")  # fmt: skip
    p.add_argument("container", nargs="*")
    ns = p.parse(args)
    require_args(ns.container, command, USAGE)
    if len(ns.container) > 1:
        raise_usage = f'"dockyard {command}" requires exactly 1 argument.'
        ctx.err.write(f"{raise_usage}\nSee 'dockyard {command} --help'.\n\nUsage:  "
                      f"dockyard {command} {USAGE}\n")  # fmt: skip
        return 1
    sig_proxy = _bool_flag(ns.sig_proxy, "--sig-proxy")
    parse_detach_keys(ns.detach_keys)
    svc = ctx.engine.containers
    c = svc.get(ns.container[0])
    status = c.state.status
    if status != "running":
        ctx.err.write(
            _NOT_RUNNING.get(status, "You cannot attach to a stopped container, start it first")
            + "\n"
        )
        return 1
    req = c.create_request()
    tty = req.tty
    stdin = req.open_stdin and not ns.no_stdin
    if tty and not ns.no_stdin and not isatty(fileno(sys.stdin)):
        ctx.err.write("the input device is not a TTY\n")
        return 1
    client = svc.client(c.id)
    try:
        sock, tty = client.attach(
            stdin=stdin, stdout=True, stderr=True, stdin_once=req.stdin_once and not tty
        )
    except DockyardError as e:
        ctx.err.write(f"{e.message}\n")
        return 1
    if sig_proxy and not tty:
        with SignalProxy(client.signal):
            detached = pump(sock, tty=tty, stdin=stdin, detach_keys=ns.detach_keys)
    else:
        detached = pump(
            sock,
            tty=tty,
            stdin=stdin,
            detach_keys=ns.detach_keys,
            on_resize=client.resize if tty else None,
        )
    if detached:
        ctx.err.write(ESCAPE_MESSAGE + "\n")
        return 1
    try:
        return client.wait()
    except DockyardError:  # removed meanwhile (--rm): its exit code went with it
        return 0
