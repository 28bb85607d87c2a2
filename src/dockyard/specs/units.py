"""Sizes, durations, CPU counts and timestamps as Docker reads them.

- Sizes: go-units ``RAMInBytes`` (binary: ``512m`` = 512 MiB; ``-m``, ``--shm-size``,
  ``--mount tmpfs-size``) and ``FromHumanSize`` (decimal: ``10MB`` = 10,000,000;
  the json-file log driver's ``max-size``). Both take ``b``, ``k``, ``m``, ``g``,
  ``t``, ``p`` in any case, optionally followed by ``b`` or ``ib``, and decimals.
  :func:`format_size` gives the canonical short form back.
- Durations: Go's ``time.ParseDuration`` (``1m30s``, ``1.5h``, ``-2ms``, ``300us``),
  as used by ``--health-interval``, ``--stop-timeout`` in compose, ``logs --since``.
- CPUs: ``--cpus 1.5`` to nano CPUs (a rational number, as ``big.Rat`` reads it).
- Timestamps: ``logs --since/--until`` (Docker's ``GetTimestamp``).

Every parser takes an optional ``flag`` (as pflag names it, ``"-m, --memory"``):
given one, the error reads as the docker CLI's ``invalid argument "12q" for
"-m, --memory" flag: invalid suffix: 'q'``.
"""

from __future__ import annotations

import math
import time

from dockyard._util.lazy import Regex
from dockyard.specs._go import (
    GoError,
    fail,
    format_duration_ns,
    parse_duration_ns,
    parse_int,
    parse_time,
    quote,
)

_BINARY = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_DECIMAL = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}
_INT64_MAX = (1 << 63) - 1


def is_go_float(text: str) -> bool:
    """``re.fullmatch(r"[+-]?(?:\\d+\\.?\\d*|\\.\\d+)(?:[eE][+-]?\\d+)?|[+-]?(?:inf|infinity|nan)",
    text, re.I | re.ASCII)`` (what ``strconv.ParseFloat`` reads), without ``re``."""
    if not text.isascii():
        return False
    text = text.lower()
    if text[:1] in ("+", "-"):
        text = text[1:]
    if text in ("inf", "infinity", "nan"):
        return True
    mantissa, e, exponent = text.partition("e")
    if e:
        if exponent[:1] in ("+", "-"):
            exponent = exponent[1:]
        if not exponent.isdigit():
            return False
    whole, _, frac = mantissa.partition(".")
    if whole and not whole.isdigit():
        return False
    if frac and not frac.isdigit():
        return False
    return bool(whole or frac)


_SIZE_HINT = "give a number with an optional unit: b, k, m, g, t or p (for example 512m)"


def _parse_size(text: str, units: dict[str, int], flag: str | None) -> int:
    # go-units v0.5 parseSize: the number runs to the last digit, dot or space.
    sep = max(text.rfind(c) for c in "0123456789. ")
    if sep == -1:
        fail(f"invalid size: '{text}'", value=text, flag=flag, hint=_SIZE_HINT)
    num, suffix = (
        (text[: sep + 1], text[sep + 1 :]) if text[sep] != " " else (text[:sep], text[sep + 1 :])
    )
    if not is_go_float(num):
        fail(f"strconv.ParseFloat: parsing {quote(num)}: invalid syntax", value=text, flag=flag)
    if num.lstrip("+").isdigit():
        size: float | int = int(num)  # exact, where Go would round through a float64
    else:
        size = float(num)
    if size < 0 or math.isnan(size):
        fail(f"invalid size: '{text}'", value=text, flag=flag, hint=_SIZE_HINT)
    sfx = suffix.lower()
    if sfx:
        mul = _multiplier(units, sfx)
        if mul is None:
            fail(f"invalid suffix: '{sfx}'", value=text, flag=flag, hint=_SIZE_HINT)
        size *= mul
    if math.isinf(size) or size > _INT64_MAX:
        fail(f"invalid size: '{text}'", value=text, flag=flag, hint="the size is too large")
    return int(size)


