"""Shell-word expansion: ``golden/dockerfile/expand.txt`` plus the lexer's details.

``DOCKYARD_UPDATE_GOLDEN=1`` rewrites the expected column of expand.txt.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from dockyard.dockerfile.shell import Lexer, ShellError, expand_word, expand_words

GOLDEN = Path(__file__).parent / "golden" / "dockerfile" / "expand.txt"
UPDATE = os.environ.get("DOCKYARD_UPDATE_GOLDEN") == "1"

ENV = {
    "PWD": "/home",
    "SHELL": "bash",
    "KOREAN": "한국어",
    "NULL": "",
    "hi": "hi",
    "space": "abc  def",
    "leading": "  ab c",
    "trailing": "ab c   ",
    "FILE": "archive.tar.gz",
    "URL": "http://example.com/a/b.txt",
    "PATHS": "/usr/local/bin:/usr/bin",
    "NEEDLE": "/",
    "WILD": "*.txt",
    "PORTS": "80 443/udp",
}

LEXERS = {
    "word": Lexer("\\"),
    "words": Lexer("\\"),
    "word`": Lexer("`"),
    "raw": Lexer("\\", skip_process_quotes=True),
    "unset": Lexer("\\", skip_unset_env=True),
}


@dataclass
class Case:
    number: int
    line: str
    mode: str
    text: str
    expected: str


def _field(text: str) -> str:
    text = text.strip()
    if text.startswith("json:"):
        value = json.loads(text[5:])
        assert isinstance(value, str)
        return value
    return text


def _show(value: str) -> str:
    if value != value.strip() or value == "" or value.startswith("json:"):
        return "json:" + json.dumps(value, ensure_ascii=False)
    return value


def load_cases() -> list[Case]:
    cases = []
    for number, line in enumerate(GOLDEN.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        mode, rest = line.split("|", 1)
        text, expected = rest.rsplit("|", 1)
        cases.append(Case(number, line, mode.strip(), _field(text), expected.strip()))
    return cases


CASES = load_cases()


def run(case: Case) -> str:
    lexer = LEXERS[case.mode]
    try:
        if case.mode == "words":
            return json.dumps(lexer.process_words(case.text, ENV), ensure_ascii=False)
        return _show(lexer.process_word(case.text, ENV))
    except ShellError as e:
        return f"error: {e}"


def test_enough_cases() -> None:
    assert len(CASES) >= 120
    assert sum(c.expected.startswith("error:") for c in CASES) >= 20


@pytest.mark.parametrize("case", CASES, ids=[f"line{c.number}" for c in CASES])
def test_expand_golden(case: Case) -> None:
    actual = run(case)
    if case.mode == "words" and not actual.startswith("error:"):
        assert json.loads(actual) == json.loads(case.expected), case.line
    else:
        expected = case.expected
        if expected.startswith("json:"):
            expected = _show(_field(expected))
        assert actual == expected, case.line


# DOCKYARD_UPDATE_GOLDEN=1 adds a test that rewrites expand.txt from what the code does now.
if UPDATE:

    def test_update_golden() -> None:
        lines = GOLDEN.read_text(encoding="utf-8").splitlines()
        for case in CASES:
            head = case.line[: case.line.rindex("|") + 1]
            lines[case.number - 1] = f"{head} {run(case)}"
        GOLDEN.write_text("\n".join(lines) + "\n", encoding="utf-8")


# -- the lexer's API ---------------------------------------------------------------------


def test_matched_and_unmatched_names() -> None:
    result = Lexer().process("${FOO-aaa} ${BAR:-bbb} $BAZ ${PWD#/}", {"FOO": "x", "PWD": "/h"})
    assert result.result == "x bbb  h"
    assert result.matched == {"FOO", "PWD"}
    assert result.unmatched == {"BAR", "BAZ"}


def test_error_carries_reason_and_word() -> None:
    with pytest.raises(ShellError) as info:
        expand_word("${NAME:?give a name}", {})
    assert info.value.reason == "NAME: give a name"
    assert info.value.word == "${NAME:?give a name}"
    assert str(info.value) == 'failed to process "${NAME:?give a name}": NAME: give a name'


def test_raw_quotes_and_escapes() -> None:
    lexer = Lexer(raw_quotes=True, raw_escapes=True, skip_unset_env=True)
    assert lexer.process_words("RUN cat <<'EOF' \\$X \"$Y\" $PWD", {"PWD": "/h"}) == [
        "RUN",
        "cat",
        "<<'EOF'",
        "\\$X",
        '"$Y"',
        "/h",
    ]


def test_plain_words_take_the_fast_path() -> None:
    assert expand_words("  a\tb  c ", {}) == ["a", "b", "c"]
    assert expand_word("  a b ", {}) == "  a b "


def test_escape_token_must_be_backslash_or_backtick() -> None:
    with pytest.raises(ValueError):
        Lexer("#")


def test_env_values_are_not_rescanned() -> None:
    # A value's own $ and quotes are data: expansion happens once.
    assert expand_word("$A", {"A": "$B 'q'", "B": "no"}) == "$B 'q'"
    assert expand_words("$A", {"A": "'x y'"}) == ["'x", "y'"]
