"""``dockyard volume SUBCOMMAND``: create, ls, inspect, rm, prune (Docker's outputs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dockyard.cli.args import Parser, UsageError, parse_filters, require_args
from dockyard.cli.context import Context
from dockyard.cli.formatting import write_json_list, write_rows, write_template
from dockyard.cli.units import human_size
from dockyard.errors import DockyardError

if TYPE_CHECKING:
    from dockyard.storage.volumes import Volume

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "create": ("volume:create", "Create a volume"),
    "inspect": ("volume:inspect", "Display detailed information on one or more volumes"),
    "ls": ("volume:ls", "List volumes"),
    "list": ("volume:ls", "List volumes"),
    "prune": ("volume:prune", "Remove unused local volumes"),
    "rm": ("volume:rm", "Remove one or more volumes"),
    "remove": ("volume:rm", "Remove one or more volumes"),
}

LS_TABLE = "table {{.Driver}}\t{{.Name}}"
LS_HEADERS = {
    "Name": "VOLUME NAME",
    "Driver": "DRIVER",
    "Scope": "SCOPE",
    "Mountpoint": "MOUNTPOINT",
    "Labels": "LABELS",
    "Links": "LINKS",
    "Size": "SIZE",
    "CreatedAt": "CREATED AT",
}


def volume(ctx: Context, args: list[str]) -> int:
    from dockyard.cli.commands.image_group import dispatch

    return dispatch(ctx, args, "volume", SUBCOMMANDS, "Manage volumes")


def _key_values(items: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not key:
            raise UsageError(f'invalid argument "{item}" for "{what}" flag: invalid key')
        out[key] = value if eq else ""
    return out


def create(ctx: Context, args: list[str], command: str = "volume create") -> int:
    p = Parser(command, "[OPTIONS] [VOLUME]", "Create a volume")
    p.add_argument("-d", "--driver", default="local", help="Specify volume driver name")
    p.add_argument("--label", action="append", default=[], help="Set metadata for a volume")
    p.add_argument("--name", help="Specify volume name")
    p.add_argument("-o", "--opt", action="append", default=[], help="Set driver specific options")
    p.add_argument("names", nargs="*")
    ns = p.parse(args)
    if len(ns.names) > 1:
        raise UsageError(
            f'"dockyard {command}" requires at most 1 argument.\n'
            f"See 'dockyard {command} --help'.\n\n"
            f"Usage:  dockyard {command} [OPTIONS] [VOLUME]",
            command,
            exit_code=1,
        )
    name = ns.names[0] if ns.names else None
    if ns.name is not None and name is not None and ns.name != name:
        ctx.err.write(
            "conflicting options: either specify --name or provide positional arg, not both\n"
        )
        return 1
    name = name if name is not None else ns.name
    for opt in ns.opt:
        if "=" not in opt:
            raise UsageError(
                f'invalid argument "{opt}" for "-o, --opt" flag: '
                "invalid key value pair format in driver options"
            )
    labels = _key_values(ns.label, "--label")
    options = _key_values(ns.opt, "-o, --opt")
    v = ctx.engine.volumes.create(name or None, labels=labels, driver=ns.driver, options=options)
    ctx.print(v.name)
    return 0


def _labels_text(v: Volume) -> str:
    return ",".join(f"{k}={val}" for k, val in sorted(v.labels.items()))


def _row(v: Volume) -> dict[str, Any]:
    return {
        "Availability": "N/A",
        "CreatedAt": v.created_at,
        "Driver": v.driver,
        "Group": "N/A",
        "Labels": _labels_text(v),
        "Links": "N/A",
        "Mountpoint": str(v.mountpoint),
        "Name": v.name,
        "Scope": v.scope,
        "Size": "N/A",
        "Status": "N/A",
    }


class _Row(dict[str, Any]):
    """A ``volume ls`` row; ``{{.Label "key"}}`` works as in Docker."""

    def __init__(self, v: Volume) -> None:
        super().__init__(_row(v))
        self.labels = dict(v.labels)

    def Label(self, key: str) -> str:
        return self.labels.get(key, "")


def ls(ctx: Context, args: list[str], command: str = "volume ls") -> int:
    from dockyard.storage.volumes import VolumeFilters

    p = Parser(command, "[OPTIONS]", "List volumes")
    p.add_argument("-f", "--filter", action="append", default=[], help="Provide filter values")
    p.add_argument("--format", help="Format output using a Go template, or json")
    p.add_argument("-q", "--quiet", action="store_true", help="Only display volume names")
    ns = p.parse(args)
    for f in ns.filter:
        if "=" not in f:
            raise UsageError(f"bad format of filter (expected name=value): {f}")
    volumes = ctx.engine.volumes.list(VolumeFilters.parse(ns.filter))
    if ns.quiet:
        for v in volumes:
            ctx.print(v.name)
        return 0
    rows = [_Row(v) for v in volumes]
    write_rows(ctx, rows, ns.format, default=LS_TABLE, headers=LS_HEADERS)
    return 0


def inspect(ctx: Context, args: list[str], command: str = "volume inspect") -> int:
    p = Parser(command, "[OPTIONS] VOLUME [VOLUME...]", "Display detailed information")
    p.add_argument("-f", "--format", help="Format output using a Go template, or json")
    p.add_argument("names", nargs="*")
    ns = p.parse(args)
    require_args(ns.names, command, "[OPTIONS] VOLUME [VOLUME...]")
    found: list[dict[str, object]] = []
    errors: list[str] = []
    for name in ns.names:
        try:
            found.append(ctx.engine.volumes.inspect(name))
        except DockyardError as e:
            errors.append(e.message)
    if ns.format:
        for obj in found:
            write_template(ctx, obj, ns.format)
    else:
        write_json_list(ctx, found)
    for message in errors:
        ctx.err.write(f"Error response from daemon: {message}\n")
    return 1 if errors else 0


def rm(ctx: Context, args: list[str], command: str = "volume rm") -> int:
    p = Parser(command, "[OPTIONS] VOLUME [VOLUME...]", "Remove one or more volumes")
    p.add_argument("-f", "--force", action="store_true", help="Force the removal")
    p.add_argument("names", nargs="*")
    ns = p.parse(args)
    require_args(ns.names, command, "[OPTIONS] VOLUME [VOLUME...]")
    errors: list[str] = []
    for name in ns.names:
        try:
            ctx.engine.volumes.remove(name, force=ns.force)
        except DockyardError as e:
            errors.append(e.message)
            continue
        ctx.print(name)
    for message in errors:
        ctx.err.write(f"Error response from daemon: {message}\n")
    return 1 if errors else 0


def _prune_labels(filters: dict[str, list[str]]) -> tuple[list[str], bool]:
    """``label=``/``label!=`` filters as VolumeStore.prune takes them; and ``all=``."""
    labels: list[str] = []
    all_ = False
    for key, values in filters.items():
        if key == "label":
            labels += values
        elif key == "label!":
            labels += ["!" + v for v in values]
        elif key == "all":
            for v in values:
                if v.lower() in ("1", "true"):
                    all_ = True
                elif v.lower() not in ("0", "false"):
                    raise UsageError(f"invalid filter 'all={v}'")
        else:
            raise UsageError(f"invalid filter '{key}'")
    return labels, all_


def prune(ctx: Context, args: list[str], command: str = "volume prune") -> int:
    p = Parser(command, "[OPTIONS]", "Remove unused local volumes")
    p.add_argument("-a", "--all", action="store_true", help="Remove all unused volumes")
    p.add_argument("--filter", action="append", help="Provide filter values (e.g. 'label=<l>')")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    ns = p.parse(args)
    labels, all_filter = _prune_labels(parse_filters(ns.filter))
    everything = ns.all or all_filter
    if not ns.force:
        import sys

        what = "all local volumes" if everything else "anonymous local volumes"
        ctx.out.write(
            f"WARNING! This will remove {what} not used by at least one container.\n"
            "Are you sure you want to continue? [y/N] "
        )
        ctx.out.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    report = ctx.engine.volumes.prune(all=everything, labels=labels)
    if report.volumes_deleted:
        ctx.print("Deleted Volumes:")
        for name in report.volumes_deleted:
            ctx.print(name)
        ctx.print()
    ctx.print(f"Total reclaimed space: {human_size(report.space_reclaimed)}")
    return 0
