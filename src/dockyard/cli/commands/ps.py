"""ps, container ls, container prune."""

from __future__ import annotations

import time

from dockyard._util import jsonlite
from dockyard.cli.args import Parser, parse_filters
from dockyard.cli.context import Context
from dockyard.cli.formatting import write_rows
from dockyard.cli.units import human_duration, human_size, since
from dockyard.runtime.state import parse_rfc3339

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard.network.published import Published

PS_TABLE = (
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
)
PS_HEADERS = {
    "ID": "CONTAINER ID",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED",
    "Status": "STATUS",
    "State": "STATE",
    "Ports": "PORTS",
    "Names": "NAMES",
    "Size": "SIZE",
    "Labels": "LABELS",
    "Mounts": "MOUNTS",
    "Networks": "NETWORKS",
    "LocalVolumes": "LOCAL VOLUMES",
}


def status_text(state: Any, now: float) -> str:
    s = state.status
    if s == "created":
        return "Created"
    if s in ("running", "paused"):
        started = parse_rfc3339(state.started_at) / 1e9
        text = "Up " + human_duration(now - started)
        return text + " (Paused)" if s == "paused" else text
    finished = parse_rfc3339(state.finished_at) / 1e9
    ago = human_duration(now - finished) + " ago" if finished > 0 else ""
    if s == "restarting":
        return f"Restarting ({state.exit_code}) {ago}".rstrip()
    if s == "dead":
        return "Dead"
    return f"Exited ({state.exit_code}) {ago}".rstrip()


def command_text(raw: str, trunc: bool) -> str:
    """Docker's COMMAND: the path, then the args, those with a space in single quotes;
    truncated to 20 characters with an ellipsis."""
    args = jsonlite.loads(raw)
    text = " ".join([*args[:1], *(f"'{a}'" if " " in a else a for a in args[1:])])
    if trunc and len(text) > 20:
        text = text[:19] + "…"
    return text


def _command(raw: str, trunc: bool) -> str:
    return jsonlite.dumps(command_text(raw, trunc), ensure_ascii=False)


def _name_matches(pattern: str, name: str) -> bool:
    """Docker's name filter: a regular expression searched in ``/name``."""
    import re

    try:
        return re.search(pattern, "/" + name) is not None
    except re.error:
        return pattern.lstrip("/") in name


def _matches(c: Any, filters: dict[str, list[str]]) -> bool:
    state = c.state
    for key, values in filters.items():
        if key == "id" and not any(c.id.startswith(v) for v in values):
            return False
        if key == "name" and not any(_name_matches(v, c.name) for v in values):
            return False
        if key == "status" and state.status not in values:
            return False
        if key == "exited" and not (state.status == "exited" and str(state.exit_code) in values):
            return False
        if key == "label":
            labels = jsonlite.loads(c.record.labels)
            for v in values:
                k, eq, val = v.partition("=")
                if k not in labels or (eq and labels[k] != val):
                    return False
        if key == "ancestor" and not any(
            v in (c.record.image_name, c.record.image_id, c.record.image_id[7:19]) for v in values
        ):
            return False
    return True


def ps(ctx: Context, args: list[str], command: str = "ps") -> int:
    p = Parser(command, "[OPTIONS]", "List containers")
    p.add_argument("-a", "--all", action="store_true", help="Show all containers")
    p.add_argument("-f", "--filter", action="append", help="Filter output based on conditions")
    p.add_argument("--format", help="Format output using a Go template, or json")
    p.add_argument("-n", "--last", type=int, default=-1, help="Show n last created containers")
    p.add_argument("-l", "--latest", action="store_true", help="Show the latest container")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("-q", "--quiet", action="store_true", help="Only display container IDs")
    p.add_argument("-s", "--size", action="store_true", help="Display total file sizes")
    ns = p.parse(args)
    filters = parse_filters(ns.filter)
    known = {
        "id",
        "name",
        "status",
        "exited",
        "label",
        "ancestor",
        "before",
        "since",
        "volume",
        "network",
        "health",
        "publish",
        "expose",
        "is-task",
    }
    for key in filters:
        if key not in known:
            from dockyard.errors import InvalidArgument

            raise InvalidArgument(f"invalid filter '{key}'")
    from dockyard.engine.container_list import list_containers

    containers = list_containers(ctx.config, ctx.engine.db)
    last = 1 if ns.latest else ns.last
    show_all = ns.all or last > 0 or "status" in filters or "exited" in filters
    listed = []
    for c in containers:
        if not show_all and not c.state.running:
            continue
        if not _matches(c, filters):
            continue
        listed.append(c)
        if last > 0 and len(listed) >= last:
            break
    if ns.quiet:
        for c in listed:
            ctx.print(c.record.id if ns.no_trunc else c.record.id[:12])
        return 0
    from dockyard.network.published import ps_columns_all

    columns = ps_columns_all(ctx.engine.db) if listed else {}
    now = time.time()
    rows = [_row(ctx, c, now, not ns.no_trunc, ns.size, columns) for c in listed]
    fmt = ns.format
    default = PS_TABLE + ("\t{{.Size}}" if ns.size else "")
    write_rows(ctx, rows, fmt, default=default, headers=PS_HEADERS)
    return 0


def _row(
    ctx: Context,
    c: Any,
    now: float,
    trunc: bool,
    size: bool,
    columns: dict[str, tuple[list[str], list[Published]]],
) -> dict[str, Any]:
    rec = c.record
    created = rec.created_ns / 1e9
    row: dict[str, Any] = {
        "Command": _command(rec.command, trunc),
        "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(created)),
        "ID": rec.id[:12] if trunc else rec.id,
        "Image": rec.image_name,
        "Labels": ",".join(f"{k}={v}" for k, v in jsonlite.loads(rec.labels).items()),
        "LocalVolumes": "0",
        "Mounts": "",
        "Names": rec.name,
        "Networks": "",
        "Ports": "",
        "RunningFor": since(int(created), now),
        "Size": "0B",
        "State": c.state.status,
        "Status": status_text(c.state, now),
    }
    from dockyard.cli.commands.top import ps_network_columns

    row["Ports"], row["Networks"] = ps_network_columns(c, columns.get(rec.id, ([], [])))
    if size:
        try:
            used = ctx.engine.containers.snapshots.usage(rec.id)
        except Exception:
            used = 0
        image = ctx.engine.images.store.get(rec.image_id)
        virtual = used + (image.size if image else 0)
        row["Size"] = f"{human_size(used)} (virtual {human_size(virtual)})"
    return row


def prune(ctx: Context, args: list[str], command: str = "container prune") -> int:
    p = Parser(command, "[OPTIONS]", "Remove all stopped containers")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--filter", action="append", help="Provide filter values")
    ns = p.parse(args)
    if not ns.force:
        import sys

        ctx.out.write(
            "WARNING! This will remove all stopped containers.\n"
            "Are you sure you want to continue? [y/N] "
        )
        ctx.out.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    removed, reclaimed = ctx.engine.containers.prune()
    if removed:
        ctx.print("Deleted Containers:")
        for cid in removed:
            ctx.print(cid)
        ctx.print()
    ctx.print(f"Total reclaimed space: {human_size(reclaimed)}")
    return 0
