"""Replay records of fully cached builds (:mod:`dockyard.build.replay`), in the
state database: one row per slot (Dockerfile path, context, options), holding
the key of the last fully cached build there and what it needs and printed.

:func:`replay` answers a build from its record, after the checks the step path
would make (each base name resolves to the same image, each step's cache row
names the same image, each image exists), and tags the result; it imports
neither the parser nor the dispatcher. :func:`record` writes a record after a
fully cached build.
"""

from __future__ import annotations

import json
import sqlite3
import time

from dockyard._util.record import Record
from dockyard.errors import DockyardError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.build.replay import ReplayKey
    from dockyard.engine.wiring import Engine

_DDL = """
CREATE TABLE IF NOT EXISTS build_replay (
    slot TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    record TEXT NOT NULL,
    created INTEGER NOT NULL
)
"""


class Replayed(Record):
    """A build answered from its record: the image, what the build printed (as
    :func:`dockyard.build.replay.encode_events` keeps it) and the context size."""

    __slots__ = ("context_size", "events", "image_id")
    image_id: str
    events: tuple[tuple[object, ...], ...]
    context_size: int

    def __init__(
        self, image_id: str, events: tuple[tuple[object, ...], ...], context_size: int
    ) -> None:
        self._set(image_id=image_id, events=events, context_size=context_size)


def replay(engine: Engine, key: ReplayKey, tags: tuple[str, ...]) -> Replayed | None:
    """The build of ``key`` from its record, tagged ``tags``; ``None`` on a miss."""
    db = engine.db
    try:
        row = db.execute(
            "SELECT key, record FROM build_replay WHERE slot = ?", (key.slot,)
        ).fetchone()
    except sqlite3.OperationalError:  # no table: nothing was recorded here yet
        return None
    if row is None or row[0] != key.key:
        return None
    try:
        rec = json.loads(row[1])
        image_id = str(rec["image_id"])
        bases = [(str(n), str(i)) for n, i in rec["bases"]]
        steps = [(str(k), str(i)) for k, i in rec["steps"]]
        events = tuple(tuple(e) for e in rec["events"])
        context_size = int(rec["context_size"])
    except (ValueError, TypeError, KeyError):
        return None
    images = engine.images
    for name, base_id in bases:
        try:
            if images.resolve(name).id != base_id:
                return None
        except DockyardError:
            return None
    for step_key, step_image in steps:
        got = db.execute("SELECT image_id FROM build_cache WHERE key = ?", (step_key,)).fetchone()
        if got is None or got[0] != step_image:
            return None
    for needed in dict.fromkeys([*(i for _, i in steps), image_id]):
        if images.store.get(needed) is None:
            return None
    for ref in tags:
        images.tag(image_id, ref)
    return Replayed(image_id, events, context_size)


def record(
    engine: Engine,
    key: ReplayKey,
    *,
    image_id: str,
    bases: list[tuple[str, str]],
    steps: list[tuple[str, str]],
    events: list[list[object]],
    context_size: int,
) -> None:
    """Keep what a fully cached build of ``key`` needs and printed (replacing the
    slot's earlier record)."""
    from dockyard._util.db import ensure_schema

    db = engine.db
    ensure_schema(db, "build_replay", 1, _DDL)
    text = json.dumps(
        {
            "image_id": image_id,
            "bases": [list(b) for b in bases],
            "steps": [list(s) for s in steps],
            "events": events,
            "context_size": context_size,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )
    db.execute(
        "INSERT OR REPLACE INTO build_replay (slot, key, record, created) VALUES (?, ?, ?, ?)",
        (key.slot, key.key, text, time.time_ns()),
    )
