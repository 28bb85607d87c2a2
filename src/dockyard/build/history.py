"""The ``created_by`` text of each step's history entry, as the classic builder writes it.

Metadata steps read ``/bin/sh -c #(nop)  ENV FOO=bar`` (the shell, ``#(nop) ``,
then the comment: hence two spaces); WORKDIR, COPY and ADD use one space
(``#(nop) WORKDIR /app``, ``#(nop) COPY file:<hash> in /dst ``). A RUN is its
command line, after ``|N k=v ...`` when build args are in scope. Go's ``%q`` and
``%v`` formatting is reproduced where Docker prints values with them.
"""

from __future__ import annotations

from collections.abc import Sequence

from dockyard.dockerfile.shell import go_quote
from dockyard.oci.image import Healthcheck

DEFAULT_SHELL = ("/bin/sh", "-c")


def nop(shell: Sequence[str] | None, comment: str) -> str:
    """``withCmdComment``: ``[shell..., "#(nop) ", comment]`` joined."""
    return " ".join([*(shell or DEFAULT_SHELL), "#(nop) ", comment])


def nop_string(shell: Sequence[str] | None, comment: str) -> str:
    """``withCmdCommentString``: ``[shell..., "#(nop) " + comment]`` joined."""
    return " ".join([*(shell or DEFAULT_SHELL), "#(nop) " + comment])


def go_list_q(items: Sequence[str]) -> str:
    """Go's ``%q`` of a ``[]string``: ``["a" "b c"]``."""
    return "[" + " ".join(go_quote(i) for i in items) + "]"


def go_list_v(items: Sequence[str]) -> str:
    """Go's ``%v`` of a ``[]string``: ``[a b c]``."""
    return "[" + " ".join(items) + "]"


def go_char_q(value: int) -> str:
    """Go's ``%q`` of an integer: a quoted rune literal (``'\\x03'``, ``'A'``)."""
    if 0x20 <= value < 0x7F:
        ch = chr(value)
        return "'\\''" if ch == "'" else ("'\\\\'" if ch == "\\" else f"'{ch}'")
    names = {7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r"}
    if value in names:
        return f"'{names[value]}'"
    if value < 0x80:
        return f"'\\x{value:02x}'"
    if value <= 0xFFFF:
        return f"'\\u{value:04x}'"
    return f"'\\U{value:08x}'"


def go_duration(nanos: int) -> str:
    """Go's ``time.Duration.String``."""
    if nanos == 0:
        return "0s"
    sign = "-" if nanos < 0 else ""
    n = abs(nanos)
    if n < 1_000:
        return f"{sign}{n}ns"
    if n < 1_000_000:
        return f"{sign}{_trim(n / 1_000)}µs"
    if n < 1_000_000_000:
        return f"{sign}{_trim(n / 1_000_000)}ms"
    hours, rest = divmod(n, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    seconds = _trim_seconds(rest)
    out = sign
    if hours:
        out += f"{hours}h"
    if hours or minutes:
        out += f"{minutes}m"
    return out + f"{seconds}s"


def _trim(value: float) -> str:
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return text or "0"


def _trim_seconds(nanos: int) -> str:
    whole, frac = divmod(nanos, 1_000_000_000)
    if not frac:
        return str(whole)
    return f"{whole}." + f"{frac:09d}".rstrip("0")


def healthcheck_text(hc: Healthcheck) -> str:
    """``HEALTHCHECK %q`` of ``*container.HealthConfig``."""
    if hc.test[:1] == ("NONE",):
        return f'HEALTHCHECK &{{{go_list_q(hc.test)} "0s" "0s" "0s" \'\\x00\'}}'
    durations = " ".join(
        go_quote(go_duration(v)) for v in (hc.interval, hc.timeout, hc.start_period)
    )
    return f"HEALTHCHECK &{{{go_list_q(hc.test)} {durations} {go_char_q(hc.retries)}}}"


def run_command(argv: Sequence[str], args: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    """The RUN step's ``Cmd`` as the classic builder records it: ``|N k=v ...`` first
    when build args are in scope."""
    if not args:
        return tuple(argv)
    return (f"|{len(args)}", *(f"{k}={v}" for k, v in args), *argv)
