"""cp (files between a container and the host, or a tar stream) and diff."""

from __future__ import annotations

import sys
from argparse import RawDescriptionHelpFormatter
from typing import BinaryIO

from dockyard.cli.args import Parser, UsageError
from dockyard.cli.context import Context
from dockyard.cli.units import human_size

CP_USAGE = (
    "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n"
    "\tdockyard cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH"
)
CP_DESCRIPTION = """\
Copy files/folders between a container and the local filesystem

Use '-' as the source to read a tar archive from stdin
and extract it to a directory destination in a container.
Use '-' as the destination to stream a tar archive of a
container source to stdout."""


def _exactly(command: str, usage: str, n: int) -> UsageError:
    what = "argument" if n == 1 else "arguments"
    return UsageError(
        f'"dockyard {command}" requires exactly {n} {what}.\n'
        f"See 'dockyard {command} --help'.\n\nUsage:  dockyard {command} {usage}",
        command,
        exit_code=1,
    )


def _stdout_bytes(ctx: Context) -> BinaryIO:
    ctx.out.flush()
    buf = getattr(ctx.out, "buffer", None)
    return buf if buf is not None else sys.stdout.buffer


def cp(ctx: Context, args: list[str], command: str = "cp") -> int:
    from dockyard.engine import container_fs as cfs
    from dockyard.engine.container_fs_paths import CopyError, local_abs, split_cp_arg

    p = Parser(command, CP_USAGE, CP_DESCRIPTION, formatter_class=RawDescriptionHelpFormatter)
    p.add_argument(
        "-a", "--archive", action="store_true", help="Archive mode (copy all uid/gid information)"
    )
    p.add_argument(
        "-L", "--follow-link", action="store_true", help="Always follow symbol link in SRC_PATH"
    )
    p.add_argument(
        "-q", "--quiet", action="store_true", help="Suppress progress output during copy"
    )
    p.add_argument("paths", nargs="*")
    ns = p.parse(args)
    if len(ns.paths) != 2:
        raise _exactly(command, CP_USAGE, 2)
    src, dst = ns.paths
    if not src:
        return _fail(ctx, "source can not be empty")
    if not dst:
        return _fail(ctx, "destination can not be empty")
    src_container, src_path = split_cp_arg(src)
    dst_container, dst_path = split_cp_arg(dst)
    if src_container and dst_container:
        return _fail(ctx, "copying between containers is not supported")
    if not src_container and not dst_container:
        return _fail(ctx, "must specify at least one container source")
    svc = ctx.engine.containers
    try:
        if src_container:
            if dst_path == "-":
                cfs.stream_from_container(
                    svc, src_container, src_path, _stdout_bytes(ctx), follow=ns.follow_link
                )
                return 0
            target = local_abs(dst_path)
            n = cfs.copy_from_container(
                svc,
                src_container,
                src_path,
                target,
                follow=ns.follow_link,
                copy_uid_gid=ns.archive,
            )
            shown = target
        elif src_path == "-":
            cfs.stream_to_container(
                svc, dst_container, dst_path, sys.stdin.buffer, copy_uid_gid=ns.archive
            )
            return 0
        else:
            n = cfs.copy_to_container(
                svc,
                dst_container,
                local_abs(src_path),
                dst_path,
                follow=ns.follow_link,
                copy_uid_gid=ns.archive,
            )
            shown = f"{dst_container}:{dst_path}"
    except CopyError as e:
        return _fail(ctx, e.message)
    if not ns.quiet:
        ctx.err.write(f"Successfully copied {human_size(n, 4)} to {shown}\n")
    return 0


def _fail(ctx: Context, message: str) -> int:
    """An error the docker CLI reports itself (no "Error response from daemon")."""
    ctx.err.write(message + "\n")
    return 1


def diff(ctx: Context, args: list[str], command: str = "diff") -> int:
    from dockyard.engine.container_fs import changes

    p = Parser(command, "CONTAINER")
    p.add_argument("container", nargs="*")
    ns = p.parse(args)
    if len(ns.container) != 1:
        raise _exactly(command, "CONTAINER", 1)
    for change in changes(ctx.engine.containers, ns.container[0]):
        ctx.print(str(change))
    return 0
