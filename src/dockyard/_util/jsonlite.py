"""``json.loads``/``json.dumps`` on CPython's C accelerator (``_json``), for the
commands whose start-up is their cost (``run``, ``ps``, ``exec``, the shim).

``import json`` pulls in ``re`` and with it ``enum``, ``functools`` and
``collections``: about 4 ms of a 25 ms ``ps`` here. ``json`` builds its decoder and
encoder on ``_json``'s ``make_scanner`` and ``make_encoder`` and uses ``re`` only
for what they do not do (skipping whitespace, the pure-Python fallbacks). This
module calls the same two C entry points, so the output is the same bytes as
``json.dumps`` with the same arguments (tested against it).

What ``_json`` cannot do (``indent``, hooks) goes to ``json`` itself, as does
every error: a bad document raises ``json.JSONDecodeError`` with ``json``'s own
message, since the slow path only runs on bad input.
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any as _Any

__all__ = ["loads", "dumps"]

_WS = " \t\n\r"


def _constant(name: str) -> float:
    return {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}[name]


class _Context:
    """The attributes ``_json.make_scanner`` reads from a ``json.JSONDecoder``."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_constant)


_scan = _json.make_scanner(_Context())  # type: ignore[arg-type]  # duck-typed context


def loads(s: str | bytes | bytearray) -> _Any:
    """``json.loads(s)``."""
    if not isinstance(s, str):
        if s[:1] in (b"\xef", b"\xfe", b"\xff") or (len(s) > 1 and not (s[0] and s[1])):
            import json  # a BOM, or UTF-16/32: json detects the encoding

            return json.loads(s)
        s = bytes(s).decode("utf-8", "surrogatepass")
    start = len(s) - len(s.lstrip(_WS))
    try:
        obj, end = _scan(s, start)
    except StopIteration:
        end = -1
    if end < 0 or s[end:].strip(_WS):
        import json  # the slow path raises json's exact error

        return json.loads(s)
    return obj


def _not_serializable(o: object) -> object:
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


def dumps(
    obj: object,
    *,
    sort_keys: bool = False,
    separators: tuple[str, str] | None = None,
    ensure_ascii: bool = True,
    indent: int | None = None,
) -> str:
    """``json.dumps(obj, ...)`` for the arguments named; ``indent`` goes to json."""
    if indent is not None:
        import json

        return json.dumps(obj, sort_keys=sort_keys, separators=separators,
                          ensure_ascii=ensure_ascii, indent=indent)  # fmt: skip
    item, key = separators or (", ", ": ")
    quote = _json.encode_basestring_ascii if ensure_ascii else _json.encode_basestring
    if isinstance(obj, str):
        return quote(obj)
    # markers is per call: it tracks the containers being encoded (cycle check)
    chunks = _json.make_encoder({}, _not_serializable, quote, None, key, item, sort_keys,
                                False, True)(obj, 0)  # fmt: skip
    return "".join(chunks)
