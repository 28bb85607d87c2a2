"""Human units as the docker CLI prints them (go-units HumanSize, HumanDuration)."""

from __future__ import annotations

import time

_DECIMAL = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def _go_g(x: float, precision: int) -> str:
    """Go's %.<precision>g."""
    s = f"{x:.{precision}g}"
    if "e" in s:
        mant, exp = s.split("e")
        s = f"{mant}e{exp[0]}{int(exp[1:]):02d}"
    return s


def _scaled(size: float, base: float, units: tuple[str, ...], precision: int) -> str:
    i = 0
    while size >= base and i < len(units) - 1:
        size /= base
        i += 1
    return f"{_go_g(size, precision)}{units[i]}"


def human_size(size: float, precision: int = 3) -> str:
    """go-units HumanSizeWithPrecision: ``4.26MB``, ``1.5kB``, ``0B`` (decimal units);
    ``human_size(n, 4)`` is go-units HumanSize (``docker cp``'s ``2.048kB``)."""
    return _scaled(size, 1000.0, _DECIMAL, precision)


def bytes_size(size: float) -> str:
    """go-units BytesSize: binary units, 4 significant digits (``1.5MiB``), as stats."""
    return _scaled(size, 1024.0, _BINARY, 4)


def human_duration(seconds: float) -> str:
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600 / 24 / 365)} years"


def since(unix: int, now: float | None = None) -> str:
    if unix <= 0:
        return "N/A"
    return human_duration((now or time.time()) - unix) + " ago"


def created_at(unix: int) -> str:
    """``2023-11-14 22:13:20 +0000 UTC`` as Go's time.String prints it."""
    return time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(unix))
