import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.errors import InvalidArgument
from dockyard.specs.restart import POLICIES, RestartPolicy


@pytest.mark.parametrize(
    ("text", "name", "retries", "rendered"),
    [
        ("no", "no", 0, "no"),
        ("", "no", 0, "no"),
        ("always", "always", 0, "always"),
        ("unless-stopped", "unless-stopped", 0, "unless-stopped"),
        ("on-failure", "on-failure", 0, "on-failure"),
        ("on-failure:3", "on-failure", 3, "on-failure:3"),
        ("on-failure:0", "on-failure", 0, "on-failure"),
        ("on-failure:+2", "on-failure", 2, "on-failure:2"),
        ("always:0", "always", 0, "always"),
        ("on-failure:", "on-failure", 0, "on-failure"),
    ],
)
def test_parse(text: str, name: str, retries: int, rendered: str) -> None:
    policy = RestartPolicy.parse(text)
    assert (policy.name, policy.max_retries) == (name, retries)
    assert policy.render() == rendered


UNKNOWN = (
    "invalid restart policy: unknown policy '{}'; use one of 'no', 'always', 'on-failure', "
    "or 'unless-stopped'"
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (":3", "invalid restart policy format: no policy provided before colon"),
        ("on-failure:x", "invalid restart policy format: maximum retry count must be an integer"),
        ("on-failure:1.5", "invalid restart policy format: maximum retry count must be an integer"),
        ("on-failure:-1", "invalid restart policy: maximum retry count cannot be negative"),
        (
            "always:3",
            "invalid restart policy: maximum retry count can only be used with 'on-failure'",
        ),
        (
            "unless-stopped:-1",
            "invalid restart policy: maximum retry count can only be used with 'on-failure' "
            "and cannot be negative",
        ),
        ("bogus", UNKNOWN.format("bogus")),
        ("Always", UNKNOWN.format("Always")),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        RestartPolicy.parse(text)
    assert str(e.value) == message


def test_constructor_validates() -> None:
    with pytest.raises(InvalidArgument):
        RestartPolicy("no", 2)


@st.composite
def policies(draw: st.DrawFn) -> RestartPolicy:
    name = draw(st.sampled_from(POLICIES))
    retries = draw(st.integers(min_value=0, max_value=10**6)) if name == "on-failure" else 0
    return RestartPolicy(name, retries)


@given(policies())
def test_round_trip(policy: RestartPolicy) -> None:
    assert RestartPolicy.parse(policy.render()) == policy
