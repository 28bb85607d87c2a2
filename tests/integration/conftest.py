"""Fixtures for the integration tests that run ``python -m dockyard`` as a program."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def dockyard() -> Iterator[list[str]]:
    """``python -m dockyard`` on a private root (busybox bootstrapped) and runroot; every
    container and both directories go afterwards."""
    root = Path(tempfile.mkdtemp(prefix="dyimp", dir="/var/tmp"))
    runroot = Path(tempfile.mkdtemp(prefix="dy", dir="/tmp"))
    argv = [sys.executable, "-m", "dockyard", "--root", str(root), "--runroot", str(runroot)]
    try:
        subprocess.run([*argv, "bootstrap", "-q", "busybox"], check=True, timeout=300)
        yield argv
    finally:
        ids = subprocess.run([*argv, "ps", "-aq"], capture_output=True, text=True).stdout
        if ids.split():
            subprocess.run([*argv, "rm", "-f", *ids.split()], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(runroot, ignore_errors=True)
