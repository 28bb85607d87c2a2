"""Named volumes (local driver): metadata, names, references, prune, mount descriptions."""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from dockyard._util.db import open_db
from dockyard.errors import Conflict, InvalidArgument, NotFound
from dockyard.oci.runtime_spec import Mount
from dockyard.storage.volumes import ANONYMOUS_LABEL, VolumeFilters, VolumeStore

C1 = "a" * 64
C2 = "b" * 64


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    c = open_db(tmp_path / "state.db")
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def store(tmp_path: Path, conn: sqlite3.Connection) -> VolumeStore:
    return VolumeStore(tmp_path, conn)


def test_create_and_inspect(store: VolumeStore, tmp_path: Path) -> None:
    v = store.create("data", labels={"app": "web"})
    data = tmp_path / "volumes" / "data" / "_data"
    assert data.is_dir() and v.mountpoint == data
    info = store.inspect("data")
    assert list(info) == [
        "CreatedAt",
        "Driver",
        "Labels",
        "Mountpoint",
        "Name",
        "Options",
        "Scope",
    ]
    assert info["Driver"] == "local" and info["Scope"] == "local"
    assert info["Labels"] == {"app": "web"} and info["Options"] == {}
    assert info["Mountpoint"] == str(data) and info["Name"] == "data"
    created = str(info["CreatedAt"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)", created)
    assert abs(datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp() - v.created) < 1


def test_create_is_idempotent(store: VolumeStore) -> None:
    a = store.create("data", labels={"x": "1"})
    (store.root / "data" / "_data" / "keep").write_text("k")
    b = store.create("data", labels={"y": "2"})
    assert a == b and b.labels == {"x": "1"}
    assert (b.mountpoint / "keep").exists()
    # A second store on the same database sees the same volume (schema applied once).
    again = VolumeStore(store.root.parent, store.conn)
    assert again.get("data") == a


def test_anonymous_names(store: VolumeStore) -> None:
    a = store.create()
    b = store.create(anonymous=True)
    assert re.fullmatch(r"[0-9a-f]{64}", a.name) and a.name != b.name
    assert not a.anonymous and b.anonymous
    assert b.labels == {ANONYMOUS_LABEL: ""}


@pytest.mark.parametrize("name", ["a b", "-lead", "x/y", ".hidden", "bad!", "ünïcode"])
def test_invalid_names(store: VolumeStore, name: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        store.create(name)
    assert str(info.value) == (
        f'create {name}: "{name}" includes invalid characters for a local volume name, '
        'only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
        "directory, use absolute path"
    )


def test_too_short_name_and_unknown_driver(store: VolumeStore) -> None:
    with pytest.raises(InvalidArgument, match="too short"):
        store.create("a")
    with pytest.raises(NotFound, match='plugin "nfsplugin" not found'):
        store.create("data", driver="nfsplugin")
    store.create("a.b_c-1")


def test_get_missing(store: VolumeStore) -> None:
    with pytest.raises(NotFound, match="get nope: no such volume"):
        store.get("nope")
    with pytest.raises(NotFound):
        store.remove("nope")
    store.remove("nope", force=True)


def test_in_use_conflict_and_refs(store: VolumeStore) -> None:
    store.create("data")
    store.add_ref("data", C2)
    store.add_ref("data", C1)
    store.add_ref("data", C1)
    assert store.refs("data") == [C1, C2]
    assert store.ref_counts() == {"data": 2}
    for force in (False, True):
        with pytest.raises(Conflict) as info:
            store.remove("data", force=force)
        assert str(info.value) == f"remove data: volume is in use - [{C1}, {C2}]"
    store.remove_refs(C1)
    store.remove_refs(C2)
    store.remove("data")
    assert not (store.root / "data").exists()
    assert store.list() == []
    with pytest.raises(NotFound):
        store.add_ref("data", C1)


def test_list_and_filters(store: VolumeStore) -> None:
    store.create("web-data", labels={"app": "web", "tier": "front"})
    store.create("db-data", labels={"app": "db"})
    store.create("cache", labels={"tmp": ""})
    store.add_ref("db-data", C1)

    def names(*args: str) -> list[str]:
        return [v.name for v in store.list(VolumeFilters.parse(args))]

    assert names() == ["cache", "db-data", "web-data"]
    assert names("dangling=true") == ["cache", "web-data"]
    assert names("dangling=0") == ["db-data"]
    assert names("name=data") == ["db-data", "web-data"]
    assert names("name=^web", "name=cache") == ["cache", "web-data"]
    assert names("label=app") == ["db-data", "web-data"]
    assert names("label=app=web") == ["web-data"]
    assert names("label=app", "label=tier=front") == ["web-data"]
    assert names("driver=local", "label=tmp") == ["cache"]
    assert names("driver=other") == []
    with pytest.raises(InvalidArgument, match="invalid filter 'color'"):
        VolumeFilters.parse(["color=red"])
    with pytest.raises(InvalidArgument, match="invalid filter 'dangling=maybe'"):
        VolumeFilters.parse(["dangling=maybe"])
    with pytest.raises(InvalidArgument, match="bad format"):
        VolumeFilters.parse(["dangling"])


def test_prune(store: VolumeStore) -> None:
    anon_free = store.create(anonymous=True)
    anon_used = store.create(anonymous=True)
    store.create("named")
    store.create("named-keep", labels={"keep": "yes"})
    (anon_free.mountpoint / "f").write_bytes(b"x" * 100)
    store.add_ref(anon_used.name, C1)

    report = store.prune()
    assert report.volumes_deleted == (anon_free.name,)
    assert report.space_reclaimed == 100
    assert not (store.root / anon_free.name).exists()

    report = store.prune(all=True, labels=["!keep=yes"])
    assert report.volumes_deleted == ("named",)
    assert [v.name for v in store.list()] == sorted([anon_used.name, "named-keep"])
    assert store.prune(all=True).volumes_deleted == ("named-keep",)
    assert [v.name for v in store.list()] == [anon_used.name]


def test_usage(store: VolumeStore) -> None:
    v = store.create("data")
    (v.mountpoint / "a").write_bytes(b"x" * 300)
    (v.mountpoint / "d").mkdir()
    (v.mountpoint / "d" / "b").write_bytes(b"y" * 12)
    assert store.usage("data") == 312
    store.create("tmp", options={"type": "tmpfs", "device": "tmpfs", "o": "size=1m"})
    assert store.usage("tmp") == -1


def test_mount_descriptions(store: VolumeStore) -> None:
    v = store.create("data")
    assert store.mounts("data", "/var/lib/data") == [
        Mount("/var/lib/data", "bind", str(v.mountpoint), ("rbind",))
    ]
    assert store.mounts("data", "/d", readonly=True)[0].options == ("rbind", "ro")
    store.create("tmp", options={"type": "tmpfs", "device": "tmpfs", "o": "size=64m,uid=1000"})
    assert store.mounts("tmp", "/cache") == [
        Mount("/cache", "tmpfs", "tmpfs", ("size=64m", "uid=1000"))
    ]


def test_bind_backed_volume(store: VolumeStore, tmp_path: Path) -> None:
    host = tmp_path / "host-data"
    host.mkdir()
    (host / "f").write_text("hello")
    v = store.create("hostdir", options={"type": "none", "o": "bind", "device": str(host)})
    assert v.is_bind and v.mountpoint == host and v.host_path == host
    info = store.inspect("hostdir")
    assert info["Mountpoint"] == str(host)
    assert info["Options"] == {"type": "none", "o": "bind", "device": str(host)}
    assert store.mounts("hostdir", "/srv") == [Mount("/srv", "bind", str(host), ("rbind",))]
    assert store.usage("hostdir") == 5
    store.remove("hostdir")
    assert (host / "f").read_text() == "hello"  # the host directory is never deleted

    store.create("gone", options={"type": "none", "o": "bind", "device": str(tmp_path / "x")})
    with pytest.raises(NotFound, match="no such directory"):
        store.mounts("gone", "/srv")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"size": "1g"}, "create data: quota size requested but no quota support"),
        ({"color": "red"}, 'create data: invalid option: "color"'),
        ({"type": "tmpfs"}, 'missing required option: "device"'),
        ({"device": "/x"}, 'missing required option: "type"'),
        ({"o": "bind", "device": "/x"}, 'missing required option: "type"'),
        ({"type": "none", "o": "bind", "device": "rel/path"}, "absolute host path"),
        ({"type": "none", "device": "/x"}, "needs o=bind"),
    ],
)
def test_option_validation(store: VolumeStore, options: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        store.create("data", options=options)
    assert store.list() == []


def test_crash_during_remove_is_repaired(store: VolumeStore) -> None:
    kept = store.create("kept")
    (kept.mountpoint / "f").write_text("data")
    gone = store.create("gone")
    # A removal that renamed the directory but did not commit: the row is still there.
    os.rename(store.root / "kept", store.root / ".del-0123abcd-kept")
    # A removal that committed but did not delete the directory.
    store.conn.execute("DELETE FROM volumes WHERE name = 'gone'")
    os.rename(store.root / "gone", store.root / ".del-89abcdef-gone")
    store.clean_stale()
    assert sorted(p.name for p in store.root.iterdir()) == ["kept"]
    assert (kept.mountpoint / "f").read_text() == "data"
    assert [v.name for v in store.list()] == ["kept"]
    assert gone.name not in store.ref_counts()
