"""Restart policies and backoff (pure), against Docker's restart manager rules."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidArgument
from dockyard.runtime.restart import (
    BASE_DELAY,
    MAX_DELAY,
    RESET_AFTER,
    RestartManager,
    RestartPolicy,
)


@pytest.mark.parametrize(
    "text, name, retries",
    [
        ("no", "no", 0),
        ("always", "always", 0),
        ("unless-stopped", "unless-stopped", 0),
        ("on-failure", "on-failure", 0),
        ("on-failure:5", "on-failure", 5),
        ("", "no", 0),
    ],
)
def test_parse(text: str, name: str, retries: int) -> None:
    p = RestartPolicy.parse(text)
    assert (p.name, p.max_retries) == (name, retries)
    assert RestartPolicy.parse(str(p)) == p


@pytest.mark.parametrize("text", ["sometimes", "always:3", "on-failure:x", "on-failure:-1"])
def test_parse_errors(text: str) -> None:
    with pytest.raises(InvalidArgument):
        RestartPolicy.parse(text)


def test_policy_is_an_immutable_value() -> None:
    p = RestartPolicy("always")
    assert p == RestartPolicy("always") and hash(p) == hash(RestartPolicy("always"))
    with pytest.raises(AttributeError):
        p.name = "no"


def _run(
    policy: str, codes: list[int], *, stopped: bool = False, ran: float = 0.0
) -> list[float | None]:
    rm = RestartManager(RestartPolicy.parse(policy))
    return [rm.should_restart(c, manually_stopped=stopped, ran_for=ran) for c in codes]


def test_no_never_restarts() -> None:
    assert _run("no", [0, 1, 137]) == [None, None, None]


def test_always_and_unless_stopped_restart_whatever_the_code() -> None:
    assert None not in _run("always", [0, 1, 137])
    assert None not in _run("unless-stopped", [0, 1, 137])


def test_manual_stop_prevents_every_restart() -> None:
    for policy in ("always", "unless-stopped", "on-failure"):
        assert _run(policy, [1], stopped=True) == [None]
    rm = RestartManager(RestartPolicy("always"))
    rm.cancel()
    assert rm.should_restart(1, manually_stopped=False, ran_for=0) is None


def test_on_failure_restarts_non_zero_up_to_max_retries() -> None:
    assert _run("on-failure", [0]) == [None]
    rm = RestartManager(RestartPolicy.parse("on-failure:2"))
    got = [rm.should_restart(1, manually_stopped=False, ran_for=0) for _ in range(4)]
    assert [g is not None for g in got] == [True, True, False, False]
    assert rm.restart_count == 2
    assert None not in _run("on-failure", [1] * 20)  # 0: no limit


def test_backoff_doubles_up_to_a_minute() -> None:
    delays = _run("always", [1] * 12)
    assert delays[:4] == [BASE_DELAY, BASE_DELAY * 2, BASE_DELAY * 4, BASE_DELAY * 8]
    got = [d for d in delays if d is not None]
    assert got == sorted(got) and len(got) == 12
    assert got[-1] == MAX_DELAY and max(got) == MAX_DELAY


def test_backoff_resets_after_a_long_run() -> None:
    rm = RestartManager(RestartPolicy("always"))
    for _ in range(5):
        rm.should_restart(1, manually_stopped=False, ran_for=0.5)
    assert rm.should_restart(1, manually_stopped=False, ran_for=RESET_AFTER) == BASE_DELAY
    assert rm.should_restart(1, manually_stopped=False, ran_for=1) == BASE_DELAY * 2


def test_restart_count_continues_from_the_state() -> None:
    rm = RestartManager(RestartPolicy.parse("on-failure:3"), restart_count=3)
    assert rm.should_restart(1, manually_stopped=False, ran_for=0) is None
