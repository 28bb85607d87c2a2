"""``dockyard system restore``: run at boot to bring back restartable containers."""

from __future__ import annotations

from dockyard.cli.args import Parser
from dockyard.cli.context import Context


def restore(ctx: Context, args: list[str], command: str = "system restore") -> int:
    p = Parser(
        command,
        "[OPTIONS]",
        "Repair the store after a crash or reboot and start the containers whose restart "
        "policy is always or unless-stopped (run it at boot)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="Print nothing but errors")
    ns = p.parse(args)
    from dockyard.engine.boot import restore as run_restore

    report = run_restore(ctx.engine.containers)
    if not ns.quiet:
        for cid in report.removed_orphans:
            ctx.print(f"removed orphan {cid[:12]}")
        for cid in report.repaired:
            ctx.print(f"repaired {cid[:12]}")
        for cid in report.restarted:
            ctx.print(f"restarted {cid[:12]}")
    for cid, why in report.failed:
        ctx.err.write(f"Error: restarting {cid[:12]}: {why}\n")
    return 1 if report.failed else 0
