"""stats: a live table of what containers use (CPU, memory, network, block I/O, pids)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dockyard.cli.args import Parser
from dockyard.cli.context import Context
from dockyard.cli.formatting import write_rows
from dockyard.cli.units import bytes_size, human_size
from dockyard.errors import NotFound

if TYPE_CHECKING:
    from dockyard.engine.container_stats import Stats
    from dockyard.engine.containers import Container

STATS_TABLE = (
    "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}"
    "\t{{.BlockIO}}\t{{.PIDs}}"
)
STATS_HEADERS = {
    "Container": "CONTAINER",
    "ID": "CONTAINER ID",
    "Name": "NAME",
    "CPUPerc": "CPU %",
    "MemUsage": "MEM USAGE / LIMIT",
    "MemPerc": "MEM %",
    "NetIO": "NET I/O",
    "BlockIO": "BLOCK I/O",
    "PIDs": "PIDS",
}
CLEAR = "\033[2J\033[H"


def stats_row(s: Stats, label: str, *, trunc: bool = True) -> dict[str, Any]:
    """One row for the table or a template, with the docker CLI's texts."""
    row: dict[str, Any] = {
        "BlockIO": f"{human_size(s.block_read)} / {human_size(s.block_write)}",
        "CPUPerc": f"{s.cpu_percent:.2f}%",
        "Container": label,
        "ID": s.id[:12] if trunc else s.id,
        "MemPerc": f"{s.memory_percent:.2f}%",
        "MemUsage": f"{bytes_size(s.memory)} / {bytes_size(s.memory_limit)}",
        "Name": s.name or "--",
        "NetIO": f"{human_size(s.net_rx)} / {human_size(s.net_tx)}",
        "PIDs": str(s.pids),
    }
    if not s.valid:
        row.update(
            CPUPerc="--", MemUsage="-- / --", MemPerc="--", NetIO="--", BlockIO="--", PIDs="--"
        )
    return row


def stats(ctx: Context, args: list[str], command: str = "stats") -> int:
    from dockyard.engine.container_stats import StatsCollector, stats_once

    p = Parser(command, "[OPTIONS] [CONTAINER...]", "Display a live stream of resource usage")
    p.add_argument("-a", "--all", action="store_true", help="Show all containers")
    p.add_argument("--format", help="Format output using a custom template")
    p.add_argument("--no-stream", action="store_true", help="Disable streaming stats")
    p.add_argument("--no-trunc", action="store_true", help="Do not truncate output")
    p.add_argument("containers", nargs="*")
    ns = p.parse(args)
    svc = ctx.engine.containers
    named: list[str] = ns.containers

    def pick() -> list[tuple[str, Container | None]]:
        if named:
            out: list[tuple[str, Container | None]] = []
            for ref in named:
                try:
                    out.append((ref, svc.get(ref)))
                except NotFound:
                    out.append((ref, None))  # removed while we watch
            return out
        return [(c.id[:12], c) for c in svc.all() if ns.all or c.state.running]

    for ref in named:
        svc.get(ref)  # an unknown name fails now, as Docker's does

    def render(rows: list[tuple[str, Stats]]) -> None:
        write_rows(
            ctx,
            [stats_row(s, label, trunc=not ns.no_trunc) for label, s in rows],
            ns.format,
            default=STATS_TABLE,
            headers=STATS_HEADERS,
        )

    if ns.no_stream:
        picked = pick()
        found = [c for _, c in picked if c is not None]
        by_id = {s.id: s for s in stats_once(svc, found)}
        render([(label, by_id[c.id]) for label, c in picked if c is not None])
        return 0
    collector = StatsCollector(svc)
    try:
        _stream(ctx, collector, pick, render)
    except KeyboardInterrupt:
        pass  # ctrl-c is how one leaves the stream
    return 0


def _stream(
    ctx: Context,
    collector: Any,
    pick: Callable[[], list[tuple[str, Container | None]]],
    render: Callable[[list[tuple[str, Stats]]], None],
) -> None:
    """Redraw every second, against the previous second's samples."""
    from dockyard.engine.container_stats import Stats

    collector.collect([c for _, c in pick() if c is not None])
    tick = time.monotonic()
    while True:
        tick += 1.0
        time.sleep(max(0.0, tick - time.monotonic()))
        picked = pick()
        rows = collector.collect([c for _, c in picked if c is not None])
        by_id = {s.id: s for s in rows}
        table = [
            (label, by_id[c.id] if c is not None else Stats(label, label, valid=False))
            for label, c in picked
        ]
        ctx.out.write(CLEAR)
        render(table)
        ctx.out.flush()
