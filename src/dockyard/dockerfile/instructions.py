"""Typed Dockerfile instructions: one frozen dataclass per instruction.

The second of three stages. Fields hold the words as written (quotes and
variables intact); :meth:`Instruction.expand` returns the same instruction with
exactly the arguments Docker expands, expanded:

- FROM: the image and ``--platform`` (with the ARGs declared before the first FROM);
- ENV, LABEL: keys and values; ARG: names and defaults;
- ADD, COPY: sources, destination, ``--chown``, ``--chmod``, ``--checksum``,
  ``--exclude``, ``--from``, and heredoc bodies unless the delimiter was quoted;
- WORKDIR, USER, STOPSIGNAL, VOLUME: their arguments;
- EXPOSE: each word, split again after expansion (``EXPOSE $PORTS``);
- RUN: only the ``--mount`` values;
- CMD, ENTRYPOINT, HEALTHCHECK, SHELL, MAINTAINER, ONBUILD: nothing.

(``ONBUILD`` triggers are stored as written and expanded in the child build.)
:meth:`Instruction.render` gives canonical Dockerfile text of the fields: for an
instruction as parsed it parses back to the same instruction; for an expanded
one it is the text Docker shows for the step (``ENV a=b c``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from dockyard._util.litedc import dataclass, field, replace
from dockyard.dockerfile.errors import DockerfileError
from dockyard.dockerfile.mounts import RunMount, parse_mount
from dockyard.dockerfile.parser import Heredoc
from dockyard.dockerfile.shell import Lexer, ShellError
from dockyard.oci.image import Healthcheck as ConfigHealthcheck

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import ClassVar, Self


@dataclass(frozen=True, kw_only=True)
class Instruction:
    """Base: ``start``/``end`` are the lines the instruction spans (heredocs
    included), ``original`` its text with continuations joined."""

    KEYWORD: ClassVar[str] = ""
    start: int = field(default=0, compare=False)
    end: int = field(default=0, compare=False)
    original: str = field(default="", compare=False, repr=False)
    escape: str = field(default="\\", compare=False, repr=False)

    def expand(self, env: Mapping[str, str]) -> Self:
        """This instruction with Docker's variable expansion applied."""
        return self

    def render(self) -> str:
        raise NotImplementedError

    def _word(self, word: str, env: Mapping[str, str]) -> str:
        try:
            return Lexer(self.escape).process_word(word, env)
        except ShellError as e:
            raise self._error(e.message) from None

    def _words(self, words: tuple[str, ...], env: Mapping[str, str]) -> tuple[str, ...]:
        return tuple(self._word(w, env) for w in words)

    def _error(self, reason: str, hint: str | None = None) -> DockerfileError:
        return DockerfileError(reason, line=self.start, end_line=self.end, hint=hint)


def _command_text(command: tuple[str, ...], shell_form: bool) -> str:
    if shell_form:
        return " ".join(command)
    return json.dumps(list(command), ensure_ascii=False)


def _with_heredocs(head: str, heredocs: tuple[Heredoc, ...]) -> str:
    return head + "".join("\n" + doc.content + doc.name for doc in heredocs)


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def _flag(name: str, value: str) -> str:
    """``--name=value``, quoted when the parser would otherwise split or unescape it."""
    if value and not any(c.isspace() or c in "\"'\\" for c in value):
        return f"--{name}={value}"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'--{name}="{escaped}"'


@dataclass(frozen=True, kw_only=True)
class From(Instruction):
    KEYWORD: ClassVar[str] = "FROM"
    image: str
    name: str = ""
    platform: str = ""

    def expand(self, env: Mapping[str, str]) -> Self:
        image = self._word(self.image, env)
        if not image:
            raise self._error(
                f"base name ({self.image}) should not be blank",
                hint="give the ARG a default or pass --build-arg",
            )
        platform = self._word(self.platform, env) if self.platform else ""
        return replace(self, image=image, platform=platform)

    def render(self) -> str:
        platform = _flag("platform", self.platform) if self.platform else ""
        return _join("FROM", platform, self.image, f"AS {self.name}" if self.name else "")


