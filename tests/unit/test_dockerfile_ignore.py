""".dockerignore: ``golden/dockerfile/ignore.txt`` plus the context walk.

``DOCKYARD_UPDATE_GOLDEN=1`` rewrites the verdicts in ignore.txt.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockyard.dockerfile.ignore import (
    IgnoreMatcher,
    ignore_file_for,
    keep_build_files,
    load_ignore_patterns,
    read_ignore_patterns,
)
from dockyard.errors import InvalidArgument

GOLDEN = Path(__file__).parent / "golden" / "dockerfile" / "ignore.txt"
UPDATE = os.environ.get("DOCKYARD_UPDATE_GOLDEN") == "1"


@dataclass
class Block:
    name: str
    patterns: list[str] = field(default_factory=list)
    checks: list[tuple[int, str, str]] = field(default_factory=list)  # line index, path, verdict


def load_blocks() -> tuple[list[str], list[Block]]:
    # Bytes, not text mode: one case has CRLF line endings that must survive.
    lines = GOLDEN.read_bytes().decode("utf-8").split("\n")
    blocks: list[Block] = []
    in_patterns = False
    for index, line in enumerate(lines):
        if line.startswith("=== "):
            blocks.append(Block(line[4:]))
            in_patterns = True
        elif not blocks:
            continue
        elif in_patterns and line == "---":
            in_patterns = False
        elif in_patterns:
            blocks[-1].patterns.append(line)
        elif line.startswith("error: "):
            blocks[-1].checks.append((index, "", line))
        elif line.strip():
            path, verdict = line.rsplit(" -> ", 1)
            blocks[-1].checks.append((index, path, verdict))
    return lines, blocks


LINES, BLOCKS = load_blocks()


def verdicts(block: Block) -> list[str]:
    try:
        matcher = IgnoreMatcher(read_ignore_patterns("\n".join(block.patterns)))
    except InvalidArgument as e:
        return [f"error: {e}"]
    return [
        f"{path} -> {'excluded' if matcher.matches(path) else 'included'}"
        for _, path, _ in block.checks
    ]


def expected(block: Block) -> list[str]:
    return [v if not path else f"{path} -> {v}" for _, path, v in block.checks]


def test_enough_cases() -> None:
    assert len(BLOCKS) >= 40
    assert sum(len(b.checks) for b in BLOCKS) >= 100


@pytest.mark.parametrize("block", BLOCKS, ids=[b.name for b in BLOCKS])
def test_ignore_golden(block: Block) -> None:
    assert verdicts(block) == expected(block)


# DOCKYARD_UPDATE_GOLDEN=1 adds a test that rewrites ignore.txt from what the code does now.
if UPDATE:

    def test_update_golden() -> None:
        lines = list(LINES)
        for block in BLOCKS:
            actual = verdicts(block)
            if actual and actual[0].startswith("error: "):
                lines[block.checks[0][0]] = actual[0]
                continue
            for (index, _, _), verdict in zip(block.checks, actual, strict=True):
                lines[index] = verdict
        GOLDEN.write_bytes("\n".join(lines).encode("utf-8"))


# -- reading the file --------------------------------------------------------------------


def test_read_all_as_moby_does() -> None:
    text = (
        "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! "
    )
    assert read_ignore_patterns(text) == [
        "test1",
        "test2",
        "a/file/here",
        "lastfile",
        "!inverted/abs/path",
        "!",
        "!",
    ]


# -- walking a context -------------------------------------------------------------------

TREE = [
    "Dockerfile",
    ".dockerignore",
    "README.md",
    "CHANGES.md",
    "src/app.py",
    "src/app.pyc",
    "src/pkg/mod.py",
    "src/pkg/__pycache__/mod.cpython-311.pyc",
    "node_modules/left-pad/index.js",
    "node_modules/keep/index.js",
    "docs/guide.md",
    "docs/img/logo.png",
    "build/out/app",
    "build/keep.txt",
    "empty/",
]


def make_tree(root: Path, paths: list[str] = TREE) -> None:
    made: set[Path] = set()
    for rel in paths:
        target = root / rel
        directory = target if rel.endswith("/") else target.parent
        if directory not in made:
            directory.mkdir(parents=True, exist_ok=True)
            made.add(directory)
        if not rel.endswith("/"):
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))


def expected_walk(root: Path, matcher: IgnoreMatcher) -> list[str]:
    """Every file not excluded, with the directories that lead to it, and every
    directory that is not excluded itself."""
    out: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        for name in dirnames + filenames:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if not matcher.matches(rel):
                out.add(rel)
                parts = rel.split("/")
                out.update("/".join(parts[:i]) for i in range(1, len(parts)))
    return sorted(out, key=lambda p: p.split("/"))


PATTERN_SETS = [
    [],
    ["node_modules"],
    ["*.md", "!README.md"],
    ["**/__pycache__", "**/*.pyc"],
    ["node_modules", "!node_modules/keep"],
    ["build", "!build/keep.txt"],
    ["*", "!src"],
    ["*", "!**/*.py"],
    ["docs/**", "!docs/img/*"],
    ["src/pkg", "!src/pkg/mod.py", "empty"],
]


@pytest.mark.parametrize(
    "patterns", PATTERN_SETS, ids=[" ".join(p) or "none" for p in PATTERN_SETS]
)
def test_walk_sends_what_matches_includes(tmp_path: Path, patterns: list[str]) -> None:
    make_tree(tmp_path)
    matcher = IgnoreMatcher(patterns)
    walked = [rel for rel, _ in matcher.walk(tmp_path)]
    assert walked == expected_walk(tmp_path, matcher)


def test_walk_entries_are_dir_entries(tmp_path: Path) -> None:
    make_tree(tmp_path, ["a/b.txt"])
    (tmp_path / "link").symlink_to("a")
    entries = {rel: entry for rel, entry in IgnoreMatcher([]).walk(tmp_path)}
    assert sorted(entries) == ["a", "a/b.txt", "link"]
    assert entries["a"].is_dir() and entries["link"].is_symlink()


def test_walk_prunes_excluded_directories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_tree(tmp_path, [f"node_modules/pkg{i}/index.js" for i in range(200)] + ["app.js"])
    scanned: list[str] = []
    real = os.scandir

    def counting(path: str) -> object:
        scanned.append(path)
        return real(path)

    monkeypatch.setattr(os, "scandir", counting)
    assert [r for r, _ in IgnoreMatcher(["node_modules"]).walk(tmp_path)] == ["app.js"]
    assert scanned == [str(tmp_path)]
    scanned.clear()
    # An exception with a wildcard could match anywhere: nothing can be pruned.
    list(IgnoreMatcher(["node_modules", "!**/keep"]).walk(tmp_path))
    assert len(scanned) == 202
    scanned.clear()
    # A plain exception only keeps the directories on its way.
    walked = [r for r, _ in IgnoreMatcher(["node_modules", "!node_modules/pkg7"]).walk(tmp_path)]
    assert walked == ["app.js", "node_modules", "node_modules/pkg7", "node_modules/pkg7/index.js"]
    assert len(scanned) == 3


def _walk_timed(tmp_path: Path, count: int) -> float:
    files = [f"src/d{i // 100}/f{i}.py" for i in range(count)]
    files += [f"node_modules/m{i // 100}/f{i}.js" for i in range(count // 5)]
    make_tree(tmp_path, files)
    matcher = IgnoreMatcher(read_ignore_patterns("node_modules\n**/*.pyc\n.git\n!src/d1/f100.py\n"))
    start = time.perf_counter()
    walked = sum(1 for _ in matcher.walk(tmp_path))
    elapsed = time.perf_counter() - start
    assert walked == count + count // 100 + 1
    return elapsed


def test_walk_is_fast(tmp_path: Path) -> None:
    elapsed = _walk_timed(tmp_path, 2_000)
    assert elapsed < 0.5, f"walk took {elapsed:.2f}s"


@pytest.mark.slow
def test_walk_of_ten_thousand_files_is_fast(tmp_path: Path) -> None:
    # Creating the files takes seconds on overlay file systems; the walk does not.
    elapsed = _walk_timed(tmp_path, 10_000)
    assert elapsed < 2.0, f"walk took {elapsed:.2f}s"


# -- which file applies ------------------------------------------------------------------


def test_dockerfile_specific_ignore_file_wins(tmp_path: Path) -> None:
    context = tmp_path / "ctx"
    make_tree(context, ["app/web.Dockerfile", "Dockerfile"])
    assert ignore_file_for(context) is None
    (context / ".dockerignore").write_text("*.log\n")
    assert ignore_file_for(context, context / "Dockerfile") == context / ".dockerignore"
    specific = context / "app" / "web.Dockerfile.dockerignore"
    specific.write_text("/secret\n!keep\n")
    assert ignore_file_for(context, context / "app" / "web.Dockerfile") == specific
    assert load_ignore_patterns(context, context / "app" / "web.Dockerfile") == ["secret", "!keep"]
    assert load_ignore_patterns(context) == ["*.log"]


def test_dockerfile_outside_the_context(tmp_path: Path) -> None:
    make_tree(tmp_path, ["ctx/a", "elsewhere/Dockerfile"])
    (tmp_path / "elsewhere" / "Dockerfile.dockerignore").write_text("a\n")
    found = ignore_file_for(tmp_path / "ctx", tmp_path / "elsewhere" / "Dockerfile")
    assert found == tmp_path / "elsewhere" / "Dockerfile.dockerignore"


def test_classic_builder_always_sends_build_files() -> None:
    patterns = keep_build_files(["*"], "build/Dockerfile")
    assert patterns == ["*", "!.dockerignore", "!build/Dockerfile"]
    matcher = IgnoreMatcher(patterns)
    assert not matcher.matches(".dockerignore")
    assert not matcher.matches("build/Dockerfile")
    assert matcher.matches("build/other")
    assert keep_build_files(["*.txt"], "Dockerfile") == ["*.txt"]
    assert keep_build_files(["*"], None) == ["*", "!.dockerignore"]


# -- the walk agrees with matches() for any patterns --------------------------------------

_COMPONENT = st.sampled_from(["a", "b", "c", "*", "**", "?", "a*", "[ab]"])
_PATTERN = st.builds(
    lambda neg, parts: ("!" if neg else "") + "/".join(parts),
    st.booleans(),
    st.lists(_COMPONENT, min_size=1, max_size=3),
)
_WALK_TREE = [f"{x}/{y}/{z}" for x in "abc" for y in "ab" for z in "ac"] + ["b/c", "d", "a/b/b/a"]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(patterns=st.lists(_PATTERN, max_size=4))
def test_walk_matches_matcher_for_any_patterns(
    tmp_path_factory: pytest.TempPathFactory, patterns: list[str]
) -> None:
    root = tmp_path_factory.getbasetemp() / "walk-tree"
    if not root.exists():
        make_tree(root, _WALK_TREE)
    matcher = IgnoreMatcher(patterns)
    assert [rel for rel, _ in matcher.walk(root)] == expected_walk(root, matcher)
