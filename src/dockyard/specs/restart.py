"""``--restart`` and compose ``restart:``: ``no``, ``always``, ``unless-stopped``,
``on-failure[:N]``.

Parsing follows the docker CLI's ``ParseRestartPolicy`` and the checks the
daemon's ``ValidateRestartPolicy`` (Docker 25+) makes, with their messages.
"""

from __future__ import annotations

from dockyard._util.record import Record
from dockyard.specs._go import fail

NO, ALWAYS, ON_FAILURE, UNLESS_STOPPED = "no", "always", "on-failure", "unless-stopped"
POLICIES = (NO, ALWAYS, ON_FAILURE, UNLESS_STOPPED)
_HINT = "use no, always, unless-stopped, on-failure or on-failure:N"


def is_int(text: str) -> bool:
    """``re.fullmatch(r"[+-]?[0-9]+", text)``, without ``re``."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    return digits.isascii() and digits.isdigit()


class RestartPolicy(Record):
    """A restart policy; ``max_retries`` (on-failure only) 0 means no limit."""

    __slots__ = ("name", "max_retries")  # noqa: RUF023 (field order)
    name: str
    max_retries: int

    def __init__(self, name: str = NO, max_retries: int = 0) -> None:
        self._set(name=name, max_retries=max_retries)
        if self.name not in POLICIES:
            fail(
                f"invalid restart policy: unknown policy '{self.name}'; use one of "
                "'no', 'always', 'on-failure', or 'unless-stopped'",
                hint=_HINT,
            )
        if self.name == ON_FAILURE:
            if self.max_retries < 0:
                fail("invalid restart policy: maximum retry count cannot be negative")
        elif self.max_retries:
            fail(
                "invalid restart policy: maximum retry count can only be used with 'on-failure'"
                + (" and cannot be negative" if self.max_retries < 0 else ""),
                hint=_HINT,
            )

    @classmethod
    def parse(cls, text: str) -> RestartPolicy:
        """``no``, ``always``, ``unless-stopped``, ``on-failure``, ``on-failure:3``;
        ``""`` is ``no``."""
        name, colon, count = text.partition(":")
        if colon and not name:
            fail("invalid restart policy format: no policy provided before colon", hint=_HINT)
        retries = 0
        if count:
            if not is_int(count):
                fail(
                    "invalid restart policy format: maximum retry count must be an integer",
                    hint=_HINT,
                )
            retries = int(count)
        return cls(name or NO, retries)

    def render(self) -> str:
        """``no``, ``always``, ``unless-stopped``, ``on-failure`` or ``on-failure:3``."""
        return f"{self.name}:{self.max_retries}" if self.max_retries else self.name

    def __str__(self) -> str:
        return self.render()
