"""_util.jsonlite and _util.lazy: the same results as json, re and functools."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dockyard._util import jsonlite
from dockyard._util.lazy import Regex, cache, cached_property

DOCS = [
    {"a": [1, 2.5, -0.0, None, True, False, 'x\u00e9\n"\\\t'], "b": {"z": 1, "a": float("inf")}},
    "plain",
    "\ud800 lone surrogate",
    3,
    -7.25e-300,
    [],
    {},
    [[[{"deep": [1, {"k": "v"}]}]]],
    {"Env": ["PATH=/usr/bin"], "Cmd": None, "Labels": {"b": "2", "a": "1"}},
]
OPTIONS = [
    {},
    {"sort_keys": True},
    {"separators": (",", ":")},
    {"separators": (",", ":"), "sort_keys": True},
    {"ensure_ascii": False},
    {"indent": 2},
]


@pytest.mark.parametrize("doc", DOCS)
def test_dumps_is_byte_identical_to_json(doc: object) -> None:
    for kw in OPTIONS:
        assert jsonlite.dumps(doc, **kw) == json.dumps(doc, **kw), kw  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        '{"a": [1, 2.5e3, -0, null, true, false, "\\u00e9\\n"]}',
        " [1] \n",
        '"x"',
        "NaN",
        "-Infinity",
        "123456789012345678901234567890",
        '{"a": {"a": {}}}',
    ],
)
def test_loads_equals_json(text: str) -> None:
    assert repr(jsonlite.loads(text)) == repr(json.loads(text))
    assert repr(jsonlite.loads(text.encode())) == repr(json.loads(text.encode()))


def test_loads_utf16_and_bom_go_to_json() -> None:
    assert jsonlite.loads('{"a": 1}'.encode("utf-16")) == {"a": 1}
    assert jsonlite.loads(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}


@pytest.mark.parametrize("bad", ["", "[1", "[1] x", '{"a" 1}', "{'a': 1}", "[1,]"])
def test_errors_are_jsons_own(bad: str) -> None:
    with pytest.raises(json.JSONDecodeError) as mine:
        jsonlite.loads(bad)
    with pytest.raises(json.JSONDecodeError) as theirs:
        json.loads(bad)
    assert str(mine.value) == str(theirs.value)


def test_dumps_refuses_what_json_refuses() -> None:
    with pytest.raises(TypeError, match="Object of type object is not JSON serializable"):
        jsonlite.dumps({"a": object()})
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference"):
        jsonlite.dumps(loop)


def test_lazy_helpers() -> None:
    r = Regex(r"([a-z]+)-(\d+)")
    assert r.fullmatch("web-1").groups() == ("web", "1")  # type: ignore[union-attr]
    assert r.match("x") is None and r.sub("n", "a-1 b-2") == "n n"
    calls = []

    @cache
    def twice(x: int) -> int:
        calls.append(x)
        return 2 * x

    assert twice(2) == twice(2) == 4 and calls == [2]

    class C:
        n = 0

        @cached_property
        def v(self) -> int:
            C.n += 1
            return 42

    c = C()
    assert c.v == c.v == 42 and C.n == 1


def test_importing_them_imports_neither_json_nor_re() -> None:
    src = str(Path(__file__).resolve().parents[2] / "src")
    # (functools comes with _sqlite3 itself)
    mods = "{'json', 're', 'enum', 'typing', 'sqlite3', 'datetime'}"
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "import dockyard._util.jsonlite, dockyard._util.lazy, dockyard._util.db; "
            f"print(sorted({mods} & set(sys.modules)))")  # fmt: skip
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code, src], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    assert out.strip() == "[]"


def test_epoll_selector_reports_like_selectors() -> None:
    import os
    import selectors

    from dockyard._util.poll import EVENT_READ, EVENT_WRITE, EpollSelector
    from dockyard._util.sock import socketpair

    assert (EVENT_READ, EVENT_WRITE) == (selectors.EVENT_READ, selectors.EVENT_WRITE)
    a, b = socketpair()
    r, w = os.pipe()
    sel = EpollSelector()
    try:
        sel.register(a, EVENT_READ, "a")
        sel.register(r, EVENT_READ, "pipe")
        assert sel.select(0) == []
        b.sendall(b"x")
        os.write(w, b"y")
        got = {key.data: ev for key, ev in sel.select(1)}
        assert got == {"a": EVENT_READ, "pipe": EVENT_READ}
        sel.modify(a, EVENT_READ | EVENT_WRITE, "a2")
        got = {key.data: ev for key, ev in sel.select(1)}
        assert got["a2"] == EVENT_READ | EVENT_WRITE
        assert sel.get_map()[a.fileno()].data == "a2"
        with pytest.raises(KeyError):
            sel.register(r, EVENT_READ)
        sel.unregister(r)
        assert r not in sel.get_map()
        os.close(r)
        b.close()  # the peer hangs up: readable (EOF)
        assert [k.data for k, ev in sel.select(1) if ev & EVENT_READ] == ["a2"]
    finally:
        sel.close()
        a.close()
        os.close(w)


def test_socket_accept_and_with() -> None:
    import tempfile

    from dockyard._util.sock import Socket, unix_stream

    with tempfile.TemporaryDirectory() as d:
        path = f"{d}/s"
        with unix_stream() as server:
            server.bind(path)
            server.listen(1)
            client = unix_stream()
            client.connect(path)
            conn, _ = server.accept()
            assert isinstance(conn, Socket)
            with conn:
                client.sendall(b"ping")
                assert conn.recv(4) == b"ping"
            assert conn.fileno() == -1
            client.close()


def test_db_loads_sqlite_without_functools(tmp_path: Path) -> None:
    """_util.db loads _sqlite3 with a stand-in functools (its statement cache's
    lru_cache): no functools or collections on the way, a statement cache that works
    past its 128 entries, and the real functools for whoever imports it later."""
    src = str(Path(__file__).resolve().parents[2] / "src")
    code = f"""
import sys
sys.path.insert(0, {src!r})
from dockyard._util import db
assert "functools" not in sys.modules and "collections" not in sys.modules
conn = db.open_db({str(tmp_path / "t.db")!r})
conn.execute("CREATE TABLE t (a INTEGER)")
for i in range(300):
    conn.execute(f"INSERT INTO t VALUES ({{i}})")
    conn.execute("INSERT INTO t VALUES (?)", (-i,))
assert conn.execute("SELECT count(*), sum(a) FROM t").fetchone() == (600, 0)
import functools
assert functools.reduce(max, [3, 9, 4]) == 9 and sys.modules["functools"] is functools
print("ok")
"""
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True)
    assert out.stdout == "ok\n", out.stderr