@dataclass(frozen=True, kw_only=True)
class Run(Instruction):
    """``command`` is the argv of the exec form or ``(text,)`` of the shell form."""

    KEYWORD: ClassVar[str] = "RUN"
    command: tuple[str, ...]
    shell_form: bool = True
    heredocs: tuple[Heredoc, ...] = ()
    mounts: tuple[RunMount, ...] = ()
    network: str = "default"
    security: str = "sandbox"

    def expand(self, env: Mapping[str, str]) -> Self:
        def one(value: str) -> str:
            return Lexer(self.escape).process_word(value, env)

        try:
            mounts = tuple(parse_mount(m.spec, one) for m in self.mounts)
        except DockerfileError as e:
            raise e.located(line=self.start, end_line=self.end) from None
        return replace(self, mounts=mounts)

    def render(self) -> str:
        flags = [_flag("mount", m.spec) for m in self.mounts]
        if self.network != "default":
            flags.append(f"--network={self.network}")
        if self.security != "sandbox":
            flags.append(f"--security={self.security}")
        head = _join("RUN", *flags, _command_text(self.command, self.shell_form))
        return _with_heredocs(head, self.heredocs)


@dataclass(frozen=True, kw_only=True)
class _CommandLine(Instruction):
    command: tuple[str, ...]
    shell_form: bool = True

    def render(self) -> str:
        return _join(self.KEYWORD, _command_text(self.command, self.shell_form))


@dataclass(frozen=True, kw_only=True)
class Cmd(_CommandLine):
    KEYWORD: ClassVar[str] = "CMD"


@dataclass(frozen=True, kw_only=True)
class Entrypoint(_CommandLine):
    KEYWORD: ClassVar[str] = "ENTRYPOINT"


@dataclass(frozen=True, kw_only=True)
class _KeyValues(Instruction):
    """``pairs`` in order; ``legacy`` for the one-pair ``ENV key value`` form."""

    pairs: tuple[tuple[str, str], ...]
    legacy: bool = False

    def expand(self, env: Mapping[str, str]) -> Self:
        pairs = tuple((self._word(k, env), self._word(v, env)) for k, v in self.pairs)
        return replace(self, pairs=pairs)

    def render(self) -> str:
        if self.legacy and len(self.pairs) == 1:
            return _join(self.KEYWORD, *self.pairs[0])
        return _join(self.KEYWORD, *(f"{k}={v}" for k, v in self.pairs))


@dataclass(frozen=True, kw_only=True)
class Env(_KeyValues):
    KEYWORD: ClassVar[str] = "ENV"


@dataclass(frozen=True, kw_only=True)
class Label(_KeyValues):
    KEYWORD: ClassVar[str] = "LABEL"


@dataclass(frozen=True)
class ArgDecl:
    name: str
    default: str | None = None


@dataclass(frozen=True, kw_only=True)
class Arg(Instruction):
    KEYWORD: ClassVar[str] = "ARG"
    args: tuple[ArgDecl, ...]

    def expand(self, env: Mapping[str, str]) -> Self:
        args = tuple(
            ArgDecl(
                self._word(a.name, env), None if a.default is None else self._word(a.default, env)
            )
            for a in self.args
        )
        return replace(self, args=args)

    def render(self) -> str:
        words = (a.name if a.default is None else f"{a.name}={a.default}" for a in self.args)
        return _join("ARG", *words)


@dataclass(frozen=True, kw_only=True)
class Workdir(Instruction):
    KEYWORD: ClassVar[str] = "WORKDIR"
    path: str

    def expand(self, env: Mapping[str, str]) -> Self:
        return replace(self, path=self._word(self.path, env))

    def render(self) -> str:
        return _join(self.KEYWORD, self.path)


