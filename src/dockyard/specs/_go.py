"""Go standard-library behaviours that reach Docker users' eyes.

The docker CLI and daemon are Go programs: their parsers are ``strconv``,
``time.ParseDuration`` and ``time.Parse``, and their messages quote values the
Go way. These small re-implementations let :mod:`dockyard.specs` accept the
same input and fail with the same text. :class:`GoError` carries Go's message;
the public parsers turn it into :class:`~dockyard.errors.InvalidArgument`.
"""

from __future__ import annotations

from dockyard.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

DIGITS = "0123456789"
# unicode.IsSpace for the characters that matter; Python's str.isspace differs
# (it counts \x1c-\x1f as space).
GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + ("\u2028\u2029\u202f\u205f\u3000")
)
_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


class GoError(ValueError):
    """A Go function's error; ``str()`` is Go's message."""


def quote(text: str) -> str:
    """``strconv.Quote`` (what ``%q`` prints)."""
    out = ['"']
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def time_quote(text: str) -> str:
    """The ``time`` package's own quoting: non-ASCII and control bytes as ``\\xNN``."""
    out = ['"']
    for ch in text:
        if ord(ch) >= 0x80 or ch < " ":
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogatepass"))
        else:
            out.append("\\" + ch if ch in ('"', "\\") else ch)
    out.append('"')
    return "".join(out)


def fail(
    message: str, *, value: str | None = None, flag: str | None = None, hint: str | None = None
) -> NoReturn:
    """Raise InvalidArgument; with ``flag``, worded as pflag words a bad flag value."""
    if flag is not None and value is not None:
        message = f"invalid argument {quote(value)} for {quote(flag)} flag: {message}"
    raise InvalidArgument(message, hint=hint)


# -- strconv ----------------------------------------------------------------------------

