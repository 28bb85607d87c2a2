"""update: change the resource limits and restart policy of containers."""

from __future__ import annotations

from dockyard.cli.args import Parser, require_args
from dockyard.cli.context import Context
from dockyard.errors import DockyardError

USAGE = "[OPTIONS] CONTAINER [CONTAINER...]"


def update(ctx: Context, args: list[str], command: str = "update") -> int:
    from dockyard.engine.container_update import ContainerUpdate, update_container
    from dockyard.specs.restart import RestartPolicy
    from dockyard.specs.units import parse_cpus, parse_size

    p = Parser(command, USAGE, "Update configuration of one or more containers")
    p.add_argument("-c", "--cpu-shares", type=int, help="CPU shares (relative weight)")
    p.add_argument("--cpus", help="Number of CPUs")
    p.add_argument("-m", "--memory", help="Memory limit")
    p.add_argument(
        "--memory-swap", help="Swap limit equal to memory plus swap: -1 to enable unlimited swap"
    )
    p.add_argument(
        "--pids-limit", type=int, help="Tune container pids limit (set -1 for unlimited)"
    )
    p.add_argument("--restart", help="Restart policy to apply when a container exits")
    p.add_argument("containers", nargs="*")
    ns = p.parse(args)
    require_args(ns.containers, command, USAGE)
    memory = parse_size(ns.memory, flag="-m, --memory") if ns.memory else None
    swap = None
    if ns.memory_swap:
        swap = -1 if ns.memory_swap == "-1" else parse_size(ns.memory_swap, flag="--memory-swap")
    upd = ContainerUpdate(
        memory=memory or None,  # 0: unchanged, as Docker's
        memory_swap=swap or None,
        nano_cpus=parse_cpus(ns.cpus, flag="--cpus") if ns.cpus is not None else None,
        cpu_shares=ns.cpu_shares or None,
        pids_limit=ns.pids_limit,
        restart=RestartPolicy.parse(ns.restart) if ns.restart is not None else None,
    )
    if upd.empty():
        ctx.err.write("you must provide one or more flags when using this command\n")
        return 1
    if swap is not None:
        ctx.err.write(
            "WARNING: --memory-swap is recorded, but the runtime keeps memory+swap at "
            "twice the memory limit\n"
        )
    svc = ctx.engine.containers
    status = 0
    for ref in ns.containers:
        try:
            update_container(svc, ref, upd)
        except DockyardError as e:
            ctx.err.write(f"Error response from daemon: {e.message}\n")
            if e.hint:
                ctx.err.write(f"hint: {e.hint}\n")
            status = 1
            continue
        ctx.print(ref)
    return status
