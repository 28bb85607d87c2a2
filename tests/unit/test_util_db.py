"""_util.db: the state database's log stays small though the CLI never closes it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from dockyard._util import db

SRC = str(Path(db.__file__).resolve().parents[2])


def test_the_write_ahead_log_is_checkpointed_while_small(tmp_path: Path) -> None:
    """Each command leaves its connection open at exit (cli/runner.py), so the next one
    rebuilds the log's index from the whole log: it must not grow to SQLite's default
    4 MB between checkpoints."""
    path = tmp_path / "state.db"
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {SRC!r})
        from dockyard._util.db import Transaction, open_db
        conn = open_db({str(path)!r})
        conn.execute("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v BLOB)")
        for i in range(60):
            with Transaction(conn) as c:
                c.execute("INSERT OR REPLACE INTO t VALUES (?, ?)", (str(i), os.urandom(3000)))
        os._exit(0)  # as the command line ends: no close, no checkpoint
        """)
    for _ in range(20):  # 1200 commits of a page or two each: ~10 MB of log pages
        subprocess.run([sys.executable, "-I", "-c", script], check=True)
    wal = os.path.getsize(f"{path}-wal")
    assert 0 < wal < 1_000_000, wal  # SQLite's default would let it reach 4 MB
    conn = db.open_db(path)
    try:
        assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 60  # all there
    finally:
        conn.close()
