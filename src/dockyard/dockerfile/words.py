"""How each instruction's arguments are split, as BuildKit's ``line_parsers.go``
and ``split_command.go`` do it (part of the syntax stage: nothing here knows what
an argument means)."""

from __future__ import annotations

import json
import re

from dockyard.dockerfile.errors import DockerfileError
from dockyard.dockerfile.shell import GO_SPACE

TOKEN_SPACE = re.compile(r"[\t\v\f\r ]+")
_GO_SPACE = "".join(GO_SPACE)


def extract_flags(line: str) -> tuple[str, list[str]]:
    """``extractBuilderFlags``: leading ``--flag[=value]`` words (quotes and
    backslashes processed), then the rest of the line as written."""
    words: list[str] = []
    word: list[str] = []
    in_word = in_quote = blank_ok = False
    quote = ""
    pos, n = 0, len(line)
    while pos <= n:
        ch = line[pos] if pos < n else ""
        if not in_word and not in_quote:
            if pos == n:
                break
            if ch in GO_SPACE:
                pos += 1
                continue
            if ch != "-" or pos + 1 == n or line[pos + 1] != "-":
                return line[pos:], words
            in_word = True
        if pos == n:
            text = "".join(word)
            if text != "--" and (blank_ok or text):
                words.append(text)
            break
        if in_word:
            if ch in GO_SPACE:
                in_word = False
                text = "".join(word)
                if text == "--":
                    return line[pos:], words
                if blank_ok or text:
                    words.append(text)
                word, blank_ok = [], False
            elif ch in "'\"":
                quote, blank_ok, in_word, in_quote = ch, True, False, True
            elif ch == "\\" and pos + 1 == n:
                pass
            else:
                if ch == "\\":
                    pos += 1
                    ch = line[pos]
                word.append(ch)
            pos += 1
            continue
        # in_quote
        if ch == quote or (ch == "\\" and pos + 1 == n):
            in_quote, in_word = False, True
        else:
            if ch == "\\":
                pos += 1
                ch = line[pos]
            word.append(ch)
        pos += 1
    return "", words


def parse_words(rest: str, escape: str) -> list[str]:
    """``parseWords``: split on blanks outside quotes; quotes and escapes kept."""
    words: list[str] = []
    word: list[str] = []
    phase = 0  # 0 spaces, 1 word, 2 quote
    quote = ""
    blank_ok = False
    pos, n = 0, len(rest)
    while pos <= n:
        ch = rest[pos] if pos < n else ""
        if phase == 0:
            if pos == n:
                break
            if ch in GO_SPACE:
                pos += 1
                continue
            phase = 1
        if pos == n:
            if blank_ok or word:
                words.append("".join(word))
            break
        if phase == 1:
            if ch in GO_SPACE:
                phase = 0
                if blank_ok or word:
                    words.append("".join(word))
                word, blank_ok = [], False
                pos += 1
                continue
            if ch in "'\"":
                quote, blank_ok, phase = ch, True, 2
            if ch == escape:
                if pos + 1 == n:
                    pos += 1
                    continue
                word.append(ch)
                pos += 1
                ch = rest[pos]
            word.append(ch)
            pos += 1
            continue
        if ch == quote:
            phase = 1
        if ch == escape and quote != "'":
            if pos + 1 == n:
                phase = 1
                pos += 1
                continue
            pos += 1
            word.append(ch)
            ch = rest[pos]
        word.append(ch)
        pos += 1
    return words


def name_values(rest: str, name: str, escape: str) -> tuple[tuple[str, ...], bool]:
    """``ENV``/``LABEL``: ``key value`` (legacy, one pair) or ``k=v k2="v 2"``."""
    words = parse_words(rest, escape)
    if not words:
        return (), False
    if "=" not in words[0]:
        parts = TOKEN_SPACE.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise DockerfileError(
                f"{name} must have two arguments",
                hint=f"write {name} key=value (or {name} key value)",
            )
        return (parts[0], parts[1]), True
    out: list[str] = []
    for word in words:
        if "=" not in word:
            raise DockerfileError(
                f"Syntax error - can't find = in {json.dumps(word, ensure_ascii=False)}. "
                "Must be of the form: name=value",
                hint='quote values with spaces: key="a value"',
            )
        key, _, value = word.partition("=")
        out += (key, value)
    return tuple(out), False


def _reject_constant(text: str) -> object:
    raise ValueError(text)  # Go's JSON has no NaN or Infinity


def json_array(rest: str) -> tuple[str, ...] | None:
    """``parseJSON``: the strings of a JSON array, or ``None`` if not JSON."""
    rest = rest.lstrip(_GO_SPACE)
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest, parse_constant=_reject_constant)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(v, str) for v in value):
        raise DockerfileError(
            "when using JSON array syntax, arrays must be comprised of strings only",
            hint='quote every element: ["executable", "arg1"]',
        )
    return tuple(value)


def maybe_json(rest: str) -> tuple[tuple[str, ...], bool]:
    if not rest:
        return (), False
    parsed = json_array(rest)
    if parsed is not None:
        return parsed, True
    return (rest,), False


def maybe_json_list(rest: str) -> tuple[tuple[str, ...], bool]:
    parsed = json_array(rest)
    if parsed is not None:
        return parsed, True
    return (tuple(TOKEN_SPACE.split(rest)) if rest else ()), False


def health_args(rest: str) -> tuple[tuple[str, ...], bool]:
    sep = 0
    while sep < len(rest) and rest[sep] not in GO_SPACE:
        sep += 1
    if sep == 0:
        return (), False
    following = sep
    while following < len(rest) and rest[following] in GO_SPACE:
        following += 1
    command, is_json = maybe_json(rest[following:])
    return (rest[:sep], *command), is_json
