import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.errors import InvalidArgument
from dockyard.specs.volumes import (
    CONSISTENCIES,
    PROPAGATIONS,
    MountRequest,
    VolumeSpec,
    clean_path,
)

V = VolumeSpec


@pytest.mark.parametrize(
    ("text", "spec", "rendered"),
    [
        ("/data", V("volume", "", "/data"), "/data"),
        ("/data/", V("volume", "", "/data"), "/data"),
        ("cache:/data", V("volume", "cache", "/data"), "cache:/data"),
        ("my_vol.1-x:/data:ro", V("volume", "my_vol.1-x", "/data", readonly=True), None),
        ("cache:/data:nocopy", V("volume", "cache", "/data", nocopy=True), None),
        ("cache:/data:rw", V("volume", "cache", "/data"), "cache:/data"),
        ("/host:/data", V("bind", "/host", "/data"), "/host:/data"),
        ("/host:/data:ro", V("bind", "/host", "/data", readonly=True), "/host:/data:ro"),
        ("/host:/data:rw,Z", V("bind", "/host", "/data", selinux="Z"), "/host:/data:Z"),
        (
            "/host:/data:rshared,ro,z",
            V("bind", "/host", "/data", readonly=True, selinux="z", propagation="rshared"),
            "/host:/data:ro,z,rshared",
        ),
        ("/host:/data:cached", V("bind", "/host", "/data", consistency="cached"), None),
        ("/h//a/../b/:/x/./y", V("bind", "/h/b", "/x/y"), "/h/b:/x/y"),
        ("./data:/data", V("bind", "/proj/data", "/data"), "/proj/data:/data"),
        (".:/usr/src/app", V("bind", "/proj", "/usr/src/app"), "/proj:/usr/src/app"),
        ("../up:/up", V("bind", "/up", "/up"), "/up:/up"),
        (".hidden:/h", V("bind", "/proj/.hidden", "/h"), "/proj/.hidden:/h"),
        ("~/x:/x:ro", V("bind", "/home/me/x", "/x", readonly=True), "/home/me/x:/x:ro"),
        ("~:/home", V("bind", "/home/me", "/home"), "/home/me:/home"),
    ],
)
def test_parse(
    text: str, spec: VolumeSpec, rendered: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", "/home/me")
    got = VolumeSpec.parse(text, base_dir="/proj")
    assert got == spec
    assert got.render() == (rendered or text)


def test_relative_bind_defaults_to_the_current_directory() -> None:
    assert VolumeSpec.parse("./d:/d").source == os.path.join(os.getcwd(), "d")


def _spec(raw: str, kind: str, problem: str) -> str:
    config = f'invalid mount config for type "{kind}": {problem}'
    return f"invalid volume specification: '{raw}': {config}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (":/x", "invalid volume specification: ':/x'"),
        ("a:", "invalid volume specification: 'a:'"),
        ("/x:ro", "invalid volume specification: '/x:ro'"),
        ("a:/b:ro:x", "invalid volume specification: 'a:/b:ro:x'"),
        ("a:/x:foo", "invalid mode: foo"),
        ("a:/x:ro,rw", "invalid mode: ro,rw"),
        ("/a:/x:shared,slave", "invalid mode: shared,slave"),
        ("a:b", _spec("a:b", "volume", "invalid mount path: 'b' mount path must be absolute")),
        ("data", _spec("data", "volume", "invalid mount path: 'data' mount path must be absolute")),
        ("/a:b", _spec("/a:b", "bind", "invalid mount path: 'b' mount path must be absolute")),
        ("/", _spec("/", "volume", "invalid specification: destination can't be '/'")),
        ("/a:/", _spec("/a:/", "bind", "invalid specification: destination can't be '/'")),
        ("vol::", _spec("vol::", "volume", "field Target must not be empty")),
        (
            "vol:/x:shared",
            _spec("vol:/x:shared", "volume", "field BindOptions must not be specified"),
        ),
        (
            "/h:/x:nocopy",
            _spec("/h:/x:nocopy", "bind", "field VolumeOptions must not be specified"),
        ),
        (
            "a b:/x",
            'create a b: "a b" includes invalid characters for a local volume name, only '
            '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, '
            "use absolute path",
        ),
        (
            "data/x:/x",
            'create data/x: "data/x" includes invalid characters for a local volume name, only '
            '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, '
            "use absolute path",
        ),
        (
            "v:/x",
            "create v: volume name is too short, names should be at least two alphanumeric "
            "characters",
        ),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        VolumeSpec.parse(text, base_dir="/proj")
    assert str(e.value) == message


def test_to_mount() -> None:
    assert VolumeSpec.parse("/h:/x:ro,Z,rslave").to_mount() == MountRequest(
        type="bind",
        source="/h",
        target="/x",
        readonly=True,
        propagation="rslave",
        selinux="Z",
    )
    assert VolumeSpec.parse("cache:/x:nocopy").to_mount() == MountRequest(
        type="volume", source="cache", target="/x", nocopy=True
    )
    assert VolumeSpec.parse("/x").to_mount() == MountRequest(type="volume", source="", target="/x")


def test_mode() -> None:
    assert VolumeSpec.parse("/h:/x:Z,ro").mode == "ro,Z"
    assert VolumeSpec.parse("/h:/x").mode == ""


@pytest.mark.parametrize(
    ("path", "clean"),
    [("", "."), ("/", "/"), ("//a//b/", "/a/b"), ("/a/../..", "/"), ("a/./b", "a/b")],
)
def test_clean_path(path: str, clean: str) -> None:
    assert clean_path(path) == clean


_segment = st.from_regex(r"[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,8}", fullmatch=True)
_abs_path = st.lists(_segment, min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts))
_names = st.from_regex(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{1,20}", fullmatch=True)


@st.composite
def volume_specs(draw: st.DrawFn) -> VolumeSpec:
    kind = draw(st.sampled_from(["bind", "volume", "anonymous"]))
    target = draw(_abs_path)
    if kind == "anonymous":
        return VolumeSpec("volume", "", target)
    readonly = draw(st.booleans())
    selinux = draw(st.sampled_from(["", "z", "Z"]))
    consistency = draw(st.sampled_from(["", *CONSISTENCIES]))
    if kind == "bind":
        return VolumeSpec(
            "bind",
            draw(_abs_path),
            target,
            readonly=readonly,
            selinux=selinux,
            propagation=draw(st.sampled_from(["", *PROPAGATIONS])),
            consistency=consistency,
        )
    return VolumeSpec(
        "volume",
        draw(_names),
        target,
        readonly=readonly,
        selinux=selinux,
        nocopy=draw(st.booleans()),
        consistency=consistency,
    )


@given(volume_specs())
def test_round_trip(spec: VolumeSpec) -> None:
    assert VolumeSpec.parse(spec.render()) == spec
