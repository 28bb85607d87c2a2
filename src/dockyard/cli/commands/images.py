"""images, history, inspect, rmi, tag."""

from __future__ import annotations

from dockyard.cli.args import Parser, parse_filters, require_args
from dockyard.cli.context import Context
from dockyard.cli.formatting import write_rows
from dockyard.cli.units import created_at, human_size, since
from dockyard.errors import DockyardError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

IMAGES_TABLE = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
IMAGES_TABLE_DIGESTS = (
    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
)
IMAGE_HEADERS = {
    "Containers": "CONTAINERS",
    "CreatedAt": "CREATED AT",
    "CreatedSince": "CREATED",
    "Digest": "DIGEST",
    "ID": "IMAGE ID",
    "Repository": "REPOSITORY",
    "SharedSize": "SHARED SIZE",
    "Size": "SIZE",
    "Tag": "TAG",
    "UniqueSize": "UNIQUE SIZE",
    "VirtualSize": "SIZE",
}


def images(ctx: Context, args: list[str], command: str = "images") -> int:
    p = Parser(command, "[OPTIONS] [REPOSITORY[:TAG]]", "List images")
    p.add_argument("-a", "--all", action="store_true", help="Show all images")
    p.add_argument("--digests", action="store_true", help="Show digests")
    p.add_argument("-f", "--filter", action="append", help="Filter output")
    p.add_argument("--format", help="Format output using a Go template, or json")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
    p.add_argument("repository", nargs="?")
    ns = p.parse(args)
    filters = parse_filters(ns.filter)
    if ns.repository:
        filters.setdefault("reference", []).append(ns.repository)
    summaries = ctx.engine.images.list_images(all_images=ns.all, filters=filters)
    if ns.quiet:
        seen: set[str] = set()
        for s in summaries:
            shown = s.id if ns.no_trunc else s.id[7:19]
            if shown not in seen:
                seen.add(shown)
                ctx.print(shown)
        return 0
    rows: list[dict[str, Any]] = []
    for s in summaries:
        tags = list(s.repo_tags) or ["<none>:<none>"]
        digest = s.repo_digests[0].rsplit("@", 1)[1] if s.repo_digests else "<none>"
        for tag in tags:
            repo, _, tagname = tag.rpartition(":")
            size = human_size(s.size)
            rows.append(
                {
                    "Containers": str(s.containers) if s.containers else "N/A",
                    "CreatedAt": created_at(s.created),
                    "CreatedSince": since(s.created),
                    "Digest": digest,
                    "ID": s.id if ns.no_trunc else s.id[7:19],
                    "Repository": repo,
                    "SharedSize": "N/A",
                    "Size": size,
                    "Tag": tagname,
                    "UniqueSize": "N/A",
                    "VirtualSize": size,
                }
            )
    default = IMAGES_TABLE_DIGESTS if ns.digests else IMAGES_TABLE
    write_rows(ctx, rows, ns.format, default=default, headers=IMAGE_HEADERS)
    return 0


def history(ctx: Context, args: list[str], command: str = "history") -> int:
    p = Parser(command, "[OPTIONS] IMAGE", "Show the history of an image")
    p.add_argument("--format", help="Format output using a Go template, or json")
    p.add_argument("-H", "--human", default="true", help="Print sizes and dates in human form")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
    p.add_argument("image", nargs="?")
    ns = p.parse(args)
    require_args([ns.image] if ns.image else [], command, "[OPTIONS] IMAGE")
    from dockyard.engine.images import parse_created

    human = ns.human.lower() not in ("false", "0")
    rows = []
    for row_id, h in ctx.engine.images.history(ns.image):
        shown = row_id if ns.no_trunc or row_id == "<missing>" else row_id[7:19]
        if ns.quiet:
            ctx.print(shown)
            continue
        created = parse_created(h.created)
        by = h.created_by
        if not ns.no_trunc and len(by) > 45:
            by = by[:44] + "…"
        rows.append(
            {
                "ID": shown,
                "CreatedSince": since(created) if human else h.created,
                "CreatedAt": h.created,
                "CreatedBy": by,
                "Size": human_size(h.size) if human else str(h.size),
                "Comment": h.comment,
            }
        )
    if not ns.quiet:
        write_rows(
            ctx,
            rows,
            ns.format,
            default="table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
            headers={
                "ID": "IMAGE",
                "CreatedSince": "CREATED",
                "CreatedAt": "CREATED AT",
                "CreatedBy": "CREATED BY",
                "Size": "SIZE",
                "Comment": "COMMENT",
            },
        )
    return 0


def rmi(ctx: Context, args: list[str], command: str = "rmi") -> int:
    p = Parser(command, "[OPTIONS] IMAGE [IMAGE...]", "Remove one or more images")
    p.add_argument("-f", "--force", action="store_true", help="Force removal of the image")
    p.add_argument("--no-prune", action="store_true", help="Do not delete untagged parents")
    p.add_argument("images", nargs="*")
    ns = p.parse(args)
    require_args(ns.images, command, "[OPTIONS] IMAGE [IMAGE...]")
    status = 0
    for name in ns.images:
        try:
            report = ctx.engine.images.remove(name, force=ns.force, prune=not ns.no_prune)
        except DockyardError as e:
            ctx.err.write(f"Error response from daemon: {e.message}\n")
            status = 1
            continue
        for u in report.untagged:
            ctx.print(f"Untagged: {u}")
        for d in report.deleted:
            ctx.print(f"Deleted: {d}")
    return status


def tag(ctx: Context, args: list[str], command: str = "tag") -> int:
    p = Parser(command, "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]", "Create a tag")
    p.add_argument("names", nargs="*")
    ns = p.parse(args)
    if len(ns.names) != 2:
        from dockyard.cli.args import UsageError

        raise UsageError(
            f'"dockyard {command}" requires exactly 2 arguments.\n'
            f"See 'dockyard {command} --help'.\n\n"
            f"Usage:  dockyard {command} SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
            command,
            exit_code=1,
        )
    ctx.engine.images.tag(ns.names[0], ns.names[1])
    return 0


def prune(ctx: Context, args: list[str], command: str = "image prune") -> int:
    p = Parser(command, "[OPTIONS]", "Remove unused images")
    p.add_argument("-a", "--all", action="store_true", help="Remove all unused images")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--filter", action="append", help="Provide filter values")
    ns = p.parse(args)
    if not ns.force:
        warning = (
            "WARNING! This will remove all images without at least one container associated "
            "to them."
            if ns.all
            else "WARNING! This will remove all dangling images."
        )
        ctx.out.write(f"{warning}\nAre you sure you want to continue? [y/N] ")
        ctx.out.flush()
        import sys

        answer = sys.stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            return 0
    report = ctx.engine.images.prune(all_images=ns.all)
    if report.untagged or report.deleted:
        ctx.print("Deleted Images:")
        for u in report.untagged:
            ctx.print(f"untagged: {u}")
        for d in report.deleted:
            ctx.print(f"deleted: {d}")
        ctx.print()
    ctx.print(f"Total reclaimed space: {human_size(report.reclaimed)}")
    return 0
