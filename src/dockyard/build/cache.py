"""The layer cache: which image a build step made from the same inputs before.

A step's inputs are its parent image, its instruction after expansion (with the
build args a RUN sees, as the classic builder's ``|N k=v`` prefix has them) and
the content hash of its source files. :func:`cache_key` hashes them; the table
``build_cache`` maps a key to the image the step made, and keeps the inputs
themselves so that :meth:`BuildCache.why_missed` can say which one changed.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time

from dockyard._util.db import ensure_schema
from dockyard._util.litedc import dataclass
from dockyard.build.hashing import SourceHash

_DDL = """
CREATE TABLE IF NOT EXISTS build_cache (
    key TEXT PRIMARY KEY,
    image_id TEXT NOT NULL,
    parent TEXT NOT NULL,
    instruction TEXT NOT NULL,
    sources TEXT NOT NULL,
    files TEXT NOT NULL,
    args TEXT NOT NULL,
    created INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS build_cache_instruction ON build_cache (instruction);
CREATE INDEX IF NOT EXISTS build_cache_parent ON build_cache (parent);
CREATE INDEX IF NOT EXISTS build_cache_image ON build_cache (image_id)
"""


@dataclass(frozen=True)
class StepInputs:
    """What a step's result depends on."""

    parent: str
    instruction: str
    sources: SourceHash | None = None
    args: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        return cache_key(self)


def cache_key(inputs: StepInputs) -> str:
    data = json.dumps(
        [
            inputs.parent,
            inputs.instruction,
            inputs.sources.digest if inputs.sources else "",
            [list(a) for a in inputs.args],
        ],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return "sha256:" + hashlib.sha256(data.encode("utf-8", "surrogateescape")).hexdigest()


@dataclass(frozen=True)
class MissReason:
    """Why a step missed: ``kind`` is parent, files, args, instruction or new."""

    kind: str
    detail: str


class BuildCache:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        ensure_schema(db, "build_cache", 1, _DDL)

    def lookup(self, inputs: StepInputs) -> str | None:
        row = self.db.execute(
            "SELECT image_id FROM build_cache WHERE key = ?", (inputs.key,)
        ).fetchone()
        return str(row[0]) if row else None

    def record(self, inputs: StepInputs, image_id: str) -> None:
        sources = inputs.sources
        self.db.execute(
            "INSERT OR REPLACE INTO build_cache "
            "(key, image_id, parent, instruction, sources, files, args, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                inputs.key,
                image_id,
                inputs.parent,
                inputs.instruction,
                sources.digest if sources else "",
                sources.to_json() if sources else "[]",
                json.dumps([list(a) for a in inputs.args]),
                time.time_ns(),
            ),
        )

    def forget(self, key: str) -> None:
        self.db.execute("DELETE FROM build_cache WHERE key = ?", (key,))

    def why_missed(self, inputs: StepInputs, *, parent_was_rebuilt: bool) -> MissReason:
        """The input that differs from the most recent build of the same step."""
        same = self.db.execute(
            "SELECT parent, sources, files, args FROM build_cache "
            "WHERE instruction = ? ORDER BY (parent = ?) DESC, created DESC LIMIT 1",
            (inputs.instruction, inputs.parent),
        ).fetchone()
        if same is None:
            other = self.db.execute(
                "SELECT instruction FROM build_cache WHERE parent = ? ORDER BY created DESC "
                "LIMIT 1",
                (inputs.parent,),
            ).fetchone()
            if other is not None:
                return MissReason("instruction", f"the instruction changed (was: {other[0]})")
            if parent_was_rebuilt:
                return MissReason("parent", "the previous step was rebuilt (new parent image)")
            return MissReason("new", "no earlier build of this step")
        parent, sources, files, args = same
        if parent != inputs.parent:
            if parent_was_rebuilt:
                return MissReason("parent", "the previous step was rebuilt (new parent image)")
            return MissReason("parent", f"the parent image changed (was {parent[7:19]})")
        old_args = {k: v for k, v in json.loads(args)}
        new_args = dict(inputs.args)
        if old_args != new_args:
            names = sorted(k for k in old_args.keys() | new_args.keys()
                           if old_args.get(k) != new_args.get(k))  # fmt: skip
            shown = ", ".join(
                f"{k} ({old_args.get(k, '<unset>')} -> {new_args.get(k, '<unset>')})" for k in names
            )
            return MissReason("args", f"build-arg changed: {shown}")
        if inputs.sources is not None and sources != inputs.sources.digest:
            return MissReason("files", _changed_files(files, inputs.sources))
        return MissReason("new", "the cached image is gone (removed since)")


def _changed_files(old_json: str, new: SourceHash) -> str:
    old = SourceHash.files_from_json(old_json)
    current = dict(new.files)
    changed = sorted(p for p in old.keys() & current.keys() if old[p] != current[p])
    added = sorted(current.keys() - old.keys())
    removed = sorted(old.keys() - current.keys())
    parts = []
    for label, names in (("changed", changed), ("added", added), ("removed", removed)):
        if names:
            more = f" (+{len(names) - 5} more)" if len(names) > 5 else ""
            parts.append(f"{label}: {', '.join(names[:5])}{more}")
    return "source files " + ("; ".join(parts) if parts else "changed")
