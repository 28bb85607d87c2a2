import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.errors import InvalidArgument
from dockyard.specs._go import GoError
from dockyard.specs.mounts import MountSpec, TmpfsSpec, split_csv_record
from dockyard.specs.volumes import PROPAGATIONS, MountRequest

M = MountSpec


@pytest.mark.parametrize(
    ("text", "spec", "rendered"),
    [
        (
            "type=bind,source=/a,target=/b,readonly",
            M("bind", "/a", "/b", readonly=True),
            "type=bind,source=/a,target=/b,readonly",
        ),
        ("type=bind,src=/a,dst=/b,ro=true", M("bind", "/a", "/b", readonly=True), None),
        ("type=bind,src=/a,dst=/b,ro=0", M("bind", "/a", "/b"), "type=bind,source=/a,target=/b"),
        ("TYPE=BIND,Source=/a,Destination=/b", M("bind", "/a", "/b"), None),
        (
            "type=bind,src=/a,dst=/b,bind-propagation=RSHARED,bind-nonrecursive",
            M("bind", "/a", "/b", bind_propagation="rshared", bind_nonrecursive=True),
            "type=bind,source=/a,target=/b,bind-propagation=rshared,bind-nonrecursive",
        ),
        ("type=bind,src=./d,dst=/d", M("bind", "/proj/d", "/d"), None),
        ("type=bind,src=.,dst=/d", M("bind", "/proj", "/d"), None),
        ("target=/x", M("volume", "", "/x"), "type=volume,target=/x"),
        ("type=volume,source=data,target=/x", M("volume", "data", "/x"), None),
        (
            "type=volume,src=data,dst=/x,volume-nocopy,volume-driver=local,volume-subpath=sub",
            M(
                "volume",
                "data",
                "/x",
                volume_nocopy=True,
                volume_driver="local",
                volume_subpath="sub",
            ),
            "type=volume,source=data,target=/x,volume-nocopy,volume-driver=local,"
            "volume-subpath=sub",
        ),
        (
            "type=volume,src=nfs,dst=/x,volume-opt=type=nfs,volume-opt=o=addr=1.2.3.4,"
            "volume-label=a=b",
            M(
                "volume",
                "nfs",
                "/x",
                volume_labels=(("a", "b"),),
                volume_options=(("o", "addr=1.2.3.4"), ("type", "nfs")),
            ),
            "type=volume,source=nfs,target=/x,volume-label=a=b,volume-opt=o=addr=1.2.3.4,"
            "volume-opt=type=nfs",
        ),
        (
            'type=volume,src=nfs,dst=/x,"volume-opt=o=addr=1.2.3.4,rw"',
            M("volume", "nfs", "/x", volume_options=(("o", "addr=1.2.3.4,rw"),)),
            None,
        ),
        (
            "type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1777",
            M("tmpfs", "", "/t", tmpfs_size=64 << 20, tmpfs_mode=0o1777),
            None,
        ),
        ("type=bind,src=/a,dst=/b,consistency=cached", M("bind", "/a", "/b"), None),
    ],
)
def test_parse(text: str, spec: MountSpec, rendered: str | None) -> None:
    got = MountSpec.parse(text, base_dir="/proj")
    assert got == spec
    assert got.render() == (rendered or got.render())
    assert MountSpec.parse(got.render()) == got


def _config(kind: str, problem: str) -> str:
    return f'invalid mount config for type "{kind}": {problem}'


def _flag(text: str, message: str) -> str:
    return f'invalid argument "{text}" for "--mount" flag: {message}'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x", _flag("x", "invalid field 'x' must be a key=value pair")),
        ("y=z,target=/x", _flag("y=z,target=/x", "unexpected key 'y' in 'y=z'")),
        ("source=/a", _flag("source=/a", "target is required")),
        ("type=,target=/x", _flag("type=,target=/x", "type is required")),
        (
            "type=bind,src=/a,dst=/b,ro=maybe",
            _flag("type=bind,src=/a,dst=/b,ro=maybe", "invalid value for ro: maybe"),
        ),
        (
            "type=volume,target=/x,volume-nocopy=2",
            _flag("type=volume,target=/x,volume-nocopy=2", "invalid value for volume-nocopy: 2"),
        ),
        (
            "type=tmpfs,target=/t,tmpfs-size=12q",
            _flag("type=tmpfs,target=/t,tmpfs-size=12q", "invalid value for tmpfs-size: 12q"),
        ),
        (
            "type=tmpfs,target=/t,tmpfs-mode=9",
            _flag("type=tmpfs,target=/t,tmpfs-mode=9", "invalid value for tmpfs-mode: 9"),
        ),
        (
            "type=volume,target=/x,bind-propagation=shared",
            _flag(
                "type=volume,target=/x,bind-propagation=shared",
                "cannot mix 'bind-*' options with mount type 'volume'",
            ),
        ),
        (
            "type=bind,src=/a,target=/x,volume-nocopy",
            _flag(
                "type=bind,src=/a,target=/x,volume-nocopy",
                "cannot mix 'volume-*' options with mount type 'bind'",
            ),
        ),
        (
            "type=volume,target=/x,tmpfs-size=1m",
            _flag(
                "type=volume,target=/x,tmpfs-size=1m",
                "cannot mix 'tmpfs-*' options with mount type 'volume'",
            ),
        ),
        (
            'type=bind,src=/a"b,dst=/c',
            _flag(
                'type=bind,src=/a\\"b,dst=/c',
                'parse error on line 1, column 17: bare " in non-quoted-field',
            ),
        ),
        ("", _flag("", "EOF")),
        (
            "type=bind,target=/x",
            'invalid mount config for type "bind": field Source must not be empty',
        ),
        ("type=foo,target=/x", 'invalid mount config for type "foo": mount type unknown'),
        (
            "type=bind,src=d,dst=/d",
            _config("bind", "invalid mount path: 'd' mount path must be absolute"),
        ),
        (
            "type=bind,src=/a,dst=d",
            _config("bind", "invalid mount path: 'd' mount path must be absolute"),
        ),
        (
            "type=bind,src=/a,dst=/",
            _config("bind", "invalid specification: destination can't be '/'"),
        ),
        (
            "type=bind,src=/a,dst=/b,bind-propagation=bogus",
            'invalid mount config for type "bind": invalid propagation mode: bogus',
        ),
        (
            "type=volume,target=/x,ro",
            'invalid mount config for type "volume": must not set ReadOnly mode when using '
            "anonymous volumes",
        ),
        (
            "type=tmpfs,src=/a,target=/x",
            'invalid mount config for type "tmpfs": field Source must not be specified',
        ),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        MountSpec.parse(text, flag="--mount")
    assert str(e.value) == message


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("a,b", ["a", "b"]),
        ("a,,b", ["a", "", "b"]),
        ('"a,b",c', ["a,b", "c"]),
        ('"say ""hi""",x', ['say "hi"', "x"]),
        ("a,b\nc,d", ["a", "b"]),
    ],
)
def test_csv(text: str, fields: list[str]) -> None:
    assert split_csv_record(text) == fields


