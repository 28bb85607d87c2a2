"""``--log-opt k=v`` and compose ``logging.options``, checked as the daemon's
json-file driver checks them (moby ``jsonfilelog``).

json-file keys: ``max-size`` (decimal units, as Docker: ``10m`` = 10,000,000
bytes), ``max-file`` (>= 1), ``compress`` (needs ``max-file`` >= 2 and a
``max-size``), ``labels``, ``labels-regex``, ``env``, ``env-regex``, ``tag``.
Other drivers' options pass through unchecked; ``none`` takes none.
"""

from __future__ import annotations

from dockyard._util.record import Record
from dockyard.errors import InvalidArgument
from dockyard.specs._go import GoError, atoi, fail, parse_bool
from dockyard.specs.units import parse_bytes_decimal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

JSON_FILE_KEYS: tuple[str, ...] = ("max-file", "max-size", "compress", "labels", "tag")
JSON_FILE_KEYS += ("labels-regex", "env", "env-regex")


class LogOptions(Record):
    """A log driver's options; for json-file, also typed: ``max_size`` in bytes
    (None: no rotation), ``max_file`` and ``compress``."""

    __slots__ = (  # noqa: RUF023 (field order)
        "driver",
        "options",
        "max_size",
        "max_file",
        "compress",
    )
    driver: str
    options: tuple[tuple[str, str], ...]
    max_size: int | None
    max_file: int
    compress: bool

    def __init__(
        self,
        driver: str = "json-file",
        options: tuple[tuple[str, str], ...] = (),
        max_size: int | None = None,
        max_file: int = 1,
        compress: bool = False,
    ) -> None:
        self._set(
            driver=driver,
            options=options,
            max_size=max_size,
            max_file=max_file,
            compress=compress,
        )

    def get(self, key: str, default: str | None = None) -> str | None:
        return dict(self.options).get(key, default)

    def render(self) -> list[str]:
        """The ``k=v`` items, sorted by key."""
        return [f"{k}={v}" for k, v in self.options]


def parse_log_opts(items: Iterable[str], driver: str = "json-file") -> LogOptions:
    """``["max-size=10m", "max-file=3"]`` for ``driver``; a bare ``k`` is ``k=``."""
    opts: dict[str, str] = {}
    for item in items:
        key, _, value = item.partition("=")
        opts[key] = value
    if driver == "none" and opts:
        fail(f"invalid logging opts for driver {driver}")
    if driver != "json-file":
        return LogOptions(driver, tuple(sorted(opts.items())))
    for key in opts:
        if key not in JSON_FILE_KEYS:
            fail(
                f"unknown log opt '{key}' for json-file log driver",
                hint="json-file takes " + ", ".join(JSON_FILE_KEYS),
            )
    max_size: int | None = None
    max_file, compress = 1, False
    try:
        if "max-size" in opts:
            max_size = parse_bytes_decimal(opts["max-size"])
            if max_size <= 0:
                fail("max-size must be a positive number")
        if "max-file" in opts:
            max_file = atoi(opts["max-file"])
            if max_file < 1:
                fail("max-file cannot be less than 1")
        if "compress" in opts:
            compress = parse_bool(opts["compress"])
    except GoError as e:
        raise InvalidArgument(str(e)) from None
    if compress and (max_file == 1 or max_size is None):
        fail("compress cannot be true when max-file is less than 2 or max-size is not set")
    return LogOptions(driver, tuple(sorted(opts.items())), max_size, max_file, compress)