def _multiplier(units: dict[str, int], sfx: str) -> int | None:
    if len(sfx) > 3:
        return None
    if sfx[0] == "b":
        return 1 if len(sfx) == 1 else None
    mul = units.get(sfx[0])
    if mul is None or sfx[1:] not in ("", "b", "ib"):
        return None
    return mul


def parse_size(text: str, *, flag: str | None = None) -> int:
    """Bytes in ``text`` with binary units (go-units ``RAMInBytes``): ``512m``,
    ``1.5g``, ``64MiB``, ``100`` (bytes)."""
    return _parse_size(text, _BINARY, flag)


def parse_bytes_decimal(text: str, *, flag: str | None = None) -> int:
    """Bytes in ``text`` with decimal units (go-units ``FromHumanSize``): ``10MB``
    = 10,000,000, ``1k`` = 1000."""
    return _parse_size(text, _DECIMAL, flag)


def format_size(size: int) -> str:
    """The canonical short form :func:`parse_size` reads back: the largest binary
    unit that divides ``size`` exactly (``512m``, ``1536m``, ``100``)."""
    if size < 0:
        raise ValueError(f"negative size {size}")
    for suffix in "ptgmk":
        mul = _BINARY[suffix]
        if size and size % mul == 0:
            return f"{size // mul}{suffix}"
    return str(size)


# -- durations -----------------------------------------------------------------------------


def parse_duration_nanos(text: str, *, flag: str | None = None) -> int:
    """Go's ``time.ParseDuration``, in nanoseconds."""
    try:
        return parse_duration_ns(text)
    except GoError as e:
        fail(str(e), value=text, flag=flag, hint="for example 30s, 1m30s, 1.5h or 500ms")


def parse_duration(text: str, *, flag: str | None = None) -> float:
    """Go's ``time.ParseDuration``, in seconds: ``1m30s`` -> 90.0."""
    return parse_duration_nanos(text, flag=flag) / 1e9


def format_duration_nanos(nanos: int) -> str:
    """Go's ``Duration.String``: ``1m30s``, ``1h0m0s``, ``1.5ms``, ``0s``."""
    return format_duration_ns(nanos)


def format_duration(seconds: float) -> str:
    """Go's ``Duration.String`` for ``seconds``."""
    return format_duration_ns(round(seconds * 1e9))


# -- CPUs ----------------------------------------------------------------------------------


# compiled on first use: the plain decimals (``1.5``, ``2``, ``.5``) need neither
_ASCII = 256  # re.ASCII
_DEC_RE = Regex(r"([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?", _ASCII)
_FRACTION_RE = Regex(r"([+-]?\d+)/(\d+)", _ASCII)


def _plain_decimal(text: str) -> tuple[str, str] | None:
    """(whole, fraction) digits of an unsigned ``1.5``, ``2``, ``.5``, ``2.``; None
    for anything else (signs, exponents, fractions: the regexes read those)."""
    whole, _, frac = text.partition(".")
    if not (whole or frac) or not text.isascii() or len(text) > 64:
        return None
    if (whole and not whole.isdigit()) or (frac and not frac.isdigit()):
        return None
    return whole, frac


def parse_cpus(text: str, *, flag: str | None = None) -> int:
    """``--cpus 1.5`` as nano CPUs (1,500,000,000). Accepts what Go's
    ``big.Rat.SetString`` accepts in base 10: ``1.5``, ``.5``, ``3/2``, ``1e-1``."""
    num: int | None = None
    den = 1
    plain = _plain_decimal(text)
    if plain is not None:  # what _DEC_RE reads them as, and _FRACTION_RE never matches
        whole, frac = plain
        num = int(whole + frac)
        if frac:
            den = 10 ** len(frac)
        return _nano_cpus(text, num, den, flag)
    m = _FRACTION_RE.fullmatch(text)
    if m and int(m.group(2)) != 0:
        num, den = int(m.group(1)), int(m.group(2))
    m = _DEC_RE.fullmatch(text)
    if m and (m.group(2) or m.group(3)):
        sign, whole, frac, exp = m.group(1), m.group(2), m.group(3) or "", int(m.group(4) or 0)
        num = int(whole + frac or "0") * (-1 if sign == "-" else 1)
        scale = exp - len(frac)
        if abs(scale) > 4096:
            num = None  # absurd exponents: not a CPU count
        elif scale >= 0:
            num *= 10**scale
        else:
            den = 10**-scale
    if num is None:
        fail(f"failed to parse {text} as a rational number", value=text, flag=flag)
    return _nano_cpus(text, num, den, flag)


