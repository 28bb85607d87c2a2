"""The image commands end to end, on a private root: import, images, tag, rmi, inspect,
history, prune, system df."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.conftest import CLI, make_rootfs_tar


def _import(cli: CLI, tar: Path, ref: str, *extra: str) -> str:
    out = cli.ok("import", *extra, str(tar), ref).strip()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", out)
    return out


def test_import_lists_and_inspects(cli: CLI, rootfs_tar: Path) -> None:
    image_id = _import(
        cli,
        rootfs_tar,
        "mini:1",
        "--change",
        'CMD ["/bin/hello"]',
        "--change",
        "ENV A=b",
        "-m",
        "first import",
    )
    out = cli.ok("images")
    lines = out.splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert lines[1].split()[:3] == ["mini", "1", image_id[7:19]]
    assert cli.ok("images", "-q").split() == [image_id[7:19]]
    assert cli.ok("images", "-q", "--no-trunc").split() == [image_id]
    data = json.loads(cli.ok("image", "inspect", "mini:1"))
    assert data[0]["Id"] == image_id
    assert data[0]["RepoTags"] == ["mini:1"]
    assert data[0]["Config"]["Cmd"] == ["/bin/hello"]
    assert data[0]["Config"]["Env"] == ["A=b"]
    assert data[0]["RootFS"]["Type"] == "layers"
    assert cli.ok("image", "inspect", "-f", "{{.Id}}", "mini:1").strip() == image_id
    assert json.loads(cli.ok("inspect", "-f", "{{json .Config.Cmd}}", image_id[7:15])) == [
        "/bin/hello"
    ]
    hist = cli.ok("history", "mini:1").splitlines()
    assert hist[0].split()[:3] == ["IMAGE", "CREATED", "CREATED"]
    assert "first import" in hist[1]


def test_same_tarball_same_id(cli: CLI, rootfs_tar: Path, tmp_path: Path) -> None:
    a = cli.ok("import", str(rootfs_tar)).strip()
    other = CLI(tmp_path / "other-root", cli.capsys)
    b = other.ok("import", str(rootfs_tar)).strip()
    # import stamps the creation time, so IDs differ; the layer (diff ID) does not
    la = json.loads(cli.ok("image", "inspect", a))[0]["RootFS"]["Layers"]
    lb = json.loads(other.ok("image", "inspect", b))[0]["RootFS"]["Layers"]
    assert la == lb


def test_tag_and_rmi(cli: CLI, rootfs_tar: Path) -> None:
    image_id = _import(cli, rootfs_tar, "mini:1")
    cli.ok("tag", "mini:1", "localhost:5000/team/mini:2")
    repos = cli.ok("images", "--format", "{{.Repository}}:{{.Tag}}").split()
    assert sorted(repos) == ["localhost:5000/team/mini:2", "mini:1"]
    r = cli("rmi", image_id[7:19])
    assert r.code == 1 and "referenced in multiple repositories" in r.err
    assert cli.ok("rmi", "mini:1").strip() == "Untagged: mini:1"
    out = cli.ok("rmi", "localhost:5000/team/mini:2")
    assert "Untagged: localhost:5000/team/mini:2" in out
    assert f"Deleted: {image_id}" in out
    assert cli.ok("images", "-q") == ""
    layers = list((cli.root / "layers").iterdir())
    blobs = list((cli.root / "content" / "blobs" / "sha256").iterdir())
    assert layers == [] and blobs == []


def test_rmi_missing_and_errors(cli: CLI) -> None:
    r = cli("rmi", "nothere")
    assert r.code == 1
    assert "No such image: nothere" in r.err
    r = cli("rmi")
    assert r.code == 1 and "requires at least 1 argument" in r.err
    r = cli("images", "--bogus")
    assert r.code == 125 and "unknown flag: --bogus" in r.err
    r = cli("tag", "nothere", "x")
    assert r.code == 1 and "No such image" in r.err
    r = cli("image", "inspect", "nothere")
    assert r.code == 1 and r.out.strip() == "[]"


def test_filters(cli: CLI, rootfs_tar: Path, tmp_path: Path) -> None:
    a = _import(cli, rootfs_tar, "alpha:1", "--change", "LABEL team=red")
    other = make_rootfs_tar(tmp_path / "b.tar", {"etc/b": b"b"})
    b = cli.ok("import", str(other)).strip()
    assert cli.ok("images", "-q", "--filter", "dangling=true").split() == [b[7:19]]
    assert cli.ok("images", "-q", "--filter", "dangling=false").split() == [a[7:19]]
    assert cli.ok("images", "-q", "--filter", "reference=alp*").split() == [a[7:19]]
    assert cli.ok("images", "-q", "alpha").split() == [a[7:19]]
    assert cli.ok("images", "-q", "--filter", "label=team=red").split() == [a[7:19]]
    r = cli("images", "--filter", "bogus=1")
    assert r.code == 1 and "invalid filter" in r.err
    out = cli.ok("images", "--format", "json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert {row["Repository"] for row in rows} == {"alpha", "<none>"}


def test_prune(cli: CLI, rootfs_tar: Path, tmp_path: Path) -> None:
    a = _import(cli, rootfs_tar, "keep:1")
    b = cli.ok("import", str(make_rootfs_tar(tmp_path / "b.tar", {"etc/b": b"b"}))).strip()
    out = cli.ok("image", "prune", "-f")
    assert f"deleted: {b}" in out
    assert "Total reclaimed space:" in out
    assert cli.ok("images", "-q", "--no-trunc").split() == [a]
    out = cli.ok("image", "prune", "-a", "-f")
    assert "untagged: keep:1" in out and f"deleted: {a}" in out
    assert cli.ok("image", "prune", "-f").strip() == "Total reclaimed space: 0B"


def test_system_df(cli: CLI, rootfs_tar: Path) -> None:
    _import(cli, rootfs_tar, "mini:1")
    lines = cli.ok("system", "df").splitlines()
    assert lines[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert lines[1].split()[:3] == ["Images", "1", "0"]
    verbose = cli.ok("system", "df", "-v")
    assert "Images space usage:" in verbose and "mini" in verbose


def test_bad_tarball_adds_nothing(cli: CLI, tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"this is not a tar archive at all" * 100)
    r = cli("import", str(bad), "bad:1")
    assert r.code == 1
    assert "bad.tar" in r.err
    assert cli.ok("images", "-q", "-a") == ""
    assert list((cli.root / "content" / "blobs" / "sha256").iterdir()) == []
