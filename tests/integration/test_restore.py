"""Reboot and crash recovery: `system restore` repairs the store and brings back
always/unless-stopped containers; a CLI killed at random points leaves a store that
the next commands read and clean completely."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.root


class Engine:
    def __init__(self, root: Path, runroot: Path) -> None:
        self.root, self.runroot = root, runroot

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "dockyard", "--root", str(self.root),
                "--runroot", str(self.runroot), *args]  # fmt: skip

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=60)
        if check:
            assert r.returncode == 0, f"{args}: {r.stdout}\n{r.stderr}"
        return r


@pytest.fixture(scope="module")
def busybox_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("restore") / "root"
    run = Path(tempfile.mkdtemp(prefix="dy", dir="/tmp"))
    Engine(root, run).run("bootstrap", "-q", "busybox")
    shutil.rmtree(run, ignore_errors=True)
    return root


@pytest.fixture
def engine(busybox_root: Path) -> Iterator[Engine]:
    run = Path(tempfile.mkdtemp(prefix="dy", dir="/tmp"))
    e = Engine(busybox_root, run)
    try:
        yield e
    finally:
        ids = e.run("ps", "-aq", "--no-trunc", check=False).stdout.split()
        if ids:
            e.run("rm", "-f", *ids, check=False)
        shutil.rmtree(run, ignore_errors=True)
        mounts = Path("/proc/self/mountinfo").read_text()
        assert str(busybox_root) not in mounts


def _status(e: Engine, name: str) -> str:
    return e.run("inspect", "-f", "{{.State.Status}}", name).stdout.strip()


def _simulate_reboot(e: Engine, names: list[str]) -> None:
    """Kill every shim and container with SIGKILL and wipe the runroot, as a reboot does."""
    for name in names:
        pid = int(e.run("inspect", "-f", "{{.State.Pid}}", name).stdout)
        state = (e.root / "containers").glob("*/state.json")
        for f in state:
            import json

            s = json.loads(f.read_text())
            if s.get("pid") == pid and s.get("shim_pid"):
                os.kill(s["shim_pid"], signal.SIGKILL)
        if pid:
            os.kill(pid, signal.SIGKILL)
    time.sleep(0.3)
    # a reboot also takes the network namespaces (bind mounts in the runroot), the
    # bridges and the nft table
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for mp in reversed(points):
        if mp.startswith(str(e.runroot) + "/"):
            subprocess.run(["umount", "-l", mp], check=False)
    from dockyard.engine.network_janitor import collect_by_name
    from dockyard.network.bridge import root_tag

    collect_by_name(root_tag(e.root))
    shutil.rmtree(e.runroot)
    e.runroot.mkdir()


def test_restore_after_reboot(engine: Engine) -> None:
    e = engine
    e.run("run", "-d", "--name", "alw", "--restart", "always", "busybox", "sleep", "300")
    e.run("run", "-d", "--name", "uns", "--restart", "unless-stopped", "busybox", "sleep", "300")
    e.run("run", "-d", "--name", "unsstopped", "--restart", "unless-stopped", "busybox",
          "sleep", "300")  # fmt: skip
    e.run("run", "-d", "--name", "plain", "busybox", "sleep", "300")
    e.run("stop", "-t", "0", "unsstopped")
    _simulate_reboot(e, ["alw", "uns", "plain"])
    assert _status(e, "alw") in ("exited", "dead")
    out = e.run("system", "restore").stdout
    assert "restarted" in out
    assert _status(e, "alw") == "running"
    assert _status(e, "uns") == "running"
    assert _status(e, "unsstopped") == "exited"
    assert _status(e, "plain") == "exited"


def test_restore_removes_rm_containers_a_crash_left(engine: Engine) -> None:
    """A --rm container whose shim died with it (a crash, a reboot) never ran its
    removal; restore does it, as Docker's daemon does when it starts."""
    e = engine
    # --network none: the bridge of the test before may still be collected by that
    # runroot's janitor (the network lock is per runroot; these tests share one root)
    e.run("run", "-d", "--rm", "--network", "none", "--name", "transient", "busybox", "sleep",
          "300")  # fmt: skip
    kept = e.run("run", "-d", "--network", "none", "--name", "kept", "busybox", "sleep",
                 "300").stdout.strip()  # fmt: skip
    _simulate_reboot(e, ["transient", "kept"])
    assert _status(e, "transient") in ("exited", "dead")
    e.run("system", "restore")
    names = e.run("ps", "-a", "--format", "{{.Names}}").stdout.split()
    assert names == ["kept"]
    assert {p.name for p in (e.root / "overlay").iterdir() if len(p.name) == 64} == {kept}


def test_kill_cli_at_random_points(engine: Engine) -> None:
    e = engine
    rng = random.Random(1234)
    for i in range(8):
        proc = subprocess.Popen(e.argv("run", "-d", "--name", f"k{i}", "busybox", "sleep", "300"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        time.sleep(rng.uniform(0.0, 0.15))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    listed = e.run("ps", "-a", "--format", "{{.Names}} {{.State}}").stdout.split("\n")
    assert all(line.split()[1] in ("created", "running", "exited") for line in listed if line)
    ids = e.run("ps", "-aq", "--no-trunc").stdout.split()
    if ids:
        e.run("rm", "-f", *ids)
    # orphans of a create that was cut short are young: make them old enough to collect
    old = time.time() - 3600
    for d in [*(e.root / "containers").glob("*"), *(e.root / "overlay").glob("*")]:
        os.utime(d, (old, old))
    e.run("system", "restore")
    assert [p.name for p in (e.root / "containers").iterdir()] == []
    assert [p.name for p in (e.root / "overlay").iterdir() if len(p.name) == 64] == []


def test_restore_makes_an_older_roots_container_dirs_top_directories(engine: Engine) -> None:
    """Roots made before ``dockyard._util.fs.make_dir_under_top`` lack the flag that
    spreads each container's files over the disk's block groups; restore sets it."""
    e = engine
    e.run("run", "--rm", "--network", "none", "busybox", "true")
    tops = [e.root / "containers", e.root / "overlay"]
    if subprocess.run(["lsattr", "-d", str(tops[0])], capture_output=True).returncode != 0:
        pytest.skip("this filesystem has no inode flags (chattr +T): nothing to set")
    assert all("T" in _attrs(d) for d in tops)  # made so by this version
    subprocess.run(["chattr", "-T", *map(str, tops)], check=True)  # as an older one made them
    assert not any("T" in _attrs(d) for d in tops)
    e.run("system", "restore")
    assert all("T" in _attrs(d) for d in tops)


def _attrs(d: Path) -> str:
    out = subprocess.run(["lsattr", "-d", str(d)], capture_output=True, text=True, check=True)
    return out.stdout.split()[0]
