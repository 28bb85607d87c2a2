""".dockerignore: which files of the build context are sent, by Docker's rules.

The rules are moby's ``patternmatcher`` and ``ignorefile``:

- :func:`read_ignore_patterns` reads the file: a line starting with ``#`` is a
  comment, blank lines are skipped, each pattern is trimmed, ``filepath.Clean``-ed
  and loses a leading ``/`` (patterns are relative to the context root), ``!``
  marks an exception.
- A pattern is matched against the whole relative path (``*`` and ``?`` do not
  cross ``/``; ``**`` matches any number of directories; ``[a-z]`` classes and
  ``\\`` escapes as Go's ``filepath.Match``). A path is also excluded when one
  of its parent directories is. The last matching pattern wins, so ``!keep.txt``
  after ``*.txt`` re-includes ``keep.txt``.

:class:`IgnoreMatcher` answers for one path (:meth:`~IgnoreMatcher.matches`:
true means excluded), and :meth:`~IgnoreMatcher.walk` lists what is sent,
pruning excluded directories that no exception can reach into (BuildKit's
fsutil walker does the same), so a ``node_modules`` costs one ``stat``.

:func:`ignore_file_for` picks the ignore file: ``<Dockerfile>.dockerignore``
beside the Dockerfile wins over ``.dockerignore`` at the context root.
"""

from __future__ import annotations

import os
import posixpath
import re
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

from dockyard._util.record import Record
from dockyard.errors import InvalidArgument

_REGEX_ESCAPE = frozenset(".+()|{}$")
_EXACT, _PREFIX, _SUFFIX, _REGEX = range(4)


def _clean(path: str) -> str:
    """Go's ``filepath.Clean`` on Unix."""
    if not path:
        return "."
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def read_ignore_patterns(text: str) -> list[str]:
    """``ignorefile.ReadAll``: the patterns of a ``.dockerignore`` file's text."""
    patterns: list[str] = []
    for number, raw in enumerate(text.split("\n")):
        line = raw.removesuffix("\r")
        if number == 0:
            line = line.removeprefix("\ufeff")
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = _clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        patterns.append("!" + pattern if invert else pattern)
    return patterns


class Pattern(Record):
    """One compiled pattern; ``text`` is the cleaned pattern without ``!``."""

    __slots__ = ("exclusion", "kind", "regex", "text")
    text: str
    exclusion: bool
    kind: int
    regex: re.Pattern[str] | None

    def __init__(self, text: str, exclusion: bool, kind: int, regex: re.Pattern[str] | None):
        self._set(text=text, exclusion=exclusion, kind=kind, regex=regex)

    def match(self, path: str) -> bool:
        if self.kind == _EXACT:
            return path == self.text
        if self.kind == _PREFIX:
            return path.startswith(self.text[:-2])
        if self.kind == _SUFFIX:
            suffix = self.text[2:]
            if path.endswith(suffix):
                return True
            return suffix.startswith("/") and path == suffix[1:]
        assert self.regex is not None
        return self.regex.match(path) is not None


def compile_pattern(text: str) -> Pattern:
    """``patternmatcher.New`` for one pattern (after trimming and cleaning)."""
    text = _clean(text.strip())
    exclusion = text.startswith("!")
    if exclusion:
        if len(text) == 1:
            raise InvalidArgument(
                'illegal exclusion pattern: "!"', hint="write !PATTERN to re-include files"
            )
        text = text[1:]
    if not _valid_match_syntax(text):
        raise InvalidArgument(
            f"syntax error in pattern: {text}",
            hint="close every [ with ] and do not end a pattern with \\",
        )
    kind, source = _translate(text)
    regex = None
    if kind == _REGEX:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                regex = re.compile(source + r"\Z", re.DOTALL)
        except re.error:
            raise InvalidArgument(f"syntax error in pattern: {text}") from None
    return Pattern(text, exclusion, kind, regex)


def _translate(pattern: str) -> tuple[int, str]:
    """``Pattern.compile``: the match kind and, for regular expressions, the source."""
    out = ["^"]
    kind = _EXACT
    i, n = 0, len(pattern)
    token = 0
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":
                    i += 1
                if i >= n:
                    if kind == _EXACT:
                        kind = _PREFIX
                    else:
                        out.append(".*")
                        kind = _REGEX
                else:
                    out.append("(.*/)?")
                    kind = _REGEX
                if token == 0:
                    kind = _SUFFIX
            else:
                out.append("[^/]*")
                kind = _REGEX
        elif ch == "?":
            out.append("[^/]")
            kind = _REGEX
        elif ch in _REGEX_ESCAPE:
            out.append("\\" + ch)
        elif ch == "\\":
            if i < n:
                out.append("\\" + pattern[i])
                i += 1
                kind = _REGEX
            else:
                out.append("\\\\")
        elif ch in "[]":
            out.append(ch)
            kind = _REGEX
        else:
            out.append(ch)
        token += 1
    return kind, "".join(out)


def _valid_match_syntax(pattern: str) -> bool:
    """Whether Go's ``filepath.Match`` accepts ``pattern`` (brackets and escapes)."""
    i, n = 0, len(pattern)

    def escaped(i: int) -> int:
        # getEsc: one (possibly escaped) character of a class, followed by more.
        if i >= n or pattern[i] in "-]":
            return -1
        if pattern[i] == "\\":
            i += 1
            if i >= n:
                return -1
        i += 1
        return i if i < n else -1

    while i < n:
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= n:
                return False
            i += 2
        elif ch == "[":
            i += 1
            if i < n and pattern[i] == "^":
                i += 1
            ranges = 0
            while True:
                if i < n and pattern[i] == "]" and ranges > 0:
                    i += 1
                    break
                i = escaped(i)
                if i < 0:
                    return False
                if pattern[i] == "-":
                    i = escaped(i + 1)
                    if i < 0:
                        return False
                ranges += 1
        else:
            i += 1
    return True