@dataclass(frozen=True, kw_only=True)
class User(Instruction):
    KEYWORD: ClassVar[str] = "USER"
    user: str

    def expand(self, env: Mapping[str, str]) -> Self:
        return replace(self, user=self._word(self.user, env))

    def render(self) -> str:
        return _join(self.KEYWORD, self.user)


@dataclass(frozen=True, kw_only=True)
class StopSignal(Instruction):
    KEYWORD: ClassVar[str] = "STOPSIGNAL"
    signal: str

    def expand(self, env: Mapping[str, str]) -> Self:
        return replace(self, signal=self._word(self.signal, env))

    def render(self) -> str:
        return _join(self.KEYWORD, self.signal)


@dataclass(frozen=True, kw_only=True)
class Maintainer(Instruction):
    KEYWORD: ClassVar[str] = "MAINTAINER"
    name: str

    def render(self) -> str:
        return _join(self.KEYWORD, self.name)


@dataclass(frozen=True, kw_only=True)
class Expose(Instruction):
    KEYWORD: ClassVar[str] = "EXPOSE"
    ports: tuple[str, ...]

    def expand(self, env: Mapping[str, str]) -> Self:
        lexer = Lexer(self.escape)
        ports: list[str] = []
        for port in self.ports:
            try:
                ports += lexer.process_words(port, env)
            except ShellError as e:
                raise self._error(e.message) from None
        return replace(self, ports=tuple(ports))

    def render(self) -> str:
        return _join(self.KEYWORD, *self.ports)


@dataclass(frozen=True, kw_only=True)
class Volume(Instruction):
    KEYWORD: ClassVar[str] = "VOLUME"
    paths: tuple[str, ...]
    json: bool = False

    def expand(self, env: Mapping[str, str]) -> Self:
        return replace(self, paths=self._words(self.paths, env))

    def render(self) -> str:
        if self.json:
            return _join(self.KEYWORD, json.dumps(list(self.paths), ensure_ascii=False))
        return _join(self.KEYWORD, *self.paths)


@dataclass(frozen=True)
class SourceContent:
    """A heredoc source of COPY/ADD: the file ``path`` (the delimiter) and its data."""

    path: str
    data: str
    expand: bool = True


@dataclass(frozen=True, kw_only=True)
class _Transfer(Instruction):
    sources: tuple[str, ...]
    dest: str
    contents: tuple[SourceContent, ...] = ()
    chown: str = ""
    chmod: str = ""
    link: bool = False
    exclude: tuple[str, ...] = ()
    json: bool = False

    def _expand_common(self, env: Mapping[str, str]) -> Self:
        raw = Lexer("\\", skip_process_quotes=True)
        contents = []
        for c in self.contents:
            try:
                data = raw.process_word(c.data, env) if c.expand else c.data
            except ShellError as e:
                raise self._error(e.message) from None
            contents.append(replace(c, data=data))
        return replace(
            self,
            sources=self._words(self.sources, env),
            dest=self._word(self.dest, env),
            contents=tuple(contents),
            chown=self._word(self.chown, env),
            chmod=self._word(self.chmod, env),
            exclude=self._words(self.exclude, env),
        )

    def _flags(self) -> list[str]:
        return []

    def render(self) -> str:
        flags = self._flags()
        flags += [_flag("exclude", p) for p in self.exclude]
        if not self.json and [*self.sources, self.dest][0].startswith("--"):
            flags.append("--")  # the end of the flags
        heredocs = [f"<<{c.path}" if c.expand else f"<<'{c.path}'" for c in self.contents]
        if self.json:
            body = json.dumps([*self.sources, *heredocs, self.dest], ensure_ascii=False)
        else:
            body = " ".join([*self.sources, *heredocs, self.dest])
        head = _join(self.KEYWORD, *flags, body)
        return head + "".join("\n" + c.data + c.path for c in self.contents)


