"""dockyard bootstrap end to end: tags, config, reproducible IDs, bad names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import CLI

pytestmark = pytest.mark.root


def test_busybox_twice_same_id(cli: CLI, tmp_path: Path) -> None:
    first = cli.ok("bootstrap", "-q", "busybox").split()
    other = CLI(tmp_path / "other", cli.capsys)
    second = other.ok("bootstrap", "-q", "busybox").split()
    assert first == second and len(first) == 1
    tags = cli.ok("images", "--format", "{{.Repository}}:{{.Tag}}").split()
    assert "busybox:latest" in tags
    data = json.loads(cli.ok("image", "inspect", "busybox"))[0]
    assert data["Id"] == first[0]
    assert data["Config"]["Cmd"] == ["sh"]
    assert any(e.startswith("PATH=") for e in data["Config"]["Env"])
    # the store holds the layer once, with no ingest leftovers or temp trees
    assert list((cli.root / "content" / "ingest").iterdir()) == []
    assert [p.name for p in (cli.root / "layers").iterdir() if p.name.startswith(".")] == []


def test_progress_and_quiet(cli: CLI) -> None:
    r = cli("bootstrap", "busybox")
    assert r.code == 0
    assert "busybox" in r.err  # progress goes to stderr
    assert "busybox:latest" in r.out
    r = cli("bootstrap", "--quiet", "busybox")
    assert r.err == ""


def test_unknown_name_lists_what_exists(cli: CLI) -> None:
    r = cli("bootstrap", "alpine")
    assert r.code == 1
    for name in ("busybox", "debian:bookworm", "python:3.11", "redis:7", "postgres:15"):
        assert name in r.err
    assert cli.ok("images", "-q") == ""


@pytest.mark.slow
def test_python_image_tags_and_config(cli: CLI) -> None:
    cli.ok("bootstrap", "-q", "python:3.11")
    tags = set(cli.ok("images", "--format", "{{.Repository}}:{{.Tag}}").split())
    assert {"python:3.11", "python:3", "python:latest"} <= tags
    cfg = json.loads(cli.ok("image", "inspect", "-f", "{{json .Config}}", "python"))
    assert cfg["Cmd"] == ["python3"]
    env = dict(e.split("=", 1) for e in cfg["Env"])
    assert env["LANG"] == "C.UTF-8"
    assert env["PATH"].startswith("/usr/local/bin:")
