"""Networking benchmarks (issue 4): `run --rm` on the default bridge network, and
container-to-container TCP throughput over a bridge vs the host's loopback.

Run as root after ../shared/bench/peers.sh for the Docker/Podman columns; stop the
peers afterwards (../shared/bench/peers.sh stop): dockerd sets the FORWARD policy to
drop, which also drops Dockyard's forwarded traffic (see the README), so the
throughput part runs before the peers are asked anything that starts dockerd's
networking, and reports "blocked" if the policy is already in place.

Throughput uses busybox ``nc`` on both sides (in the containers and on the host), so
the two numbers compare the path, not the tools.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _timing import docker_running, dockyard_cmd, median_ms, podman_available, report

MB = 400  # megabytes sent per throughput run
SEND = f"dd if=/dev/zero bs=1M count={MB} 2>/dev/null | nc -w 2 {{addr}} 5001"
SINK = "nc -l -p 5001 >/dev/null"


def bench_run_default_network(dy: list[str]) -> None:
    # one warm-up: the bridge and the nft table are made by the first run and then
    # linger (DOCKYARD_NETWORK_LINGER), as between back-to-back runs of a user
    subprocess.run([*dy, "run", "--rm", "busybox", "true"], check=True)
    ours = median_ms([*dy, "run", "--rm", "busybox", "true"], 20)
    peers = {}
    if docker_running():
        peers["docker"] = median_ms(["docker", "run", "--rm", "busybox", "true"], 10)
    if podman_available():
        peers["podman"] = median_ms(["podman", "run", "--rm", "busybox", "true"], 10)
    report("run --rm busybox true (default network)", ours, peers, "at most 0.2x docker")


def _timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def loopback_mbps() -> float:
    busybox = shutil.which("busybox")
    if busybox is None:
        raise SystemExit("busybox (busybox-static) is needed on the host")
    sink = subprocess.Popen(["sh", "-c", f"{busybox} {SINK}"])
    try:
        time.sleep(0.3)
        send = SEND.replace("nc ", f"{busybox} nc ").format(addr="127.0.0.1")
        secs = _timed(["sh", "-c", send])
    finally:
        sink.wait(10)
    return MB / secs


def bridge_mbps(dy: list[str]) -> float:
    subprocess.run([*dy, "network", "create", "benchnet"], check=True, stdout=subprocess.DEVNULL)
    try:
        subprocess.run([*dy, "run", "-d", "--name", "bench-sink", "--network", "benchnet",
                        "busybox", "sh", "-c", f"while true; do {SINK}; done"],
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        addr = subprocess.run(
            [*dy, "inspect", "-f", "{{.NetworkSettings.Networks.benchnet.IPAddress}}",
             "bench-sink"], check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        subprocess.run([*dy, "run", "-d", "--name", "bench-src", "--network", "benchnet",
                        "busybox", "sleep", "600"],
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        time.sleep(0.3)
        secs = _timed([*dy, "exec", "bench-src", "sh", "-c", SEND.format(addr=addr)])
        return MB / secs
    finally:
        subprocess.run([*dy, "rm", "-f", "bench-sink", "bench-src"], stdout=subprocess.DEVNULL)
        subprocess.run([*dy, "network", "rm", "benchnet"], stdout=subprocess.DEVNULL)


def bench_throughput(dy: list[str]) -> None:
    host = max(loopback_mbps() for _ in range(3))
    bridge = max(bridge_mbps(dy) for _ in range(3))
    print(
        f"TCP throughput, container to container over a bridge: {bridge:.0f} MB/s; "
        f"host loopback: {host:.0f} MB/s (ratio {bridge / host:.2f}x; goal: at least 0.8x)"
    )


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="dybench-", dir="/var/tmp"))
    run = Path(tempfile.mkdtemp(prefix="dyb", dir="/tmp"))
    dy = [*dockyard_cmd(), "--root", str(work / "root"), "--runroot", str(run)]
    try:
        subprocess.run([*dy, "bootstrap", "-q", "busybox"], check=True, stdout=subprocess.DEVNULL)
        t0 = time.perf_counter()
        bench_throughput(dy)
        bench_run_default_network(dy)
        print(f"(benchmarks took {time.perf_counter() - t0:.0f} s)")
    finally:
        ids = subprocess.run([*dy, "ps", "-aq"], capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run([*dy, "rm", "-f", *ids], stdout=subprocess.DEVNULL)
        subprocess.run([*dy, "network", "prune", "-f"], stdout=subprocess.DEVNULL)
        # the lingering bridge and the nft table go with the janitor, which deletes
        # what carries a removed root's name
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(run, ignore_errors=True)


if __name__ == "__main__":
    main()
