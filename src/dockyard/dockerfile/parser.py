"""Dockerfile syntax, as BuildKit's ``frontend/dockerfile/parser`` reads it.

The first of three stages (syntax -> typed instructions -> dispatch): this
module knows lines, comments, parser directives, continuations, heredocs and
how each instruction's arguments are split, and nothing of what they mean.

- Parser directives (``# escape=``` or ``\\``, ``# syntax=``, ``# check=``) count
  only before any other line, blank or comment; each at most once.
- A line ending in the escape character continues on the next; comment lines
  and blank lines inside a continuation are skipped (blank ones with BuildKit's
  warning).
- ``RUN``, ``COPY`` and ``ADD`` (also under ``ONBUILD``) in shell form take
  heredocs: ``<<EOF``, ``<<-EOF`` (leading tabs stripped), ``<<"EOF"`` or
  ``<<'EOF'`` (no expansion), several on one line, read in order.
- Arguments are split per instruction as BuildKit does: JSON arrays for
  ``RUN CMD ENTRYPOINT SHELL`` (invalid JSON falls back to the shell form, a
  JSON array of non-strings is an error), JSON or whitespace-split words for
  ``ADD COPY VOLUME``, ``k=v`` pairs with quotes kept for ``ENV LABEL ARG``,
  the whole rest for ``USER WORKDIR STOPSIGNAL MAINTAINER``.

Every :class:`Node` keeps its line range and the original text.
"""

from __future__ import annotations

import re

from dockyard._util.litedc import dataclass, field, replace
from dockyard.dockerfile.errors import DockerfileError
from dockyard.dockerfile.shell import GO_SPACE, Lexer, ShellError
from dockyard.dockerfile.words import (
    TOKEN_SPACE,
    extract_flags,
    health_args,
    maybe_json,
    maybe_json_list,
    name_values,
    parse_words,
)

INSTRUCTIONS = (
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
)
DIRECTIVES = ("syntax", "escape", "check")
_HEREDOC_INSTRUCTIONS = frozenset({"ADD", "COPY", "RUN"})

_WS = "[\t\n\f\r ]"  # RE2's \s
_DIRECTIVE = re.compile(rf"([a-zA-Z][a-zA-Z0-9]*){_WS}*={_WS}*(.+?){_WS}*")
_HEREDOC = re.compile(r"([0-9]*)<<(-?)([^<]*)", re.DOTALL)
_LEADING_TABS = re.compile(r"^\t+", re.MULTILINE)
_GO_SPACE = "".join(GO_SPACE)


@dataclass(frozen=True)
class Heredoc:
    """A here-document: ``content`` as written (``chomp`` says to strip tabs)."""

    name: str
    content: str = ""
    expand: bool = True
    chomp: bool = False
    fd: int = 0

    def data(self) -> str:
        """The content as the instruction sees it (leading tabs gone for ``<<-``)."""
        return _LEADING_TABS.sub("", self.content) if self.chomp else self.content


@dataclass(frozen=True)
class Node:
    """One instruction as written.

    ``args`` follows BuildKit's node list: for ``ENV``/``LABEL`` alternating keys
    and values (``legacy_kv`` for the ``ENV key value`` form), for ``ONBUILD``
    the trigger is ``child`` and ``args`` its keyword then arguments.
    """

    keyword: str
    flags: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    json: bool = False
    legacy_kv: bool = False
    heredocs: tuple[Heredoc, ...] = ()
    child: Node | None = None
    original: str = ""
    source: str = ""
    start: int = 0
    end: int = 0
    comments: tuple[str, ...] = field(default=(), compare=False)

    @property
    def name(self) -> str:
        return self.keyword.upper()


@dataclass(frozen=True)
class Directives:
    escape: str = "\\"
    syntax: str = ""
    check: str = ""
    lines: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class ParseResult:
    nodes: tuple[Node, ...]
    directives: Directives
    warnings: tuple[str, ...] = ()

    @property
    def escape(self) -> str:
        return self.directives.escape


