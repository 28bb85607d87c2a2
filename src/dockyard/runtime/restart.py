"""Restart policies and the restart backoff, as Docker applies them (pure).

Docker's rules (moby ``restartmanager``), which :class:`RestartManager` follows:

- ``no``: never restart. ``always``: restart whatever the exit code.
  ``unless-stopped``: like ``always`` unless the container was stopped by hand.
  ``on-failure[:N]``: restart on a non-zero exit code, at most N times (0 = no limit).
- A manual stop (``docker stop``/``kill``, or the shim being told to stop) cancels
  every policy: a stopped container stays stopped until the next ``start``.
- The delay before a restart starts at 100 ms and doubles with each restart, up to
  one minute; it falls back to 100 ms once a run lasted at least 10 seconds.

Nothing here reads a clock: the caller says how long the run lasted.
"""

from __future__ import annotations

from dockyard.errors import InvalidArgument

NO, ALWAYS, ON_FAILURE, UNLESS_STOPPED = "no", "always", "on-failure", "unless-stopped"
POLICIES = (NO, ALWAYS, ON_FAILURE, UNLESS_STOPPED)
BASE_DELAY = 0.1  # seconds
MAX_DELAY = 60.0
RESET_AFTER = 10.0  # a run this long resets the backoff


class RestartPolicy:
    """``--restart`` as a value: ``name`` and, for on-failure, ``max_retries``."""

    __slots__ = ("max_retries", "name")

    def __init__(self, name: str = NO, max_retries: int = 0) -> None:
        name = name or NO
        if name not in POLICIES:
            raise InvalidArgument(
                f"invalid restart policy: unknown policy '{name}'; use one of "
                "'no', 'always', 'on-failure', or 'unless-stopped'"
            )
        if max_retries < 0:
            raise InvalidArgument("invalid restart policy: maximum retry count cannot be negative")
        if max_retries and name != ON_FAILURE:
            raise InvalidArgument(
                f"invalid restart policy: maximum retry count can only be used with "
                f"'on-failure', not '{name}'"
            )
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "max_retries", max_retries)

    name: str
    max_retries: int

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError("RestartPolicy is immutable")

    @classmethod
    def parse(cls, text: str) -> RestartPolicy:
        """``no``, ``always``, ``unless-stopped``, ``on-failure`` or ``on-failure:N``."""
        name, colon, count = text.partition(":")
        if not colon:
            return cls(name)
        if name != ON_FAILURE:
            raise InvalidArgument(
                f"invalid restart policy format: maximum retry count can only be used "
                f"with 'on-failure': {text!r}"
            )
        try:
            n = int(count)
        except ValueError:
            raise InvalidArgument(
                f"invalid restart policy format: maximum retry count must be an integer: {text!r}"
            ) from None
        return cls(name, n)

    def __str__(self) -> str:
        return f"{self.name}:{self.max_retries}" if self.max_retries else self.name

    def __repr__(self) -> str:
        return f"RestartPolicy({self.name!r}, {self.max_retries})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RestartPolicy) and (self.name, self.max_retries) == (
            other.name,
            other.max_retries,
        )

    def __hash__(self) -> int:
        return hash((self.name, self.max_retries))


class RestartManager:
    """Decides, after each exit of one container, whether and when to start it again.

    One manager lives as long as the shim (Docker: as long as the container's current
    start). ``restart_count`` counts the restarts done so far.
    """

    def __init__(self, policy: RestartPolicy, restart_count: int = 0) -> None:
        self.policy = policy
        self.restart_count = restart_count
        self.canceled = False
        self._delay = 0.0

    def cancel(self) -> None:
        """A manual stop: no restart from now on."""
        self.canceled = True

    def should_restart(
        self, exit_code: int, *, manually_stopped: bool, ran_for: float
    ) -> float | None:
        """The delay before the next start, or None for "stay stopped".

        ``ran_for``: seconds the run that just ended lasted. A restart counts
        (``restart_count`` grows) as soon as it is decided."""
        if self.policy.name == NO or self.canceled or manually_stopped:
            return None
        if ran_for >= RESET_AFTER:
            self._delay = 0.0
        self._delay = BASE_DELAY if self._delay == 0 else min(self._delay * 2, MAX_DELAY)
        if self.policy.name == ON_FAILURE:
            limit = self.policy.max_retries
            if exit_code == 0 or (limit and self.restart_count >= limit):
                return None
        self.restart_count += 1
        return self._delay
