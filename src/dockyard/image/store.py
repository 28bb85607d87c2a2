"""Image metadata in the state database: images, their layers, tags and digests.

Blobs live in the content store and extracted layers in the layer store; this
module only records which image uses which, so that listing 1,000 images is one
query and nothing reads a config file to print ``dockyard images``.
"""

from __future__ import annotations

import time

from dockyard._util.db import Transaction, ensure_schema
from dockyard._util.record import Record
from dockyard.errors import Conflict, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3

SCHEMA = """
CREATE TABLE images (
    id TEXT PRIMARY KEY,
    manifest_digest TEXT NOT NULL,
    manifest_media_type TEXT NOT NULL,
    created TEXT NOT NULL,
    size INTEGER NOT NULL,
    top_chain TEXT NOT NULL,
    parent TEXT NOT NULL DEFAULT '',
    added_at REAL NOT NULL
);
CREATE TABLE image_layers (
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    chain_id TEXT NOT NULL,
    PRIMARY KEY (image_id, position)
);
CREATE INDEX image_layers_chain ON image_layers(chain_id);
CREATE TABLE image_blobs (
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    digest TEXT NOT NULL,
    PRIMARY KEY (image_id, digest)
);
CREATE INDEX image_blobs_digest ON image_blobs(digest);
CREATE TABLE layers (
    chain_id TEXT PRIMARY KEY,
    diff_id TEXT NOT NULL,
    parent TEXT NOT NULL,
    size INTEGER NOT NULL
);
CREATE TABLE refs (
    ref TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    added_at REAL NOT NULL
);
CREATE INDEX refs_image ON refs(image_id)
"""


class ImageRecord(Record):
    __slots__ = (  # noqa: RUF023 (field order: the columns')
        "id",
        "manifest_digest",
        "manifest_media_type",
        "created",
        "size",
        "top_chain",
        "parent",
    )
    id: str
    manifest_digest: str
    manifest_media_type: str
    created: str
    size: int
    top_chain: str
    parent: str

    def __init__(
        self,
        id: str,
        manifest_digest: str,
        manifest_media_type: str,
        created: str,
        size: int,
        top_chain: str,
        parent: str,
    ) -> None:
        self._set(
            id=id,
            manifest_digest=manifest_digest,
            manifest_media_type=manifest_media_type,
            created=created,
            size=size,
            top_chain=top_chain,
            parent=parent,
        )


class LayerRecord(Record):
    __slots__ = ("chain_id", "diff_id", "parent", "size")
    chain_id: str
    diff_id: str
    parent: str
    size: int

    def __init__(self, chain_id: str, diff_id: str, parent: str, size: int) -> None:
        self._set(chain_id=chain_id, diff_id=diff_id, parent=parent, size=size)


class RefRecord(Record):
    __slots__ = ("ref", "kind", "image_id")  # noqa: RUF023 (field order)
    ref: str
    kind: str  # "tag" or "digest"
    image_id: str

    def __init__(self, ref: str, kind: str, image_id: str) -> None:
        self._set(ref=ref, kind=kind, image_id=image_id)


_IMAGE_COLS = "id, manifest_digest, manifest_media_type, created, size, top_chain, parent"


