from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument
from dockyard.specs.env import (
    DotenvEntry,
    parse_dotenv,
    parse_env_file,
    parse_env_option,
    read_kv_lines,
)

ENV_FILE = b"""# a comment
  FOO=bar baz  \n\
QUOTED="a b"
SINGLE='x'
EMPTY=
EQUALS=a=b
FROM_ENV
NOT_SET

\tINDENTED=1
DOLLAR=${HOME}
"""


def test_env_file_golden(tmp_path: Path) -> None:
    path = tmp_path / "app.env"
    path.write_bytes(ENV_FILE)
    assert parse_env_file(path, {"FROM_ENV": "from the environment"}) == [
        "FOO=bar baz  ",
        'QUOTED="a b"',
        "SINGLE='x'",
        "EMPTY=",
        "EQUALS=a=b",
        "FROM_ENV=from the environment",
        "INDENTED=1",
        "DOLLAR=${HOME}",
    ]


def test_env_file_uses_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DY_SPECS_TEST", "yes")
    path = tmp_path / "e.env"
    path.write_text("DY_SPECS_TEST\n")
    assert parse_env_file(str(path)) == ["DY_SPECS_TEST=yes"]


@pytest.mark.parametrize(
    ("data", "lines"),
    [
        (b"\xef\xbb\xbfA=1\n", ["A=1"]),  # BOM dropped
        (b"A=1\r\nB=2\r\n", ["A=1", "B=2"]),  # CRLF
        (b"A=1", ["A=1"]),  # no final newline
        (b"", []),
        (b"#only=comment\n\n   \n", []),
        (b"A=\xc3\xa9t\xc3\xa9\n", ["A=\u00e9t\u00e9"]),
    ],
)
def test_env_lines(data: bytes, lines: list[str]) -> None:
    assert read_kv_lines(data, "x.env", {}) == lines


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b"A=1\nmy var=1\n",
            "x.env:2: poorly formatted environment: variable 'my var' contains whitespaces",
        ),
        (
            b"export A=1\n",
            "x.env:1: poorly formatted environment: variable 'export A' contains whitespaces",
        ),
        (b"=1\n", "x.env:1: poorly formatted environment: no variable name on line '=1'"),
        (b"A=1\n\xff\xfe\n", "env file x.env contains invalid utf8 bytes at line 2: [255 254]"),
    ],
)
def test_env_file_errors(data: bytes, message: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        read_kv_lines(data, "x.env", {})
    assert str(e.value) == message


def test_env_file_missing(tmp_path: Path) -> None:
    missing = tmp_path / "nope.env"
    with pytest.raises(InvalidArgument) as e:
        parse_env_file(missing)
    assert str(e.value) == f"open {missing}: no such file or directory"


@pytest.mark.parametrize(
    ("value", "result"),
    [("A=1", "A=1"), ("A=", "A="), ("A", "A=set"), ("B", None), ("A==x", "A==x")],
)
def test_env_option(value: str, result: str | None) -> None:
    assert parse_env_option(value, {"A": "set"}) == result


def test_env_option_error() -> None:
    with pytest.raises(InvalidArgument) as e:
        parse_env_option("=x", {}, flag="-e, --env")
    assert str(e.value) == (
        'invalid argument "=x" for "-e, --env" flag: invalid environment variable: =x'
    )


DOTENV = """\ufeff# compose .env
export A=1
B = two # a comment
C=a#b
D="x\\ny \\$z \\"q\\" \\\\ \\c"
E='literal $x \\n'
F="multi
line"
G: yaml-style
H
  I=  spaced  \t
J=${A}-$$
K="\\0101"
L=
M=\"\"
N='a' # trailing comment
dotted.key-[0]=ok
"""


def test_dotenv_golden() -> None:
    e = DotenvEntry
    assert parse_dotenv(DOTENV) == (
        e("A", "1", 2),
        e("B", "two", 3),
        e("C", "a#b", 4),
        e("D", 'x\ny $$z "q" \\ \\c', 5),
        e("E", "literal $x \\n", 6, interpolate=False),
        e("F", "multi\nline", 7),
        e("G", "yaml-style", 9),
        e("H", None, 10),
        e("I", "spaced", 11),
        e("J", "${A}-$$", 12),
        e("K", "A", 13),
        e("L", "", 14),
        e("M", "", 15),
        e("N", "a", 16, interpolate=False),
        e("dotted.key-[0]", "ok", 17),
    )


def test_dotenv_bare_key_at_end() -> None:
    assert parse_dotenv("A=1\nLAST") == (DotenvEntry("A", "1", 1), DotenvEntry("LAST", None, 2))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("A B=1", "line 1: key cannot contain a space"),
        ("A=1\nB$=1", 'line 2: unexpected character "$" in variable name'),
        ('A=1\nB="open\nC=2', 'line 2: unterminated quoted value "open'),
        ("=x", "line 1: missing variable name"),
    ],
)
def test_dotenv_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        parse_dotenv(text)
    assert str(e.value) == message
