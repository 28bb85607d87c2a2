"""save/load in Docker and OCI layouts, interop with skopeo, and bad archives."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.conftest import CLI, make_rootfs_tar

needs_skopeo = pytest.mark.skipif(
    shutil.which("skopeo") is None, reason="skopeo is not installed (make deps installs it)"
)


@pytest.fixture
def two_images(cli: CLI, rootfs_tar: Path, tmp_path: Path) -> tuple[str, str]:
    a = cli.ok("import", "--change", 'CMD ["/bin/hello"]', str(rootfs_tar), "alpha:1").strip()
    other = make_rootfs_tar(tmp_path / "b.tar", {"etc/b": b"b" * 5000, "bin/x": b"x"})
    b = cli.ok("import", str(other), "localhost:5000/beta:2").strip()
    return a, b


def _names(tar: Path) -> set[str]:
    with tarfile.open(tar) as t:
        return set(t.getnames())


@pytest.mark.parametrize("fmt", ["docker", "oci"])
def test_save_load_round_trip(
    cli: CLI, two_images: tuple[str, str], tmp_path: Path, fmt: str
) -> None:
    out = tmp_path / "both.tar"
    cli.ok("save", "--format", fmt, "-o", str(out), "alpha:1", "localhost:5000/beta:2")
    names = _names(out)
    assert {"index.json", "oci-layout"} <= names
    assert ("manifest.json" in names) == (fmt == "docker")
    fresh = CLI(tmp_path / "fresh", cli.capsys)
    loaded = fresh.ok("load", "-i", str(out))
    assert "Loaded image: alpha:1" in loaded
    assert "Loaded image: localhost:5000/beta:2" in loaded
    ids = sorted(fresh.ok("images", "-q", "--no-trunc").split())
    assert ids == sorted(two_images)
    cfg = json.loads(fresh.ok("image", "inspect", "alpha:1"))[0]["Config"]
    assert cfg["Cmd"] == ["/bin/hello"]


def test_docker_manifest_shape(cli: CLI, two_images: tuple[str, str], tmp_path: Path) -> None:
    out = tmp_path / "a.tar"
    cli.ok("save", "-o", str(out), "alpha:1")
    with tarfile.open(out) as t:
        f = t.extractfile("manifest.json")
        assert f is not None
        manifest = json.load(f)
    assert manifest[0]["RepoTags"] == ["alpha:1"]
    assert manifest[0]["Config"] == "blobs/sha256/" + two_images[0][7:]
    assert len(manifest[0]["Layers"]) == 1


def test_load_from_stdin(cli: CLI, two_images: tuple[str, str], tmp_path: Path) -> None:
    out = tmp_path / "a.tar"
    cli.ok("save", "-o", str(out), "alpha:1")
    root = tmp_path / "stdin-root"
    with open(out, "rb") as f:
        r = subprocess.run(
            [sys.executable, "-m", "dockyard", "--root", str(root), "load"],
            stdin=f,
            capture_output=True,
            text=True,
        )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "Loaded image: alpha:1"


def test_save_to_stdout(cli: CLI, two_images: tuple[str, str], tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "dockyard", "--root", str(cli.root), "save", "alpha:1"],
        capture_output=True,
    )
    assert r.returncode == 0, r.stderr
    with tarfile.open(fileobj=io.BytesIO(r.stdout)) as t:
        assert "manifest.json" in t.getnames()


def test_untagged_by_id(cli: CLI, two_images: tuple[str, str], tmp_path: Path) -> None:
    out = tmp_path / "id.tar"
    cli.ok("save", "-o", str(out), two_images[0][7:19])
    fresh = CLI(tmp_path / "fresh", cli.capsys)
    assert fresh.ok("load", "-i", str(out)).strip() == "Loaded image: alpha:1"


def _truncate(src: Path, dst: Path, keep: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * keep)])
    return dst


def _assert_empty(root: Path) -> None:
    blobs = root / "content" / "blobs" / "sha256"
    assert not blobs.exists() or list(blobs.iterdir()) == []
    layers = root / "layers"
    assert not layers.exists() or list(layers.iterdir()) == []


def test_truncated_archive(cli: CLI, two_images: tuple[str, str], tmp_path: Path) -> None:
    out = tmp_path / "a.tar"
    cli.ok("save", "-o", str(out), "alpha:1")
    fresh = CLI(tmp_path / "fresh", cli.capsys)
    r = fresh("load", "-i", str(_truncate(out, tmp_path / "t.tar", 0.6)))
    assert r.code == 1
    assert "t.tar" in r.err
    assert fresh.ok("images", "-q", "-a") == ""
    _assert_empty(fresh.root)


def _rewrite(src: Path, dst: Path, edit: dict[str, bytes]) -> Path:
    with tarfile.open(src) as tin, tarfile.open(dst, "w") as tout:
        for m in tin.getmembers():
            data = tin.extractfile(m).read() if m.isfile() else None  # type: ignore[union-attr]
            if m.name in edit:
                data = edit[m.name]
                m.size = len(data)
            tout.addfile(m, io.BytesIO(data) if data is not None else None)
    return dst


def test_digest_mismatch(cli: CLI, two_images: tuple[str, str], tmp_path: Path) -> None:
    out = tmp_path / "a.tar"
    cli.ok("save", "--format", "oci", "-o", str(out), "alpha:1")
    with tarfile.open(out) as t:
        index = json.load(t.extractfile("index.json"))  # type: ignore[arg-type]
        mdigest = index["manifests"][0]["digest"]
        manifest = json.load(t.extractfile("blobs/sha256/" + mdigest[7:]))  # type: ignore[arg-type]
    layer = "blobs/sha256/" + manifest["layers"][0]["digest"][7:]
    with tarfile.open(out) as t:
        original = t.extractfile(layer).read()  # type: ignore[union-attr]
    bad = _rewrite(out, tmp_path / "bad.tar", {layer: original[:-1] + b"\1"})
    fresh = CLI(tmp_path / "fresh", cli.capsys)
    r = fresh("load", "-i", str(bad))
    assert r.code == 1 and "digest" in r.err
    _assert_empty(fresh.root)


def test_unknown_media_type(cli: CLI, two_images: tuple[str, str], tmp_path: Path) -> None:
    out = tmp_path / "a.tar"
    cli.ok("save", "--format", "oci", "-o", str(out), "alpha:1")
    with tarfile.open(out) as t:
        index = json.load(t.extractfile("index.json"))  # type: ignore[arg-type]
    index["manifests"][0]["mediaType"] = "application/x-unknown"
    bad = _rewrite(out, tmp_path / "bad.tar", {"index.json": json.dumps(index).encode()})
    fresh = CLI(tmp_path / "fresh", cli.capsys)
    r = fresh("load", "-i", str(bad))
    assert r.code == 1 and "application/x-unknown" in r.err
    _assert_empty(fresh.root)


def test_not_an_archive(cli: CLI, tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"\0" * 10)
    r = cli("load", "-i", str(junk))
    assert r.code == 1 and "junk.tar" in r.err
    tar_without_index = make_rootfs_tar(tmp_path / "plain.tar", {"etc/x": b"x"})
    r = cli("load", "-i", str(tar_without_index))
    assert r.code == 1 and "neither manifest.json nor index.json" in r.err


@needs_skopeo
@pytest.mark.parametrize("transport", ["docker-archive", "oci-archive"])
def test_skopeo_reads_our_archives(
    cli: CLI, two_images: tuple[str, str], tmp_path: Path, transport: str
) -> None:
    out = tmp_path / "a.tar"
    fmt = "oci" if transport == "oci-archive" else "docker"
    cli.ok("save", "--format", fmt, "-o", str(out), "alpha:1")
    r = subprocess.run(
        ["skopeo", "inspect", "--config", f"{transport}:{out}"], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    config = json.loads(r.stdout)
    assert config["config"]["Cmd"] == ["/bin/hello"]
    r = subprocess.run(
        ["skopeo", "inspect", "--raw", "--config", f"{transport}:{out}"], capture_output=True
    )
    from hashlib import sha256

    assert "sha256:" + sha256(r.stdout).hexdigest() == two_images[0]


@needs_skopeo
@pytest.mark.parametrize("transport", ["docker-archive", "oci-archive"])
def test_skopeo_written_archive_loads_with_same_digests(
    cli: CLI, two_images: tuple[str, str], tmp_path: Path, transport: str
) -> None:
    ours = tmp_path / "ours.tar"
    cli.ok("save", "--format", "oci", "-o", str(ours), "alpha:1")
    theirs = tmp_path / "theirs.tar"
    r = subprocess.run(
        [
            "skopeo",
            "copy",
            "--quiet",
            f"oci-archive:{ours}",
            f"{transport}:{theirs}:skopeo/made:v1",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    fresh = CLI(tmp_path / "fresh", cli.capsys)
    out = fresh.ok("load", "-i", str(theirs))
    assert "Loaded image: skopeo/made:v1" in out
    data = json.loads(fresh.ok("image", "inspect", "skopeo/made:v1"))[0]
    original = json.loads(cli.ok("image", "inspect", "alpha:1"))[0]
    assert data["Id"] == original["Id"]
    assert data["RootFS"]["Layers"] == original["RootFS"]["Layers"]
