"""From parse-tree nodes to typed instructions (BuildKit's ``instructions/parse.go``).

Each converter declares the flags its instruction takes, checks the arguments
with BuildKit's texts (``FROM requires either one or three arguments``, ``ENV
names can not be blank``, ``unknown instruction: RUNN (did you mean RUN?)``...)
and builds the dataclass. Errors carry the node's lines.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from dockyard._util.litedc import replace
from dockyard.dockerfile import instructions as ins
from dockyard.dockerfile.errors import DockerfileError, with_suggestion
from dockyard.dockerfile.flags import Flags
from dockyard.dockerfile.mounts import RunMount, parse_mount
from dockyard.dockerfile.parser import INSTRUCTIONS, Node, parse_heredoc
from dockyard.dockerfile.shell import Lexer, go_quote
from dockyard.errors import InvalidArgument

_STAGE_NAME = re.compile(r"[a-z][a-z0-9\-_.]*")
_ONBUILD_PREFIX = re.compile(r"^[\t\n\f\r ]*ONBUILD[\t\n\f\r ]*", re.IGNORECASE)
_MIN_INTERVAL = 1_000_000  # 1ms
_NETWORKS = ("default", "none", "host")
_SECURITY = ("sandbox", "insecure")
_ONBUILD_HINT = "ONBUILD takes any instruction but ONBUILD, FROM and MAINTAINER"


def instruction_from_node(node: Node, *, escape: str = "\\") -> ins.Instruction:
    """Type one node; errors carry the node's lines."""
    convert = _CONVERTERS.get(node.name)
    try:
        if convert is None:
            raise DockerfileError(
                with_suggestion(
                    f"unknown instruction: {node.keyword}",
                    node.keyword,
                    INSTRUCTIONS,
                    case_sensitive=False,
                ),
                hint="instructions: " + " ".join(INSTRUCTIONS),
            )
        return convert(_Request(node, escape))
    except DockerfileError as e:
        raise e.located(line=node.start, end_line=node.end) from None


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TypedDict

    class _Base(TypedDict):
        start: int
        end: int
        original: str
        escape: str


class _Request:
    def __init__(self, node: Node, escape: str) -> None:
        self.node = node
        self.args = node.args
        self.flags = Flags(node.flags)
        self.base: _Base = {
            "start": node.start,
            "end": node.end,
            "original": node.original.strip(),
            "escape": escape,
        }
        self.escape = escape

    def command(self) -> tuple[str, ...]:
        """``handleJSONArgs``: the argv, or the shell text as one element."""
        if not self.args or self.node.json:
            return self.args
        return (" ".join(self.args),)


USAGE = {
    "ADD": "ADD [--chown=U:G] [--chmod=MODE] <src>... <dest>",
    "ARG": "ARG name[=default] ...",
    "COPY": "COPY [--from=stage] [--chown=U:G] <src>... <dest>",
    "ENV": "ENV key=value ...",
    "EXPOSE": "EXPOSE port[/proto] ...",
    "HEALTHCHECK": "HEALTHCHECK [--interval=30s ...] CMD command, or HEALTHCHECK NONE",
    "LABEL": "LABEL key=value ...",
    "MAINTAINER": "MAINTAINER name",
    "ONBUILD": "ONBUILD INSTRUCTION arguments",
    "SHELL": 'SHELL ["executable", "parameters"]',
    "STOPSIGNAL": "STOPSIGNAL SIGTERM",
    "USER": "USER user[:group]",
    "VOLUME": 'VOLUME /path ... or VOLUME ["/path", ...]',
    "WORKDIR": "WORKDIR /path",
}


def _usage(name: str) -> str | None:
    usage = USAGE.get(name)
    return f"usage: {usage}" if usage else None


def _at_least_one(req: _Request) -> None:
    if not req.args:
        name = req.node.name
        raise DockerfileError(f"{name} requires at least one argument", hint=_usage(name))


