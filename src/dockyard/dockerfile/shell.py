"""Shell-word expansion exactly as BuildKit's ``frontend/dockerfile/shell`` does it.

Docker expands ``$VAR`` in ``ENV``, ``COPY``, ``WORKDIR``... with its own small
lexer, whose quirks are part of the Dockerfile language. :class:`Lexer` is it:

- ``$VAR``, ``${VAR}``; a name is letters, digits and ``_`` (``$1`` reads all the
  digits, ``$@ $* $# $? $- $$ $!`` are one-character names); an unknown name is
  empty, a lone ``$`` stays.
- ``${VAR:-w}`` ``${VAR-w}`` ``${VAR:+w}`` ``${VAR+w}`` ``${VAR:?msg}`` ``${VAR?msg}``:
  with the colon an empty value counts as unset. The errors read
  ``VAR: msg``, or ``VAR: is not allowed to be unset`` / ``... to be empty``.
- ``${VAR#pat}`` ``${VAR##pat}`` ``${VAR%pat}`` ``${VAR%%pat}`` (shortest/longest
  prefix/suffix removal; ``*`` and ``?`` wildcards, ``\\*`` ``\\?`` ``\\\\`` escapes)
  and ``${VAR/pat/repl}``, ``${VAR//pat/repl}``.
- Single quotes keep everything; double quotes keep everything but ``$`` and the
  escape character, which there escapes only ``"``, ``$`` and itself. Outside
  quotes the escape character (``\\`` or, with ``# escape=```, the backtick)
  escapes any character.

:meth:`Lexer.process_word` is BuildKit's ``ProcessWord`` (one string, quotes
removed, inner spaces kept: what ``ENV``, ``LABEL``, ``WORKDIR``... get);
:meth:`Lexer.process_words` is ``ProcessWords`` (split into words after
expansion, an expanded value splitting where it has spaces: what ``EXPOSE``
gets). An error reads ``failed to process "<word>": <reason>``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from dockyard._util.litedc import dataclass, field
from dockyard.errors import InvalidArgument

# Go's unicode.IsSpace (Python's str.isspace also counts \x1c-\x1f).
GO_SPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000"
    + "".join(map(chr, range(0x2000, 0x200B)))
)
_SPECIAL_PARAMS = frozenset("@*#?-$!0")
_EOF_RUNE = "\ufffd"  # what Go's string(scanner.EOF) prints


class ShellError(InvalidArgument):
    """An expansion error; ``reason`` is the lexer's text without the word."""

    def __init__(self, reason: str, word: str | None = None) -> None:
        self.reason = reason
        self.word = word
        message = reason if word is None else f"failed to process {go_quote(word)}: {reason}"
        super().__init__(message)


def go_quote(text: str) -> str:
    """Close to Go's ``%q`` for the strings a Dockerfile holds."""
    return json.dumps(text, ensure_ascii=False)


@dataclass
class ProcessResult:
    """``result`` (ProcessWord), ``words`` (ProcessWords) and the names looked up."""

    result: str
    words: list[str]
    matched: set[str] = field(default_factory=set)
    unmatched: set[str] = field(default_factory=set)


class Lexer:
    """BuildKit's ``shell.Lex``.

    ``raw_quotes`` keeps quote characters in the result, ``raw_escapes`` keeps
    escape characters, ``skip_process_quotes`` treats quotes as ordinary
    characters (heredoc bodies), ``skip_unset_env`` leaves references to unset
    variables as written.
    """

    __slots__ = ("escape", "raw_escapes", "raw_quotes", "skip_process_quotes", "skip_unset_env")

    def __init__(
        self,
        escape: str = "\\",
        *,
        raw_quotes: bool = False,
        raw_escapes: bool = False,
        skip_process_quotes: bool = False,
        skip_unset_env: bool = False,
    ) -> None:
        if escape not in ("\\", "`"):
            raise ValueError(f"escape must be \\ or `, not {escape!r}")
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_process_quotes = skip_process_quotes
        self.skip_unset_env = skip_unset_env

    def process(self, word: str, env: Mapping[str, str]) -> ProcessResult:
        special = "$" + self.escape + ("" if self.skip_process_quotes else "'\"")
        if not any(c in special for c in word):
            return ProcessResult(word, _split_plain(word))
        state = _State(self, word, env)
        try:
            result, words = state.stop_on(None, self.raw_escapes)
        except ShellError as e:
            raise ShellError(e.reason, word) from None
        return ProcessResult(result, words, state.matched, state.unmatched)

    def process_word(self, word: str, env: Mapping[str, str]) -> str:
        return self.process(word, env).result

    def process_words(self, word: str, env: Mapping[str, str]) -> list[str]:
        return self.process(word, env).words


