"""SQLite state database: one file, WAL, short transactions.

Each store owns its tables and declares its schema with ``ensure_schema``; the
``schema_versions`` table records which schema each owner has applied.

The connection comes from ``_sqlite3``, the C module that ``sqlite3`` re-exports
(``sqlite3.connect is _sqlite3.connect``, same classes, same exceptions). The
package adds only ``datetime`` adapters we never use and costs 1.5-2 ms of every
``ps`` and ``run`` (``datetime``, ``collections``). Modules take the names they
need from here: ``Connection``, ``Error``, ``IntegrityError``, ``OperationalError``.
"""

from __future__ import annotations

import os
from _sqlite3 import Connection, Error, IntegrityError, OperationalError, Row, connect

__all__ = ["Connection", "Error", "IntegrityError", "OperationalError", "Row", "open_db",
           "ensure_schema", "Transaction"]  # fmt: skip


def open_db(path: str | os.PathLike[str]) -> Connection:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    conn = connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 30000")
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    if mode != "wal":
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
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
