"""``dockyard build``: Docker's classic builder output, plus ``--explain``."""

from __future__ import annotations

import sys

from dockyard.cli.args import Parser, UsageError
from dockyard.cli.context import Context
from dockyard.errors import DockyardError, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TextIO

    from dockyard.build.context import BuildContext
    from dockyard.build.events import BuildEvent
    from dockyard.build.explain import Preflight
    from dockyard.cli.commands.build_progress import PlainProgress

USAGE = "[OPTIONS] PATH | URL | -"


def _pairs(
    values: list[str] | None, flag: str, *, env_fallback: bool
) -> tuple[tuple[str, str], ...]:
    import os

    out: dict[str, str] = {}
    for item in values or []:
        key, eq, value = item.partition("=")
        if not key:
            raise UsageError(f'invalid argument {item!r} for "{flag}" flag', "build")
        if not eq:
            if not env_fallback:
                value = ""
            elif key in os.environ:
                value = os.environ[key]
            else:
                continue  # docker: --build-arg NAME without a value and unset: ignored
        out[key] = value
    return tuple(out.items())


class _Renderer:
    """Build events as Docker's classic builder prints them."""

    def __init__(self, out: TextIO, err: TextIO, *, quiet: bool, explain: bool) -> None:
        self.out = out
        self.err = err
        self.quiet = quiet
        self.explain = explain
        self.explained: list[tuple[int, bool, str]] = []

    def __call__(self, event: BuildEvent) -> None:
        from dockyard.build import events as ev

        if isinstance(event, ev.StepExplained):
            self.explained.append((event.number, event.hit, event.reason))
            if not self.quiet:
                text = "cache hit" if event.hit else f"cache miss: {event.reason}"
                self.out.write(f" ---> [explain] {text}\n")
            return
        if self.quiet:
            if isinstance(event, ev.Warning):
                self.err.write(event.text + "\n")
            return
        out = self.out
        if isinstance(event, ev.StepStarted):
            out.write(_step_line(event.number, event.total, event.text))
        elif isinstance(event, ev.TriggersStarted):
            out.write(_triggers_line(event.count))
        elif isinstance(event, ev.CacheHit):
            out.write(_CACHE_HIT_LINE)
        elif isinstance(event, ev.ContainerStarted):
            out.write(f" ---> Running in {event.container_id[:12]}\n")
        elif isinstance(event, ev.Output):
            out.flush()
            stream = out if event.stream == 1 else self.err
            buffer = getattr(stream, "buffer", None)
            if buffer is not None:
                buffer.write(event.data)
                buffer.flush()
            else:
                stream.write(event.data.decode("utf-8", "replace"))
            return
        elif isinstance(event, ev.ContainerRemoved):
            out.write(f"Removing intermediate container {event.container_id[:12]}\n")
        elif isinstance(event, ev.StepDone):
            out.write(_done_line(event.image_id))
        elif isinstance(event, ev.Warning):
            out.write(event.text + "\n")
        out.flush()


_CACHE_HIT_LINE = " ---> Using cache\n"


def _step_line(number: object, total: object, text: object) -> str:
    return f"Step {number}/{total} : {text}\n"


def _triggers_line(count: object) -> str:
    s = "s" if isinstance(count, int) and count > 1 else ""
    return f"# Executing {count} build trigger{s}\n"


