"""Go values: printing (``fmt``'s ``%v`` and verbs), truth, type names and JSON.

Data are dicts keyed by Go field names, lists, scalars and objects; ``MISSING`` is
Go's invalid value (a missing map key).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


class _Missing:
    """Go's invalid value: a missing map key. Prints as ``<no value>``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<no value>"


MISSING: Any = _Missing()

_SCALARS = (str, int, float, complex, bytes, list, tuple)


def _gotype(v: object) -> str:
    if v is None or v is MISSING:
        return "<nil>"
    for t, name in ((bool, "bool"), (int, "int"), (float, "float64"), (str, "string")):
        if isinstance(v, t):
            return name
    if isinstance(v, (list, tuple)):
        return "[]interface {}"
    return "map[string]interface {}" if isinstance(v, Mapping) else type(v).__name__


def _sorted_keys(m: Mapping[Any, Any]) -> list[Any]:
    try:
        return sorted(m)
    except TypeError:
        return sorted(m, key=lambda k: (type(k).__name__, _gostr(k)))


def _struct_fields(v: object) -> dict[str, Any] | None:
    from dockyard._util.record import Record

    if isinstance(v, Record):  # the value classes that are not dataclasses (start-up)
        return v.__getstate__()
    if not hasattr(v, "__dataclass_fields__"):
        return None
    import dataclasses

    return {f.name: getattr(v, f.name) for f in dataclasses.fields(v)}  # type: ignore[arg-type]


def _gostr(v: object) -> str:
    """fmt.Sprint of one value (Go's %v)."""
    if type(v) is str:
        return v
    if v is None or v is MISSING:
        return "<nil>" if v is None else "<no value>"
    if isinstance(v, (bool, int, float)):
        return _fmt_value(v, "v", "", None, None)
    if isinstance(v, str):
        return str.__str__(v)
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(map(_gostr, v)) + "]"
    if isinstance(v, Mapping):
        return "map[" + " ".join(f"{_gostr(k)}:{_gostr(v[k])}" for k in _sorted_keys(v)) + "]"
    fields = _struct_fields(v) if type(v).__str__ is object.__str__ else None
    return str(v) if fields is None else "{" + " ".join(map(_gostr, fields.values())) + "}"


def _truth(v: object) -> bool:
    if v is None or v is MISSING:
        return False
    if isinstance(v, (int, float, complex)):
        return v != 0
    return len(v) > 0 if hasattr(v, "__len__") else True


def _quote(s: str, q: str = '"') -> str:
    """strconv.Quote (or QuoteRune with q="'")."""
    out = [q]
    for c in s:
        o = ord(c)
        if c in (q, "\\"):
            out.append("\\" + c)
        elif c.isprintable():
            out.append(c)
        elif c in "\a\b\f\n\r\t\v":
            out.append("\\" + "abfnrtv"["\a\b\f\n\r\t\v".index(c)])
        else:
            out.append(
                f"\\x{o:02x}" if o < 0x80 else f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}"
            )
    return "".join(out) + q


def _short(f: float, eprec: int, json: bool = False) -> str:
    """Shortest repr of abs(f), Go's strconv 'g' (or encoding/json's) layout."""
    if f == 0:
        return "0"
    mant, _, exp = repr(abs(f)).partition("e")
    ip, _, fp = mant.partition(".")
    d = (ip + fp).lstrip("0")
    dp = len(ip) + int(exp or 0) - (len(ip + fp) - len(d))
    d = d.rstrip("0")
    x = dp - 1
    if (x < -4 or x >= eprec) if not json else (x < -6 or x >= 21):
        e = str(abs(x)) if json else f"{abs(x):02d}"
        return d[0] + ("." + d[1:] if len(d) > 1 else "") + ("e-" if x < 0 else "e+") + e
    if dp <= 0:
        return "0." + "0" * -dp + d
    return d + "0" * (dp - len(d)) if dp >= len(d) else d[:dp] + "." + d[dp:]