class _DirectiveState:
    def __init__(self) -> None:
        self.escape = "\\"
        self.values: dict[str, str] = {}
        self.lines: list[tuple[str, int]] = []
        self.done = False
        self.continuation = _continuation_regex("\\")

    def consider(self, line: str, number: int) -> None:
        if self.done:
            return
        if not line.startswith("#"):
            self.done = True
            return
        m = _DIRECTIVE.fullmatch(line[1:].lstrip(_GO_SPACE))
        key = m.group(1).lower() if m else ""
        if m is None or key not in DIRECTIVES:
            self.done = True
            return
        if key in self.values:
            raise DockerfileError(
                f"only one {key} parser directive can be used",
                line=number,
                hint=f"remove the second '# {key}=' line",
            )
        value = m.group(2)
        if key == "escape":
            if value not in ("`", "\\"):
                raise DockerfileError(
                    f"invalid escape token '{value}' does not match ` or \\",
                    line=number,
                    hint="write '# escape=\\' or '# escape=`'",
                )
            self.escape = value
            self.continuation = _continuation_regex(value)
        self.values[key] = value
        self.lines.append((key, number))

    def result(self) -> Directives:
        return Directives(
            escape=self.escape,
            syntax=self.values.get("syntax", ""),
            check=self.values.get("check", ""),
            lines=tuple(self.lines),
        )


def _continuation_regex(escape: str) -> re.Pattern[str]:
    # The escape character as the last non-blank, unless itself escaped.
    e = re.escape(escape)
    return re.compile(rf"([^{e}]){e}[ \t]*\Z|^{e}[ \t]*\Z")


def _split_lines(text: str) -> list[str]:
    """Lines ending in ``\\n`` kept (bufio.Scanner with BuildKit's scanLines)."""
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _is_comment(raw: str) -> bool:
    return raw.rstrip("\r\n").lstrip(_GO_SPACE).startswith("#")


def parse(text: str, *, name: str = "Dockerfile") -> ParseResult:
    """Parse Dockerfile text into nodes; raises :class:`DockerfileError`."""
    try:
        return _parse(text)
    except DockerfileError as e:
        raise e.located(file=name) from None


def _parse(text: str) -> ParseResult:
    lines = _split_lines(text.removeprefix("\ufeff"))
    d = _DirectiveState()
    nodes: list[Node] = []
    warnings: list[str] = []
    comments: list[str] = []
    i = 0  # index of the next raw line; also the number of lines consumed

    def process(raw: str, strip_left: bool, number: int) -> str:
        token = raw.rstrip("\r\n")
        if strip_left:
            token = token.lstrip(_GO_SPACE)
        d.consider(token, number)
        return "" if token.startswith("#") else token

    while i < len(lines):
        raw = lines[i]
        if _is_comment(raw):
            comment = raw.lstrip(_GO_SPACE)[1:].strip()
            if comment:
                comments.append(comment)
        processed = process(raw, True, i + 1)
        i += 1
        start = i
        line, done = _trim_continuation(processed, d.continuation)
        if done and line == "":
            continue
        empty_continuation = False
        while not done and i < len(lines):
            raw = lines[i]
            processed = process(raw, False, i + 1)
            i += 1
            if _is_comment(raw):
                continue
            if not processed.rstrip("\r\n").lstrip(_GO_SPACE):
                empty_continuation = True
                continue
            more, done = _trim_continuation(processed, d.continuation)
            line += more
        if empty_continuation:
            warnings.append("[WARNING]: Empty continuation line found in:\n    " + line)
        try:
            node = _node_from_line(line, d.escape)
        except DockerfileError as e:
            raise e.located(line=start, end_line=i) from None
        heredocs: list[Heredoc] = []
        for doc in _heredocs_for(node, line):
            body: list[str] = []
            terminated = False
            while i < len(lines):
                raw = lines[i]
                i += 1
                candidate = raw.rstrip("\r\n")
                if doc.chomp:
                    candidate = candidate.lstrip("\t")
                if candidate == doc.name:
                    terminated = True
                    break
                body.append(raw)
            if not terminated:
                raise DockerfileError(
                    "unterminated heredoc",
                    line=start,
                    end_line=i,
                    hint=f"end the here-document with a line holding only {doc.name}",
                )
            heredocs.append(Heredoc(doc.name, "".join(body), doc.expand, doc.chomp, doc.fd))
        source = "".join(lines[start - 1 : i])
        nodes.append(
            replace(
                node,
                heredocs=tuple(heredocs),
                source=source,
                start=start,
                end=i,
                comments=tuple(comments),
            )
        )
        comments = []
    if not nodes:
        raise DockerfileError(
            "file with no instructions",
            line=max(i, 1),
            hint="a Dockerfile starts with FROM (ARG lines may come before it)",
        )
    if warnings:
        warnings.append(
            "[WARNING]: Empty continuation lines will become errors in a future release."
        )
    return ParseResult(tuple(nodes), d.result(), tuple(warnings))