def _exactly_one(req: _Request) -> None:
    if len(req.args) != 1:
        name = req.node.name
        raise DockerfileError(f"{name} requires exactly one argument", hint=_usage(name))


def _key_values(req: _Request) -> tuple[tuple[str, str], ...]:
    req.flags.parse()
    what = req.node.name
    if not req.args:
        raise DockerfileError(f"{what} requires at least one argument", hint=_usage(what))
    if len(req.args) % 2:
        raise DockerfileError(f"Bad input to {what}, too many arguments")
    pairs = tuple(zip(req.args[::2], req.args[1::2], strict=True))
    if any(not key for key, _ in pairs):
        raise DockerfileError(f"{what} names can not be blank", hint=f"write {what} name=value")
    return pairs


def _env(req: _Request) -> ins.Instruction:
    return ins.Env(pairs=_key_values(req), legacy=req.node.legacy_kv, **req.base)


def _label(req: _Request) -> ins.Instruction:
    return ins.Label(pairs=_key_values(req), legacy=req.node.legacy_kv, **req.base)


def _maintainer(req: _Request) -> ins.Instruction:
    _exactly_one(req)
    req.flags.parse()
    return ins.Maintainer(name=req.args[0], **req.base)


def _transfer_args(req: _Request) -> tuple[tuple[str, ...], str, tuple[ins.SourceContent, ...]]:
    *sources, dest = req.args
    what = req.node.name
    if parse_heredoc(dest) is not None:
        raise DockerfileError(
            f"{what} cannot accept a heredoc as a destination",
            hint="the heredoc is a source: COPY <<EOF /path/to/file",
        )
    by_name = {doc.name: doc for doc in req.node.heredocs}
    paths: list[str] = []
    contents: list[ins.SourceContent] = []
    for src in sources:
        doc = parse_heredoc(src)
        if doc is None:
            paths.append(src)
            continue
        found = by_name.get(doc.name)
        data = "" if found is None else found.data() if doc.chomp else found.content
        contents.append(ins.SourceContent(doc.name, data, doc.expand))
    return tuple(paths), dest, tuple(contents)


def _need_destination(req: _Request) -> None:
    if len(req.args) < 2:
        raise DockerfileError(
            f"{req.node.name} requires at least two arguments, but only one was provided. "
            "Destination could not be determined",
            hint=_usage(req.node.name),
        )


def _add(req: _Request) -> ins.Instruction:
    _need_destination(req)
    f = req.flags
    f.strings("exclude")
    for name in ("chown", "chmod", "checksum"):
        f.string(name)
    for name in ("link", "keep-git-dir", "unpack"):
        f.boolean(name)
    f.parse()
    sources, dest, contents = _transfer_args(req)
    return ins.Add(
        sources=sources,
        dest=dest,
        contents=contents,
        chown=f.get("chown"),
        chmod=f.get("chmod"),
        checksum=f.get("checksum"),
        link=f.is_true("link"),
        keep_git_dir=f.is_true("keep-git-dir"),
        unpack=f.is_true("unpack") if "unpack" in f.used else None,
        exclude=f.all("exclude"),
        json=req.node.json,
        **req.base,
    )


def _copy(req: _Request) -> ins.Instruction:
    _need_destination(req)
    f = req.flags
    f.strings("exclude")
    for name in ("chown", "from", "chmod"):
        f.string(name)
    for name in ("link", "parents"):
        f.boolean(name)
    f.parse()
    sources, dest, contents = _transfer_args(req)
    return ins.Copy(
        sources=sources,
        dest=dest,
        contents=contents,
        from_=f.get("from"),
        chown=f.get("chown"),
        chmod=f.get("chmod"),
        link=f.is_true("link"),
        parents=f.is_true("parents"),
        exclude=f.all("exclude"),
        json=req.node.json,
        **req.base,
    )


