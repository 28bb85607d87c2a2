import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.errors import InvalidArgument
from dockyard.oci.reference import parse_reference, validate_tag

CASES = [
    # input, full, familiar
    ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
    ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("user/app", "docker.io/user/app:latest", "user/app:latest"),
    ("localhost/app", "localhost/app:latest", "localhost/app:latest"),
    ("localhost:5000/app:v1", "localhost:5000/app:v1", "localhost:5000/app:v1"),
    ("127.0.0.1:5000/a/b/c:t", "127.0.0.1:5000/a/b/c:t", "127.0.0.1:5000/a/b/c:t"),
    ("quay.io/podman/stable", "quay.io/podman/stable:latest", "quay.io/podman/stable:latest"),
    ("a__b-c/e", "docker.io/a__b-c/e:latest", "a__b-c/e:latest"),
    ("a.b/e", "a.b/e:latest", "a.b/e:latest"),
    (
        "busybox@sha256:" + "a" * 64,
        "docker.io/library/busybox@sha256:" + "a" * 64,
        "busybox@sha256:" + "a" * 64,
    ),
    (
        "busybox:1@sha256:" + "b" * 64,
        "docker.io/library/busybox:1@sha256:" + "b" * 64,
        "busybox:1@sha256:" + "b" * 64,
    ),
]


@pytest.mark.parametrize(("text", "full", "familiar"), CASES)
def test_normalisation(text: str, full: str, familiar: str) -> None:
    ref = parse_reference(text)
    assert str(ref) == full
    assert ref.familiar == familiar
    assert parse_reference(full) == ref


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("Busybox", "must be lowercase"),
        ("user/App", "must be lowercase"),
        ("a" * 64, "64-byte hexadecimal"),
        ("bad name", "invalid reference format"),
        ("busybox:", "invalid reference format"),
        ("-busybox", "invalid reference format"),
        ("busybox:-tag", "invalid reference format"),
        ("busybox@sha256:abc", "invalid reference format"),
        ("a//b", "invalid reference format"),
        ("x/" + "a" * 300, "255 characters"),
    ],
)
def test_invalid(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_reference(text)


def test_uppercase_registry_is_allowed() -> None:
    assert parse_reference("Registry.Example.com/app").domain == "Registry.Example.com"


def test_no_default_tag() -> None:
    assert parse_reference("busybox", default_tag=False).tag is None


def test_tag_validation() -> None:
    assert validate_tag("v1.0-rc_1") == "v1.0-rc_1"
    with pytest.raises(InvalidArgument):
        validate_tag(".hidden")
    with pytest.raises(InvalidArgument):
        validate_tag("a" * 129)


_component = st.from_regex(r"[a-z0-9]{1,8}(?:[._-][a-z0-9]{1,8}){0,2}", fullmatch=True)
# The first component has no '.': "docker.io/a.b/c" would print as "a.b/c", which reads
# back as registry "a.b" (Docker's grammar has the same ambiguity).
_first = st.from_regex(r"[a-z0-9]{1,8}(?:[_-][a-z0-9]{1,8}){0,2}", fullmatch=True)
_tag = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
_domain = st.sampled_from(["", "localhost:5000/", "registry.example.com/", "docker.io/"])


@given(_domain, _first, st.lists(_component, max_size=2), _tag)
def test_round_trip(domain: str, first: str, path: list[str], tag: str) -> None:
    text = f"{domain}{'/'.join([first, *path])}:{tag}"
    ref = parse_reference(text)
    assert ref.tag == tag
    assert parse_reference(str(ref)) == ref
    assert parse_reference(ref.familiar) == ref
