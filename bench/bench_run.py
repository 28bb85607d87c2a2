"""Container lifecycle benchmarks (issue 3): run, exec, ps, shim memory.

Run as root after ../shared/bench/peers.sh for the Docker/Podman columns; stop the
peers afterwards (../shared/bench/peers.sh stop).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _timing import docker_running, median_ms, podman_available, private_engine, report


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def bench_run(dy: list[str]) -> None:
    ours = median_ms([*dy, "run", "--rm", "--network", "none", "busybox", "true"], 20)
    peers = {}
    if podman_available():
        peers["podman"] = median_ms(
            ["podman", "run", "--rm", "--network", "none", "busybox", "true"], 10
        )
    if docker_running():
        peers["docker"] = median_ms(
            ["docker", "run", "--rm", "--network", "none", "busybox", "true"], 10
        )
    report("run --rm --network none busybox true", ours, peers, "at most 0.25x podman")


def bench_exec(dy: list[str]) -> None:
    subprocess.run([*dy, "run", "-d", "--name", "bench-exec", "busybox", "sleep", "600"],
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    peers = {}
    try:
        ours = median_ms([*dy, "exec", "bench-exec", "true"], 20)
        if docker_running():
            subprocess.run(["docker", "run", "-d", "--name", "dybench-exec", "busybox",
                            "sleep", "600"], check=True, stdout=subprocess.DEVNULL)  # fmt: skip
            peers["docker"] = median_ms(["docker", "exec", "dybench-exec", "true"], 20)
            subprocess.run(["docker", "rm", "-f", "dybench-exec"], stdout=subprocess.DEVNULL)
        if podman_available():
            subprocess.run(["podman", "run", "-d", "--name", "dybench-exec", "busybox",
                            "sleep", "600"], check=True, stdout=subprocess.DEVNULL)  # fmt: skip
            peers["podman"] = median_ms(["podman", "exec", "dybench-exec", "true"], 20)
            subprocess.run(["podman", "rm", "-f", "-t", "0", "dybench-exec"],
                           stdout=subprocess.DEVNULL)  # fmt: skip
        report("exec C true", ours, peers, "at most 0.5x docker")
    finally:
        subprocess.run([*dy, "rm", "-f", "bench-exec"], stdout=subprocess.DEVNULL)


def bench_ps(dy: list[str], n: int) -> None:
    names = [f"bench-ps-{i}" for i in range(n)]
    for name in names:
        subprocess.run([*dy, "run", "-d", "--name", name, "busybox", "sleep", "600"],
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    peers = {}
    try:
        ours = median_ms([*dy, "ps"], 20)
        shims = []
        for line in subprocess.run(["pgrep", "-f", "dockyard.runtime.shim"], capture_output=True,
                                   text=True).stdout.split():  # fmt: skip
            shims.append(rss_kb(int(line)))
        if docker_running():
            for name in names:
                subprocess.run(["docker", "run", "-d", "--network", "none", "--name",
                                f"dy{name}", "busybox", "sleep", "600"],
                               check=True, stdout=subprocess.DEVNULL)  # fmt: skip
            peers["docker"] = median_ms(["docker", "ps"], 20)
            subprocess.run(["docker", "rm", "-f", *[f"dy{n}" for n in names]],
                           stdout=subprocess.DEVNULL)  # fmt: skip
        report(f"ps with {n} running", ours, peers, "at most 1.0x docker")
        if shims:
            print(f"shim RSS: median {statistics.median(shims) / 1024:.1f} MB over {len(shims)} "
                  "shims (containerd-shim about 11.7 MB)")  # fmt: skip
    finally:
        subprocess.run([*dy, "rm", "-f", *names], stdout=subprocess.DEVNULL)


def main() -> None:
    with private_engine() as (dy, _):
        t0 = time.perf_counter()
        bench_run(dy)
        bench_exec(dy)
        bench_ps(dy, 20)
        bench_ps(dy, 100)
        print(f"(benchmarks took {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
