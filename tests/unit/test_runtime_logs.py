"""The json-file log writer and reader (no root, no containers)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument
from dockyard.runtime import logs
from dockyard.runtime import state as st
from dockyard.runtime.logs import JsonFileWriter, encode_entry, parse_max_size, read_logs

T0 = 1_704_164_645_123_456_789  # 2024-01-02T03:04:05.123456789Z
CID = "abc123"


def _writer(tmp_path: Path, **kw: int) -> JsonFileWriter:
    return JsonFileWriter(logs.log_path(str(tmp_path), CID), **kw)


def _lines(tmp_path: Path, suffix: str = "") -> list[bytes]:
    return (tmp_path / f"{CID}-json.log{suffix}").read_bytes().splitlines()


def test_docker_format_exactly() -> None:
    ts = st.rfc3339_nano(T0)
    assert ts == "2024-01-02T03:04:05.123456789Z"
    assert encode_entry("stdout", b"hello\n", ts) == (
        b'{"log":"hello\\n","stream":"stdout","time":"2024-01-02T03:04:05.123456789Z"}\n'
    )


@pytest.mark.parametrize(
    "raw, escaped",
    [
        (b'say "hi"\\', b'say \\"hi\\"\\\\'),
        (b"a\tb\r\n", b"a\\u0009b\\r\\n"),
        (b"<a&b>", b"\\u003ca\\u0026b\\u003e"),
        (b"\x00\x1b[0m", b"\\u0000\\u001b[0m"),
        ("héllo ✓".encode(), "héllo ✓".encode()),
        (b"bad\xff\xfeend", b"bad\\ufffd\\ufffdend"),
        ("\u2028".encode(), b"\\u2028"),
    ],
)
def test_escaping_matches_dockers_encoder(raw: bytes, escaped: bytes) -> None:
    line = encode_entry("stderr", raw, "T")
    assert line == b'{"log":"' + escaped + b'","stream":"stderr","time":"T"}\n'
    assert json.loads(line)["log"] == raw.decode("utf-8", "replace")


def test_lines_partial_lines_and_flush(tmp_path: Path) -> None:
    w = _writer(tmp_path)
    w.write("stdout", b"one\ntw", T0)
    w.write("stderr", b"err\n", T0)
    w.write("stdout", b"o\nthr", T0 + 1)
    w.close()  # the unterminated rest is written as it is
    got = [json.loads(x) for x in _lines(tmp_path)]
    assert [(g["stream"], g["log"]) for g in got] == [
        ("stdout", "one\n"),
        ("stderr", "err\n"),
        ("stdout", "two\n"),
        ("stdout", "thr"),
    ]
    assert got[2]["time"] == "2024-01-02T03:04:05.123456790Z"


def test_long_lines_are_split_at_16k(tmp_path: Path) -> None:
    w = _writer(tmp_path)
    w.write("stdout", b"x" * 40000 + b"\n", T0)
    w.close()
    parts = [json.loads(x)["log"] for x in _lines(tmp_path)]
    assert [len(p) for p in parts] == [16384, 16384, 40000 - 32768 + 1]
    assert parts[-1].endswith("\n") and "".join(parts) == "x" * 40000 + "\n"


def test_rotation_never_exceeds_max_size_and_keeps_the_newest(tmp_path: Path) -> None:
    w = _writer(tmp_path, max_size=1024, max_file=3)
    for i in range(500):
        w.write("stdout", f"line {i}\n".encode(), T0 + i)
    w.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [f"{CID}-json.log", f"{CID}-json.log.1", f"{CID}-json.log.2"]
    for n in names:
        assert (tmp_path / n).stat().st_size <= 1024
    got = [d for _, d, _ in read_logs(str(tmp_path), CID, done=lambda: True)]
    assert got[-1] == b"line 499\n"
    assert got == [f"line {i}\n".encode() for i in range(500 - len(got), 500)]


def test_max_file_1_truncates_in_place(tmp_path: Path) -> None:
    w = _writer(tmp_path, max_size=200, max_file=1)
    for i in range(50):
        w.write("stdout", f"{i}\n".encode(), T0)
    w.close()
    assert [p.name for p in tmp_path.iterdir()] == [f"{CID}-json.log"]
    assert (tmp_path / f"{CID}-json.log").stat().st_size <= 200


def _fill(tmp_path: Path) -> None:
    w = _writer(tmp_path, max_size=300, max_file=5)
    for i in range(10):
        w.write("stdout" if i % 2 == 0 else "stderr", f"m{i}\n".encode(), T0 + i * 1000)
    w.close()


def test_read_across_rotations_with_filters(tmp_path: Path) -> None:
    _fill(tmp_path)
    assert len(logs.log_files(str(tmp_path), CID)) > 1
    every = list(read_logs(str(tmp_path), CID))
    assert [d for _, d, _ in every] == [f"m{i}\n".encode() for i in range(10)]
    assert [t for _, _, t in every] == [T0 + i * 1000 for i in range(10)]
    tail = [d for _, d, _ in read_logs(str(tmp_path), CID, tail=3)]
    assert tail == [b"m7\n", b"m8\n", b"m9\n"]
    assert list(read_logs(str(tmp_path), CID, tail=0)) == []
    out = [d for _, d, _ in read_logs(str(tmp_path), CID, stderr=False, tail=2)]
    assert out == [b"m6\n", b"m8\n"]
    window = read_logs(str(tmp_path), CID, since=T0 + 2000, until=T0 + 4000)
    assert [d for _, d, _ in window] == [b"m2\n", b"m3\n", b"m4\n"]  # inclusive
    stamped = next(read_logs(str(tmp_path), CID, timestamps=True))[1]
    assert stamped == b"2024-01-02T03:04:05.123456789Z m0\n"


def test_follow_sees_new_lines_and_rotations_until_done(tmp_path: Path) -> None:
    # rotates every few lines; keeps more files than the output fills, so that a
    # follower slowed down by a loaded machine cannot fall behind a deleted file
    w = _writer(tmp_path, max_size=400, max_file=10)
    w.write("stdout", b"first\n", T0)
    finished = threading.Event()

    def produce() -> None:
        for i in range(30):
            w.write("stdout", f"n{i}\n".encode())
            time.sleep(0.005)
        w.close()
        finished.set()

    t = threading.Thread(target=produce)
    t.start()
    got = [d for _, d, _ in read_logs(str(tmp_path), CID, follow=True, done=finished.is_set)]
    t.join()
    assert got == [b"first\n"] + [f"n{i}\n".encode() for i in range(30)]


def test_follow_ends_when_the_state_is_final(tmp_path: Path) -> None:
    w = _writer(tmp_path)
    w.write("stdout", b"x\n", T0)
    w.close()
    st.write_state(str(tmp_path), st.State(id=CID, status="exited"))
    assert [d for _, d, _ in read_logs(str(tmp_path), CID, follow=True)] == [b"x\n"]


def test_max_size_is_decimal_as_docker_reads_it() -> None:
    """json-file's max-size goes through go-units FromHumanSize: 10m is 10,000,000."""
    assert parse_max_size("10m") == 10_000_000
    assert parse_max_size("1k") == 1000 and parse_max_size("1kb") == 1000
    assert parse_max_size("2GiB") == 2_000_000_000
    assert parse_max_size("512") == 512 and parse_max_size("-1") == -1
    with pytest.raises(InvalidArgument):
        parse_max_size("ten")


def test_time_round_trip() -> None:
    assert st.parse_rfc3339(st.rfc3339_nano(T0)) == T0
    assert st.parse_rfc3339("2024-01-02T04:04:05.5+01:00") == T0 - 123_456_789 + 500_000_000
    with pytest.raises(InvalidArgument):
        st.parse_rfc3339("yesterday")