def _from(req: _Request) -> ins.Instruction:
    args = req.args
    name = ""
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not _STAGE_NAME.fullmatch(name):
            raise DockerfileError(
                f"invalid name for build stage: {go_quote(args[2])}, "
                "name can't start with a number or contain symbols",
                hint="stage names are letters, digits, '-', '_' and '.', starting with a letter",
            )
    elif len(args) != 1:
        raise DockerfileError(
            "FROM requires either one or three arguments",
            hint="FROM [--platform=P] image [AS name]",
        )
    req.flags.string("platform")
    req.flags.parse()
    return ins.From(image=args[0], name=name, platform=req.flags.get("platform"), **req.base)


def _onbuild(req: _Request) -> ins.Instruction:
    _at_least_one(req)
    req.flags.parse()
    trigger = req.args[0].strip().upper()
    if trigger == "ONBUILD":
        raise DockerfileError(
            "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed", hint=_ONBUILD_HINT
        )
    if trigger in ("MAINTAINER", "FROM"):
        raise DockerfileError(f"{trigger} isn't allowed as an ONBUILD trigger", hint=_ONBUILD_HINT)
    expression = _ONBUILD_PREFIX.sub("", req.node.original, count=1)
    for doc in req.node.heredocs:
        expression += "\n" + doc.content + doc.name
    typed: ins.Instruction | None = None
    child = req.node.child
    if child is not None:
        child = replace(child, heredocs=req.node.heredocs, start=req.node.start, end=req.node.end)
        try:
            typed = instruction_from_node(child, escape=req.escape)
        except DockerfileError:
            typed = None
    return ins.Onbuild(expression=expression, trigger=typed, **req.base)


def _workdir(req: _Request) -> ins.Instruction:
    _exactly_one(req)
    req.flags.parse()
    return ins.Workdir(path=req.args[0], **req.base)


def _run(req: _Request) -> ins.Instruction:
    f = req.flags
    f.strings("mount")
    f.string("network", "default")
    f.string("security", "sandbox")
    f.parse()
    network, security = f.get("network"), f.get("security")
    if network not in _NETWORKS:
        raise DockerfileError(
            f"invalid network mode {go_quote(network)}", hint="--network is default, none or host"
        )
    if security not in _SECURITY:
        raise DockerfileError(
            f"security {go_quote(security)} is not valid", hint="--security is sandbox or insecure"
        )
    lexer = Lexer(req.escape)

    def literal(value: str) -> str:
        return lexer.process_word(value, {})

    mounts: list[RunMount] = []
    for spec in f.all("mount"):
        mounts.append(parse_mount(spec, None if "$" in spec else literal))
    return ins.Run(
        command=req.command(),
        shell_form=not req.node.json,
        heredocs=req.node.heredocs,
        mounts=tuple(mounts),
        network=network,
        security=security,
        **req.base,
    )


def _cmd(req: _Request) -> ins.Instruction:
    req.flags.parse()
    return ins.Cmd(command=req.command(), shell_form=not req.node.json, **req.base)


def _entrypoint(req: _Request) -> ins.Instruction:
    req.flags.parse()
    return ins.Entrypoint(command=req.command(), shell_form=not req.node.json, **req.base)


def _interval(name: str, value: str) -> int:
    if not value:
        return 0
    from dockyard.specs.units import parse_duration_nanos

    try:
        nanos = parse_duration_nanos(value)
    except InvalidArgument as e:
        raise DockerfileError(e.message, hint=e.hint) from None
    if nanos == 0:
        return 0
    if nanos < _MIN_INTERVAL:
        raise DockerfileError(
            f"Interval {go_quote(name)} cannot be less than 1ms", hint=f"for example --{name}=30s"
        )
    return nanos


def _retries(value: str) -> int:
    body = value[1:] if value[:1] in "+-" else value
    if not body or not body.isascii() or not body.isdigit():
        raise DockerfileError(
            f"strconv.ParseInt: parsing {go_quote(value)}: invalid syntax",
            hint="--retries takes a whole number, for example --retries=3",
        )
    number = int(value)
    if not -(1 << 31) <= number < 1 << 31:
        raise DockerfileError(f"strconv.ParseInt: parsing {go_quote(value)}: value out of range")
    if number < 0:
        raise DockerfileError(
            f"--retries cannot be negative ({number})", hint="--retries=0 keeps the default"
        )
    return number


