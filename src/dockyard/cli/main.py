"""Dockyard's command line: global options, a lazy command table, one error boundary.

Only this package prints or exits. Commands live in ``cli/commands/*`` and are
imported when named, so ``dockyard --version`` imports almost nothing.
"""

from __future__ import annotations

import sys

# name -> ("module:function", one-line help). Groups ("image", "system") have tables of
# their own in their modules.
COMMANDS: dict[str, tuple[str, str]] = {
    "bootstrap": ("bootstrap:bootstrap", "Make base images from Debian's package archive"),
    "history": ("images:history", "Show the history of an image"),
    "image": ("image_group:image", "Manage images"),
    "images": ("images:images", "List images"),
    "import": ("archives:import_", "Import the contents from a tarball to create an image"),
    "info": ("system:info", "Display system-wide information"),
    "inspect": ("images:inspect", "Return low-level information on Dockyard objects"),
    "load": ("archives:load", "Load an image from a tar archive or STDIN"),
    "rmi": ("images:rmi", "Remove one or more images"),
    "save": ("archives:save", "Save one or more images to a tar archive"),
    "system": ("system:system", "Manage Dockyard"),
    "tag": ("images:tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"),
    "version": ("system:version", "Show the Dockyard version information"),
}

USAGE = """\
Usage:  dockyard [OPTIONS] COMMAND

A Docker-compatible container engine

Options:
      --root string      Engine state directory (default "/var/lib/dockyard",
                         env DOCKYARD_ROOT)
      --runroot string   Runtime state directory (default "/run/dockyard",
                         env DOCKYARD_RUNROOT)
  -v, --version          Print version information and quit

Commands:
"""


def _usage() -> str:
    width = max(len(n) for n in COMMANDS) + 2
    lines = [f"  {name:<{width}}{help_}" for name, (_, help_) in sorted(COMMANDS.items())]
    return USAGE + "\n".join(lines) + "\n\nRun 'dockyard COMMAND --help' for more information.\n"


def _split_globals(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    """Take the global options before the command name; return them and the rest."""
    opts: dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("--root", "--runroot"):
            if i + 1 >= len(argv):
                raise SystemExit(_flag_error(f"flag needs an argument: {arg}", ""))
            opts[arg[2:]] = argv[i + 1]
            i += 2
        elif arg.startswith(("--root=", "--runroot=")):
            key, _, value = arg[2:].partition("=")
            opts[key] = value
            i += 1
        elif arg in ("-v", "--version", "-h", "--help"):
            opts[arg.lstrip("-")[0]] = "1"
            i += 1
        elif arg.startswith("-") and arg != "-":
            raise SystemExit(_flag_error(f"unknown flag: {arg}", ""))
        else:
            break
    return opts, argv[i:]


def _flag_error(message: str, command: str) -> int:
    name = f"dockyard {command}".strip()
    sys.stderr.write(f"{message}\nSee '{name} --help'.\n")
    return 125


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        opts, rest = _split_globals(args)
    except SystemExit as e:
        return int(e.code or 0)
    if "v" in opts:
        from dockyard import __version__

        sys.stdout.write(f"Dockyard version {__version__}\n")
        return 0
    if not rest or "h" in opts:
        sys.stdout.write(_usage())
        return 0
    name, cmd_args = rest[0], rest[1:]
    entry = COMMANDS.get(name)
    if entry is None:
        sys.stderr.write(f"dockyard: '{name}' is not a dockyard command.\nSee 'dockyard --help'\n")
        return 1
    from dockyard.cli.runner import run_command

    return run_command(entry[0], name, cmd_args, opts)


if __name__ == "__main__":
    raise SystemExit(main())
