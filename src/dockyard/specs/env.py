"""Environment variables: ``-e``, ``--env-file`` (Docker's rules) and compose's
``.env``/``env_file`` (compose v2's dotenv rules). The two file formats differ;
the names say which is which.

Docker's env file (:func:`parse_env_file`), one ``KEY=VALUE`` a line:

- the value is taken literally: no quote stripping, no interpolation, trailing
  spaces kept;
- a line with just ``KEY`` takes ``KEY`` from the environment, if it is set
  there, else the line is dropped;
- blank lines and lines starting with ``#`` are skipped; leading whitespace is
  trimmed; a key with a space or tab is an error; a UTF-8 BOM is dropped.

Compose's dotenv (:func:`parse_dotenv`): ``export`` prefixes, ``KEY: value``,
single quotes (literal), double quotes (escapes, may span lines), inline
`` #`` comments after unquoted values. Interpolation (``${VAR}``) is the
caller's: each entry says whether its value is a template.
"""

from __future__ import annotations

import os

from dockyard._util.lazy import Regex
from dockyard._util.record import Record
from dockyard.specs._go import GO_SPACE, fail, quote

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from collections.abc import Iterable, Mapping

_BOM = b"\xef\xbb\xbf"


def read_kv_lines(
    data: bytes, source: str, environ: Mapping[str, str] | None, *, what: str = "env file"
) -> list[str]:
    """The docker CLI's ``parseKeyValueFile`` over ``data`` (read from ``source``,
    named in errors). With ``environ``, a bare ``KEY`` takes its value from it;
    without, bare keys are dropped."""
    lines: list[str] = []
    raw_lines = data.split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    for number, raw in enumerate(raw_lines, 1):
        raw = raw.removesuffix(b"\r")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            fail(
                f"{what} {source} contains invalid utf8 bytes at line {number}: "
                f"[{' '.join(str(b) for b in raw)}]"
            )
        if number == 1:
            text = text.removeprefix(_BOM.decode())
        line = text.lstrip(GO_SPACE)
        if not line or line.startswith("#"):
            continue
        variable, eq, value = line.partition("=")
        variable = variable.lstrip(" \t")
        if " " in variable or "\t" in variable:
            fail(
                f"{source}:{number}: poorly formatted environment: "
                f"variable '{variable}' contains whitespaces",
                hint="write KEY=VALUE with no space around the key",
            )
        if not variable:
            fail(
                f"{source}:{number}: poorly formatted environment: "
                f"no variable name on line '{line}'"
            )
        if eq:
            lines.append(f"{variable}={value}")
        elif environ is not None and variable in environ:
            lines.append(f"{variable}={environ[variable]}")
    return lines


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """A file's bytes; a missing or unreadable file is InvalidArgument (Go's wording)."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        reason = (e.strerror or str(e)).lower()
        fail(f"open {os.fspath(path)}: {reason}")


def parse_env_file(
    path: str | os.PathLike[str], environ: Mapping[str, str] | None = None
) -> list[str]:
    """``--env-file``: ``KEY=VALUE`` strings in file order (Docker's rules; see the
    module). A bare ``KEY`` is looked up in ``environ`` (default ``os.environ``)."""
    env = os.environ if environ is None else environ
    return read_kv_lines(read_bytes(path), os.fspath(path), env)


def parse_env_option(
    value: str, environ: Mapping[str, str] | None = None, *, flag: str | None = None
) -> str | None:
    """``-e KEY=VALUE`` as is; ``-e KEY`` as ``KEY=<value in environ>``, or None
    when ``environ`` (default ``os.environ``) does not have it."""
    key, eq, _ = value.partition("=")
    if not key:
        fail(f"invalid environment variable: {value}", value=value, flag=flag)
    if eq:
        return value
    env = os.environ if environ is None else environ
    return f"{key}={env[key]}" if key in env else None


# -- compose's dotenv --------------------------------------------------------------------

# compose-go's isSpace: white space that is not a line break
_SPACE = "\t\v\f\r \x85\xa0"


# compiled on first use: most commands read no dotenv file
_EXPORT_RE = Regex(r"export[\t\n\f\r ]+")
_ESCAPE_RE = Regex(r'\\(?:[abcfnrtv$"\\]|0[0-9]{0,3})')


_SIMPLE = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


class DotenvEntry(Record):
    """One ``KEY=value`` of a compose dotenv file.

    ``value`` None: a bare ``KEY`` (take it from the environment, if set there).
    ``interpolate``: the value is a compose template (``${VAR}``, ``$$`` for a
    literal ``$``): true for unquoted and double-quoted values, false for
    single-quoted ones. ``line``: where the entry starts (1-based).
    """

    __slots__ = ("key", "value", "line", "interpolate")  # noqa: RUF023 (field order)
    key: str
    value: str | None
    line: int
    interpolate: bool

    def __init__(self, key: str, value: str | None, line: int, interpolate: bool = True) -> None:
        self._set(key=key, value=value, line=line, interpolate=interpolate)


def _unescape(match: re.Match[str]) -> str:
    seq = match.group(0)
    if seq == "\\$":
        return "$$"  # stays a literal dollar through interpolation
    if seq[1] == "0":  # \0ddd: exactly three octal digits, or left alone (as Go's UnquoteChar)
        digits = seq[2:]
        ok = len(digits) == 3 and all(c in "01234567" for c in digits) and int(digits, 8) < 256
        return chr(int(digits, 8)) if ok else seq
    if seq[1] in _SIMPLE:
        return _SIMPLE[seq[1]]
    return seq[1] if seq[1] in '"\\' else seq


def parse_dotenv(text: str) -> tuple[DotenvEntry, ...]:
    """Compose v2's ``.env``/``env_file`` format (compose-go ``dotenv``), without
    interpolation. Errors read ``line N: ...``; the caller names the file."""
    entries: list[DotenvEntry] = []
    text = text.removeprefix("\ufeff")
    pos, n = 0, len(text)
    while True:
        while pos < n:  # statement start: skip white space and comment lines
            if text[pos].isspace() or text[pos] in GO_SPACE:
                pos += 1
            elif text[pos] == "#":
                nl = text.find("\n", pos)
                pos = n if nl < 0 else nl
            else:
                break
        if pos >= n:
            return tuple(entries)
        line = text.count("\n", 0, pos) + 1
        m = _EXPORT_RE.match(text, pos)
        if m:
            pos = m.end()
            while pos < n and text[pos] in _SPACE:
                pos += 1
        end, sep = pos, ""
        while end < n:
            ch = text[end]
            if ch in "=:\n":
                sep = ch
                break
            if not (ch in _SPACE or ch in "_.-[]" or ch.isalnum()):
                fail(f"line {line}: unexpected character {quote(ch)} in variable name")
            end += 1
        key = text[pos:end].rstrip(GO_SPACE)
        if " " in key:
            fail(f"line {line}: key cannot contain a space")
        if not key:
            fail(f"line {line}: missing variable name")
        pos = end + 1
        if sep in ("\n", ""):  # a bare KEY
            entries.append(DotenvEntry(key, None, line))
            continue
        while pos < n and text[pos] in _SPACE:
            pos += 1
        q = text[pos : pos + 1]
        if q not in ("'", '"'):
            nl = text.find("\n", pos)
            nl = n if nl < 0 else nl
            value = text[pos:nl].split(" #", 1)[0].rstrip(GO_SPACE)
            entries.append(DotenvEntry(key, value, line))
            pos = nl
            continue
        i, escaped = pos + 1, False
        while i < n and (text[i] != q or escaped):
            escaped = text[i] == "\\" and not escaped
            i += 1
        if i >= n:
            nl = text.find("\n", pos)
            fail(f"line {line}: unterminated quoted value {text[pos : n if nl < 0 else nl]}")
        value = text[pos + 1 : i]
        if q == '"':
            entries.append(DotenvEntry(key, _ESCAPE_RE.sub(_unescape, value), line))
        else:
            entries.append(DotenvEntry(key, value, line, interpolate=False))
        pos = i + 1


def env_from_flags(env_files: Iterable[str], env_items: Iterable[str]) -> list[str]:
    """``--env-file`` files, then ``-e`` items (a bare ``NAME`` takes the caller's
    value, or is left out when unset), as ``run`` and ``exec`` read them."""
    env: list[str] = []
    for path in env_files:
        env += parse_env_file(path)
    for item in env_items:
        value = parse_env_option(item, flag="-e, --env")
        if value is not None:
            env.append(value)
    return env
