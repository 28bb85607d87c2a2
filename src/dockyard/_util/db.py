"""SQLite state database: one file, WAL, short transactions.

Each store owns its tables and declares its schema with ``ensure_schema``; the
``schema_versions`` table records which schema each owner has applied.

The connection comes from ``_sqlite3``, the C module that ``sqlite3`` re-exports
(``sqlite3.connect is _sqlite3.connect``, same classes, same exceptions). The
package adds only ``datetime`` adapters we never use and costs 1.5-2 ms of every
``ps`` and ``run`` (``datetime``, ``collections``). Modules take the names they
need from here: ``Connection``, ``Error``, ``IntegrityError``, ``OperationalError``.

``_sqlite3`` itself imports ``functools`` when it loads, for one thing: the
``lru_cache`` that holds each connection's prepared statements. ``functools`` brings
``collections``, ``operator``, ``types``, ``reprlib``: 2-3 ms of every command that
opens the database, and nothing else on those paths uses them. :func:`_load_sqlite3`
gives it, for the moment of its load, a ``functools`` whose ``lru_cache`` is the one
``functools.lru_cache`` wraps (``_functools._lru_cache_wrapper``, the same C cache),
then takes it away again: a later ``import functools`` gets the real module.
"""

from __future__ import annotations

import os
import sys


def _load_sqlite3() -> None:
    if "functools" in sys.modules or "_sqlite3" in sys.modules:
        return
    from _functools import _lru_cache_wrapper  # type: ignore[import-not-found]

    class _CacheInfo(tuple[object, ...]):  # what functools.lru_cache's cache_info() returns, shaped
        __slots__ = ()

        def __new__(cls, *fields: object) -> _CacheInfo:
            return tuple.__new__(cls, fields)

    def lru_cache(maxsize: int | None = 128, typed: bool = False) -> object:
        return lambda user_function: _lru_cache_wrapper(user_function, maxsize, typed, _CacheInfo)

    stub = type(sys)("functools")
    stub.lru_cache = lru_cache  # type: ignore[attr-defined]
    sys.modules["functools"] = stub
    try:
        import _sqlite3  # noqa: F401  (loaded with the stub: see the module docstring)
    finally:
        if sys.modules.get("functools") is stub:
            del sys.modules["functools"]


_load_sqlite3()

from _sqlite3 import Connection, Error, IntegrityError, OperationalError, Row, connect  # noqa: E402

__all__ = ["Connection", "Error", "IntegrityError", "OperationalError", "Row", "open_db",
           "ensure_schema", "Transaction"]  # fmt: skip


# Checkpoint the write-ahead log into the database once it holds this many pages
# (SQLite's default: 1000). The command line leaves its connection open at exit
# (cli/runner.py): no checkpoint at every close, but the next command, alone on the
# database, then rebuilds the log's index from the log itself, ~2.7 us a page. With
# 1000 pages (4 MB: ~120 run --rm) that was 1.4 ms of every command on average; with
# 100, checkpoints come every ~12 runs and cost 1-2 ms each: 0.8 ms less per command
# (measured over 400 processes).
WAL_CHECKPOINT_PAGES = 100


def open_db(path: str | os.PathLike[str]) -> Connection:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    conn = connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 30000")
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    if mode != "wal":
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
    return conn


def ensure_schema(conn: Connection, owner: str, version: int, ddl: str) -> None:
    """Apply ``ddl`` once for ``owner`` at ``version`` (idempotent, race-safe). Every
    command calls this for each store it opens: the usual case is one SELECT."""
    try:
        row = conn.execute(
            "SELECT version FROM schema_versions WHERE owner = ?", (owner,)
        ).fetchone()
    except OperationalError:  # a new database: no schema_versions yet
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_versions (owner TEXT PRIMARY KEY, version INTEGER)"
        )
        row = None
    if row is not None and row[0] >= version:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute(
            "SELECT version FROM schema_versions WHERE owner = ?", (owner,)
        ).fetchone()
        if row is None or row[0] < version:
            for statement in ddl.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(
                "INSERT OR REPLACE INTO schema_versions (owner, version) VALUES (?, ?)",
                (owner, version),
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


class Transaction:
    """``with Transaction(conn):`` runs the block in BEGIN IMMEDIATE ... COMMIT."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def __enter__(self) -> Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")
