"""Layer logic that needs no root: chain IDs, compression, names, the tar reader,
and the determinism of create_layer."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import socket
import stat
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockyard.errors import InvalidContent
from dockyard.image import layers
from dockyard.image.layers import chain_ids, create_layer, decompressed, detect_compression
from dockyard.image.tarstream import TarEntry, open_tar_stream, parse_pax

# --- chain IDs --------------------------------------------------------------------------


def _sha(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def test_chain_ids_follow_the_oci_definition() -> None:
    a, b, c = _sha("a"), _sha("b"), _sha("c")
    ab = _sha(f"{a} {b}")
    assert chain_ids([]) == []
    assert chain_ids([a]) == [a]
    assert chain_ids([a, b, c]) == [a, ab, _sha(f"{ab} {c}")]


def test_chain_ids_known_value() -> None:
    # Independent of the code above: sha256("sha256:aaa... sha256:bbb...") by hand.
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    expected = hashlib.sha256(f"{a} {b}".encode()).hexdigest()
    assert chain_ids([a, b])[1] == f"sha256:{expected}"


# --- compression ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (gzip.compress(b"x"), "gzip"),
        (zstandard.ZstdCompressor().compress(b"x"), "zstd"),
        (lzma.compress(b"x"), "xz"),
        (bz2.compress(b"x"), "bzip2"),
        (b"etc/passwd\0\0\0", "none"),
        (b"", "none"),
        (b"\x1f", "none"),
    ],
)
def test_detect_compression(head: bytes, kind: str) -> None:
    assert detect_compression(head[:6]) == kind


# --- member names -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "cleaned"),
    [
        ("etc/passwd", "etc/passwd"),
        ("./etc/passwd", "etc/passwd"),
        ("etc//x/./y/", "etc/x/y"),
        ("./", ""),
        (".", ""),
        ("/", ""),
        ("/etc/passwd", "etc/passwd"),
        ("//etc/passwd", "etc/passwd"),
        ("/../../etc/passwd", "etc/passwd"),  # absolute: Docker cleans, stays inside
        ("a/../b", "b"),
        ("a/b/../../c", "c"),
        ("..", None),
        ("../x", None),
        ("a/../../x", None),
        ("./../x", None),
    ],
)
def test_member_names_are_cleaned_or_refused(name: str, cleaned: str | None) -> None:
    assert layers._clean_name(name) == cleaned


# --- the tar reader ---------------------------------------------------------------------


def _read_all(data: bytes, name: str = "test.tar") -> tuple[list[tuple[TarEntry, bytes]], str]:
    """Entries (with their data) and the digest, as apply_layer would see them."""
    out: list[tuple[TarEntry, bytes]] = []
    reader = open_tar_stream(io.BytesIO(data), name)
    with reader.stream, tempfile.TemporaryFile() as tmp:
        for entry in reader:
            body = b""
            if entry.size:
                tmp.seek(0)
                tmp.truncate()
                reader.copy_data(tmp.fileno())
                tmp.seek(0)
                body = tmp.read()
            out.append((entry, body))
        reader.stream.drain()
        return out, reader.stream.digest()


def _info(name: str, type_: bytes = tarfile.REGTYPE, **kw: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = type_
    info.mtime = 1_600_000_000
    info.mode = 0o644
    for key, value in kw.items():
        setattr(info, key, value)
    return info


def _tar(members: list[tuple[tarfile.TarInfo, bytes]], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for info, data in members:
            if info.type == tarfile.REGTYPE:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return buf.getvalue()


LONG = "d" * 120 + "/" + "e" * 150 + "/file-with-a-long-name"


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_reader_parses_every_entry_type(fmt: int) -> None:
    members = [
        (_info("dir", tarfile.DIRTYPE, mode=0o1755, uid=12, gid=34), b""),
        (_info("dir/file", mode=0o4755, uid=1000, gid=1000), b"hello\n" * 100),
        (_info("dir/empty"), b""),
        (_info("dir/link", tarfile.SYMTYPE, linkname="/etc/passwd"), b""),
        (_info("dir/hard", tarfile.LNKTYPE, linkname="dir/file"), b""),
        (_info("dir/fifo", tarfile.FIFOTYPE), b""),
        (_info("dir/tty", tarfile.CHRTYPE, devmajor=5, devminor=0), b""),
        (_info("dir/sda", tarfile.BLKTYPE, devmajor=8, devminor=1), b""),
    ]
    if fmt == tarfile.USTAR_FORMAT:  # split into the prefix and name fields
        members.append((_info("p" * 90 + "/" + "q" * 90), b"prefixed"))
    else:
        members.append((_info(LONG), b"long"))
        members.append((_info("ll", tarfile.SYMTYPE, linkname=LONG + "/x" * 40), b""))
    entries, _ = _read_all(_tar(members, fmt))
    assert len(entries) == len(members)
    for (entry, body), (info, data) in zip(entries, members, strict=True):
        assert entry.name.rstrip("/") == info.name
        assert entry.mode == info.mode
        assert (entry.uid, entry.gid) == (info.uid, info.gid)
        assert entry.mtime_ns == info.mtime * 10**9
        assert body == data
        assert entry.linkname == info.linkname
        assert (entry.devmajor, entry.devminor) == (
            (info.devmajor, info.devminor) if info.ischr() or info.isblk() else (0, 0)
        )
    types = [e.type for e, _ in entries[:8]]
    assert types == ["5", "0", "0", "2", "1", "6", "3", "4"]


def test_reader_big_numbers_xattrs_and_odd_names() -> None:
    odd = os.fsdecode(b"caf\xe9-latin1")  # not UTF-8: must come back byte for byte
    members = [
        (_info("big", uid=3_000_000_000, gid=2**22, mtime=1_600_000_000), b"x"),
        (_info(odd), b"odd"),
        (_info("ünïcode"), b"u"),
    ]
    members[0][0].pax_headers = {
        "SCHILY.xattr.user.comment": "hi",
        "SCHILY.xattr.security.capability": b"\x01\x00\x00\x02\xff".decode(
            "utf-8", "surrogateescape"
        ),
        "mtime": "1600000000.25",
    }
    entries, _ = _read_all(_tar(members, tarfile.PAX_FORMAT))
    big, oddentry, uni = (e for e, _ in entries)
    assert (big.uid, big.gid) == (3_000_000_000, 2**22)
    assert big.mtime_ns == 1_600_000_000_250_000_000
    assert big.xattrs == {"user.comment": b"hi", "security.capability": b"\x01\x00\x00\x02\xff"}
    assert os.fsencode(oddentry.name) == b"caf\xe9-latin1"
    assert uni.name == "ünïcode"

    # GNU format: base-256 numbers
    gnu, _ = _read_all(_tar([(_info("g", uid=2**40, gid=7), b"")], tarfile.GNU_FORMAT))
    assert gnu[0][0].uid == 2**40


def test_reader_digest_covers_the_whole_stream() -> None:
    data = _tar([(_info("a"), b"abc")]) + b"trailing bytes after the end marker"
    entries, digest = _read_all(data)
    assert [e.name for e, _ in entries] == ["a"]
    assert digest == "sha256:" + hashlib.sha256(data).hexdigest()


def test_empty_stream_is_an_empty_layer() -> None:
    assert _read_all(b"") == ([], "sha256:" + hashlib.sha256(b"").hexdigest())
    zeros = bytes(1024)
    assert _read_all(zeros) == ([], "sha256:" + hashlib.sha256(zeros).hexdigest())


def _compressions(data: bytes) -> Iterator[tuple[str, bytes]]:
    yield "gzip", gzip.compress(data)
    yield "zstd", zstandard.ZstdCompressor().compress(data)
    # two zstd frames, as some writers produce
    yield (
        "zstd",
        zstandard.ZstdCompressor().compress(data[:700])
        + zstandard.ZstdCompressor(level=9).compress(data[700:]),
    )
    yield "xz", lzma.compress(data)
    yield "bzip2", bz2.compress(data)


def _sample_tar() -> bytes:
    return _tar(
        [
            (_info("etc", tarfile.DIRTYPE), b""),
            (_info("etc/big"), os.urandom(3 << 20)),
            (_info("etc/small"), b"small\n"),
            (_info("etc/zeros"), bytes(5 << 20)),
        ]
    )


def test_compressed_streams_give_the_digest_of_the_uncompressed_tar() -> None:
    data = _sample_tar()
    want_entries, want = _read_all(data)
    assert want == "sha256:" + hashlib.sha256(data).hexdigest()
    for kind, packed in _compressions(data):
        assert detect_compression(packed[:6]) == kind
        entries, digest = _read_all(packed)
        assert digest == want, kind
        assert entries == want_entries, kind


def test_decompressed_streams_for_import() -> None:
    data = _sample_tar()
    for kind, packed in [("none", data), *_compressions(data)]:
        stream = decompressed(io.BytesIO(packed), source_name="in.tar")
        chunks = []
        while chunk := stream.read(100_000):
            chunks.append(chunk)
        assert b"".join(chunks) == data, kind
        if kind != "none":
            with pytest.raises(InvalidContent, match=rf"^in\.tar is not a valid {kind} stream"):
                decompressed(io.BytesIO(packed[:-7]), source_name="in.tar").read()


def test_truncated_tar_is_refused_unless_cut_at_a_header() -> None:
    data = _tar(
        [
            (_info("a"), b"A" * 700),
            (_info("b" * 150), b"B" * 10),  # a PAX header first
            (_info("c", tarfile.DIRTYPE), b""),
        ]
    )
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
    end = members[-1].offset_data  # a directory has no data: the end marker is here
    # Where a stream may end: before a header (Go's archive/tar accepts that too),
    # or anywhere after the first zero block.
    boundaries = {0, end} | {m.offset for m in members}
    assert len(boundaries) == 4
    for cut in range(0, end + 1024, 64):
        if cut in boundaries or cut >= end + 512:
            _read_all(data[:cut])
            continue
        with pytest.raises(InvalidContent, match=r"^cut\.tar is not a valid tar archive"):
            _read_all(data[:cut], "cut.tar")


@pytest.mark.parametrize("kind", ["gzip", "zstd", "xz", "bzip2"])
def test_truncated_compressed_stream_is_refused(kind: str) -> None:
    packed = dict(_compressions(_sample_tar()))[kind]
    for cut in (len(packed) // 3, len(packed) - 5):
        with pytest.raises(InvalidContent, match=rf"^L1 is not a valid .*(end of data|{kind})"):
            _read_all(packed[:cut], "L1")


def test_corrupt_header_is_refused() -> None:
    data = bytearray(_tar([(_info("a"), b"x"), (_info("b"), b"y")]))
    data[1024 + 10] ^= 0x40  # a byte of the second header's name
    with pytest.raises(InvalidContent, match=r"bad checksum \(header at byte 1024\)"):
        _read_all(bytes(data))
    with pytest.raises(InvalidContent, match=r"^junk is not a valid tar archive: unknown format"):
        _read_all(b"this is not a tar file at all" * 40, "junk")
    with pytest.raises(InvalidContent, match="not a valid gzip stream"):
        _read_all(gzip.compress(_sample_tar())[:100] + b"garbage" * 100)


def test_unsupported_entry_types_are_refused() -> None:
    sparse = _info("s", b"S")
    with pytest.raises(InvalidContent, match="unsupported sparse file"):
        _read_all(_tar([(sparse, b"")], tarfile.GNU_FORMAT))
    weird = _info("w", b"Z")
    with pytest.raises(InvalidContent, match="unsupported entry type"):
        _read_all(_tar([(weird, b"")], tarfile.USTAR_FORMAT))


def test_old_style_directories_and_signed_checksums() -> None:
    raw = bytearray(_tar([(_info("olddir/", tarfile.AREGTYPE), b"")], tarfile.USTAR_FORMAT))
    entries, _ = _read_all(bytes(raw))
    assert entries[0][0].type == "5"
    # A header with a high byte in it, checksummed the old signed way.
    info = _info("x")
    info.uname = "\u00e9"  # encodes as two bytes >= 0x80
    raw = bytearray(_tar([(info, b"")], tarfile.USTAR_FORMAT))
    signed = sum(b - 256 if b & 0x80 else b for b in raw[:148] + raw[156:512]) + 256
    raw[148:156] = b"%06o\0 " % signed
    assert _read_all(bytes(raw))[0][0][0].name == "x"


def test_parse_pax() -> None:
    assert parse_pax(b"11 path=ab\n17 uid=123456789\n") == {"path": b"ab", "uid": b"123456789"}
    assert parse_pax(b"8 a=b=c\n") == {"a": b"b=c"}
    for bad in (b"9 path=a", b"x path=a\n", b"99 path=a\n", b"4 pa\n"):
        with pytest.raises(ValueError):
            parse_pax(bad)


names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="/\0"),
    min_size=1,
    max_size=120,
).filter(lambda s: s not in (".", ".."))


@settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    files=st.lists(
        st.tuples(names, st.binary(max_size=2000), st.integers(0, 0o7777), st.integers(0, 2**31)),
        max_size=6,
        unique_by=lambda t: t[0],
    ),
    fmt=st.sampled_from([tarfile.GNU_FORMAT, tarfile.PAX_FORMAT]),
)
def test_reader_round_trips_what_tarfile_writes(
    files: list[tuple[str, bytes, int, int]], fmt: int
) -> None:
    members = [(_info(f"d/{n}", mode=m, uid=u), data) for n, data, m, u in files]
    raw = _tar(members, fmt)
    entries, digest = _read_all(raw)
    assert [(e.name, e.mode, e.uid, body) for e, body in entries] == [
        (f"d/{n}", m, u, data) for n, data, m, u in files
    ]
    assert digest == "sha256:" + hashlib.sha256(raw).hexdigest()


# --- create_layer -----------------------------------------------------------------------


def _user_xattrs_work(path: Path) -> bool:
    try:
        os.setxattr(path, "user.probe", b"1")
        os.removexattr(path, "user.probe")
        return True
    except OSError:
        return False


def _tree(root: Path) -> None:
    (root / "b-dir" / "sub").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"alpha\n")
    (root / "b-dir" / "sub" / "deep").write_bytes(b"deep\n" * 1000)
    (root / "b-dir.txt").write_bytes(b"sibling\n")
    (root / "c-link").symlink_to("/nonexistent/target")
    os.link(root / "a.txt", root / "b-dir" / "hard")
    os.mkfifo(root / "fifo")
    (root / "b-dir" / "sub" / "deep").chmod(0o750)
    if _user_xattrs_work(root / "a.txt"):
        os.setxattr(root / "a.txt", "user.zeta", b"z")
        os.setxattr(root / "a.txt", "user.alpha", b"\xff\x00binary")
    for p in sorted(root.rglob("*"), reverse=True):
        os.utime(p, (1_650_000_000, 1_650_000_000), follow_symlinks=False)


def _layer(root: Path, mtime: int | None = None) -> tuple[bytes, str]:
    out = io.BytesIO()
    digest = create_layer(root, out, mtime=mtime)
    return out.getvalue(), digest


def test_create_layer_is_deterministic_and_docker_shaped(tmp_path: Path) -> None:
    _tree(tmp_path / "t")
    first, digest = _layer(tmp_path / "t")
    second, digest2 = _layer(tmp_path / "t")
    assert first == second and digest == digest2
    assert digest == "sha256:" + hashlib.sha256(first).hexdigest()
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        infos = tar.getmembers()
        raw_names = [i.name + ("/" if i.isdir() else "") for i in infos]
        by_name = {i.name: i for i in infos}
    # depth first, children sorted by name; the root itself is not an entry
    assert raw_names == [
        "a.txt",
        "b-dir/",
        "b-dir/hard",
        "b-dir/sub/",
        "b-dir/sub/deep",
        "b-dir.txt",
        "c-link",
        "fifo",
    ]
    assert b"b-dir/sub/\0" in first  # directories end in "/" in the header itself
    assert by_name["b-dir/hard"].islnk() and by_name["b-dir/hard"].linkname == "a.txt"
    assert by_name["c-link"].linkname == "/nonexistent/target"
    assert by_name["b-dir/sub/deep"].mode == 0o750
    assert all(i.uname == "" and i.gname == "" for i in infos)
    assert all(i.mtime == 1_650_000_000 for i in infos)
    assert by_name["fifo"].isfifo()
    if "SCHILY.xattr.user.zeta" in by_name["a.txt"].pax_headers:
        assert by_name["a.txt"].pax_headers["SCHILY.xattr.user.zeta"] == "z"
    # the digest apply_layer would compute
    assert _read_all(first)[1] == digest


def test_create_layer_clamps_mtimes_and_skips_sockets(tmp_path: Path) -> None:
    root = tmp_path / "t"
    root.mkdir()
    (root / "new").write_text("new")
    os.utime(root / "new", (2_000_000_000, 2_000_000_000))
    (root / "old").write_text("old")
    os.utime(root / "old", (1_000_000_000, 1_000_000_000))
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(os.fspath(root / "sock"))
        assert stat.S_ISSOCK(os.lstat(root / "sock").st_mode)
        data, _ = _layer(root, mtime=1_500_000_000)
    finally:
        sock.close()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        mtimes = {i.name: i.mtime for i in tar.getmembers()}
    assert mtimes == {"new": 1_500_000_000, "old": 1_000_000_000}


def test_create_layer_changes_with_content(tmp_path: Path) -> None:
    _tree(tmp_path / "t")
    before = _layer(tmp_path / "t")[1]
    (tmp_path / "t" / "a.txt").chmod(0o600)
    assert _layer(tmp_path / "t")[1] != before