def test_csv_unterminated_quote() -> None:
    with pytest.raises(GoError, match='extraneous or missing " in quoted-field'):
        split_csv_record('"a,b')


def test_to_mount() -> None:
    spec = MountSpec.parse("type=volume,src=data,dst=/x,volume-nocopy,volume-opt=a=b")
    assert spec.to_mount() == MountRequest(
        type="volume", source="data", target="/x", nocopy=True, volume_options=(("a", "b"),)
    )


@pytest.mark.parametrize(
    ("text", "options", "readonly"),
    [
        ("/run", (), False),
        ("/run:rw,size=64m,noexec", ("rw", "size=64m", "noexec"), False),
        ("/run:ro", ("ro",), True),
        ("/run:ro,rw", ("ro", "rw"), False),
        ("/run:uid=1000,gid=1000,mode=1777", ("uid=1000", "gid=1000", "mode=1777"), False),
        ("/run:size=50%", ("size=50%",), False),
        ("/run/:nosuid,", ("nosuid",), False),
    ],
)
def test_tmpfs(text: str, options: tuple[str, ...], readonly: bool) -> None:
    spec = TmpfsSpec.parse(text)
    assert spec.options == options
    assert spec.readonly is readonly
    assert TmpfsSpec.parse(spec.render()) == spec


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("/run:foo", 'invalid tmpfs option ["foo"]'),
        ("/run:foo=bar", 'invalid tmpfs option ["foo" "bar"]'),
        ("/run:size=abc", "invalid tmpfs option size=abc: invalid size: 'abc'"),
        ("run", "invalid mount path: 'run' mount path must be absolute"),
        ("/", "invalid specification: destination can't be '/'"),
        (":rw", "invalid mount path: '' mount path must be absolute"),
    ],
)
def test_tmpfs_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        TmpfsSpec.parse(text)
    assert str(e.value) == message


def test_tmpfs_to_mount() -> None:
    assert TmpfsSpec.parse("/run:ro,size=64m,mode=1777,noexec").to_mount() == MountRequest(
        type="tmpfs",
        source="",
        target="/run",
        readonly=True,
        tmpfs_size=64 << 20,
        tmpfs_mode=0o1777,
        options=("noexec",),
    )


_segment = st.from_regex(r"[a-zA-Z0-9_][a-zA-Z0-9_.,-]{0,8}", fullmatch=True)
_abs_path = st.lists(_segment, min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts))
_names = st.from_regex(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{1,20}", fullmatch=True)
_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)
_keys = _text.filter(lambda k: k != "" and "=" not in k)
_pairs = st.dictionaries(_keys, _text, max_size=3).map(lambda d: tuple(sorted(d.items())))


@st.composite
def mount_specs(draw: st.DrawFn) -> MountSpec:
    kind = draw(st.sampled_from(["bind", "volume", "tmpfs"]))
    target = draw(_abs_path)
    if kind == "bind":
        return MountSpec(
            "bind",
            draw(_abs_path),
            target,
            readonly=draw(st.booleans()),
            bind_propagation=draw(st.sampled_from(["", *PROPAGATIONS])),
            bind_nonrecursive=draw(st.booleans()),
        )
    if kind == "tmpfs":
        return MountSpec(
            "tmpfs",
            "",
            target,
            readonly=draw(st.booleans()),
            tmpfs_size=draw(st.one_of(st.none(), st.integers(0, 1 << 40))),
            tmpfs_mode=draw(st.one_of(st.none(), st.integers(0, 0o7777))),
        )
    source = draw(st.one_of(st.just(""), _names))
    return MountSpec(
        "volume",
        source,
        target,
        readonly=bool(source) and draw(st.booleans()),
        volume_nocopy=draw(st.booleans()),
        volume_driver=draw(_text),
        volume_subpath=draw(_text),
        volume_labels=draw(_pairs),
        volume_options=draw(_pairs),
    )


@given(mount_specs())
def test_round_trip(spec: MountSpec) -> None:
    assert MountSpec.parse(spec.render()) == spec
