"""Networking benchmarks (issue 4): `run --rm` on the default bridge network, and
container-to-container TCP throughput over a bridge vs the host's loopback.

Run as root after ../shared/bench/peers.sh for the Docker/Podman columns; stop the
peers afterwards (../shared/bench/peers.sh stop): dockerd sets the FORWARD policy to
drop, which also drops Dockyard's forwarded traffic (see the README), so the
throughput part runs before the peers are asked anything that starts dockerd's
networking, and reports "blocked" if the policy is already in place.

Throughput uses the host's python on both sides (in the containers, mounted
read-only, and on the host), so the two numbers compare the path, not the tools.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _timing import docker_running, median_ms, podman_available, private_engine, report

MB = 400  # megabytes sent per throughput run
# the host's python on both sides (read-only in the containers), so that the two
# numbers compare the path, not the tools
HOST_PYTHON = ("-v", "/usr:/usr:ro", "-v", "/usr/lib:/lib:ro", "-v", "/usr/lib64:/lib64:ro")
SINK = (
    "import socket\n"
    "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('0.0.0.0', 5001)); s.listen()\n"
    "while True:\n"
    "    c, _ = s.accept()\n"
    "    buf = bytearray(1 << 20)\n"
    "    while c.recv_into(buf):\n"
    "        pass\n"
    "    c.close()\n"
)
SEND = (
    "import socket, sys, time\n"
    "c = socket.create_connection((sys.argv[1], 5001))\n"
    "chunk = bytes(1 << 20)\n"
    "t0 = time.perf_counter()\n"
    f"for _ in range({MB}):\n"
    "    c.sendall(chunk)\n"
    "c.shutdown(socket.SHUT_WR); c.recv(1); c.close()\n"
    f"print({MB} / (time.perf_counter() - t0))\n"
)


def bench_run_default_network(dy: list[str]) -> None:
    # one warm-up: the bridge and the nft table are made by the first run and then
    # linger (DOCKYARD_NETWORK_LINGER), as between back-to-back runs of a user
    subprocess.run([*dy, "run", "--rm", "busybox", "true"], check=True)
    # the network's part: the same run without a network (the rest is the common
    # path), the two alternating so that both see the same machine
    ours, none = interleaved_ms(
        [[*dy, "run", "--rm", "busybox", "true"],
         [*dy, "run", "--rm", "--network", "none", "busybox", "true"]], 20,
    )  # fmt: skip
    part = ours - none
    print(f"run --rm busybox true --network none: {none:.1f} ms (network part: {part:.1f} ms)")
    peers = {}
    # --no-peers: docker and podman change the firewall (see the README); not always wanted
    if "--no-peers" not in sys.argv:
        if docker_running():
            peers["docker"] = median_ms(["docker", "run", "--rm", "busybox", "true"], 10)
        if podman_available():
            peers["podman"] = median_ms(["podman", "run", "--rm", "busybox", "true"], 10)
    report("run --rm busybox true (default network)", ours, peers, "at most 0.2x docker")


def interleaved_ms(cmds: list[list[str]], runs: int) -> list[float]:
    """The median time of each command, run in turn ``runs`` times."""
    times: list[list[float]] = [[] for _ in cmds]
    for _ in range(runs):
        for cmd, out in zip(cmds, times, strict=True):
            t0 = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            out.append((time.perf_counter() - t0) * 1000)
    return [statistics.median(t) for t in times]


def loopback_mbps() -> float:
    sink = subprocess.Popen([sys.executable, "-c", SINK])
    try:
        time.sleep(0.3)
        out = subprocess.run([sys.executable, "-c", SEND, "127.0.0.1"], check=True,
                             capture_output=True, text=True).stdout  # fmt: skip
        return float(out)
    finally:
        sink.kill()
        sink.wait()


def bridge_mbps(dy: list[str]) -> float:
    subprocess.run([*dy, "network", "create", "benchnet"], check=True, stdout=subprocess.DEVNULL)
    try:
        for name, cmd in (
            ("bench-sink", ["-c", SINK]),
            ("bench-src", ["-c", "import time; time.sleep(600)"]),
        ):
            subprocess.run([*dy, "run", "-d", "--name", name, "--network", "benchnet", *HOST_PYTHON,
                            "busybox", "/usr/bin/python3", *cmd],
                           check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        addr = subprocess.run(
            [*dy, "inspect", "-f", "{{.NetworkSettings.Networks.benchnet.IPAddress}}",
             "bench-sink"], check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        time.sleep(0.5)
        out = subprocess.run([*dy, "exec", "bench-src", "/usr/bin/python3", "-c", SEND, addr],
                             check=True, capture_output=True, text=True).stdout  # fmt: skip
        return float(out)
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
    # the lingering bridge and the nft table go with the janitor, which deletes what
    # carries a removed root's name
    with private_engine() as (dy, _):
        t0 = time.perf_counter()
        bench_throughput(dy)
        bench_run_default_network(dy)
        print(f"(benchmarks took {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