def _nano_cpus(text: str, num: int, den: int, flag: str | None) -> int:
    nanos, rest = divmod(num * 10**9, den)
    if rest:
        fail("value is too precise", value=text, flag=flag, hint="give at most 9 decimals")
    return nanos


def format_cpus(nanos: int) -> str:
    """Nano CPUs as the shortest decimal: ``1.5``, ``2``, ``0.001``."""
    sign = "-" if nanos < 0 else ""
    whole, frac = divmod(abs(nanos), 10**9)
    tail = f"{frac:09d}".rstrip("0")
    return f"{sign}{whole}.{tail}" if tail else f"{sign}{whole}"


# -- timestamps (logs --since/--until, events --since/--until) -----------------------------

_RFC3339_LOCAL = "2006-01-02T15:04:05"
_RFC3339_NANO_LOCAL = "2006-01-02T15:04:05.999999999"
_RFC3339 = "2006-01-02T15:04:05Z07:00"
_RFC3339_NANO = "2006-01-02T15:04:05.999999999Z07:00"


def _layout(value: str, in_location: bool) -> str:
    if "." in value:
        return _RFC3339_NANO_LOCAL if in_location else _RFC3339_NANO
    if "T" in value:
        colons = value.count(":")
        if not in_location and not any(c in value for c in "zZ") and colons > 0:
            colons -= 1  # the zone offset's colon
        if colons >= 2:
            return _RFC3339_LOCAL if in_location else _RFC3339
        short = "2006-01-02T15:04" if colons else "2006-01-02T15"
        return short if in_location else short + "Z07:00"
    return "2006-01-02" if in_location else "2006-01-02Z07:00"


def parse_timestamp(
    value: str, now: float, *, utc_offset: int | None = None, flag: str | None = None
) -> float:
    """Docker's ``GetTimestamp`` as Unix seconds. ``value`` is a Go duration
    (``10m``: ``now`` minus ten minutes, whole seconds), an RFC 3339 date or time
    with or without zone or fraction (``2024-01-02``, ``2024-01-02T15:04``,
    ``2024-01-02T15:04:05.5Z``, ``...+02:00``; no zone means ``utc_offset``,
    by default the local zone's offset at ``now``), or a Unix timestamp
    (``1700000000``, ``1700000000.123``)."""
    try:
        nanos = parse_duration_ns(value)
    except GoError:
        pass
    else:
        if value != "0":
            return float(math.floor(now - nanos / 1e9))
    in_location = not any(c in value for c in "zZ+") and value.count("-") != 3
    if utc_offset is None:
        utc_offset = time.localtime(now).tm_gmtoff
    try:
        sec, nsec = parse_time(_layout(value, in_location), value, utc_offset)
    except GoError as e:
        if "-" in value:
            fail(str(e), value=value, flag=flag)
        whole, dot, frac = value.partition(".")
        try:
            sec = parse_int(whole)
            nsec = parse_int(frac) if dot else 0
        except GoError:
            fail(
                f"failed to parse value as time or duration: {quote(value)}", value=value, flag=flag
            )
        if dot:  # "should already be in nanoseconds but just in case" (Docker)
            nsec = int(float(nsec) * 10.0 ** (9 - len(frac)))
    return sec + nsec / 1e9
