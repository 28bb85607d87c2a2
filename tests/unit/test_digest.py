import pytest

from dockyard.errors import InvalidArgument
from dockyard.oci.digest import Digest, is_hex_id


def test_of_bytes_and_parse() -> None:
    d = Digest.of_bytes(b"")
    assert str(d) == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert Digest.parse(str(d)) == d
    assert d.short == "e3b0c44298fc"


@pytest.mark.parametrize(
    "text",
    ["sha256:abc", "sha256:" + "A" * 64, "md5:" + "a" * 32, "nocolon", "sha256:" + "g" * 64],
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(InvalidArgument):
        Digest.parse(text)


def test_is_hex_id() -> None:
    assert is_hex_id("abc123")
    assert is_hex_id("sha256:" + "a" * 64)
    assert not is_hex_id("xyz")
    assert not is_hex_id("a" * 65)
    assert not is_hex_id("")