class ImageStore:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        ensure_schema(conn, "images", 1, SCHEMA)

    # -- layers ---------------------------------------------------------------
    def layer(self, chain_id: str) -> LayerRecord | None:
        row = self.conn.execute(
            "SELECT chain_id, diff_id, parent, size FROM layers WHERE chain_id = ?", (chain_id,)
        ).fetchone()
        return LayerRecord(*row) if row else None

    def add_layer(self, layer: LayerRecord) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO layers (chain_id, diff_id, parent, size) VALUES (?, ?, ?, ?)",
            (layer.chain_id, layer.diff_id, layer.parent, layer.size),
        )

    def layers(self) -> list[LayerRecord]:
        rows = self.conn.execute("SELECT chain_id, diff_id, parent, size FROM layers")
        return [LayerRecord(*r) for r in rows]

    def unreferenced_layers(self) -> list[str]:
        rows = self.conn.execute(
            "SELECT chain_id FROM layers WHERE chain_id NOT IN (SELECT chain_id FROM image_layers)"
        )
        return [r[0] for r in rows]

    def chain_in_use(self, chain_id: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM image_layers WHERE chain_id = ? LIMIT 1", (chain_id,)
        ).fetchone()
        return row is not None

    def forget_layers(self, chain_ids: list[str]) -> None:
        self.conn.executemany("DELETE FROM layers WHERE chain_id = ?", [(c,) for c in chain_ids])

    # -- images ---------------------------------------------------------------
    def add_image(
        self, image: ImageRecord, chain_ids: list[str], blobs: list[str], refs: list[RefRecord]
    ) -> None:
        """Record an image (or refresh it) and point ``refs`` at it, in one transaction."""
        with Transaction(self.conn) as c:
            c.execute(
                f"INSERT OR IGNORE INTO images ({_IMAGE_COLS}, added_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    image.id,
                    image.manifest_digest,
                    image.manifest_media_type,
                    image.created,
                    image.size,
                    image.top_chain,
                    image.parent,
                    time.time(),
                ),
            )
            c.executemany(
                "INSERT OR IGNORE INTO image_layers (image_id, position, chain_id) "
                "VALUES (?, ?, ?)",
                [(image.id, i, cid) for i, cid in enumerate(chain_ids)],
            )
            c.executemany(
                "INSERT OR IGNORE INTO image_blobs (image_id, digest) VALUES (?, ?)",
                [(image.id, d) for d in blobs],
            )
            for ref in refs:
                self._set_ref(c, ref)

    def get(self, image_id: str) -> ImageRecord | None:
        row = self.conn.execute(
            f"SELECT {_IMAGE_COLS} FROM images WHERE id = ?", (image_id,)
        ).fetchone()
        return ImageRecord(*row) if row else None

    def all_images(self) -> list[ImageRecord]:
        rows = self.conn.execute(f"SELECT {_IMAGE_COLS} FROM images ORDER BY created DESC, id")
        return [ImageRecord(*r) for r in rows]

    def ids_with_prefix(self, hex_prefix: str) -> list[str]:
        rows = self.conn.execute(
            "SELECT id FROM images WHERE id >= ? AND id < ? LIMIT 2",
            (f"sha256:{hex_prefix}", f"sha256:{hex_prefix}\x7f"),
        )
        return [r[0] for r in rows]

    def chain_of(self, image_id: str) -> list[str]:
        rows = self.conn.execute(
            "SELECT chain_id FROM image_layers WHERE image_id = ? ORDER BY position", (image_id,)
        )
        return [r[0] for r in rows]

    def children(self, image_id: str) -> list[str]:
        return [
            r[0] for r in self.conn.execute("SELECT id FROM images WHERE parent = ?", (image_id,))
        ]

    def delete_image(self, image_id: str) -> None:
        with Transaction(self.conn) as c:
            c.execute("DELETE FROM refs WHERE image_id = ?", (image_id,))
            c.execute("DELETE FROM images WHERE id = ?", (image_id,))

    def referenced_blobs(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT DISTINCT digest FROM image_blobs")}

    # -- refs -----------------------------------------------------------------
    @staticmethod
    def _set_ref(c: sqlite3.Connection, ref: RefRecord) -> None:
        c.execute(
            "INSERT INTO refs (ref, kind, image_id, added_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(ref) DO UPDATE SET image_id = excluded.image_id, "
            "added_at = excluded.added_at",
            (ref.ref, ref.kind, ref.image_id, time.time()),
        )

    def set_ref(self, ref: RefRecord) -> str | None:
        """Point ``ref`` at an image; return the image it pointed at before, if another."""
        with Transaction(self.conn) as c:
            if self.get(ref.image_id) is None:
                raise NotFound(f"No such image: {ref.image_id}")
            row = c.execute("SELECT image_id FROM refs WHERE ref = ?", (ref.ref,)).fetchone()
            self._set_ref(c, ref)
        old = row[0] if row else None
        return old if old != ref.image_id else None

    def resolve_ref(self, ref: str) -> str | None:
        row = self.conn.execute("SELECT image_id FROM refs WHERE ref = ?", (ref,)).fetchone()
        return row[0] if row else None

    def refs_of(self, image_id: str) -> list[RefRecord]:
        rows = self.conn.execute(
            "SELECT ref, kind, image_id FROM refs WHERE image_id = ? ORDER BY added_at, ref",
            (image_id,),
        )
        return [RefRecord(*r) for r in rows]

    def all_refs(self) -> list[RefRecord]:
        rows = self.conn.execute("SELECT ref, kind, image_id FROM refs ORDER BY added_at, ref")
        return [RefRecord(*r) for r in rows]

    def remove_ref(self, ref: str) -> None:
        cur = self.conn.execute("DELETE FROM refs WHERE ref = ?", (ref,))
        if cur.rowcount == 0:
            raise Conflict(f"reference {ref} does not exist")