def _fmt_number(
    v: int | float, verb: str, flags: str, width: int | None, prec: int | None
) -> str | None:
    neg = v < 0 or (isinstance(v, float) and math.copysign(1, v) < 0)
    sign = "-" if neg else "+" if "+" in flags else " " if " " in flags else ""
    prefix = ""
    if isinstance(v, int):
        if verb in "cqU":
            ch = chr(v) if 0 <= v <= 0x10FFFF else "\ufffd"
            return ch if verb == "c" else _quote(ch, "'") if verb == "q" else f"U+{v:04X}"
        spec = {"v": "d", "d": "d", "b": "b", "o": "o", "O": "o", "x": "x", "X": "X"}.get(verb)
        if spec is None:
            return None
        digits = format(abs(v), spec)
        if prec is not None:
            digits = "" if prec == 0 and v == 0 else digits.zfill(prec)
        prefix = "0o" if verb == "O" else ""
        if "#" in flags:
            prefix = {"x": "0x", "X": "0X", "o": "0", "b": "0b"}.get(verb, prefix)
    elif verb not in "veEfFgG":
        return None
    elif math.isnan(v):
        return "+NaN" if "+" in flags else " NaN" if " " in flags else "NaN"
    elif math.isinf(v):
        return "-Inf" if neg else " Inf" if sign == " " else "+Inf"
    elif prec is None and verb in "vgG":
        digits = _short(v, 6)
        digits = digits.upper() if verb == "G" else digits
    else:
        p = 6 if prec is None else prec
        digits = f"%.{p}{'f' if verb == 'F' else 'g' if verb == 'v' else verb}" % abs(v)
    if width and "0" in flags and "-" not in flags and (prec is None or isinstance(v, float)):
        digits = digits.zfill(width - len(sign) - len(prefix))
    return sign + prefix + digits


def _fmt_value(v: object, verb: str, flags: str, width: int | None, prec: int | None) -> str:
    """One fmt verb applied to one value, Go style (lists and maps elementwise)."""
    v = None if v is MISSING else v
    if verb == "T":
        s: str | None = _gotype(v)
    elif isinstance(v, (list, tuple)):
        return "[" + " ".join(_fmt_value(e, verb, flags, width, prec) for e in v) + "]"
    elif isinstance(v, Mapping):
        return (
            "map["
            + " ".join(
                _fmt_value(k, verb, flags, width, prec)
                + ":"
                + _fmt_value(v[k], verb, flags, width, prec)
                for k in _sorted_keys(v)
            )
            + "]"
        )
    elif v is None:
        s = "<nil>" if verb == "v" else None
    elif isinstance(v, bool):
        s = ("true" if v else "false") if verb in "vt" else None
    elif isinstance(v, (int, float)):
        s = _fmt_number(v, verb, flags, width, prec)
        flags = flags.replace("0", "")
    else:
        text = str.__str__(v) if isinstance(v, str) else _gostr(v)
        text = text if prec is None else text[:prec]
        s = {
            "v": text,
            "s": text,
            "q": _quote(text),
            "x": text.encode().hex(),
            "X": text.encode().hex().upper(),
        }.get(verb)
    if s is None:
        return f"%!{verb}({_bad_arg(v)})"
    if width is None or len(s) >= width:
        return s
    fill = width - len(s)
    if "-" in flags:
        return s + " " * fill
    return ("0" if "0" in flags else " ") * fill + s


def _bad_arg(v: object) -> str:
    return "<nil>" if v is None or v is MISSING else f"{_gotype(v)}={_gostr(v)}"


def _json(v: object) -> str:
    """Go's encoding/json with SetEscapeHTML(false), as Docker's ``json`` function."""
    if v is None or v is MISSING or isinstance(v, bool):
        return "null" if v is None or v is MISSING else "true" if v else "false"
    if isinstance(v, int):
        return int.__repr__(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            raise ValueError(f"json: unsupported value: {_gostr(v)}")
        return ("-" if math.copysign(1, v) < 0 else "") + _short(v, 0, json=True)
    if isinstance(v, str):
        import json

        s = json.dumps(str.__str__(v), ensure_ascii=False)
        return s.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(map(_json, v)) + "]"
    if isinstance(v, bytes):
        import base64

        return '"' + base64.b64encode(v).decode() + '"'
    if not isinstance(v, Mapping) and type(v).__str__ is object.__str__:
        fields = _struct_fields(v)
        if fields is None and hasattr(v, "__dict__"):
            fields = {k: x for k, x in vars(v).items() if not k.startswith("_")}
        v = v if fields is None else fields
    if isinstance(v, Mapping):
        return "{" + ",".join(_json(_gostr(k)) + ":" + _json(x) for k, x in v.items()) + "}"
    return _json(str(v))
