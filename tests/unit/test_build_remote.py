"""ADD <url>'s pure rules: the file name, Last-Modified, git and checksum checks."""

from __future__ import annotations

import pytest

from dockyard.build.remote import _file_name, _http_time, check_checksum_flag, is_git, is_url
from dockyard.errors import InvalidArgument


@pytest.mark.parametrize(
    ("url", "disposition", "expected"),
    [
        ("https://h/a/b/tool.tar.gz", "", "tool.tar.gz"),
        ("https://h/a/b/tool.tar.gz?x=1#f", 'attachment; filename="other"', "tool.tar.gz"),
        ("https://h/dir/", 'attachment; filename="from-header.bin"', "from-header.bin"),
        ("https://h/dir/", 'attachment; filename="../../etc/x"', "x"),
        ("https://h/", "", ""),
        ("https://h/a%20b", "", "a b"),
    ],
)
def test_file_name(url: str, disposition: str, expected: str) -> None:
    assert _file_name(url, disposition) == expected


def test_http_time() -> None:
    assert _http_time("Wed, 21 Oct 2015 07:28:00 GMT") == 1445412480
    assert _http_time("") is None
    assert _http_time("yesterday") is None


def test_url_kinds() -> None:
    assert is_url("http://h/x") and is_url("https://h/x") and not is_url("ftp://h/x")
    assert is_git("git@github.com:a/b.git") and is_git("https://h/a/b.git")
    assert is_git("https://h/a/b.git#main") and not is_git("https://h/a/b.tgz")


def test_checksum_flag() -> None:
    check_checksum_flag("", ("a",))
    check_checksum_flag("sha256:" + "0" * 64, ("https://h/x",))
    with pytest.raises(InvalidArgument, match="non-HTTP"):
        check_checksum_flag("sha256:" + "0" * 64, ("local.txt",))
    with pytest.raises(InvalidArgument, match="invalid checksum"):
        check_checksum_flag("sha512:00", ("https://h/x",))
