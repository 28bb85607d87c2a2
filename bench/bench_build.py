"""Build benchmarks (issue 5): a 3-step busybox Dockerfile cold and fully cached, a
10,000-file context, and a one-file RUN on a 160 MB root filesystem.

Run as root after ../shared/bench/peers.sh for the Docker/Podman columns; stop the
peers afterwards (../shared/bench/peers.sh stop). ``--no-peers``: dockyard only (no
``docker info``, no podman; peers.sh changes the firewall, which the network tests mind).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _timing import docker_running, median_ms, podman_available, private_engine, report

THREE_STEPS = "FROM busybox\nCOPY hello.txt /hello.txt\nRUN echo built > /built\n"
PEERS = "--no-peers" not in sys.argv
LEGACY = {**os.environ, "DOCKER_BUILDKIT": "0"}
# BuildKit through Debian's docker 20.10 CLI (it speaks BuildKit's session API itself;
# the 28.x CLI first in PATH needs buildx, which is not installed here)
BUILDKIT_CLI = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else "docker"
BUILDKIT = {**os.environ, "DOCKER_BUILDKIT": "1"}


def _context(parent: Path, name: str, dockerfile: str, files: int = 0) -> Path:
    ctx = parent / name
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(dockerfile)
    (ctx / "hello.txt").write_text("hello\n")
    for i in range(files):
        sub = ctx / "src" / f"d{i // 100:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i:05d}.txt").write_text(f"file {i}\n")
    return ctx


def bench_three_steps(dy: list[str], work: Path) -> None:
    ctx = str(_context(work, "three", THREE_STEPS))
    cold = median_ms([*dy, "build", "--no-cache", "-q", ctx], 10)
    subprocess.run([*dy, "build", "-q", ctx], check=True, stdout=subprocess.DEVNULL)
    cached = median_ms([*dy, "build", "-q", ctx], 15)
    cold_peers: dict[str, float] = {}
    cached_peers: dict[str, float] = {}
    if PEERS and docker_running():
        cmd = ["docker", "build", "-q", ctx]
        bk = [BUILDKIT_CLI, "build", "-q", ctx]
        no_cache = [BUILDKIT_CLI, "build", "--no-cache", "-q", ctx]
        cold_peers["docker buildkit"] = median_ms(no_cache, 5, env=BUILDKIT)
        cold_peers["docker legacy"] = median_ms([*cmd[:2], "--no-cache", *cmd[2:]], 5, env=LEGACY)
        subprocess.run(cmd, env=LEGACY, check=True, capture_output=True)
        cached_peers["docker legacy"] = median_ms(cmd, 10, env=LEGACY)
        subprocess.run(bk, env=BUILDKIT, check=True, capture_output=True)
        cached_peers["docker buildkit"] = median_ms(bk, 10, env=BUILDKIT)
    if PEERS and podman_available():
        cmd = ["podman", "build", "-q", ctx]
        cold_peers["podman"] = median_ms([*cmd[:2], "--no-cache", *cmd[2:]], 5)
        subprocess.run(cmd, check=True, capture_output=True)
        cached_peers["podman"] = median_ms(cmd, 10)
    report("build 3 steps busybox, cold (--no-cache)", cold, cold_peers,
           "at most 0.5x docker buildkit")  # fmt: skip
    report("build 3 steps busybox, fully cached", cached, cached_peers,
           "at most 0.5x docker legacy")  # fmt: skip


def bench_big_context(dy: list[str], work: Path) -> None:
    dockerfile = "FROM busybox\nCOPY src /src\n"
    ctx = str(_context(work, "big", dockerfile, files=10_000))
    cold = median_ms([*dy, "build", "--no-cache", "-q", ctx], 3)
    subprocess.run([*dy, "build", "-q", ctx], check=True, stdout=subprocess.DEVNULL)
    cached = median_ms([*dy, "build", "-q", ctx], 5)
    peers: dict[str, float] = {}
    if PEERS and docker_running():
        cmd = ["docker", "build", "-q", ctx]
        bk = [BUILDKIT_CLI, "build", "-q", ctx]
        subprocess.run(cmd, env=LEGACY, check=True, capture_output=True)
        peers["docker legacy"] = median_ms(cmd, 3, env=LEGACY)
        subprocess.run(bk, env=BUILDKIT, check=True, capture_output=True)
        peers["docker buildkit"] = median_ms(bk, 3, env=BUILDKIT)
    report("build COPY of 10,000 files, cached (context hashing)", cached, peers)
    report("build COPY of 10,000 files, cold", cold, {})


def bench_commit_independent_of_size(dy: list[str], work: Path) -> None:
    base = _context(work, "bigbase", "FROM busybox\nRUN dd if=/dev/zero of=/big bs=1M count=160\n")
    subprocess.run([*dy, "build", "-q", "-t", "dybench-big", str(base)], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    small = _context(work, "small", "FROM busybox\nRUN echo one > /one\n")
    large = _context(work, "large", "FROM dybench-big\nRUN echo one > /one\n")
    on_small = median_ms([*dy, "build", "--no-cache", "-q", str(small)], 7)
    on_large = median_ms([*dy, "build", "--no-cache", "-q", str(large)], 7)
    print(
        f"RUN changing one file: on busybox {on_small:.1f} ms, on busybox+160 MB "
        f"{on_large:.1f} ms (ratio {on_large / on_small:.2f}x; goal: about 1x)"
    )


def main() -> None:
    with private_engine() as (dy, work):
        t0 = time.perf_counter()
        bench_three_steps(dy, work)
        bench_big_context(dy, work)
        bench_commit_independent_of_size(dy, work)
        print(f"(benchmarks took {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
