"""Container lifecycle benchmarks (issue 3): run, exec, ps, shim memory.

Run as root after ../shared/bench/peers.sh for the Docker/Podman columns; stop the
peers afterwards (../shared/bench/peers.sh stop). ``--scale`` adds ``ps`` with 1,000
containers running, of each engine in turn (~10 minutes).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _timing import docker_running, interleaved_ms, podman_available, private_engine, report


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def bench_run(dy: list[str]) -> None:
    cmds = {"dockyard": [*dy, "run", "--rm", "--network", "none", "busybox", "true"]}
    if podman_available():
        cmds["podman"] = ["podman", "run", "--rm", "--network", "none", "busybox", "true"]
    if docker_running():
        cmds["docker"] = ["docker", "run", "--rm", "--network", "none", "busybox", "true"]
    ms = interleaved_ms(cmds, 15)
    ours = ms.pop("dockyard")
    report("run --rm --network none busybox true", ours, ms, "at most 0.25x podman")


def bench_exec(dy: list[str]) -> None:
    subprocess.run([*dy, "run", "-d", "--name", "bench-exec", "busybox", "sleep", "600"],
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    cmds = {"dockyard": [*dy, "exec", "bench-exec", "true"]}
    peers = [p for p, up in (("docker", docker_running()), ("podman", podman_available())) if up]
    try:
        for peer in peers:
            subprocess.run([peer, "run", "-d", "--name", "dybench-exec", "busybox", "sleep",
                            "600"], check=True, stdout=subprocess.DEVNULL)  # fmt: skip
            cmds[peer] = [peer, "exec", "dybench-exec", "true"]
        ms = interleaved_ms(cmds, 20)
        ours = ms.pop("dockyard")
        report("exec C true", ours, ms, "at most 0.5x docker")
    finally:
        subprocess.run([*dy, "rm", "-f", "bench-exec"], stdout=subprocess.DEVNULL)
        for peer in peers:
            subprocess.run([peer, "rm", "-f", "dybench-exec"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)  # fmt: skip


def bench_ps(dy: list[str], n: int) -> None:
    names = [f"bench-ps-{i}" for i in range(n)]
    docker = docker_running()
    cmds = {"dockyard": [*dy, "ps"]}
    try:
        for name in names:
            subprocess.run([*dy, "run", "-d", "--name", name, "busybox", "sleep", "600"],
                           check=True, stdout=subprocess.DEVNULL)  # fmt: skip
            if docker:
                subprocess.run(["docker", "run", "-d", "--network", "none", "--name",
                                f"dy{name}", "busybox", "sleep", "600"],
                               check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        if docker:
            cmds["docker"] = ["docker", "ps"]
        ms = interleaved_ms(cmds, 20)
        ours = ms.pop("dockyard")
        shims = []
        for line in subprocess.run(["pgrep", "-f", "dockyard.runtime.shim"], capture_output=True,
                                   text=True).stdout.split():  # fmt: skip
            shims.append(rss_kb(int(line)))
        report(f"ps with {n} running", ours, ms, "at most 1.0x docker")
        if shims:
            print(f"shim RSS: median {statistics.median(shims) / 1024:.1f} MB over {len(shims)} "
                  "shims (containerd-shim about 11.7 MB)")  # fmt: skip
    finally:
        subprocess.run([*dy, "rm", "-f", *names], stdout=subprocess.DEVNULL)
        if docker:
            subprocess.run(["docker", "rm", "-f", *[f"dy{n}" for n in names]],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def ps_scale(engine: str, start: list[str], ps: list[str], rm: list[str], n: int) -> list[float]:
    """``ps`` (median of 10) with 100 and with ``n`` containers running, started by
    ``start + [name]`` and removed by ``rm + names`` afterwards, whatever happens."""
    names = [f"dyscale-{engine}-{i}" for i in range(n)]
    out = []
    try:
        for i, name in enumerate(names, 1):
            subprocess.run([*start, name, "busybox", "sleep", "3600"], check=True,
                           stdout=subprocess.DEVNULL)  # fmt: skip
            if i in (100, n):
                out.append(interleaved_ms({engine: ps}, 10)[engine])
    finally:
        for k in range(0, n, 100):
            subprocess.run([*rm, *names[k : k + 100]], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)  # fmt: skip
    return out


def bench_ps_scale(dy: list[str], n: int = 1000) -> None:
    """``ps`` from 100 to ``n`` running containers (--network none), one engine after
    the other: ``n`` of each at once would not fit in this machine's memory."""
    ours = ps_scale("dockyard", [*dy, "run", "-d", "--network", "none", "--name"], [*dy, "ps"],
                    [*dy, "rm", "-f"], n)  # fmt: skip
    line = f"ps with 100 / {n} running: dockyard {ours[0]:.1f} / {ours[1]:.1f} ms"
    if docker_running():
        theirs = ps_scale("docker", ["docker", "run", "-d", "--network", "none", "--name"],
                          ["docker", "ps"], ["docker", "rm", "-f"], n)  # fmt: skip
        line += (f"; docker {theirs[0]:.1f} / {theirs[1]:.1f} ms (ratio {ours[0] / theirs[0]:.2f}x"
                 f" / {ours[1] / theirs[1]:.2f}x)")  # fmt: skip
    print(line + f"; goal: at most 1.0x docker, flat up to {n}")


def main() -> None:
    with private_engine() as (dy, _):
        t0 = time.perf_counter()
        bench_run(dy)
        bench_exec(dy)
        bench_ps(dy, 20)
        bench_ps(dy, 100)
        if "--scale" in sys.argv:  # ~10 minutes: 1,000 containers of each engine
            bench_ps_scale(dy)
        print(f"(benchmarks took {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