def _done_line(image_id: str) -> str:
    return f" ---> {_short(image_id)}\n" if image_id else " ---> \n"


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def build(ctx: Context, args: list[str], command: str = "build") -> int:
    p = Parser(command, USAGE, "Build an image from a Dockerfile")
    p.add_argument("-t", "--tag", action="append", help="Name and optionally a tag (name:tag)")
    p.add_argument("-f", "--file", help="Name of the Dockerfile (default: PATH/Dockerfile)")
    p.add_argument(
        "--build-arg", action="append", dest="build_arg", help="Set build-time variables"
    )
    p.add_argument("--label", action="append", help="Set metadata for an image")
    p.add_argument("--target", default="", help="Set the target build stage to build")
    p.add_argument("--no-cache", action="store_true", dest="no_cache", help="Do not use cache")
    p.add_argument("--pull", action="store_true", help="Always attempt to pull a newer version")
    p.add_argument("-q", "--quiet", action="store_true", help="Print the image ID on success")
    p.add_argument("--iidfile", default="", help="Write the image ID to the file")
    p.add_argument(
        "--network", default="default", help="Networking mode for RUN (default, host, none)"
    )
    p.add_argument(
        "--with-host-ca",
        action="store_true",
        dest="host_ca",
        help="Give RUN steps the host's CA bundle (read-only, never in a layer)",
    )
    p.add_argument(
        "--secret",
        action="append",
        help='Secret to expose to the build (format: "id=mysecret[,src=/local/secret]")',
    )
    p.add_argument("--platform", default="", help="Set the target platform (this machine's only)")
    p.add_argument("--rm", default="true", help="Remove intermediate containers (always)")
    p.add_argument(
        "--force-rm",
        action="store_true",
        dest="force_rm",
        help="Always remove intermediate containers",
    )
    p.add_argument(
        "--progress",
        default=None,
        help="Output: plain (BuildKit's steps), auto or tty (plain here); "
        "without it, the classic builder's",
    )
    p.add_argument(
        "--explain", action="store_true", help="Say why each step hit or missed the cache"
    )
    p.add_argument("path", nargs="?")
    ns = p.parse(args)
    if not ns.path:
        raise UsageError(
            f"\"dockyard build\" requires exactly 1 argument.\nSee 'dockyard build --help'.\n\n"
            f"Usage:  dockyard build {USAGE}\n\nBuild an image from a Dockerfile",
            command,
            exit_code=1,
        )
    if ns.network not in ("default", "bridge", "host", "none"):
        raise InvalidArgument(
            f"network mode {ns.network!r} is not supported for build: use default, host or none"
        )
    if ns.platform:
        from dockyard.build.platform import check_platform

        check_platform(ns.platform)
    from dockyard.oci.reference import parse_reference

    tags: list[str] = []
    for tag in ns.tag or []:
        try:
            tags.append(str(parse_reference(tag)))
        except InvalidArgument:
            raise UsageError(
                f'invalid argument "{tag}" for "-t, --tag" flag: invalid reference format', command
            ) from None
    build_args = _pairs(ns.build_arg, "--build-arg", env_fallback=True)
    labels = _pairs(ns.label, "--label", env_fallback=False)
    network = "default" if ns.network == "bridge" else ns.network
    plain = _plain_progress(ns.progress) and not ns.quiet
    replay_key = None
    if not (ns.no_cache or ns.pull or ns.secret or ns.explain or plain):
        # a fully cached build is answered from its record, without the parser
        from dockyard.build.replay import replay_key as make_replay_key

        replay_key = make_replay_key(
            ns.path, ns.file, build_args=build_args, labels=labels, target=ns.target,
            network=network, host_ca=ns.host_ca,
        )  # fmt: skip
        if replay_key is not None:
            from dockyard.engine.build_replay import replay

            replayed = replay(ctx.engine, replay_key, tuple(ns.tag or []))
            if replayed is not None:
                _print_replayed(ctx, replayed.events, replayed.context_size, quiet=ns.quiet)
                return _finish(ctx, ns, replayed.image_id, None, None)
    from dockyard.build.context import open_context
    from dockyard.build.dispatch import BuildFailed, BuildOptions
    from dockyard.build.run_mounts import parse_secret
    from dockyard.engine.builds import BuildService

    options = BuildOptions(
        tags=tuple(ns.tag or []),
        build_args=build_args,
        labels=labels,
        target=ns.target,
        no_cache=ns.no_cache,
        pull=ns.pull,
        network=network,
        explain=ns.explain,
        host_ca=ns.host_ca,
        secrets=tuple(parse_secret(v) for v in ns.secret or ()),
    )
    renderer: Callable[[BuildEvent], None]
    renderer = classic = _Renderer(ctx.out, ctx.err, quiet=ns.quiet, explain=ns.explain)
    stdin = sys.stdin.buffer if ns.path == "-" or ns.file == "-" else None
    with open_context(ns.path, dockerfile=ns.file, stdin=stdin, tmp_dir=None) as context:
        progress: PlainProgress | None = None
        if ns.explain:
            from dockyard.build.explain import preflight

            ctx.out.write(_render_preflight(preflight(context)))
        if plain:
            progress = renderer = _start_plain(ctx.err, context)
        elif not ns.quiet and not ns.explain:
            from dockyard.build.explain import tar_size
            from dockyard.cli.units import human_size

            ctx.out.write(
                f"Sending build context to Docker daemon  {human_size(tar_size(context))}\n"
            )
        try:
            result = BuildService(ctx.engine).build(context, options, renderer, replay_key)
        except BuildFailed as e:
            ctx.out.flush()
            if progress is not None:
                error = f'process "{e.command}" did not complete successfully: exit code: {e.code}'
                text, name = context.dockerfile_text, context.dockerfile_name
                ctx.err.write(progress.fail(error, dockerfile_text=text, line=e.line, name=name))
                return 1  # BuildKit's exit code, not the command's
            ctx.err.write(e.message + "\n")
            return e.code
        except DockyardError as e:
            from dockyard.dockerfile.errors import DockerfileError

            if progress is not None:
                ctx.err.write(progress.fail(e.message))
                if e.hint:
                    ctx.err.write(f"hint: {e.hint}\n")
                return 1
            if isinstance(e, DockerfileError):
                raise
            ctx.out.flush()
            ctx.err.write(e.message + "\n")
            if e.hint:
                ctx.err.write(f"hint: {e.hint}\n")
            return 1
    return _finish(ctx, ns, result.image_id, progress, classic)


