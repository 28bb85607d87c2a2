"""RUN --mount's pure parts: --secret flags, targets, the cache key's text, locks."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.build.context import open_context
from dockyard.build.run_mounts import (
    SecretSource,
    _locked,
    mount_target,
    parse_secret,
    resolve_mounts,
    stage_refs,
)
from dockyard.dockerfile.mounts import RunMount, parse_mount
from dockyard.errors import InvalidArgument, NotFound


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        ("id=tok,src=/x/file", SecretSource("tok", src="/x/file")),
        ("id=tok,source=f", SecretSource("tok", src="f")),
        ("id=tok,env=TOKEN", SecretSource("tok", env="TOKEN")),
        ("id=tok,type=env,src=TOKEN", SecretSource("tok", env="TOKEN")),
        ("env=API_TOKEN", SecretSource("API_TOKEN", env="API_TOKEN")),
        ("src=/run/k.pem", SecretSource("k.pem", src="/run/k.pem")),
        ("id=plain", SecretSource("plain")),
    ],
)
def test_parse_secret(flag: str, expected: SecretSource) -> None:
    assert parse_secret(flag) == expected


@pytest.mark.parametrize("flag", ["tok", "id=a,color=red", "type=ssh,id=a", ""])
def test_parse_secret_errors(flag: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_secret(flag)


def test_secret_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "f").write_text("file")
    monkeypatch.setenv("DYT_SECRET", "env")
    monkeypatch.chdir(tmp_path)
    assert SecretSource("x", src=str(tmp_path / "f")).read() == b"file"
    assert SecretSource("x", env="DYT_SECRET").read() == b"env"
    assert SecretSource("DYT_SECRET").read() == b"env"  # no src/env: the variable id
    assert SecretSource("f").read() == b"file"  # ... else the file id
    assert SecretSource("x", src=str(tmp_path / "nope")).read() is None
    assert SecretSource("x", env="DYT_UNSET_VAR").read() is None


def test_mount_target() -> None:
    assert mount_target("/cache", "/app") == "/cache"
    assert mount_target("cache", "/app") == "/app/cache"
    assert mount_target("../x/", "/app") == "/x"
    with pytest.raises(InvalidArgument, match='invalid mount target "/"'):
        mount_target("/", "/")
    with pytest.raises(InvalidArgument, match="mount target is required"):
        mount_target("", "/")


def test_stage_refs() -> None:
    assert stage_refs("type=bind,from=builder,source=/out,target=/o") == ["builder"]
    assert stage_refs("type=cache,target=/c") == []


def _mount(spec: str) -> RunMount:
    return parse_mount(spec, lambda v: v)


def test_cache_key_text_describes_mounts_not_contents(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src/a").write_text("a")
    with open_context(str(tmp_path)) as ctx:
        mounts = [
            _mount("type=cache,target=/root/.cache,sharing=locked"),
            _mount("type=secret,id=tok"),
            _mount("type=bind,source=src,target=s"),
            _mount("type=bind,from=builder,target=/b"),
            _mount("type=tmpfs,target=/t,size=1m"),
        ]
        got = resolve_mounts(mounts, "/w", ctx, lambda ref: f"sha256:{ref}")
        assert got.text.splitlines() == [
            "mount type=cache,target=/root/.cache,id=/root/.cache,sharing=locked,source=,ro=False",
            "mount type=secret,target=/run/secrets/tok,id=tok,required=False",
            "mount type=bind,target=/w/s,source=src,ro=True",
            "mount type=bind,target=/b,source=,from=sha256:builder,ro=True",
            "mount type=tmpfs,target=/t,ro=False,size=1048576",
        ]
        assert [rel for rel, _ in got.files] == ["mount:src/a"]
        before = got.files
        (tmp_path / "src/a").write_text("b")
        ctx._index = None
        after = resolve_mounts(mounts, "/w", ctx, lambda ref: ref).files
        assert before != after
        with pytest.raises(NotFound, match='source "nope" not found in build context'):
            resolve_mounts([_mount("source=nope,target=/x")], "/", ctx, lambda r: r)
        with pytest.raises(InvalidArgument, match="type=ssh is not supported"):
            resolve_mounts([_mount("type=ssh,target=/x")], "/", ctx, lambda r: r)


def test_secret_env_only_has_no_file_target(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox\n")
    with open_context(str(tmp_path)) as ctx:
        (r,) = resolve_mounts([_mount("type=secret,id=t,env=T")], "/", ctx, str).resolved
        assert r.target == "" and r.secret_id == "t"
        (r,) = resolve_mounts([_mount("type=secret,target=/k/key.pem")], "/", ctx, str).resolved
        assert r.target == "/k/key.pem" and r.secret_id == "key.pem"


def test_locks(tmp_path: Path) -> None:
    path = tmp_path / "c.lock"
    with _locked(path, exclusive=True, wait=True) as held:
        assert held
        with _locked(path, exclusive=True, wait=False) as second:
            assert not second  # flock is per open file: a second open is refused
        with _locked(path, exclusive=False, wait=False) as shared:
            assert not shared
    with (
        _locked(path, exclusive=False, wait=False) as a,
        _locked(path, exclusive=False, wait=False) as b,
    ):
        assert a and b  # shared users share