_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def parse_bool(text: str) -> bool:
    """``strconv.ParseBool``."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise GoError(f"strconv.ParseBool: parsing {quote(text)}: invalid syntax")


def parse_int(
    text: str, *, func: str = "ParseInt", base: int = 10, bits: int = 64, signed: bool = True
) -> int:
    """``strconv.ParseInt``/``ParseUint``/``Atoi`` with an explicit base (no prefixes)."""
    body = text[1:] if signed and text[:1] in ("+", "-") else text
    allowed = "01234567"[:base] if base < 10 else DIGITS
    if not body or any(c not in allowed for c in body):
        raise GoError(f"strconv.{func}: parsing {quote(text)}: invalid syntax")
    value = int(text, base)
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if not low <= value <= high:
        raise GoError(f"strconv.{func}: parsing {quote(text)}: value out of range")
    return value


def atoi(text: str) -> int:
    return parse_int(text, func="Atoi")


# -- net -----------------------------------------------------------------------------------


def is_ip(text: str) -> bool:
    """Go's ``net.ParseIP`` succeeds: a plain IPv4 or IPv6 address (no zone, no
    prefix length)."""
    if not text or "%" in text or "/" in text:
        return False
    import ipaddress  # lazily: most specs never need it

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# -- time.Duration ------------------------------------------------------------------------

NANOSECOND, MICROSECOND, MILLISECOND = 1, 1000, 1000_000
SECOND, MINUTE, HOUR = 1000_000_000, 60_000_000_000, 3600_000_000_000
_UNITS = {
    "ns": NANOSECOND,
    "us": MICROSECOND,
    "\u00b5s": MICROSECOND,  # micro sign
    "\u03bcs": MICROSECOND,  # Greek mu
    "ms": MILLISECOND,
    "s": SECOND,
    "m": MINUTE,
    "h": HOUR,
}
_MAX = 1 << 63


def parse_duration_ns(text: str) -> int:
    """``time.ParseDuration``: ``[-+]?([0-9]*(\\.[0-9]*)?[a-z]+)+``, in nanoseconds."""
    invalid = GoError(f"time: invalid duration {time_quote(text)}")
    s, neg = text, False
    if s[:1] in ("-", "+"):
        neg, s = s[0] == "-", s[1:]
    if s == "0":
        return 0
    if not s:
        raise invalid
    total = 0
    while s:
        if s[0] != "." and s[0] not in DIGITS:
            raise invalid
        i = 0
        while i < len(s) and s[i] in DIGITS:
            i += 1
        pre, v, s = i > 0, int(s[:i] or "0"), s[i:]
        if v >= _MAX:
            raise invalid
        frac, scale, post = 0, 1.0, False
        if s[:1] == ".":
            s = s[1:]
            i, overflow = 0, False
            while i < len(s) and s[i] in DIGITS:
                if not overflow:
                    nxt = frac * 10 + int(s[i])
                    if frac > (_MAX - 1) // 10 or nxt > _MAX:
                        overflow = True
                    else:
                        frac, scale = nxt, scale * 10
                i += 1
            post, s = i > 0, s[i:]
        if not pre and not post:
            raise invalid
        i = 0
        while i < len(s) and s[i] != "." and s[i] not in DIGITS:
            i += 1
        if i == 0:
            raise GoError(f"time: missing unit in duration {time_quote(text)}")
        unit_text, s = s[:i], s[i:]
        unit = _UNITS.get(unit_text)
        if unit is None:
            raise GoError(
                f"time: unknown unit {time_quote(unit_text)} in duration {time_quote(text)}"
            )
        if v > _MAX // unit:
            raise invalid
        v *= unit
        if frac > 0:
            v += int(float(frac) * (float(unit) / scale))
            if v > _MAX:
                raise invalid
        total += v
        if total > _MAX:
            raise invalid
    if neg:
        return -total
    if total > _MAX - 1:
        raise invalid
    return total


def _frac(value: int, prec: int) -> tuple[str, int]:
    digits, printed = "", False
    for _ in range(prec):
        digit = value % 10
        printed = printed or digit != 0
        if printed:
            digits = str(digit) + digits
        value //= 10
    return ("." + digits if printed else ""), value


def format_duration_ns(ns: int) -> str:
    """``time.Duration.String``: ``1h2m3.5s``, ``1.5ms``, ``0s``."""
    u, sign = abs(ns), "-" if ns < 0 else ""
    if u < SECOND:
        if u == 0:
            return "0s"
        unit, prec = ("ns", 0) if u < MICROSECOND else ("\u00b5s", 3)
        if u >= MILLISECOND:
            unit, prec = "ms", 6
        frac, whole = _frac(u, prec)
        return f"{sign}{whole}{frac}{unit}"
    frac, whole = _frac(u, 9)
    out = f"{whole % 60}{frac}s"
    minutes = whole // 60
    if minutes:
        out = f"{minutes % 60}m{out}"
        if minutes // 60:
            out = f"{minutes // 60}h{out}"
    return sign + out


# -- time.Parse, for the layouts Docker's GetTimestamp uses ---------------------------------

# element -> (lowest, highest, name); the day is checked against the month at the end
_RANGES = {
    "01": (1, 12, "month"),
    "15": (0, 23, "hour"),
    "04": (0, 59, "minute"),
    "05": (0, 59, "second"),
}
_STD = (".999999999", "Z07:00", "2006", "01", "02", "15", "04", "05")


def _chunks(layout: str) -> list[tuple[str, bool]]:
    out: list[tuple[str, bool]] = []
    literal, i = "", 0
    while i < len(layout):
        std = next((s for s in _STD if layout.startswith(s, i)), None)
        if std is None:
            literal, i = literal + layout[i], i + 1
            continue
        if literal:
            out.append((literal, False))
            literal = ""
        out.append((std, True))
        i += len(std)
    if literal:
        out.append((literal, False))
    return out


def _getnum(value: str, fixed: bool) -> tuple[int, str] | None:
    if not value or value[0] not in DIGITS:
        return None
    if len(value) < 2 or value[1] not in DIGITS:
        return None if fixed else (int(value[0]), value[1:])
    return int(value[:2]), value[2:]


def _days_in(month: int, year: int) -> int:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _days_from_civil(y: int, m: int, d: int) -> int:
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _fraction(value: str, nsec: int) -> tuple[int, str]:
    """A ``.123`` (or ``,123``) fraction of a second, if there is one: any number
    of digits, the first nine count."""
    if len(value) < 2 or value[0] not in ".," or value[1] not in DIGITS:
        return nsec, value
    n = 1
    while n < len(value) and value[n] in DIGITS:
        n += 1
    return int(value[1:n][:9].ljust(9, "0")), value[n:]


def parse_time(layout: str, text: str, offset: int) -> tuple[int, int]:
    """``time.ParseInLocation`` for a fixed zone ``offset`` (seconds east of UTC);
    returns Unix seconds and nanoseconds. Knows only the layout elements Docker's
    ``--since``/``--until`` layouts use."""
    chunks = _chunks(layout)
    value = text
    year, month, day, hour, minute, sec, nsec = 1, 1, 1, 0, 0, 0, 0

    def bad(elem: str, rest: str) -> GoError:
        return GoError(
            f"parsing time {time_quote(text)} as {time_quote(layout)}: "
            f"cannot parse {time_quote(rest)} as {time_quote(elem)}"
        )

    def out_of_range(what: str) -> GoError:
        return GoError(f"parsing time {time_quote(text)}: {what} out of range")

    for idx, (elem, is_std) in enumerate(chunks):
        if not is_std:
            if not value.startswith(elem):
                raise bad(elem, value)
            value = value[len(elem) :]
            continue
        hold = value
        if elem == "2006":
            if len(value) < 4 or any(c not in DIGITS for c in value[:4]):
                raise bad(elem, hold)
            year, value = int(value[:4]), value[4:]
        elif elem in ("01", "02", "15", "04", "05"):
            got = _getnum(value, fixed=elem != "15")
            if got is None:
                raise bad(elem, hold)
            n, value = got
            what = _RANGES.get(elem)
            if what is not None and not what[0] <= n <= what[1]:
                raise out_of_range(what[2])
            if elem == "01":
                month = n
            elif elem == "02":
                day = n
            elif elem == "15":
                hour = n
            elif elem == "04":
                minute = n
            else:
                sec = n
                nxt = chunks[idx + 1][0] if idx + 1 < len(chunks) else ""
                if nxt != ".999999999":  # a fraction the layout does not mention
                    nsec, value = _fraction(value, nsec)
        elif elem == ".999999999":
            nsec, value = _fraction(value, nsec)
        else:  # Z07:00
            if value[:1] == "Z":
                offset, value = 0, value[1:]
                continue
            if len(value) < 6 or value[3] != ":" or value[0] not in "+-":
                raise bad(elem, hold)
            hh, mm = _getnum(value[1:3], True), _getnum(value[4:6], True)
            if hh is None or mm is None:
                raise bad(elem, hold)
            if hh[0] > 24:
                raise out_of_range("time zone offset hour")
            if mm[0] > 60:
                raise out_of_range("time zone offset minute")
            offset = (hh[0] * 60 + mm[0]) * 60 * (-1 if value[0] == "-" else 1)
            value = value[6:]
    if value:
        raise GoError(f"parsing time {time_quote(text)}: extra text: {time_quote(value)}")
    if day < 1 or day > _days_in(month, year):
        raise GoError(f"parsing time {time_quote(text)}: day out of range")
    days = _days_from_civil(year, month, day)
    return days * 86400 + hour * 3600 + minute * 60 + sec - offset, nsec
