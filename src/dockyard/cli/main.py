"""Dockyard's command line: global options, a lazy command table, one error boundary.

Only this package prints or exits. Commands live in ``cli/commands/*`` and are
imported when named, so ``dockyard --version`` imports almost nothing.
"""

from __future__ import annotations

import sys

# name -> ("module:function", one-line help). Groups ("image", "system") have tables of
# their own in their modules.
COMMANDS: dict[str, tuple[str, str]] = {
    "attach": ("attach:attach", "Attach local standard input, output, and error streams"),
    "container": ("container_group:container", "Manage containers"),
    "cp": ("cp:cp", "Copy files/folders between a container and the local filesystem"),
    "create": ("containers:create", "Create a new container"),
    "diff": ("cp:diff", "Inspect changes to files or directories on a container's filesystem"),
    "exec": ("exec:exec_", "Execute a command in a running container"),
    "kill": ("containers:kill", "Kill one or more running containers"),
    "logs": ("containers:logs", "Fetch the logs of a container"),
    "network": ("network:network", "Manage networks"),
    "pause": ("containers:pause", "Pause all processes within one or more containers"),
    "port": ("top:port", "List port mappings or a specific mapping for the container"),
    "ps": ("ps:ps", "List containers"),
    "rename": ("containers:rename", "Rename a container"),
    "restart": ("containers:restart", "Restart one or more containers"),
    "rm": ("containers:rm", "Remove one or more containers"),
    "run": ("containers:run", "Create and run a new container from an image"),
    "start": ("containers:start", "Start one or more stopped containers"),
    "stats": ("stats:stats", "Display a live stream of container(s) resource usage statistics"),
    "stop": ("containers:stop", "Stop one or more running containers"),
    "top": ("top:top", "Display the running processes of a container"),
    "unpause": ("containers:unpause", "Unpause all processes within one or more containers"),
    "update": ("update:update", "Update configuration of one or more containers"),
    "volume": ("volume:volume", "Manage volumes"),
    "wait": ("containers:wait", "Block until one or more containers stop"),
    "bootstrap": ("bootstrap:bootstrap", "Make base images from Debian's package archive"),
    "build": ("build:build", "Build an image from a Dockerfile"),
    "history": ("images:history", "Show the history of an image"),
    "image": ("image_group:image", "Manage images"),
    "images": ("images:images", "List images"),
    "import": ("archives:import_", "Import the contents from a tarball to create an image"),
    "info": ("system:info", "Display system-wide information"),
    "inspect": ("container_group:inspect", "Return low-level information on Dockyard objects"),
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
      --ca-bundle string The host's CA bundle for containers run --with-host-ca
                         (env DOCKYARD_CA_BUNDLE, config file key "ca-bundle";
                         default "/etc/ssl/certs/ca-certificates.crt")
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
        if arg in ("--root", "--runroot", "--ca-bundle"):
            if i + 1 >= len(argv):
                raise SystemExit(_flag_error(f"flag needs an argument: {arg}", ""))
            opts[arg[2:]] = argv[i + 1]
            i += 2
        elif arg.startswith(("--root=", "--runroot=", "--ca-bundle=")):
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


# commands that put a process into a container's cgroup
_STARTS_PROCESSES = frozenset(("run", "start", "restart", "exec"))


def _flag_error(message: str, command: str) -> int:
    name = f"dockyard {command}".strip()
    sys.stderr.write(f"{message}\nSee '{name} --help'.\n")
    return 125


def main(argv: list[str] | None = None) -> int:
    import gc

    # A command's imports allocate ~15,000 objects that live to its end: at the default
    # threshold (700) the collector walks them a dozen times for nothing, 2 ms of a
    # 20 ms ps. Long-running commands still collect, every 20,000 allocations.
    gc.set_threshold(20_000, 20, 20)
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
    if name in _STARTS_PROCESSES:
        from dockyard.runtime import cgroup_warm

        cgroup_warm.start()  # the cgroup join's kernel wait, while we import and prepare
    if name == "run":
        from dockyard.runtime import shim_prefork

        shim_prefork.fork_ahead()  # it imports the runtime while we make the container
    from dockyard.cli.runner import run_command

    return run_command(entry[0], name, cmd_args, opts)


if __name__ == "__main__":
    raise SystemExit(main())
