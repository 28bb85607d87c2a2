"""runtime/cgroup_warm.py: the warm-up thread of cgroup v2 hosts (this machine's
controllers are v1, where containers join through ``tasks`` and nothing is warmed),
driven here against a plain file standing in for ``cgroup.procs``."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from dockyard.runtime import cgroup_warm


@pytest.fixture
def procs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    f = tmp_path / "cgroup.procs"
    f.write_text("")
    monkeypatch.setattr(cgroup_warm, "_started", False)
    monkeypatch.setattr(cgroup_warm, "_pending", None)
    monkeypatch.setattr(cgroup_warm, "_own_procs_file", lambda: str(f))
    real_exists = os.path.exists
    v2 = "/sys/fs/cgroup/cgroup.controllers"
    monkeypatch.setattr(os.path, "exists", lambda p: p == v2 or real_exists(p))
    if os.geteuid() != 0:
        pytest.skip("the warm-up runs for root only")
    return f


def test_writes_until_settled_then_stops(procs: Path) -> None:
    cgroup_warm.start()
    time.sleep(0.02)  # a few rounds of 4 ms
    cgroup_warm.settle()
    written = procs.read_text()
    assert written and set(written) == {"0"}  # its own thread group, again and again
    time.sleep(0.02)
    assert procs.read_text() == written  # stopped: nothing more
    assert cgroup_warm._pending is None


def test_once_per_process_and_settle_without_start(procs: Path) -> None:
    cgroup_warm.settle()  # nothing started: a no-op
    cgroup_warm.start()
    first = cgroup_warm._pending
    cgroup_warm.start()
    assert cgroup_warm._pending is first
    cgroup_warm.settle()


def test_nothing_on_cgroup_v1(procs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os.path, "exists", lambda p: False)
    cgroup_warm.start()
    assert cgroup_warm._pending is None
    assert procs.read_text() == ""
