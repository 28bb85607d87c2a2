"""Small helpers for side-by-side timings (median of several runs)."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence


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


def docker_running() -> bool:
    if shutil.which("docker") is None:
        return False
    r = subprocess.run(["docker", "info"], capture_output=True)
    return r.returncode == 0


def podman_available() -> bool:
    return shutil.which("podman") is not None


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
