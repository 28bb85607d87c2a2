"""``dockyard bootstrap [NAME...]``: base images from Debian's package archive."""

from __future__ import annotations

from dockyard.cli.args import Parser
from dockyard.cli.context import Context


def bootstrap(ctx: Context, args: list[str], command: str = "bootstrap") -> int:
    p = Parser(
        command,
        "[OPTIONS] [NAME...]",
        "Make base images (busybox, debian, python, redis, postgres) from Debian's "
        "package archive, since Docker Hub is out of reach. No NAME means all.",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress the progress output")
    p.add_argument("names", nargs="*", metavar="NAME")
    ns = p.parse(args)
    from dockyard.engine.bootstrap.images import bootstrap_images

    def progress(line: str) -> None:
        if not ns.quiet:
            ctx.err.write(line + "\n")
            ctx.err.flush()

    for made in bootstrap_images(
        ctx.engine.images,
        ns.names,
        progress=progress,
        cache_dir=ctx.config.root / "cache" / "bootstrap",
    ):
        if ns.quiet:
            ctx.print(made.image_id)
        else:
            ctx.print(f"{', '.join(made.tags)}: {made.image_id}")
    return 0