def _healthcheck(req: _Request) -> ins.Instruction:
    _at_least_one(req)
    kind = req.args[0].upper()
    rest = req.args[1:]
    if kind == "NONE":
        if rest:
            raise DockerfileError("HEALTHCHECK NONE takes no arguments", hint=_usage("HEALTHCHECK"))
        return ins.Healthcheck(test=("NONE",), **req.base)
    f = req.flags
    names = ("interval", "timeout", "start-period", "start-interval", "retries")
    for name in names:
        f.string(name)
    f.parse()
    if kind != "CMD":
        raise DockerfileError(
            f"Unknown type {go_quote(kind)} in HEALTHCHECK (try CMD)",
            hint=_usage("HEALTHCHECK"),
        )
    command = rest if req.node.json or not rest else (" ".join(rest),)
    if not command:
        raise DockerfileError("Missing command after HEALTHCHECK CMD", hint=_usage("HEALTHCHECK"))
    interval, timeout, start_period, start_interval = (
        _interval(name, f.get(name)) for name in names[:4]
    )
    return ins.Healthcheck(
        test=("CMD" if req.node.json else "CMD-SHELL", *command),
        interval=interval,
        timeout=timeout,
        start_period=start_period,
        start_interval=start_interval,
        retries=_retries(f.get("retries")) if f.get("retries") else 0,
        **req.base,
    )


def _expose(req: _Request) -> ins.Instruction:
    _at_least_one(req)
    req.flags.parse()
    return ins.Expose(ports=req.args, **req.base)


def _user(req: _Request) -> ins.Instruction:
    _exactly_one(req)
    req.flags.parse()
    return ins.User(user=req.args[0], **req.base)


def _volume(req: _Request) -> ins.Instruction:
    _at_least_one(req)
    req.flags.parse()
    paths = tuple(p.strip() for p in req.args)
    if any(not p for p in paths):
        raise DockerfileError("VOLUME specified can not be an empty string", hint=_usage("VOLUME"))
    return ins.Volume(paths=paths, json=req.node.json, **req.base)


def _stopsignal(req: _Request) -> ins.Instruction:
    _exactly_one(req)
    return ins.StopSignal(signal=req.args[0], **req.base)


def _arg(req: _Request) -> ins.Instruction:
    _at_least_one(req)
    req.flags.parse()
    decls: list[ins.ArgDecl] = []
    for word in req.args:
        key, has_value, value = word.partition("=")
        if has_value and not key:
            raise DockerfileError("ARG names can not be blank", hint="write ARG name[=default]")
        decls.append(ins.ArgDecl(key, value if has_value else None))
    return ins.Arg(args=tuple(decls), **req.base)


def _shell(req: _Request) -> ins.Instruction:
    req.flags.parse()
    command = req.command()
    if not command:
        raise DockerfileError("SHELL requires at least one argument", hint=_usage("SHELL"))
    if not req.node.json:
        raise DockerfileError(
            "SHELL requires the arguments to be in JSON form",
            hint='write the arguments as a JSON array: SHELL ["/bin/bash", "-c"]',
        )
    return ins.Shell(shell=command, **req.base)


_CONVERTERS: dict[str, Callable[[_Request], ins.Instruction]] = {
    "ADD": _add,
    "ARG": _arg,
    "CMD": _cmd,
    "COPY": _copy,
    "ENTRYPOINT": _entrypoint,
    "ENV": _env,
    "EXPOSE": _expose,
    "FROM": _from,
    "HEALTHCHECK": _healthcheck,
    "LABEL": _label,
    "MAINTAINER": _maintainer,
    "ONBUILD": _onbuild,
    "RUN": _run,
    "SHELL": _shell,
    "STOPSIGNAL": _stopsignal,
    "USER": _user,
    "VOLUME": _volume,
    "WORKDIR": _workdir,
}