def _finish(
    ctx: Context,
    ns: Any,
    image_id: str,
    progress: PlainProgress | None,
    classic: _Renderer | None,
) -> int:
    """After a build (step by step or replayed): --iidfile, then the last lines."""
    if ns.iidfile:
        from pathlib import Path

        from dockyard._util.atomic import atomic_write

        atomic_write(Path(ns.iidfile), image_id.encode())
    if ns.quiet:
        ctx.print(image_id)
        return 0
    if progress is not None:
        progress.finish(image_id, tuple(_full(t) for t in ns.tag or []))
        return 0
    if ns.explain and classic is not None:
        hits = sum(1 for _, hit, _ in classic.explained if hit)
        ctx.print(f"[explain] {hits} of {len(classic.explained)} steps from cache")
    ctx.print(f"Successfully built {_short(image_id)}")
    for tag in ns.tag or []:
        ctx.print(f"Successfully tagged {_familiar(tag)}")
    return 0


def _print_replayed(
    ctx: Context, events: tuple[tuple[object, ...], ...], context_size: int, *, quiet: bool
) -> None:
    """What the recorded fully cached build printed (see :class:`_Renderer`)."""
    if quiet:
        for event in events:
            if event[0] == "warning":
                ctx.err.write(f"{event[1]}\n")
        return
    from dockyard.cli.units import human_size

    out = ctx.out
    out.write(f"Sending build context to Docker daemon  {human_size(context_size)}\n")
    for event in events:
        kind = event[0]
        if kind == "step":
            out.write(_step_line(event[1], event[2], event[3]))
        elif kind == "triggers":
            out.write(_triggers_line(event[1]))
        elif kind == "hit":
            out.write(_CACHE_HIT_LINE)
        elif kind == "done":
            out.write(_done_line(str(event[1])))
        elif kind == "warning":
            out.write(f"{event[1]}\n")
    out.flush()


def _plain_progress(value: str | None) -> bool:
    """``--progress``: None (not given) keeps the classic output; plain, auto and tty
    print BuildKit's plain steps (there is no interactive display)."""
    if value is None:
        return False
    if value in ("plain", "auto", "tty"):
        return True
    if value == "quiet":
        return False
    raise InvalidArgument(
        f"invalid progress mode {value!r}",
        hint="--progress is plain, auto, tty or quiet (rawjson is not supported)",
    )


def _start_plain(err: TextIO, context: BuildContext) -> PlainProgress:
    from pathlib import Path

    from dockyard.build.explain import tar_size
    from dockyard.cli.commands.build_progress import PlainProgress

    ignore = Path(context.ignore_file) if context.ignore_file else None
    return PlainProgress(
        err,
        dockerfile_name=context.dockerfile_name,
        dockerfile_size=len(context.dockerfile_text.encode("utf-8", "surrogateescape")),
        ignore_size=ignore.stat().st_size if ignore is not None and ignore.exists() else 2,
        context_size=tar_size(context),
    )


def _full(tag: str) -> str:
    from dockyard.oci.reference import parse_reference

    return str(parse_reference(tag))


def _render_preflight(report: Preflight) -> str:
    from dockyard.cli.units import human_size

    lines = [
        f"[explain] context: {report.files} files, {human_size(report.total_bytes)}"
        + (f" (ignore file: {report.ignore_file})" if report.ignore_file else " (no .dockerignore)")
    ]
    if report.largest_files:
        lines.append("[explain] largest files:")
        lines += [f"[explain]   {human_size(size):>9}  {rel}" for rel, size in report.largest_files]
    if report.largest_dirs:
        lines.append("[explain] largest directories:")
        lines += [f"[explain]   {human_size(size):>9}  {rel}/" for rel, size in report.largest_dirs]
    if report.suggestions:
        lines.append("[explain] suggested .dockerignore lines:")
        lines += [
            f"[explain]   {line:<20} # saves {human_size(size)}"
            for line, size in report.suggestions
        ]
    return "\n".join(lines) + "\n"


def _familiar(tag: str) -> str:
    from dockyard.oci.reference import parse_reference

    return parse_reference(tag).familiar