class IgnoreMatcher:
    """The patterns of one ignore file; ``matches(path)`` is true for excluded paths."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(compile_pattern(p) for p in patterns if p.strip())
        self.exclusions = any(p.exclusion for p in self.patterns)
        # Excluded directories may be skipped unless an exception has wildcards.
        self._prefix_exceptions_only = not any(
            p.exclusion and _has_wildcards(p.text) for p in self.patterns
        )
        self._exception_prefixes = tuple(p.text + "/" for p in self.patterns if p.exclusion)

    @classmethod
    def from_text(cls, text: str) -> IgnoreMatcher:
        return cls(read_ignore_patterns(text))

    def match_with_parent(
        self, path: str, parent: tuple[bool, ...] | None
    ) -> tuple[bool, tuple[bool, ...]]:
        """``MatchesUsingParentResults``: whether ``path`` is excluded, given the
        per-pattern results of its parent directory (``None`` at the top)."""
        matched = False
        results: list[bool] = []
        for index, pattern in enumerate(self.patterns):
            hit = parent[index] if parent else False
            if not hit:
                if pattern.exclusion != matched:
                    results.append(False)
                    continue
                hit = pattern.match(path)
                if not hit and parent is None:
                    hit = _parent_matches(pattern, path)
            results.append(hit)
            if hit:
                matched = not pattern.exclusion
        return matched, tuple(results)

    def matches(self, path: str) -> bool:
        """Whether the context-relative ``path`` (``/``-separated) is excluded,
        as the walk over the context decides it."""
        path = _clean(path).lstrip("/")
        if path in (".", ""):
            return False
        parent: tuple[bool, ...] | None = None
        excluded = False
        parts = path.split("/")
        for depth in range(1, len(parts) + 1):
            excluded, parent = self.match_with_parent("/".join(parts[:depth]), parent)
        return excluded

    def can_skip_dir(self, path: str) -> bool:
        """Whether an excluded directory can be left unwalked: no exception
        pattern could re-include anything below it."""
        if not self._prefix_exceptions_only:
            return False
        prefix = path + "/"
        return not any(p.startswith(prefix) for p in self._exception_prefixes)

    def walk(self, root: str | os.PathLike[str]) -> Iterator[tuple[str, os.DirEntry[str]]]:
        """The entries of the context that are sent, as ``(relative path, entry)``
        in lexical order. A directory that is itself excluded but holds
        re-included files comes just before its first such file."""
        yield from self._walk(os.fspath(root), "", None, [])

    def _walk(
        self,
        directory: str,
        prefix: str,
        parent: tuple[bool, ...] | None,
        pending: list[tuple[str, os.DirEntry[str]]],
    ) -> Iterator[tuple[str, os.DirEntry[str]]]:
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except FileNotFoundError:
            return
        for entry in entries:
            rel = prefix + entry.name
            is_dir = entry.is_dir(follow_symlinks=False)
            if self.patterns:
                excluded, results = self.match_with_parent(rel, parent)
            else:
                excluded, results = False, ()
            if excluded:
                if is_dir and not self.can_skip_dir(rel):
                    pending.append((rel, entry))
                    yield from self._walk(entry.path, rel + "/", results, pending)
                    if pending and pending[-1][0] == rel:
                        pending.pop()
                continue
            if pending:
                yield from list(pending)
                pending.clear()
            yield rel, entry
            if is_dir:
                yield from self._walk(entry.path, rel + "/", results or None, pending)


def _parent_matches(pattern: Pattern, path: str) -> bool:
    parent = posixpath.dirname(path)
    if not parent:
        return False
    parts = parent.split("/")
    return any(pattern.match("/".join(parts[: i + 1])) for i in range(len(parts)))


def _has_wildcards(text: str) -> bool:
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] in "*?[":
            return True
        i += 1
    return False


def ignore_file_for(
    context: str | os.PathLike[str], dockerfile: str | os.PathLike[str] | None = None
) -> Path | None:
    """The ignore file that applies: ``<Dockerfile>.dockerignore`` beside the
    Dockerfile (``app.Dockerfile.dockerignore``), else ``.dockerignore`` in the
    context, else ``None``."""
    if dockerfile is not None:
        specific = Path(os.fspath(dockerfile) + ".dockerignore")
        if specific.is_file():
            return specific
    default = Path(context) / ".dockerignore"
    return default if default.is_file() else None


def load_ignore_patterns(
    context: str | os.PathLike[str], dockerfile: str | os.PathLike[str] | None = None
) -> list[str]:
    """The patterns of :func:`ignore_file_for` (none when there is no file)."""
    path = ignore_file_for(context, dockerfile)
    if path is None:
        return []
    return read_ignore_patterns(path.read_text(encoding="utf-8", errors="surrogateescape"))


def keep_build_files(patterns: Iterable[str], dockerfile: str | None) -> list[str]:
    """The classic builder's rule (docker CLI ``TrimBuildFilesFromExcludes``):
    ``.dockerignore`` and the Dockerfile (context-relative; ``None`` when read
    from stdin) are always sent, by appending exceptions for them. BuildKit
    sends the Dockerfile separately and applies the patterns as written."""
    out = list(patterns)
    matcher = IgnoreMatcher(out)
    if matcher.matches(".dockerignore"):
        out.append("!.dockerignore")
    if dockerfile is not None:
        name = dockerfile.replace(os.sep, "/")
        if IgnoreMatcher(out).matches(name):
            out.append("!" + name)
    return out