def expand_word(word: str, env: Mapping[str, str], *, escape: str = "\\") -> str:
    """``ProcessWord`` with a default lexer."""
    return Lexer(escape).process_word(word, env)


def expand_words(word: str, env: Mapping[str, str], *, escape: str = "\\") -> list[str]:
    """``ProcessWords`` with a default lexer."""
    return Lexer(escape).process_words(word, env)


def _split_plain(word: str) -> list[str]:
    out: list[str] = []
    current: list[str] = []
    for ch in word:
        if ch in GO_SPACE:
            if current:
                out.append("".join(current))
                current = []
        else:
            current.append(ch)
    if current:
        out.append("".join(current))
    return out


class _Words:
    """BuildKit's ``wordsStruct``: splits on spaces that came from unquoted text."""

    __slots__ = ("in_word", "word", "words")

    def __init__(self) -> None:
        self.word = ""
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if ch in GO_SPACE:
            if self.in_word and self.word:
                self.words.append(self.word)
                self.word = ""
                self.in_word = False
        else:
            self.add_raw(ch)

    def add_string(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def add_raw(self, text: str) -> None:
        self.word += text
        self.in_word = True

    def get(self) -> list[str]:
        if self.word:
            self.words.append(self.word)
            self.word = ""
            self.in_word = False
        return self.words


class _State:
    __slots__ = ("env", "lex", "matched", "pos", "raw_escapes", "text", "unmatched")

    def __init__(self, lex: Lexer, text: str, env: Mapping[str, str]) -> None:
        self.lex = lex
        self.text = text
        self.env = env
        self.pos = 0
        self.raw_escapes = lex.raw_escapes
        self.matched: set[str] = set()
        self.unmatched: set[str] = set()

    def peek(self) -> str | None:
        return self.text[self.pos] if self.pos < len(self.text) else None

    def next(self) -> str | None:
        if self.pos >= len(self.text):
            return None
        ch = self.text[self.pos]
        self.pos += 1
        return ch

    def stop_on(self, stop: str | None, raw_escapes: bool) -> tuple[str, list[str]]:
        """``processStopOn``: read up to ``stop`` (or the end when ``None``)."""
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            return self._stop_on(stop)
        finally:
            self.raw_escapes = saved

    def _stop_on(self, stop: str | None) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words()
        quotes = not self.lex.skip_process_quotes
        escape = self.lex.escape
        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            if stop is not None and ch == stop:
                self.pos += 1
                return "".join(result), words.get()
            if ch == "$":
                value = self.dollar()
                result.append(value)
                words.add_string(value)
                continue
            if quotes and ch in "'\"":
                value = self.single_quote() if ch == "'" else self.double_quote()
                result.append(value)
                words.add_raw(value)
                continue
            self.pos += 1
            if ch == escape:
                if self.raw_escapes:
                    words.add_raw(ch)
                    result.append(ch)
                if self.pos >= len(text):
                    break
                ch = text[self.pos]
                self.pos += 1
                words.add_raw(ch)
            else:
                words.add_char(ch)
            result.append(ch)
        if stop is not None:
            raise ShellError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.get()

    def single_quote(self) -> str:
        out: list[str] = []
        self.pos += 1
        if self.lex.raw_quotes:
            out.append("'")
        while True:
            ch = self.next()
            if ch is None:
                raise ShellError(
                    "unexpected end of statement while looking for matching single-quote"
                )
            if ch == "'":
                if self.lex.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def double_quote(self) -> str:
        out: list[str] = []
        self.pos += 1
        if self.lex.raw_quotes:
            out.append('"')
        escape = self.lex.escape
        while True:
            ch = self.peek()
            if ch is None:
                raise ShellError(
                    "unexpected end of statement while looking for matching double-quote"
                )
            if ch == '"':
                self.pos += 1
                if self.lex.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            self.pos += 1
            if ch == escape:
                if self.raw_escapes:
                    out.append(ch)
                following = self.peek()
                if following is None:
                    continue  # a trailing escape is dropped; the loop then fails
                if following in ('"', "$", escape):
                    ch = following
                    self.pos += 1
            out.append(ch)

    def get_env(self, name: str) -> tuple[str, bool]:
        if name in self.env:
            self.matched.add(name)
            return self.env[name], True
        self.unmatched.add(name)
        return "", False

    def name(self) -> str:
        """``processName``: letters, digits and ``_``; all digits; or one special."""
        out: list[str] = []
        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            if not out and ch.isdecimal():
                start = self.pos
                while self.pos < len(text) and text[self.pos].isdecimal():
                    self.pos += 1
                return text[start : self.pos]
            if not out and ch in _SPECIAL_PARAMS:
                self.pos += 1
                return ch
            if not (ch.isalpha() or ch.isdecimal() or ch == "_"):
                break
            out.append(ch)
            self.pos += 1
        return "".join(out)

    def dollar(self) -> str:
        self.pos += 1
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value, found = self.get_env(name)
            if not found and self.lex.skip_unset_env:
                return "$" + name
            return value
        self.pos += 1
        first = self.peek()
        if first is None:
            raise ShellError("syntax error: missing '}'")
        if first in "{}:":
            raise ShellError("syntax error: bad substitution")
        name = self.name()
        ch = self.next()
        if ch == "}":
            value, found = self.get_env(name)
            if not found and self.lex.skip_unset_env:
                return "${" + name + "}"
            return value
        if ch == "/":
            return self._replace(name)
        modifier = ch or _EOF_RUNE
        null_is_unset = ch == ":"
        if null_is_unset:
            ch = self.next()
            modifier += ch or _EOF_RUNE
        if ch not in ("+", "-", "?", "#", "%") and not null_is_unset:
            raise ShellError(f"unsupported modifier ({modifier}) in substitution")
        word = self._braced(ch in ("#", "%"))
        value, found = self.get_env(name)
        if not found and self.lex.skip_unset_env:
            return "${" + name + modifier + word + "}"
        empty_or_unset = not found or (null_is_unset and value == "")
        if ch == "-":
            return word if empty_or_unset else value
        if ch == "+":
            return "" if empty_or_unset else word
        if ch == "?":
            if not found:
                raise ShellError(f"{name}: {word or 'is not allowed to be unset'}")
            if null_is_unset and value == "":
                raise ShellError(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        if ch in ("#", "%"):
            greedy = word.startswith(ch)
            if greedy:
                word = word[1:]
            from dockyard.dockerfile.substitution import trim_prefix, trim_suffix

            if ch == "%":
                return trim_suffix(word, value, greedy)
            return trim_prefix(word, value, greedy)
        raise ShellError(f"unsupported modifier ({modifier}) in substitution")

    def _braced(self, raw_escapes: bool) -> str:
        try:
            word, _ = self.stop_on("}", raw_escapes)
        except ShellError:
            if self.peek() is None:
                raise ShellError("syntax error: missing '}'") from None
            raise
        return word

    def _replace(self, name: str) -> str:
        replace_all = self.peek() == "/"
        if replace_all:
            self.pos += 1
        try:
            pattern, _ = self.stop_on("/", True)
        except ShellError:
            if self.peek() is None:
                raise ShellError("syntax error: missing '/' in ${}") from None
            raise
        replacement = self._braced(True)
        value, found = self.get_env(name)
        if not found and self.lex.skip_unset_env:
            return "${" + name + "/" + pattern + "/" + replacement + "}"
        from dockyard.dockerfile.substitution import go_replace_all, pattern_regex

        regex = pattern_regex(pattern, greedy=True, anchored=False)
        if replace_all:
            return go_replace_all(regex, value, replacement)
        m = regex.search(value)
        if m:
            value = value[: m.start()] + replacement + value[m.end() :]
        return value
