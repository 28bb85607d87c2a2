"""The builder's pure parts: cache keys, context hashing, COPY path rules, history text,
metadata instructions, and the context walk with .dockerignore."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from dockyard.build.cache import BuildCache, StepInputs, cache_key
from dockyard.build.context import open_context
from dockyard.build.explain import preflight
from dockyard.build.hashing import HashMemo, combine, entry_digest
from dockyard.build.history import go_char_q, go_duration, healthcheck_text, nop, run_command
from dockyard.build.metadata import apply_metadata, set_env, workdir_path
from dockyard.build.paths import (
    check_multi_source,
    clean_source,
    destination,
    file_target,
    match_pattern,
    scoped_path,
)
from dockyard.dockerfile import instructions as ins
from dockyard.errors import InvalidArgument, NotFound
from dockyard.oci.image import ContainerConfig, Healthcheck

# -- cache keys ----------------------------------------------------------------------------


def test_cache_key_depends_on_each_input() -> None:
    base = StepInputs("sha256:p", "RUN x", combine([("a", "1")]), (("V", "1"),))
    same = StepInputs("sha256:p", "RUN x", combine([("a", "1")]), (("V", "1"),))
    assert cache_key(base) == cache_key(same)
    others = [
        StepInputs("sha256:q", "RUN x", combine([("a", "1")]), (("V", "1"),)),
        StepInputs("sha256:p", "RUN y", combine([("a", "1")]), (("V", "1"),)),
        StepInputs("sha256:p", "RUN x", combine([("a", "2")]), (("V", "1"),)),
        StepInputs("sha256:p", "RUN x", combine([("a", "1")]), (("V", "2"),)),
    ]
    assert len({cache_key(o) for o in others} | {cache_key(base)}) == 5


def test_cache_explains_misses() -> None:
    cache = BuildCache(sqlite3.connect(":memory:", isolation_level=None))
    old = StepInputs("sha256:p", "COPY a /", combine([("a", "1"), ("b", "1")]))
    cache.record(old, "sha256:img")
    assert cache.lookup(old) == "sha256:img"
    changed = StepInputs("sha256:p", "COPY a /", combine([("a", "2"), ("b", "1"), ("c", "1")]))
    reason = cache.why_missed(changed, parent_was_rebuilt=False)
    assert (reason.kind, reason.detail) == ("files", "source files changed: a; added: c")
    new_parent = StepInputs("sha256:z", "COPY a /", old.sources)
    assert cache.why_missed(new_parent, parent_was_rebuilt=True).kind == "parent"
    run = StepInputs("sha256:p", "RUN x", None, (("V", "1"),))
    cache.record(run, "sha256:r")
    reason = cache.why_missed(
        StepInputs("sha256:p", "RUN x", None, (("V", "2"),)), parent_was_rebuilt=False
    )
    assert reason.detail == "build-arg changed: V (1 -> 2)"
    reason = cache.why_missed(StepInputs("sha256:p", "RUN y", None), parent_was_rebuilt=False)
    assert reason.kind == "instruction"
    assert cache.why_missed(StepInputs("sha256:n", "RUN q"), parent_was_rebuilt=False).kind == "new"


# -- hashing --------------------------------------------------------------------------------


def test_entry_digest_ignores_mtime_but_not_content_or_mode(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("one")
    first = entry_digest("f", str(f))
    os.utime(f, (1, 1))
    assert entry_digest("f", str(f)) == first
    os.chmod(f, 0o600)
    assert entry_digest("f", str(f)) != first
    os.chmod(f, 0o644)
    f.write_text("two")
    assert entry_digest("f", str(f)) != first
    assert entry_digest("g", str(f)) != entry_digest("f", str(f))


def test_hash_memo_reuses_and_persists(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("data")
    memo = HashMemo()
    digest = entry_digest("f", str(f), memo)
    assert memo.dirty and len(memo.entries) == 1
    memo.save(tmp_path / "memo.json")
    again = HashMemo()
    again.load(tmp_path / "memo.json")
    assert entry_digest("f", str(f), again) == digest
    assert not again.dirty


# -- COPY path rules -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("src", "expected"),
    [(".", ""), ("/", ""), ("./a/../b", "b"), ("../../x", "x"), ("/abs/path", "abs/path")],
)
def test_clean_source(src: str, expected: str) -> None:
    assert clean_source(src) == expected


@pytest.mark.parametrize(
    ("dest", "workdir", "expected"),
    [
        (".", "/app", ("/app", True)),
        ("./", "/app", ("/app", True)),
        ("x", "/app", ("/app/x", False)),
        ("x/", "/app", ("/app/x", True)),
        ("/abs", "/app", ("/abs", False)),
        ("rel", "", ("/rel", False)),
    ],
)
def test_destination(dest: str, workdir: str, expected: tuple[str, bool]) -> None:
    assert destination(dest, workdir) == expected


def test_multi_source_needs_directory() -> None:
    check_multi_source(1, False, "COPY")
    check_multi_source(2, True, "COPY")
    with pytest.raises(InvalidArgument, match="must be a directory and end with a /"):
        check_multi_source(2, False, "COPY")


def test_file_target_and_wildcards() -> None:
    assert file_target("/d", True, "f") == "/d/f"
    assert file_target("/d/g", False, "f") == "/d/g"
    paths = ["a.txt", "b.txt", "sub/c.txt", "sub", "x.md"]
    assert match_pattern("*.txt", paths) == ["a.txt", "b.txt"]
    assert match_pattern("sub/*.txt", paths) == ["sub/c.txt"]
    assert match_pattern("[ab].txt", paths) == ["a.txt", "b.txt"]


def test_scoped_path_never_leaves_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    os.symlink("/etc", root / "abs")
    os.symlink("../../../../", root / "up")
    os.symlink("etc", root / "rel")
    assert scoped_path(root, "/abs/passwd") == root / "etc" / "passwd"
    assert scoped_path(root, "/up/etc") == root / "etc"
    assert scoped_path(root, "/rel") == root / "etc"
    assert scoped_path(root, "/rel", follow_last=False) == root / "rel"
    assert scoped_path(root, "/../../x") == root / "x"


# -- history text and metadata -----------------------------------------------------------------


def test_history_texts() -> None:
    assert nop(None, "ENV A=b") == "/bin/sh -c #(nop)  ENV A=b"
    assert run_command(("/bin/sh", "-c", "echo"), [("A", "1"), ("B", "2")]) == (
        "|2", "A=1", "B=2", "/bin/sh", "-c", "echo",
    )  # fmt: skip
    assert go_char_q(3) == "'\\x03'" and go_char_q(65) == "'A'"
    assert [go_duration(n) for n in (0, 30 * 10**9, 90 * 10**9, 1_500_000_000, 5_000_000)] == [
        "0s", "30s", "1m30s", "1.5s", "5ms",
    ]  # fmt: skip
    hc = Healthcheck(test=("CMD-SHELL", "echo ok"), interval=30 * 10**9, retries=3)
    assert healthcheck_text(hc) == (
        'HEALTHCHECK &{["CMD-SHELL" "echo ok"] "30s" "0s" "0s" \'\\x03\'}'
    )


def test_metadata_rules() -> None:
    assert set_env(("A=1", "B=2"), (("A", "3"), ("C", "4"))) == ("A=3", "B=2", "C=4")
    assert workdir_path("/app", "sub/../x") == "/app/x"
    assert workdir_path("/app", "/abs") == "/abs"
    inherited = ContainerConfig(cmd=("sh",))
    entry = ins.Entrypoint(command=("run",), shell_form=False)
    assert apply_metadata(inherited, entry, cmd_set=False).config.cmd is None
    assert apply_metadata(inherited, entry, cmd_set=True).config.cmd == ("sh",)
    cmd = apply_metadata(ContainerConfig(), ins.Cmd(command=("echo hi",)), cmd_set=False)
    assert cmd.config.cmd == ("/bin/sh", "-c", "echo hi") and cmd.cmd_set
    assert cmd.comment == 'CMD ["/bin/sh" "-c" "echo hi"]'
    expose = apply_metadata(ContainerConfig(), ins.Expose(ports=("80", "443/udp")), cmd_set=False)
    assert expose.config.exposed_ports == ("443/udp", "80/tcp")
    assert expose.comment == "EXPOSE 443/udp 80"


# -- context ---------------------------------------------------------------------------------


def test_context_walk_ignore_and_preflight(tmp_path: Path) -> None:
    for name, text in {
        "Dockerfile": "FROM busybox\n",
        ".dockerignore": "*.log\nDockerfile\n",
        "a.py": "x" * 100,
        "debug.log": "log",
        ".git/HEAD": "ref",
        "pkg/__pycache__/m.pyc": "c",
    }.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    with open_context(str(tmp_path)) as ctx:
        assert ctx.dockerfile_text == "FROM busybox\n"
        sent = list(ctx.index())
        assert "debug.log" not in sent
        assert "Dockerfile" in sent  # the classic builder always sends it
        report = preflight(ctx)
        assert report.largest_files[0] == ("a.py", 100)
        lines = [line for line, _ in report.suggestions]
        assert ".git" in lines and "**/__pycache__" in lines
    with pytest.raises(NotFound, match="no such file or directory"):
        open_context(str(tmp_path), dockerfile=str(tmp_path / "nope"))
    with pytest.raises(NotFound, match="not found"):
        open_context(str(tmp_path / "missing"))


def test_platforms(monkeypatch: pytest.MonkeyPatch) -> None:
    from dockyard.build import platform as plat

    plat.host_platform.cache_clear()
    monkeypatch.setattr(plat, "_machine", lambda: "aarch64")
    try:
        assert plat.host_platform() == ("linux", "arm64", "")
        args = plat.platform_args()
        assert args["TARGETPLATFORM"] == args["BUILDPLATFORM"] == "linux/arm64"
        assert (args["TARGETOS"], args["TARGETARCH"], args["TARGETVARIANT"]) == (
            "linux",
            "arm64",
            "",
        )
        for ok in ("", "linux/arm64", "linux/arm64/v8", "arm64", "linux/aarch64"):
            plat.check_platform(ok)
        for bad in ("linux/amd64", "windows/arm64", "linux/arm/v7", "linux/arm64,linux/amd64"):
            with pytest.raises(InvalidArgument, match=r"is not this machine's \(linux/arm64\)"):
                plat.check_platform(bad)
    finally:
        plat.host_platform.cache_clear()