def _trim_continuation(line: str, regex: re.Pattern[str]) -> tuple[str, bool]:
    m = regex.search(line)
    if m is None:
        return line, True
    return line[: m.start()] + (m.group(1) or ""), False


# -- one logical line -> Node ---------------------------------------------------------


def _node_from_line(line: str, escape: str) -> Node:
    parts = TOKEN_SPACE.split(line.strip(_GO_SPACE), maxsplit=1)
    keyword = parts[0]
    flags: tuple[str, ...] = ()
    rest = ""
    if len(parts) == 2:
        rest, flag_list = extract_flags(parts[1])
        flags = tuple(flag_list)
        rest = rest.strip(_GO_SPACE)
    name = keyword.upper()
    args: tuple[str, ...] = ()
    is_json = legacy = False
    child: Node | None = None
    if name in ("ADD", "COPY", "VOLUME"):
        args, is_json = maybe_json_list(rest)
    elif name in ("CMD", "ENTRYPOINT", "RUN", "SHELL"):
        args, is_json = maybe_json(rest)
    elif name in ("ENV", "LABEL"):
        args, legacy = name_values(rest, name, escape)
    elif name == "ARG":
        args = tuple(parse_words(rest, escape))
    elif name in ("EXPOSE", "FROM"):
        args = tuple(TOKEN_SPACE.split(rest)) if rest else ()
    elif name == "HEALTHCHECK":
        args, is_json = health_args(rest)
    elif name in ("MAINTAINER", "STOPSIGNAL", "USER", "WORKDIR"):
        args = (rest,) if rest else ()
    elif name == "ONBUILD" and rest:
        child = _node_from_line(rest, escape)
        child = Node(
            keyword=child.keyword,
            flags=child.flags,
            args=child.args,
            json=child.json,
            legacy_kv=child.legacy_kv,
            original=rest,
        )
        args = (child.keyword, *child.args)
    return Node(keyword, flags, args, is_json, legacy, child=child, original=line)


# -- heredocs -------------------------------------------------------------------------


def _heredocs_for(node: Node, line: str) -> list[Heredoc]:
    target = node.child if node.name == "ONBUILD" and node.child is not None else node
    if target.name not in _HEREDOC_INSTRUCTIONS or target.json:
        return []
    lexer = Lexer("\\", raw_quotes=True, raw_escapes=True, skip_unset_env=True)
    try:
        words = lexer.process_words(line, {})
    except ShellError:
        return []
    return [doc for doc in map(parse_heredoc, words) if doc is not None]


def parse_heredoc(word: str) -> Heredoc | None:
    """``<<EOF``, ``<<-EOF``, ``<<"EOF"``, ``2<<EOF`` -> a :class:`Heredoc`; else ``None``."""
    m = _HEREDOC.fullmatch(word)
    if m is None or not m.group(3):
        return None
    rest = m.group(3)
    try:
        words = Lexer("\\", skip_unset_env=True).process_words(rest, {})
        if len(words) != 1:
            return None
        raw = Lexer("\\", raw_quotes=True, skip_unset_env=True).process_words(rest, {})
    except ShellError:
        return None
    if len(raw) != len(words):
        return None

    def quotes(s: str) -> int:
        return s.count("'") + s.count('"')

    return Heredoc(
        name=words[0],
        expand=quotes(words[0]) == quotes(raw[0]),
        chomp=m.group(2) == "-",
        fd=int(m.group(1) or "0"),
    )
