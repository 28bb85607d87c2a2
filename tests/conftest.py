"""Shared fixtures: a private engine root per test and an in-process CLI runner."""

from __future__ import annotations

import io
import os
import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dockyard.cli.main import main


@dataclass
class Result:
    code: int
    out: str
    err: str


class CLI:
    """Runs ``dockyard --root ROOT ...`` in-process and captures its output."""

    def __init__(self, root: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.root = root
        self.runroot = root / "run"
        self.capsys = capsys

    def __call__(self, *args: str) -> Result:
        self.capsys.readouterr()
        code = main(["--root", str(self.root), "--runroot", str(self.runroot), *args])
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def ok(self, *args: str) -> str:
        r = self(*args)
        assert r.code == 0, f"dockyard {' '.join(args)} -> {r.code}\n{r.out}\n{r.err}"
        return r.out


@pytest.fixture
def prefix() -> str:
    """A unique name prefix for objects a test makes."""
    return f"dyt{uuid.uuid4().hex[:6]}"


@pytest.fixture
def engine_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    return root


@pytest.fixture
def cli(engine_root: Path, capsys: pytest.CaptureFixture[str]) -> CLI:
    return CLI(engine_root, capsys)


def make_rootfs_tar(path: Path, files: dict[str, bytes], *, mtime: int = 1700000000) -> Path:
    """A small root filesystem tarball (directories implied by file paths)."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        dirs: set[str] = set()
        for name in sorted(files):
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d + "/")
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o755
                    info.mtime = mtime
                    tar.addfile(info)
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            info.mode = 0o755 if name.startswith("bin/") else 0o644
            info.mtime = mtime
            tar.addfile(info, io.BytesIO(files[name]))
    return path


@pytest.fixture
def rootfs_tar(tmp_path: Path) -> Path:
    return make_rootfs_tar(
        tmp_path / "rootfs.tar",
        {
            "bin/hello": b"#!/bin/sh\necho hello\n",
            "etc/passwd": b"root:x:0:0:root:/root:/bin/sh\n",
            "etc/os-release": b"NAME=test\n",
        },
    )


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("DOCKYARD_ROOT", raising=False)
    monkeypatch.delenv("DOCKYARD_RUNROOT", raising=False)
    yield


def is_root() -> bool:
    return os.geteuid() == 0
