"""``dockyard image SUBCOMMAND``."""

from __future__ import annotations

import importlib

from dockyard.cli.context import Context

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "history": ("images:history", "Show the history of an image"),
    "import": ("archives:import_", "Import the contents from a tarball to create an image"),
    "inspect": ("container_group:image_inspect", "Display detailed information on images"),
    "load": ("archives:load", "Load an image from a tar archive or STDIN"),
    "ls": ("images:images", "List images"),
    "list": ("images:images", "List images"),
    "prune": ("images:prune", "Remove unused images"),
    "rm": ("images:rmi", "Remove one or more images"),
    "remove": ("images:rmi", "Remove one or more images"),
    "save": ("archives:save", "Save one or more images to a tar archive"),
    "tag": ("images:tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"),
}


def dispatch(
    ctx: Context, args: list[str], group: str, table: dict[str, tuple[str, str]], about: str
) -> int:
    if not args or args[0] in ("-h", "--help"):
        width = max(len(n) for n in table) + 2
        lines = [f"  {n:<{width}}{h}" for n, (_, h) in sorted(table.items())]
        ctx.print(
            f"\nUsage:  dockyard {group} COMMAND\n\n{about}\n\nCommands:\n" + "\n".join(lines)
        )
        return 0
    entry = table.get(args[0])
    if entry is None:
        ctx.err.write(
            f"dockyard: '{group} {args[0]}' is not a dockyard command.\n"
            f"See 'dockyard {group} --help'\n"
        )
        return 1
    module_name, func_name = entry[0].split(":")
    module = importlib.import_module(f"dockyard.cli.commands.{module_name}")
    result: int = getattr(module, func_name)(ctx, args[1:], command=f"{group} {args[0]}")
    return result


def image(ctx: Context, args: list[str]) -> int:
    return dispatch(ctx, args, "image", SUBCOMMANDS, "Manage images")
