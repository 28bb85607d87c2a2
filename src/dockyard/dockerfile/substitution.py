"""The pattern operations of shell-word expansion: ``${VAR#pat}``, ``${VAR%pat}``
(and the greedy ``##``/``%%``), ``${VAR/pat/repl}`` and ``${VAR//pat/repl}``, as
BuildKit's lexer does them: ``*`` and ``?`` wildcards turned into a regular
expression (no bracket classes), suffixes found by reversing pattern and value,
and Go's ``ReplaceAllString`` rules for the replace-all form.
"""

from __future__ import annotations

import re

from dockyard.dockerfile.shell import ShellError

_REGEX_SPECIAL = frozenset("[]{}.+()|^$")
_EOF_RUNE = "\ufffd"  # what Go's string(scanner.EOF) prints


def pattern_regex(pattern: str, *, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """``convertShellPatternToRegex``: ``*`` and ``?`` wildcards, no brackets."""
    out = ["^"] if anchored else []
    star = ".*" if greedy else ".*?"
    i, n = 0, len(pattern)
    while i < n:
        tok = pattern[i]
        i += 1
        if tok == "*":
            out.append(star)
        elif tok == "?":
            out.append(".")
        elif tok == "\\":
            # } and / are escaped in ${} but the escape is not part of the pattern.
            if i < n and pattern[i] in "}/":
                continue
            following = pattern[i] if i < n else _EOF_RUNE
            i += 1
            if following not in "*?\\":
                raise ShellError(
                    f"invalid pattern ({pattern}) in substitution: invalid escape '\\{following}'"
                )
            out.append("\\" + following)
        elif tok in _REGEX_SPECIAL:
            out.append("\\" + tok)
        else:
            out.append(tok)
    return re.compile("".join(out))


def trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    m = pattern_regex(pattern, greedy=greedy, anchored=True).search(value)
    return value[m.end() :] if m else value


def trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    # Regular expressions find leftmost matches: reverse pattern and value.
    return trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]


def _reverse_pattern(pattern: str) -> str:
    """Reverse, keeping each escape before the character it escapes."""
    out = [""] * len(pattern)
    last = len(pattern) - 1
    i = 0
    while i <= last:
        tok, slot = pattern[i], last - i
        if tok == "\\" and i != last:
            out[slot - 1] = tok
            out[slot] = pattern[i + 1]
            i += 2
        else:
            out[slot] = tok
            i += 1
    return "".join(out)


def go_replace_all(regex: re.Pattern[str], src: str, template: str) -> str:
    """Go's ``Regexp.ReplaceAllString``: no empty match right after a match, and
    ``$0``/``${0}`` (the only group) expanded in the replacement."""
    out: list[str] = []
    last_end = 0
    search = 0
    while search <= len(src):
        m = regex.search(src, search)
        if m is None:
            break
        start, end = m.span()
        out.append(src[last_end:start])
        if end > last_end or start == 0:
            out.append(_go_expand(template, m.group(0)))
        last_end = end
        search = search + 1 if search + 1 > end else end
    out.append(src[last_end:])
    return "".join(out)


_TEMPLATE_NAME = re.compile(r"\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+)")


def _go_expand(template: str, whole: str) -> str:
    if "$" not in template:
        return template
    out: list[str] = []
    rest = template
    while "$" in rest:
        before, _, rest = rest.partition("$")
        out.append(before)
        if rest.startswith("$"):
            out.append("$")
            rest = rest[1:]
            continue
        m = _TEMPLATE_NAME.match(rest)
        if m is None:
            out.append("$")
            continue
        name = m.group(1) or m.group(2)
        rest = rest[m.end() :]
        if name == "0":
            out.append(whole)
    out.append(rest)
    return "".join(out)
