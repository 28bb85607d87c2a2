"""Small helpers for side-by-side timings (median of several runs)."""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path


def median_ms(
    cmd: Sequence[str],
    runs: int = 15,
    *,
    env: dict[str, str] | None = None,
    before: Callable[[], None] | None = None,
) -> float:
    times = []
    for _ in range(runs):
        if before is not None:
            before()
        t0 = time.perf_counter()
        subprocess.run(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env
        )
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def interleaved_ms(
    cmds: dict[str, Sequence[str]], runs: int = 15, settle: float = 0.15
) -> dict[str, float]:
    """The median of ``runs`` runs of each command, taken in turns (A B C, B C A, ...)
    rather than one block after another: this machine's speed drifts by a third within
    minutes, which skews the ratios of block-wise medians (0.24x to 0.35x for the same
    code in three passes of bench_run, before this). ``settle`` seconds before each run:
    a command's background work (podman's cleanup process) must not slow the next."""
    names = list(cmds)
    times: dict[str, list[float]] = {n: [] for n in names}
    for i in range(runs):
        k = i % len(names)
        for name in names[k:] + names[:k]:
            time.sleep(settle)  # what a command left running (podman's cleanup) ends first
            t0 = time.perf_counter()
            subprocess.run(cmds[name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           check=True)  # fmt: skip
            times[name].append((time.perf_counter() - t0) * 1000)
    return {n: statistics.median(t) for n, t in times.items()}


def peers_wanted() -> bool:
    """``--no-peers`` on any benchmark's command line: never call docker or podman
    (running podman changes the firewall; see the README)."""
    import sys

    return "--no-peers" not in sys.argv


def docker_running() -> bool:
    if not peers_wanted() or shutil.which("docker") is None:
        return False
    r = subprocess.run(["docker", "info"], capture_output=True)
    return r.returncode == 0


def podman_available() -> bool:
    return peers_wanted() and shutil.which("podman") is not None


def dockyard_cmd() -> list[str]:
    here = os.path.dirname(os.path.abspath(__file__))
    venv = os.path.join(here, "..", ".venv", "bin", "dockyard")
    return [os.path.abspath(venv)] if os.path.exists(venv) else ["dockyard"]


def report(name: str, ours: float, peers: dict[str, float], goal: str = "") -> None:
    parts = [f"{name}: dockyard {ours:.1f} ms"]
    for peer, ms in peers.items():
        parts.append(f"{peer} {ms:.1f} ms (ratio {ours / ms:.2f}x)")
    if goal:
        parts.append(f"goal: {goal}")
    print("; ".join(parts))


@contextlib.contextmanager
def private_engine() -> Iterator[tuple[list[str], Path]]:
    """A dockyard command line on a private root with busybox bootstrapped, and a
    scratch directory; every container, the root and the runroot go afterwards, also
    when the benchmark is stopped by SIGTERM (``timeout``; a hung peer once left a
    root with 100 containers behind)."""
    import signal
    import sys

    def stopped(signum: int, frame: object) -> None:
        sys.exit(128 + signum)  # unwinds: the finally below removes what was made

    before = signal.signal(signal.SIGTERM, stopped)
    work = Path(tempfile.mkdtemp(prefix="dybench-", dir="/var/tmp"))
    run = Path(tempfile.mkdtemp(prefix="dyb", dir="/tmp"))
    dy = [*dockyard_cmd(), "--root", str(work / "root"), "--runroot", str(run)]
    try:
        subprocess.run([*dy, "bootstrap", "-q", "busybox"], check=True, stdout=subprocess.DEVNULL)
        yield dy, work
    finally:
        ids = subprocess.run([*dy, "ps", "-aq"], capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run([*dy, "rm", "-f", *ids], stdout=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(run, ignore_errors=True)
        signal.signal(signal.SIGTERM, before)
