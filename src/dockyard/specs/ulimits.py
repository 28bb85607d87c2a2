"""``--ulimit nofile=1024:2048`` and compose ``ulimits:`` (go-units ``ParseUlimit``)."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.specs._go import GoError, fail, parse_int

# name -> RLIMIT_* number (``as`` is left out, as Docker does)
RLIMITS = {
    "core": 4, "cpu": 0, "data": 2, "fsize": 1, "locks": 10, "memlock": 8, "msgqueue": 12,
    "nice": 13, "nofile": 7, "nproc": 6, "rss": 5, "rtprio": 14, "rttime": 15,
    "sigpending": 11, "stack": 3,
}  # fmt: skip
UNLIMITED = -1


def _limit(text: str) -> int:
    return UNLIMITED if text == "infinity" else parse_int(text)


@dataclass(frozen=True)
class Ulimit:
    """A resource limit; -1 is unlimited."""

    name: str
    soft: int
    hard: int

    @classmethod
    def parse(cls, text: str, *, flag: str | None = None) -> Ulimit:
        """``name=soft[:hard]``; ``hard`` defaults to ``soft``."""
        name, eq, values = text.partition("=")
        if not eq:
            fail(f"invalid ulimit argument: {text}", value=text, flag=flag)
        if name not in RLIMITS:
            fail(f"invalid ulimit type: {name}", value=text, flag=flag)
        limits = values.split(":")
        if len(limits) > 2:
            fail(
                f"too many limit value arguments - {values}, can only have up to two, "
                "`soft[:hard]`",
                value=text,
                flag=flag,
            )
        try:
            soft = _limit(limits[0])
            hard = _limit(limits[1]) if len(limits) == 2 else soft
        except GoError as e:
            fail(str(e), value=text, flag=flag)
        if hard != UNLIMITED:
            if soft == UNLIMITED:
                fail(
                    "ulimit soft limit must be less than or equal to hard limit: "
                    f"soft: -1 (unlimited), hard: {hard}",
                    value=text,
                    flag=flag,
                )
            if soft > hard:
                fail(
                    f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}",
                    value=text,
                    flag=flag,
                )
        return cls(name, soft, hard)

    @property
    def resource(self) -> int:
        """The RLIMIT_* number."""
        return RLIMITS[self.name]

    def render(self) -> str:
        """``nofile=1024:2048`` (go-units' ``String``)."""
        return f"{self.name}={self.soft}:{self.hard}"

    def __str__(self) -> str:
        return self.render()
