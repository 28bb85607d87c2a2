"""Bootstrap recipes: lookup by the names users type, and the documented configs."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import time
from importlib import resources
from pathlib import Path

import pytest

from dockyard.engine.bootstrap import _tools, _tree
from dockyard.engine.bootstrap.recipes import (
    ENTRYPOINT_PATH,
    RECIPES,
    Recipe,
    bootstrappable_names,
    lookup,
    upstream_version,
)
from dockyard.engine.bootstrap.rootfs import build_rootfs_tar
from dockyard.errors import ExternalToolFailed, InvalidArgument, Unsupported

PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def one(name: str) -> Recipe:
    found = lookup([name])
    assert len(found) == 1
    return found[0]


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("busybox", "busybox"),
        ("busybox:latest", "busybox"),
        ("busybox:1.35", "busybox"),
        ("docker.io/library/busybox", "busybox"),
        ("index.docker.io/library/busybox:latest", "busybox"),
        ("debian", "debian"),
        ("debian:bookworm", "debian"),
        ("debian:12", "debian"),
        ("debian:bookworm-slim", "debian-slim"),
        ("debian:12-slim", "debian-slim"),
        ("python", "python"),
        ("python:3", "python"),
        ("python:3.11", "python"),
        ("python:3.11.2", "python"),
        ("python:3.11-slim", "python-slim"),
        ("python:3-slim", "python-slim"),
        ("python:3.11.2-slim", "python-slim"),
        ("redis", "redis"),
        ("redis:7", "redis"),
        ("redis:7.0", "redis"),
        ("docker.io/library/redis:7", "redis"),
        ("library/redis:7", "redis"),
        ("redis:7.0.15", "redis"),
        ("postgres", "postgres"),
        ("postgres:15", "postgres"),
        ("postgres:15.20", "postgres"),
    ],
)
def test_lookup_by_name(name: str, key: str) -> None:
    assert one(name).key == key


def test_no_names_means_all_in_order() -> None:
    assert lookup([]) == list(RECIPES)
    assert [r.key for r in RECIPES] == [
        "busybox",
        "debian",
        "debian-slim",
        "python",
        "python-slim",
        "redis",
        "postgres",
    ]


def test_lookup_keeps_order_and_drops_duplicates() -> None:
    found = lookup(["redis:7", "busybox", "docker.io/library/redis", "redis:7.0"])
    assert [r.key for r in found] == ["redis", "busybox"]


@pytest.mark.parametrize(
    "name",
    [
        "nginx",
        "python:3.12",
        "python:2",
        "postgres:16",
        "postgres:16.1",
        "redis:7.2.4",
        "debian:trixie",
        "quay.io/library/busybox",
        "myorg/busybox",
        "busybox:musl",
    ],
)
def test_unknown_name_lists_what_exists(name: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        lookup([name])
    message = str(info.value)
    assert repr(name) in message
    for tag in ("busybox:latest", "debian:bookworm-slim", "python:3.11", "redis:7", "postgres:15"):
        assert tag in message
    assert info.value.hint


def test_bad_reference_is_invalid_argument() -> None:
    with pytest.raises(InvalidArgument):
        lookup(["Python:3.11"])


def test_tags_are_unique_and_first_is_the_name() -> None:
    names = bootstrappable_names()
    assert len(names) == len(set(names))
    assert [r.name for r in RECIPES] == [r.tags[0] for r in RECIPES]
    for recipe in RECIPES:
        for tag in recipe.tags:
            assert ":" in tag and "/" not in tag
            assert recipe.has_tag(tag)
            assert recipe.has_tag("docker.io/library/" + tag)


def test_busybox_config() -> None:
    r = one("busybox")
    assert r.builder == "busybox"
    assert r.config.env == (PATH,)
    assert r.config.cmd == ("sh",)
    assert r.config.entrypoint is None
    assert "busybox:1.35" in r.tags


@pytest.mark.parametrize("name", ["debian:bookworm", "debian:bookworm-slim"])
def test_debian_config(name: str) -> None:
    r = one(name)
    assert r.builder == "mmdebstrap"
    assert r.variant == "minbase"
    assert r.config.env == (PATH,)
    assert r.config.cmd == ("bash",)
    assert r.config.entrypoint is None
    slim = name.endswith("-slim")
    assert bool(r.dpkg_options) is slim
    if slim:
        opts = r.dpkg_options
        assert "path-exclude=/usr/share/man/*" in opts
        assert "path-include=/usr/share/doc/*/copyright" in opts
        assert opts.index("path-exclude=/usr/share/doc/*") < opts.index(
            "path-include=/usr/share/doc/*/copyright"
        )
        assert "path-include=/usr/share/locale/locale.alias" in opts


@pytest.mark.parametrize("name", ["python:3.11", "python:3.11-slim"])
def test_python_config(name: str) -> None:
    r = one(name)
    env = r.config.env_dict()
    assert r.config.env[0].startswith("PATH=")
    assert (
        env["PATH"] == "/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    )
    assert env["LANG"] == "C.UTF-8"
    assert env["PYTHON_VERSION"].startswith("3.11.")
    assert r.config.cmd == ("python3",)
    assert r.config.entrypoint is None
    for pkg in ("python3", "python3-pip", "python3-venv", "python-is-python3", "ca-certificates"):
        assert pkg in r.include
    assert any("EXTERNALLY-MANAGED" in hook for hook in r.customize_hooks)
    assert bool(r.dpkg_options) is name.endswith("-slim")


def test_redis_config() -> None:
    r = one("redis:7")
    c = r.config
    assert c.entrypoint == ("docker-entrypoint.sh",)
    assert c.cmd == ("redis-server",)
    assert c.working_dir == "/data"
    assert c.volumes == ("/data",)
    assert c.exposed_ports == ("6379/tcp",)
    assert c.env[0] == PATH
    assert c.env_dict()["REDIS_VERSION"].startswith("7.0.")
    assert "redis-server" in r.include
    assert [f.path for f in r.files] == [ENTRYPOINT_PATH]
    assert all(f.mode == 0o755 for f in r.files)
    assert [(d.path, d.owner) for d in r.dirs] == [("/data", "redis")]


def test_postgres_config() -> None:
    r = one("postgres:15")
    c = r.config
    env = c.env_dict()
    assert c.entrypoint == ("docker-entrypoint.sh",)
    assert c.cmd == ("postgres",)
    assert c.working_dir == ""
    assert c.volumes == ("/var/lib/postgresql/data",)
    assert c.exposed_ports == ("5432/tcp",)
    assert c.stop_signal == "SIGINT"
    assert env["PATH"] == PATH.removeprefix("PATH=") + ":/usr/lib/postgresql/15/bin"
    assert env["PGDATA"] == "/var/lib/postgresql/data"
    assert env["PG_MAJOR"] == "15"
    assert env["PG_VERSION"].startswith("15.")
    assert env["LANG"] == "C.UTF-8"
    assert "postgresql" in r.include
    assert any("pg_dropcluster 15 main" in hook for hook in r.customize_hooks)
    assert any("snakeoil" in hook for hook in r.customize_hooks)
    dirs = {d.path: d for d in r.dirs}
    assert dirs["/var/lib/postgresql/data"].owner == "postgres"
    assert "/docker-entrypoint-initdb.d" in dirs
    assert [f.path for f in r.files] == [ENTRYPOINT_PATH]


def test_to_dict_has_docker_shape() -> None:
    d = one("postgres").config.to_dict()
    assert d["Entrypoint"] == ["docker-entrypoint.sh"]
    assert d["Cmd"] == ["postgres"]
    assert d["ExposedPorts"] == {"5432/tcp": {}}
    assert d["Volumes"] == {"/var/lib/postgresql/data": {}}
    assert d["StopSignal"] == "SIGINT"


@pytest.mark.parametrize(
    ("debian", "upstream"),
    [
        ("5:7.0.15-1~deb12u10", "7.0.15"),
        ("15.20-0+deb12u1", "15.20"),
        ("3.11.2-6+deb12u9", "3.11.2"),
        ("1:1.35.0-4+deb12u1+b1", "1.35.0"),
        ("2.38.1", "2.38.1"),
    ],
)
def test_upstream_version(debian: str, upstream: str) -> None:
    assert upstream_version(debian) == upstream


def test_upstream_version_rejects_junk() -> None:
    with pytest.raises(InvalidArgument):
        upstream_version("abc")


def test_with_version_sets_env_and_adds_tags() -> None:
    pg = one("postgres").with_version("15.21-0+deb12u1")
    assert pg.tags == ("postgres:15", "postgres:latest", "postgres:15.21")
    assert pg.config.env_dict()["PG_VERSION"] == "15.21-0+deb12u1"
    assert pg.has_tag("postgres:15.21")

    redis = one("redis").with_version("5:7.0.16-1~deb12u1")
    assert redis.config.env_dict()["REDIS_VERSION"] == "7.0.16"
    assert "redis:7.0.16" in redis.tags

    slim = one("python:3.11-slim").with_version("3.11.2-6+deb12u9")
    assert slim.tags[-1] == "python:3.11.2-slim"
    assert slim.config.env_dict()["PYTHON_VERSION"] == "3.11.2"

    bb = one("busybox").with_version("1:1.35.0-4+deb12u1+b1")
    assert bb.tags == ("busybox:latest", "busybox:1.35", "busybox:1.35.0")

    debian = one("debian")
    assert debian.with_version("") is debian


def test_with_version_keeps_env_order() -> None:
    before = one("postgres").config.env
    after = one("postgres").with_version("15.99-1").config.env
    assert [e.split("=")[0] for e in before] == [e.split("=")[0] for e in after]


def test_recipes_are_hashable_values() -> None:
    assert len(set(RECIPES)) == len(RECIPES)


def _shipped(name: str) -> str:
    return str(resources.files("dockyard.engine.bootstrap").joinpath("files", name))


@pytest.mark.parametrize(
    ("name", "shell"), [("redis-entrypoint.sh", "sh"), ("postgres-entrypoint.sh", "bash")]
)
def test_entrypoint_scripts_parse(name: str, shell: str) -> None:
    path = _shipped(name)
    with open(path, encoding="utf-8") as f:
        first = f.readline()
    assert first.startswith("#!") and shell in first
    exe = shutil.which(shell)
    assert exe is not None
    subprocess.run([exe, "-n", path], check=True)
    if shell == "sh" and shutil.which("dash"):  # POSIX sh, not bash: dash must parse it too
        subprocess.run(["dash", "-n", path], check=True)


def test_every_recipe_file_is_shipped() -> None:
    for recipe in RECIPES:
        for spec in recipe.files:
            assert (
                resources.files("dockyard.engine.bootstrap")
                .joinpath("files", spec.source)
                .is_file()
            )


def test_postgres_entrypoint_has_official_messages() -> None:
    with open(_shipped("postgres-entrypoint.sh"), encoding="utf-8") as f:
        text = f.read()
    assert "Error: Database is uninitialized and superuser password is not specified." in text
    assert "You must specify POSTGRES_PASSWORD to a non-empty value for the" in text
    assert "PostgreSQL init process complete; ready for start up." in text
    assert "setpriv --reuid=postgres --regid=postgres --init-groups" in text


def _run_redis_entrypoint(*args: str) -> list[str]:
    """The redis entrypoint's argument rewriting, as a non-root user would see it,
    with `exec "$@"` replaced by printing the arguments."""
    with open(_shipped("redis-entrypoint.sh"), encoding="utf-8") as f:
        script = f.read().replace('exec "$@"', 'printf "%s\\n" "$@"')
    script = script.replace("\"$(id -u)\" = '0'", "\"1000\" = '0'")
    out = subprocess.run(
        ["sh", "-c", script, "docker-entrypoint.sh", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.splitlines()


def test_redis_entrypoint_arguments(tmp_path: Path) -> None:
    assert _run_redis_entrypoint("redis-server") == ["redis-server", "--protected-mode", "no"]
    assert _run_redis_entrypoint("--appendonly", "yes") == [
        "redis-server",
        "--protected-mode",
        "no",
        "--appendonly",
        "yes",
    ]
    assert _run_redis_entrypoint("redis-cli", "ping") == ["redis-cli", "ping"]
    conf = tmp_path / "redis.conf"
    conf.write_text("port 7000\n")
    assert _run_redis_entrypoint(str(conf), "--port", "7001") == [
        "redis-server",
        str(conf),
        "--protected-mode",
        "no",
        "--port",
        "7001",
    ]
    conf.write_text("protected-mode yes\n")
    assert _run_redis_entrypoint(str(conf)) == ["redis-server", str(conf)]


# --- rootfs helpers that need neither root nor the network ---------------------------


def test_dpkg_version(tmp_path: Path) -> None:
    status = tmp_path / "var/lib/dpkg/status"
    status.parent.mkdir(parents=True)
    status.write_text(
        "Package: redis-tools\nStatus: install ok installed\nVersion: 5:7.0.15-1~deb12u10\n\n"
        "Package: redis-server\nStatus: deinstall ok config-files\nVersion: 5:7.0.11-1\n\n"
        "Package: postgresql-15\nStatus: install ok installed\nArchitecture: amd64\n"
        "Description: x\n more text: here\nVersion: 15.20-0+deb12u1\n"
    )
    assert _tree.dpkg_version(tmp_path, "postgresql-15") == "15.20-0+deb12u1"
    assert _tree.dpkg_version(tmp_path, "redis-tools") == "5:7.0.15-1~deb12u10"
    assert _tree.dpkg_version(tmp_path, "redis-server") == ""  # not installed
    assert _tree.dpkg_version(tmp_path / "nowhere", "bash") == ""


def test_inside_refuses_symlinks_and_dotdot(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "run").symlink_to("/run")
    assert _tree.inside(tmp_path, "/run/postgresql") == tmp_path / "run" / "postgresql"
    for bad in ("/var/run/postgresql", "/../etc", "relative", "/"):
        with pytest.raises(InvalidArgument):
            _tree.inside(tmp_path, bad)


def _make_tree(root: Path) -> None:
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/tool").write_text("#!/bin/sh\n")
    (root / "usr/bin/tool").chmod(0o755)
    (root / "bin").symlink_to("usr/bin")
    old = root / "usr/bin/from-a-deb"
    old.write_text("packaged\n")
    os.utime(old, ns=(1_600_000_000_500_000_000, 1_600_000_000_500_000_000))


def test_tar_is_reproducible_and_docker_shaped(tmp_path: Path) -> None:
    if shutil.which("tar") is None:
        pytest.skip("needs GNU tar")
    tars = []
    for name in ("a", "b"):
        since = time.time() - 1
        root = tmp_path / name
        root.mkdir()
        _make_tree(root)
        time.sleep(0.05)
        _tree.normalise_mtimes(root, since=since, epoch=1_700_000_000)
        out = tmp_path / f"{name}.tar"
        _tree.write_tar(root, out)
        tars.append(out.read_bytes())
    assert tars[0] == tars[1]
    with tarfile.open(tmp_path / "a.tar") as tf:
        entries = {m.name: m for m in tf.getmembers()}
    assert sorted(entries) == ["bin", "usr", "usr/bin", "usr/bin/from-a-deb", "usr/bin/tool"]
    assert entries["bin"].issym()
    assert entries["usr/bin/tool"].mtime == 1_700_000_000  # made by the build
    assert entries["usr/bin/from-a-deb"].mtime == 1_600_000_000  # kept, whole seconds


def test_mounts_under_a_plain_dir_is_empty(tmp_path: Path) -> None:
    assert _tools.mounts_under(tmp_path) == []
    assert _tools.mounts_under(Path("/")) != []


def test_remove_tree(tmp_path: Path) -> None:
    victim = tmp_path / "tree"
    (victim / "a/b").mkdir(parents=True)
    (victim / "a/b/f").write_text("x")
    _tools.remove_tree(victim)
    assert not victim.exists()
    _tools.remove_tree(victim)  # already gone: fine


def test_build_needs_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(Unsupported):
        build_rootfs_tar(RECIPES[0], tmp_path / "x.tar", workdir=tmp_path, progress=print)
    assert list(tmp_path.iterdir()) == []


def test_missing_tool_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _: None)
    with pytest.raises(Unsupported) as info:
        _tools.require_tools("mmdebstrap")
    assert info.value.hint is not None and "apt-get install" in info.value.hint
    assert "mmdebstrap" in info.value.hint


def test_tool_failure_carries_output_tail() -> None:
    with pytest.raises(ExternalToolFailed) as info:
        _tools.run_tool(
            ["sh", "-c", "echo first; echo 'E: the real reason' >&2; exit 3"],
            what="testing",
            hint="do something",
        )
    assert "exit status 3" in str(info.value)
    assert "E: the real reason" in str(info.value)
    assert info.value.hint == "do something"
