"""Dockerfile syntax: golden dumps of ``golden/dockerfile/parse/*.Dockerfile``.

Each ``NAME.Dockerfile`` has a ``NAME.expected`` beside it: the dump of the
parsed file (one line per instruction with its line range and typed fields),
or ``error: <message>`` and ``hint: <hint>`` for a file Docker rejects.
``DOCKYARD_UPDATE_GOLDEN=1 pytest tests/unit/test_dockerfile_parser.py``
rewrites the expected files; review the diff before committing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.dockerfile import DockerfileError, parse_dockerfile
from dockyard.dockerfile.dump import dump_dockerfile
from dockyard.dockerfile.parser import parse, parse_heredoc

GOLDEN = Path(__file__).parent / "golden" / "dockerfile" / "parse"
UPDATE = os.environ.get("DOCKYARD_UPDATE_GOLDEN") == "1"
CASES = sorted(GOLDEN.glob("*.Dockerfile"))


def render_case(text: str) -> str:
    try:
        df = parse_dockerfile(text)
    except DockerfileError as e:
        out = f"error: {e.message}\n"
        return out + (f"hint: {e.hint}\n" if e.hint else "")
    return dump_dockerfile(df)


def test_enough_golden_cases() -> None:
    errors = [c for c in CASES if c.name.startswith("error_")]
    assert len(CASES) >= 40
    assert len(errors) >= 20


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_golden(case: Path) -> None:
    text = case.read_bytes().decode("utf-8")
    actual = render_case(text)
    expected_path = case.with_suffix(".expected")
    if UPDATE:
        expected_path.write_text(actual, encoding="utf-8")
    assert expected_path.exists(), f"run with DOCKYARD_UPDATE_GOLDEN=1 to create {expected_path}"
    assert actual == expected_path.read_text(encoding="utf-8")


def test_error_cases_are_errors_and_others_are_not() -> None:
    for case in CASES:
        first = case.with_suffix(".expected").read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("error: Dockerfile") == case.name.startswith("error_"), case.name


# -- details the dumps do not show ------------------------------------------------------


def test_nodes_keep_source_text_and_line_ranges() -> None:
    text = "FROM alpine\n\nRUN echo a \\\n  # note\n  b\nCOPY <<EOF /x\nbody\nEOF\nCMD x\n"
    tree = parse(text)
    assert [(n.name, n.start, n.end) for n in tree.nodes] == [
        ("FROM", 1, 1),
        ("RUN", 3, 5),
        ("COPY", 6, 8),
        ("CMD", 9, 9),
    ]
    run = tree.nodes[1]
    assert run.source == "RUN echo a \\\n  # note\n  b\n"
    assert run.original == "RUN echo a   b"
    assert tree.nodes[2].source == "COPY <<EOF /x\nbody\nEOF\n"
    assert tree.nodes[2].heredocs[0].content == "body\n"


def test_bom_and_crlf() -> None:
    text = (
        "\ufeff# escape=`\r\nFROM alpine\r\nRUN echo a `\r\n  b\r\nCOPY <<EOF /x\r\nline\r\nEOF\r\n"
    )
    tree = parse(text)
    assert tree.escape == "`"
    assert [n.original for n in tree.nodes][:2] == ["FROM alpine", "RUN echo a   b"]
    assert tree.nodes[2].heredocs[0].content == "line\r\n"


def test_directive_values_and_lines() -> None:
    tree = parse("#syntax = docker/dockerfile:1\n# Check=skip=all\n#escape=`\nFROM a\n")
    d = tree.directives
    assert (d.syntax, d.check, d.escape) == ("docker/dockerfile:1", "skip=all", "`")
    assert d.lines == (("syntax", 1), ("check", 2), ("escape", 3))


def test_unknown_directive_ends_directives() -> None:
    tree = parse("# foo=bar\n# escape=`\nFROM a\nRUN x \\\n y\n")
    assert tree.escape == "\\"
    assert tree.nodes[1].original == "RUN x  y"


def test_error_names_the_file() -> None:
    with pytest.raises(DockerfileError) as info:
        parse_dockerfile("FROM a\nRUNN x\n", name="build/app.Dockerfile")
    err = info.value
    assert str(err) == "build/app.Dockerfile:2: unknown instruction: RUNN (did you mean RUN?)"
    assert (err.file, err.line, err.reason) == (
        "build/app.Dockerfile",
        2,
        "unknown instruction: RUNN (did you mean RUN?)",
    )


def test_error_spans_continuation_lines() -> None:
    with pytest.raises(DockerfileError) as info:
        parse_dockerfile("FROM a\nCOPY \\\n  one\n")
    assert (info.value.line, info.value.end_line) == (2, 3)


@pytest.mark.parametrize(
    ("word", "name", "expand", "chomp", "fd"),
    [
        ("<<EOF", "EOF", True, False, 0),
        ("<<-EOF", "EOF", True, True, 0),
        ('<<"EOF"', "EOF", False, False, 0),
        ("<<'EOF'", "EOF", False, False, 0),
        ("<<E'O'F", "EOF", False, False, 0),
        ("3<<EOF", "EOF", True, False, 3),
        ("<<-'X Y'", "X Y", False, True, 0),
    ],
)
def test_parse_heredoc(word: str, name: str, expand: bool, chomp: bool, fd: int) -> None:
    doc = parse_heredoc(word)
    assert doc is not None
    assert (doc.name, doc.expand, doc.chomp, doc.fd) == (name, expand, chomp, fd)


@pytest.mark.parametrize("word", ["<<", "a<<EOF", "<<EOF EOT", "<EOF", '"<<EOF"', "<<a<b"])
def test_not_heredocs(word: str) -> None:
    assert parse_heredoc(word) is None


def test_stage_lookup() -> None:
    df = parse_dockerfile("FROM a AS Build\nFROM b\nFROM build\n")
    assert [s.name for s in df.stages] == ["build", "", ""]
    assert df.stage("BUILD") is df.stages[0]
    assert df.stage("1") is df.stages[1]
    assert df.stage("9") is None
    assert df.stages[2].base == "build"
