"""Build context hashing (issue 5): 10,000 small files, cold and warm, against
``docker build`` of the same context.

- in-process: what the builder does to key ``COPY src /src``: walk the context
  (``.dockerignore`` applied) and hash every file (content, mode, owner; not
  mtime). Cold: no hash memo (every file read); warm: the memo the engine keeps
  between builds (``build-hash-memo.json``: unchanged files are not read again).
- end to end, as root: ``dockyard build -q`` of ``FROM busybox`` + ``COPY src /src``
  fully cached, i.e. the context hashing plus the CLI and the cache lookups, beside
  ``docker build -q`` (legacy: the context tar sent to dockerd; BuildKit: the
  incremental context transfer), when ``docker info`` answers.

Docker is only measured when it is already running (../shared/bench/peers.sh
starts it; stop it afterwards); this script never starts it.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _timing import docker_running, median_ms, private_engine, report

FILES = 10_000
LEGACY = {**os.environ, "DOCKER_BUILDKIT": "0"}
BUILDKIT = {**os.environ, "DOCKER_BUILDKIT": "1"}
BUILDKIT_CLI = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else "docker"


def make_context(parent: Path) -> Path:
    ctx = parent / "ctx"
    for i in range(FILES):
        sub = ctx / "src" / f"d{i // 100:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i:05d}.txt").write_text(f"file {i}\n" * (1 + i % 7))
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY src /src\n")
    (ctx / ".dockerignore").write_text("*.tmp\n")
    return ctx


def hash_context(ctx: Path, memo: object) -> str:
    """The source hash of ``COPY src /src``, as the builder computes it."""
    from dockyard.build.context import open_context
    from dockyard.build.hashing import HashMemo
    from dockyard.build.sources import prepare_transfer
    from dockyard.dockerfile import instructions as ins

    assert memo is None or isinstance(memo, HashMemo)
    with open_context(str(ctx)) as context:
        copy = ins.Copy(sources=("src",), dest="/src")
        return prepare_transfer(copy, context, None, "/", memo).sources.digest


def median_of(fn: object, runs: int) -> float:
    assert callable(fn)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def bench_in_process(ctx: Path) -> None:
    from dockyard.build.hashing import HashMemo

    cold = median_of(lambda: hash_context(ctx, HashMemo()), 5)
    memo = HashMemo()
    first = hash_context(ctx, memo)
    warm = median_of(lambda: hash_context(ctx, memo), 7)
    assert hash_context(ctx, None) == first
    print(f"context hashing of {FILES:,} files, in process: cold (no memo) {cold:.1f} ms, "
          f"warm (memo) {warm:.1f} ms")  # fmt: skip


def bench_end_to_end(ctx: Path) -> None:
    if os.geteuid() != 0:
        print("end to end: skipped (needs root: a private engine with busybox)")
        return
    with private_engine() as (dy, _work):
        subprocess.run([*dy, "build", "-q", str(ctx)], check=True, stdout=subprocess.DEVNULL)
        cached = median_ms([*dy, "build", "-q", str(ctx)], 7)
        peers: dict[str, float] = {}
        if docker_running():
            cmd = ["docker", "build", "-q", str(ctx)]
            subprocess.run(cmd, env=LEGACY, check=True, capture_output=True)
            peers["docker legacy"] = median_ms(cmd, 5, env=LEGACY)
            bk = [BUILDKIT_CLI, "build", "-q", str(ctx)]
            subprocess.run(bk, env=BUILDKIT, check=True, capture_output=True)
            peers["docker buildkit"] = median_ms(bk, 5, env=BUILDKIT)
        else:
            print("docker: not running (docker info fails); only ours is measured")
        report(f"build -q of a {FILES:,}-file context, fully cached", cached, peers)


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="dybench-ctx-", dir="/var/tmp"))
    try:
        ctx = make_context(work)
        bench_in_process(ctx)
        bench_end_to_end(ctx)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
