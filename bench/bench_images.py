"""Image store benchmarks (issue 2): start-up, `images` with 200 images, `load` vs tar -x.

Run as root after ../shared/bench/peers.sh for the Docker/Podman columns.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _timing import docker_running, dockyard_cmd, median_ms, podman_available, report

N_IMAGES = 200


def tiny_tar(i: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = f"image {i}\n".encode()
        info = tarfile.TarInfo(f"etc/bench-{i}")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def bench_version() -> None:
    ours = median_ms([*dockyard_cmd(), "--version"], 30)
    peers = {}
    if shutil.which("docker"):
        peers["docker"] = median_ms(["docker", "--version"], 30)
    if podman_available():
        peers["podman"] = median_ms(["podman", "--version"], 30)
    report("--version", ours, peers, "at most 20 ms")


def bench_images(root: Path) -> None:
    dy = [*dockyard_cmd(), "--root", str(root)]
    for i in range(N_IMAGES):
        subprocess.run(
            [*dy, "import", "-", f"bench/img{i}:v1"],
            input=tiny_tar(i),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    ours = median_ms([*dy, "images"], 20)
    peers = {}
    if docker_running():
        for i in range(N_IMAGES):
            subprocess.run(
                ["docker", "import", "-", f"dybench/img{i}:v1"],
                input=tiny_tar(i),
                check=True,
                stdout=subprocess.DEVNULL,
            )
        peers["docker"] = median_ms(["docker", "images"], 20)
        subprocess.run(
            ["docker", "rmi", *[f"dybench/img{i}:v1" for i in range(N_IMAGES)]],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    else:
        print("docker: no running daemon (run ../shared/bench/peers.sh)")
    if podman_available():
        for i in range(N_IMAGES):
            subprocess.run(
                ["podman", "import", "-", f"dybench/img{i}:v1"],
                input=tiny_tar(i),
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        peers["podman"] = median_ms(["podman", "images"], 20)
        subprocess.run(
            ["podman", "rmi", *[f"dybench/img{i}:v1" for i in range(N_IMAGES)]],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    report(f"images ({N_IMAGES} images)", ours, peers, "at most 1.0x docker")


def bench_load(work: Path) -> None:
    """`load` of the debian image vs `tar -x` of its layer."""
    src = work / "src-root"
    dy = [*dockyard_cmd(), "--root", str(src)]
    subprocess.run(
        [*dy, "bootstrap", "-q", "debian:bookworm"], check=True, stdout=subprocess.DEVNULL
    )
    archive = work / "debian.tar"
    subprocess.run([*dy, "save", "-o", str(archive), "debian:bookworm"], check=True)
    layer = work / "layer.tar"
    with tarfile.open(archive) as t:
        manifest = t.extractfile("manifest.json")
        assert manifest is not None
        import json

        layer_name = json.load(manifest)[0]["Layers"][0]
        member = t.extractfile(layer_name)
        assert member is not None
        with open(layer, "wb") as out:
            shutil.copyfileobj(member, out, 1 << 20)
    target = work / "load-root"
    tar_dir = work / "tar-x"

    def reset() -> None:
        shutil.rmtree(target, ignore_errors=True)
        shutil.rmtree(tar_dir, ignore_errors=True)
        tar_dir.mkdir()
        subprocess.run(["sync"], check=True)

    ours = median_ms(
        [*dockyard_cmd(), "--root", str(target), "load", "-q", "-i", str(archive)], 5, before=reset
    )
    tar_ms = median_ms(["tar", "-xf", str(layer), "-C", str(tar_dir)], 5, before=reset)
    peers = {"tar -x": tar_ms}
    if docker_running():

        def docker_reset() -> None:
            subprocess.run(
                ["docker", "rmi", "-f", "debian:bookworm"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

        peers["docker load"] = median_ms(
            ["docker", "load", "-i", str(archive)], 5, before=docker_reset
        )
        docker_reset()
    report(f"load debian ({archive.stat().st_size >> 20} MB)", ours, peers, "at most 1.2x tar -x")
    reset()


def main() -> None:
    bench_version()
    work = Path(tempfile.mkdtemp(prefix="dybench-", dir="/var/tmp"))
    try:
        bench_images(work / "images-root")
        bench_load(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
