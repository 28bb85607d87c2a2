"""Template functions: Go's builtins, ``printf`` and friends, and Docker's extras."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from dockyard.cli.gotemplate.values import (
    MISSING,
    _bad_arg,
    _fmt_value,
    _gostr,
    _gotype,
    _json,
    _truth,
)


class _CallError(Exception):
    """A function failed: reported as ``error calling NAME: ...``."""


class _ArgError(Exception):
    """An argument has the wrong type: reported as is."""


def _want(v: object, typ: type[Any], name: str) -> Any:
    if isinstance(v, typ) and not (typ is int and isinstance(v, bool)):
        return v
    if v is None:
        raise _ArgError(f"invalid value; expected {name}")
    raise _ArgError(f"wrong type for value; expected {name}; got {_gotype(v)}")


def _kind(v: object) -> str:
    if v is None or v is MISSING:
        return "nil"
    if isinstance(v, (bool, str)):
        return "bool" if isinstance(v, bool) else "str"
    return "num" if isinstance(v, (int, float)) else "other"


def _eq(a: object, *rest: object) -> bool:
    if not rest:
        raise _CallError("missing argument for comparison")
    for b in rest:
        ka, kb = _kind(a), _kind(b)
        if ka != kb:
            if "nil" not in (ka, kb):
                raise _CallError("incompatible types for comparison")
        elif ka == "nil":
            return True
        elif ka == "other" and any(isinstance(x, (list, tuple, Mapping)) for x in (a, b)):
            raise _CallError(f"non-comparable type {_gostr(a)}: {_gotype(a)}")
        elif a == b:
            return True
    return False


def _lt(a: object, b: object) -> bool:
    ka, kb = _kind(a), _kind(b)
    if ka not in ("num", "str", "bool") or kb not in ("num", "str", "bool"):
        raise _CallError("invalid type for comparison")
    if ka != kb:
        raise _CallError("incompatible types for comparison")
    if ka == "bool":
        raise _CallError("invalid type for comparison")
    return a < b  # type: ignore[operator,no-any-return]


def _index_int(i: object, cap: int) -> int:
    if i is None:
        raise _CallError("cannot index slice/array with nil")
    if not isinstance(i, int) or isinstance(i, bool):
        raise _CallError(f"cannot index slice/array with type {_gotype(i)}")
    if not 0 <= i <= cap:
        raise _CallError(f"index out of range: {i}")
    return i


def _index(item: object, *idx: object) -> object:
    if item is None and not idx:
        raise _CallError("index of untyped nil")
    for i in idx:
        if item is None and isinstance(i, str):  # a nil map[string]string, like null Labels
            item = {}
        if item is None or item is MISSING:
            raise _CallError("index of untyped nil")
        if isinstance(item, (list, tuple, str, bytes)):
            seq = item.encode() if isinstance(item, str) else item
            k = _index_int(i, len(seq))
            if k == len(seq):
                raise _CallError(f"index out of range: {k}")
            item = seq[k]
        elif isinstance(item, Mapping):
            try:
                found = i in item
            except TypeError:
                raise _CallError(f"{_gotype(i)} is not index type for {_gotype(item)}")
            zero = "" if all(isinstance(x, str) for x in item.values()) else MISSING
            item = item[i] if found else zero
        else:
            raise _CallError(f"can't index item of type {_gotype(item)}")
    return item


def _slice(item: object, *idx: object) -> object:
    if item is None:
        raise _CallError("slice of untyped nil")
    if len(idx) > 3:
        raise _CallError(f"too many slice indexes: {len(idx)}")
    if not isinstance(item, (list, tuple, str)):
        raise _CallError(f"can't slice item of type {_gotype(item)}")
    if isinstance(item, str) and len(idx) == 3:
        raise _CallError("cannot 3-index slice a string")
    seq = item.encode() if isinstance(item, str) else item
    bounds = [0, len(seq)]
    for n, i in enumerate(idx):
        bounds[n : n + 1] = [_index_int(i, len(seq))]
    for lo, hi in zip(bounds, bounds[1:]):  # noqa: B905, RUF007
        if lo > hi:
            raise _CallError(f"invalid slice index: {lo} > {hi}")
    part = seq[bounds[0] : bounds[1]]
    return part.decode("utf-8", "replace") if isinstance(part, bytes) else part


def _len(v: object) -> int:
    if v is None:
        return 0
    if isinstance(v, str):
        return len(v.encode())
    if isinstance(v, (list, tuple, bytes, Mapping)):
        return len(v)
    raise _CallError(f"len of type {_gotype(v)}")


_VERB = re.compile(r"%([-+# 0]*)(\d*)(?:\.(\d*))?(.?)", re.S)


def _sprintf(fmt: str, args: tuple[object, ...]) -> str:
    out: list[str] = []
    i = used = 0
    while (j := fmt.find("%", i)) >= 0:
        out.append(fmt[i:j])
        m = _VERB.match(fmt, j)
        assert m is not None
        flags, width, prec, verb = m.groups()
        i = m.end()
        if not verb:
            out.append("%!(NOVERB)")
        elif verb == "%":
            out.append("%")
        elif used >= len(args):
            out.append(f"%!{verb}(MISSING)")
        else:
            w = int(width) if width else None
            if w is not None and w > 10**6:
                out.append("%!(BADWIDTH)")
                w = None
            p = None if prec is None else int(prec or 0)
            out.append(_fmt_value(args[used], verb, flags, w, p))
            used += 1
    out.append(fmt[i:])
    if used < len(args):
        out.append("%!(EXTRA " + ", ".join(map(_bad_arg, args[used:])) + ")")
    return "".join(out)


def _sprint(args: tuple[object, ...]) -> str:
    out: list[str] = []
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(_gostr(a))
    return "".join(out)


def _eval_args(args: tuple[object, ...]) -> str:
    return args[0] if len(args) == 1 and isinstance(args[0], str) else _sprint(args)


def _html(*args: object) -> str:
    s = _eval_args(args)
    for a, b in (
        ("&", "&amp;"),
        ("'", "&#39;"),
        ("<", "&lt;"),
        (">", "&gt;"),
        ('"', "&#34;"),
        ("\0", "\ufffd"),
    ):
        s = s.replace(a, b)
    return s


_JS = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "<": "\\u003C",
    ">": "\\u003E",
    "&": "\\u0026",
    "=": "\\u003D",
}


def _js(*args: object) -> str:
    return "".join(
        _JS.get(c)
        or (c if " " <= c < "\x80" or (c >= "\x80" and c.isprintable()) else f"\\u{ord(c):04X}")
        for c in _eval_args(args)
    )


def _urlquery(*args: object) -> str:
    return "".join(
        chr(b)
        if chr(b).isascii() and (chr(b).isalnum() or chr(b) in "-_.~")
        else "+"
        if b == 32
        else f"%{b:02X}"
        for b in _eval_args(args).encode()
    )


def _title(s: object) -> str:
    """strings.Title: upper-case each letter that follows a separator."""
    out, prev = [], " "
    for c in _want(s, str, "string"):
        if (
            not (prev.isalnum() or prev == "_")
            if prev.isascii()
            else not (prev.isalpha() or prev.isdecimal()) and prev.isspace()
        ):
            t = c.title()
            out_c = t if len(t) == 1 else c
        else:
            out_c = c
        out.append(out_c)
        prev = c
    return "".join(out)


def _split(s: object, sep: object) -> list[str]:
    text, by = _want(s, str, "string"), _want(sep, str, "string")
    return list(text) if by == "" else text.split(by)


def _join(items: object, sep: object) -> str:
    if items is not None and not isinstance(items, (list, tuple)):
        raise _ArgError(f"wrong type for value; expected []string; got {_gotype(items)}")
    by = _want(sep, str, "string")
    if items is None:
        return ""
    return by.join(map(_gostr, items))  # type: ignore[no-any-return]


def _pad(s: object, before: object, after: object) -> str:
    text, b, a = _want(s, str, "string"), _want(before, int, "int"), _want(after, int, "int")
    if b < 0 or a < 0:
        raise _CallError("strings: negative Repeat count")
    return " " * b + text + " " * a if text else ""


def _truncate(s: object, n: object) -> str:
    text, size = _want(s, str, "string"), _want(n, int, "int")
    if size < 0:
        raise _CallError(f"slice bounds out of range [:{size}]")
    raw = text.encode()
    return text if len(raw) < size else raw[:size].decode("utf-8", "ignore")  # type: ignore[no-any-return]


def _printf(fmt: object, *args: object) -> str:
    return _sprintf(_want(fmt, str, "string"), args)


def _json_fn(v: object) -> str:
    try:
        return _json(v)
    except ValueError:  # Docker ignores the encoder's error: nothing is printed
        return ""


_Fn = tuple[Callable[..., object] | None, int, int]  # function, min args, max args (-1: any)
_FUNCS: dict[str, _Fn] = {
    "and": (None, 1, -1),
    "or": (None, 1, -1),
    "not": (lambda a: not _truth(a), 1, 1),
    "len": (_len, 1, 1),
    "index": (_index, 1, -1),
    "slice": (_slice, 1, -1),
    "print": (lambda *a: _sprint(a), 0, -1),
    "printf": (_printf, 1, -1),
    "println": (lambda *a: " ".join(map(_gostr, a)) + "\n", 0, -1),
    "eq": (_eq, 1, -1),
    "ne": (lambda a, b: not _eq(a, b), 2, 2),
    "lt": (_lt, 2, 2),
    "le": (lambda a, b: _lt(a, b) or _eq(a, b), 2, 2),
    "gt": (lambda a, b: not (_lt(a, b) or _eq(a, b)), 2, 2),
    "ge": (lambda a, b: not _lt(a, b), 2, 2),
    "html": (_html, 0, -1),
    "js": (_js, 0, -1),
    "urlquery": (_urlquery, 0, -1),
    # Docker's templates.basicFunctions
    "json": (_json_fn, 1, 1),
    "split": (_split, 2, 2),
    "join": (_join, 2, 2),
    "title": (_title, 1, 1),
    "lower": (lambda s: _want(s, str, "string").lower(), 1, 1),
    "upper": (lambda s: _want(s, str, "string").upper(), 1, 1),
    "pad": (_pad, 3, 3),
    "truncate": (_truncate, 2, 2),
}
# Docker's templates.HeaderFunctions: a table header keeps the column names as they are.
_HEADER_FUNCS = {
    **_FUNCS,
    **{
        k: ((lambda v, *_: v), n, n)
        for k, n in (
            ("json", 1),
            ("split", 2),
            ("join", 2),
            ("title", 1),
            ("lower", 1),
            ("upper", 1),
            ("truncate", 2),
        )
    },
}
