"""Container records in the state database: id, unique name, image, create request.

The running state is not here: the shim owns it (``state.json``). This table holds
what ``ps`` needs without opening each container's config.
"""

from __future__ import annotations

from dockyard._util.db import Transaction, ensure_schema
from dockyard._util.record import Record
from dockyard.errors import Conflict, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3

SCHEMA = """
CREATE TABLE containers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    image_id TEXT NOT NULL,
    image_name TEXT NOT NULL,
    command TEXT NOT NULL,
    created TEXT NOT NULL,
    created_ns INTEGER NOT NULL,
    labels TEXT NOT NULL,
    config TEXT NOT NULL
);
CREATE INDEX containers_image ON containers(image_id)
"""

_COLS = "id, name, image_id, image_name, command, created, created_ns, labels, config"


class ContainerRecord(Record):
    __slots__ = (  # noqa: RUF023 (field order: the columns')
        "id",
        "name",
        "image_id",
        "image_name",
        "command",
        "created",
        "created_ns",
        "labels",
        "config",
    )
    id: str
    name: str  # without Docker's leading "/"
    image_id: str
    image_name: str  # as the user wrote it
    command: str  # JSON list: entrypoint + cmd, as ps shows it
    created: str  # RFC3339 nano
    created_ns: int
    labels: str  # JSON object
    config: str  # ContainerCreate JSON

    def __init__(
        self,
        id: str,
        name: str,
        image_id: str,
        image_name: str,
        command: str,
        created: str,
        created_ns: int,
        labels: str,
        config: str,
    ) -> None:
        self._set(
            id=id,
            name=name,
            image_id=image_id,
            image_name=image_name,
            command=command,
            created=created,
            created_ns=created_ns,
            labels=labels,
            config=config,
        )


class ContainerRecords:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        ensure_schema(conn, "containers", 1, SCHEMA)

    def add(self, rec: ContainerRecord) -> None:
        with Transaction(self.conn) as c:
            row = c.execute("SELECT id FROM containers WHERE name = ?", (rec.name,)).fetchone()
            if row is not None:
                raise name_conflict(rec.name, row[0])
            c.execute(
                f"INSERT INTO containers ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    rec.id,
                    rec.name,
                    rec.image_id,
                    rec.image_name,
                    rec.command,
                    rec.created,
                    rec.created_ns,
                    rec.labels,
                    rec.config,
                ),
            )

    def get(self, id_: str) -> ContainerRecord | None:
        row = self.conn.execute(f"SELECT {_COLS} FROM containers WHERE id = ?", (id_,)).fetchone()
        return ContainerRecord(*row) if row else None

    def find(self, ref: str) -> ContainerRecord:
        """By full ID, name (with or without "/"), or unique ID prefix — Docker's order."""
        rec = self.get(ref)
        if rec is not None:
            return rec
        name = ref[1:] if ref.startswith("/") else ref
        row = self.conn.execute(
            f"SELECT {_COLS} FROM containers WHERE name = ?", (name,)
        ).fetchone()
        if row is not None:
            return ContainerRecord(*row)
        if ref and all(c in "0123456789abcdef" for c in ref):
            rows = self.conn.execute(
                f"SELECT {_COLS} FROM containers WHERE id >= ? AND id < ? LIMIT 2",
                (ref, ref + "\x7f"),
            ).fetchall()
            if len(rows) == 1:
                return ContainerRecord(*rows[0])
            if len(rows) > 1:
                raise Conflict(f"multiple IDs found with provided prefix: {ref}")
        raise NotFound(f"No such container: {ref}")

    def all(self) -> list[ContainerRecord]:
        rows = self.conn.execute(f"SELECT {_COLS} FROM containers ORDER BY created_ns DESC")
        return [ContainerRecord(*r) for r in rows]

    def remove(self, id_: str) -> None:
        self.conn.execute("DELETE FROM containers WHERE id = ?", (id_,))

    def rename(self, id_: str, new_name: str) -> None:
        with Transaction(self.conn) as c:
            row = c.execute("SELECT id FROM containers WHERE name = ?", (new_name,)).fetchone()
            if row is not None:
                raise name_conflict(new_name, row[0])
            c.execute("UPDATE containers SET name = ? WHERE id = ?", (new_name, id_))

    def set_config(self, id_: str, config: str) -> None:
        self.conn.execute("UPDATE containers SET config = ? WHERE id = ?", (config, id_))

    def images_in_use(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for image_id, cid in self.conn.execute("SELECT image_id, id FROM containers"):
            out.setdefault(image_id, []).append(cid[:12])
        return out


def name_conflict(name: str, holder: str) -> Conflict:
    return Conflict(
        f'Conflict. The container name "/{name}" is already in use by container "{holder}". '
        "You have to remove (or rename) that container to be able to reuse that name.",
        hint=f"dockyard rm -f {name}, or pick another --name",
    )