@dataclass(frozen=True, kw_only=True)
class Add(_Transfer):
    KEYWORD: ClassVar[str] = "ADD"
    checksum: str = ""
    keep_git_dir: bool = False
    unpack: bool | None = None

    def expand(self, env: Mapping[str, str]) -> Self:
        return replace(self._expand_common(env), checksum=self._word(self.checksum, env))

    def _flags(self) -> list[str]:
        flags = [
            _flag("chown", self.chown) if self.chown else "",
            _flag("chmod", self.chmod) if self.chmod else "",
        ]
        flags += [_flag("checksum", self.checksum) if self.checksum else ""]
        flags += ["--keep-git-dir" if self.keep_git_dir else "", "--link" if self.link else ""]
        if self.unpack is not None:
            flags.append(f"--unpack={'true' if self.unpack else 'false'}")
        return [f for f in flags if f]


@dataclass(frozen=True, kw_only=True)
class Copy(_Transfer):
    KEYWORD: ClassVar[str] = "COPY"
    from_: str = ""
    parents: bool = False

    def expand(self, env: Mapping[str, str]) -> Self:
        return replace(self._expand_common(env), from_=self._word(self.from_, env))

    def _flags(self) -> list[str]:
        flags = [_flag("from", self.from_) if self.from_ else ""]
        flags += [
            _flag("chown", self.chown) if self.chown else "",
            _flag("chmod", self.chmod) if self.chmod else "",
        ]
        flags += ["--link" if self.link else "", "--parents" if self.parents else ""]
        return [f for f in flags if f]


@dataclass(frozen=True, kw_only=True)
class Healthcheck(Instruction):
    """``test`` as in the image config: ``("NONE",)``, ``("CMD", argv...)`` or
    ``("CMD-SHELL", text)``; durations in nanoseconds (0: inherit the default)."""

    KEYWORD: ClassVar[str] = "HEALTHCHECK"
    test: tuple[str, ...]
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0

    def to_config(self) -> ConfigHealthcheck:
        return ConfigHealthcheck(
            test=self.test,
            interval=self.interval,
            timeout=self.timeout,
            start_period=self.start_period,
            start_interval=self.start_interval,
            retries=self.retries,
        )

    def render(self) -> str:
        if self.test[:1] == ("NONE",):
            return "HEALTHCHECK NONE"
        from dockyard.specs.units import format_duration_nanos

        flags = [
            f"--{name}={format_duration_nanos(value)}"
            for name, value in (
                ("interval", self.interval),
                ("timeout", self.timeout),
                ("start-period", self.start_period),
                ("start-interval", self.start_interval),
            )
            if value
        ]
        if self.retries:
            flags.append(f"--retries={self.retries}")
        command = _command_text(self.test[1:], self.test[0] == "CMD-SHELL")
        return _join(self.KEYWORD, *flags, "CMD", command)


@dataclass(frozen=True, kw_only=True)
class Shell(Instruction):
    KEYWORD: ClassVar[str] = "SHELL"
    shell: tuple[str, ...]

    def render(self) -> str:
        return _join(self.KEYWORD, json.dumps(list(self.shell), ensure_ascii=False))


@dataclass(frozen=True, kw_only=True)
class Onbuild(Instruction):
    """``expression`` is the trigger as stored in the image (``OnBuild``);
    ``trigger`` the same parsed, or ``None`` when it does not parse (Docker
    reports that only in the child build)."""

    KEYWORD: ClassVar[str] = "ONBUILD"
    expression: str
    trigger: Instruction | None = None

    def render(self) -> str:
        return f"ONBUILD {self.expression}"


INSTRUCTION_TYPES: dict[str, type[Instruction]] = {
    cls.KEYWORD: cls
    for cls in (
        From,
        Run,
        Cmd,
        Entrypoint,
        Env,
        Label,
        Arg,
        Workdir,
        User,
        StopSignal,
        Maintainer,
        Expose,
        Volume,
        Add,
        Copy,
        Healthcheck,
        Shell,
        Onbuild,
    )
}
