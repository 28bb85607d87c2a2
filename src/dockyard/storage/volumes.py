"""Named volumes with Docker's ``local`` driver.

A volume is a directory, ``<root>/volumes/<name>/_data``, plus a row in SQLite
(tables ``volumes`` and ``volume_refs``, schema owner ``volumes``). The engine
records which containers use a volume (:meth:`VolumeStore.add_ref`), which makes
``remove`` refuse, ``prune`` skip and the ``dangling`` filter exclude it.

Driver options, as ``docker volume create --opt``: ``type``, ``device``, ``o``.

- ``type=none,o=bind,device=/path``: the volume is the host directory ``/path``;
  its Mountpoint is that directory (Docker shows ``_data`` and mounts the device
  there while the volume is in use; Dockyard skips the intermediate mount, so
  the Mountpoint always shows the data). Removing the volume leaves ``/path``
  alone.
- ``type=tmpfs,device=tmpfs,o=size=64m``, or any other filesystem type: the
  store only records it; :meth:`VolumeStore.mounts` describes the mount for the
  engine to perform. Unlike Docker, each container gets its own instance of
  such a filesystem (Docker mounts one on the host and shares it between the
  containers using the volume at the same time).

Errors and texts follow Docker's. ``remove -f`` ignores a missing volume but, as
in Docker, never removes one in use.
"""

from __future__ import annotations

import builtins
import os
import time

from dockyard._util import jsonlite
from dockyard._util.db import Transaction, ensure_schema
from dockyard._util.fs import remove_tree
from dockyard._util.ids import random_hex
from dockyard._util.lazy import as_path
from dockyard._util.record import Record
from dockyard.errors import Conflict, InvalidArgument, NotFound
from dockyard.oci.runtime_spec import Mount
from dockyard.specs.volumes import is_volume_name
from dockyard.storage.du import tree_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Mapping, Sequence
    from pathlib import Path

SCHEMA_VERSION = 1
_DDL = """
CREATE TABLE IF NOT EXISTS volumes (
    name TEXT PRIMARY KEY,
    driver TEXT NOT NULL,
    created REAL NOT NULL,
    labels TEXT NOT NULL,
    options TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS volume_refs (
    volume TEXT NOT NULL REFERENCES volumes(name) ON DELETE CASCADE,
    container_id TEXT NOT NULL,
    PRIMARY KEY (volume, container_id)
);
CREATE INDEX IF NOT EXISTS volume_refs_by_container ON volume_refs(container_id)
"""

LOCAL = "local"
# Docker 23+ labels the volumes it makes for a container's anonymous mounts; plain
# `volume prune` removes only those.
ANONYMOUS_LABEL = "com.docker.volume.anonymous"
_NAME_CHARS = "[a-zA-Z0-9][a-zA-Z0-9_.-]"
_VALID_OPTS = ("type", "device", "o", "size")
_MANDATORY_OPTS = {"device": ("type",), "type": ("device",), "o": ("device", "type")}
_LIST_FILTERS = ("dangling", "driver", "label", "name")


def validate_name(name: str) -> None:
    """Docker's rule for local volume names."""
    if len(name) == 1:
        raise InvalidArgument(
            f"create {name}: volume name is too short, names should be at least two "
            "alphanumeric characters"
        )
    if not is_volume_name(name):
        raise InvalidArgument(
            f'create {name}: "{name}" includes invalid characters for a local volume name, '
            f'only "{_NAME_CHARS}" are allowed. If you intended to pass a host directory, '
            "use absolute path"
        )


def _rfc3339(ts: float) -> str:
    """Go's time.RFC3339 in local time (``Z`` for UTC), as Docker prints CreatedAt."""
    from datetime import datetime  # only inspect and ls print dates

    text = datetime.fromtimestamp(int(ts)).astimezone().isoformat(timespec="seconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _is_bind(options: Mapping[str, str]) -> bool:
    return any(o in ("bind", "rbind") for o in options.get("o", "").split(","))


class Volume(Record):
    __slots__ = (  # noqa: RUF023 (field order)
        "name",
        "driver",
        "mountpoint",
        "created",
        "labels",
        "options",
        "scope",
    )
    name: str
    driver: str
    mountpoint: Path
    created: float  # seconds since the epoch
    labels: Mapping[str, str]
    options: Mapping[str, str]
    scope: str

    def __init__(
        self,
        name: str,
        driver: str,
        mountpoint: Path,
        created: float,
        labels: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
        scope: str = "local",
    ) -> None:
        self._set(
            name=name,
            driver=driver,
            mountpoint=mountpoint,
            created=created,
            labels={} if labels is None else labels,
            options={} if options is None else options,
            scope=scope,
        )

    @property
    def created_at(self) -> str:
        return _rfc3339(self.created)

    @property
    def anonymous(self) -> bool:
        return ANONYMOUS_LABEL in self.labels

    @property
    def is_bind(self) -> bool:
        """Backed by a host directory (``o=bind``)."""
        return _is_bind(self.options)

    @property
    def host_path(self) -> Path | None:
        """The host directory holding the data, or None for a filesystem mounted per
        container (tmpfs and other ``type=``)."""
        if not self.options or self.is_bind:
            return self.mountpoint
        return None

    def inspect(self) -> dict[str, object]:
        """``docker volume inspect`` JSON for this volume."""
        return {
            "CreatedAt": self.created_at,
            "Driver": self.driver,
            "Labels": dict(self.labels),
            "Mountpoint": str(self.mountpoint),
            "Name": self.name,
            "Options": dict(self.options),
            "Scope": self.scope,
        }


class VolumeFilters(Record):
    """``docker volume ls --filter``: values of one key are ORed (labels: ANDed)."""

    __slots__ = ("dangling", "names", "labels", "drivers")  # noqa: RUF023 (field order)
    dangling: bool | None
    names: tuple[str, ...]
    labels: tuple[str, ...]  # "key" or "key=value"
    drivers: tuple[str, ...]

    def __init__(
        self,
        dangling: bool | None = None,
        names: tuple[str, ...] = (),
        labels: tuple[str, ...] = (),
        drivers: tuple[str, ...] = (),
    ) -> None:
        self._set(dangling=dangling, names=names, labels=labels, drivers=drivers)

    @classmethod
    def parse(cls, args: Sequence[str], allowed: Sequence[str] = _LIST_FILTERS) -> VolumeFilters:
        """From ``key=value`` strings as given to ``--filter``."""
        values: dict[str, list[str]] = {}
        for arg in args:
            key, sep, value = arg.partition("=")
            if not sep:
                raise InvalidArgument("bad format of filter (expected name=value)")
            key = key.strip().lower()
            if key not in allowed:
                raise InvalidArgument(f"invalid filter '{key}'")
            values.setdefault(key, []).append(value)
        dangling: bool | None = None
        for v in values.get("dangling", []):
            if v.lower() in ("true", "1"):
                want = True
            elif v.lower() in ("false", "0"):
                want = False
            else:
                raise InvalidArgument(f"invalid filter 'dangling={v}'")
            if dangling is not None and dangling != want:
                raise InvalidArgument("conflicting values for filter 'dangling'")
            dangling = want
        return cls(
            dangling=dangling,
            names=tuple(values.get("name", ())),
            labels=tuple(values.get("label", ())),
            drivers=tuple(values.get("driver", ())),
        )

    def match(self, v: Volume, in_use: bool) -> bool:
        if self.dangling is not None and self.dangling == in_use:
            return False
        if self.drivers and v.driver not in self.drivers:
            return False
        if self.names and not any(_search(n, v.name) for n in self.names):
            return False
        return all(label_matches(spec, v.labels) for spec in self.labels)


def _search(pattern: str, text: str) -> bool:
    """Docker's filter Match: exact, or an (unanchored) regular expression."""
    if pattern == text:
        return True
    import re  # only a name filter that is no exact name needs it

    try:
        return re.search(pattern, text) is not None
    except re.error:
        return False


def label_matches(spec: str, labels: Mapping[str, str]) -> bool:
    key, sep, value = spec.partition("=")
    if key not in labels:
        return False
    return not sep or labels[key] == value


class PruneReport(Record):
    __slots__ = ("volumes_deleted", "space_reclaimed")  # noqa: RUF023 (field order)
    volumes_deleted: tuple[str, ...]
    space_reclaimed: int

    def __init__(self, volumes_deleted: tuple[str, ...], space_reclaimed: int) -> None:
        self._set(volumes_deleted=volumes_deleted, space_reclaimed=space_reclaimed)


class VolumeStore:
    def __init__(self, root: str | os.PathLike[str], conn: sqlite3.Connection) -> None:
        self.root_dir = os.path.join(os.path.abspath(root), "volumes")
        self.conn = conn
        ensure_schema(conn, "volumes", SCHEMA_VERSION, _DDL)

    @property
    def root(self) -> Path:
        return as_path(self.root_dir)

    def _dir(self, name: str) -> Path:
        return as_path(os.path.join(self.root_dir, name))

    def _row(self, row: tuple[str, str, float, str, str]) -> Volume:
        name, driver, created, labels, options = row
        opts: dict[str, str] = jsonlite.loads(options)
        mountpoint = self._dir(name) / "_data"
        if _is_bind(opts) and opts.get("device"):
            mountpoint = as_path(opts["device"])
        return Volume(name, driver, mountpoint, created, jsonlite.loads(labels), opts)

    # -- create / read -----------------------------------------------------------------
    def create(
        self,
        name: str | None = None,
        labels: Mapping[str, str] | None = None,
        driver: str = LOCAL,
        options: Mapping[str, str] | None = None,
        *,
        anonymous: bool = False,
    ) -> Volume:
        """Create a volume, or return the existing one of that name (as Docker does).

        ``name`` None: a random 64-hex name. ``anonymous``: for a container's
        anonymous mount (labelled so that plain ``volume prune`` removes it)."""
        if driver != LOCAL:
            raise NotFound(f'error looking up volume plugin {driver}: plugin "{driver}" not found')
        if name is None:
            name = random_hex(32)
        validate_name(name)
        existing = self._get(name)
        if existing is not None:
            return existing
        opts = dict(options or {})
        _validate_options(name, opts)
        all_labels = dict(labels or {})
        if anonymous:
            all_labels.setdefault(ANONYMOUS_LABEL, "")
        data = self._dir(name) / "_data"
        self.root.mkdir(mode=0o701, parents=True, exist_ok=True)
        self._dir(name).mkdir(mode=0o701, exist_ok=True)
        data.mkdir(mode=0o755, exist_ok=True)
        self.conn.execute(
            "INSERT OR IGNORE INTO volumes (name, driver, created, labels, options) "
            "VALUES (?, ?, ?, ?, ?)",
            (name, driver, time.time(), jsonlite.dumps(all_labels), jsonlite.dumps(opts)),
        )
        return self.get(name)

    def _get(self, name: str) -> Volume | None:
        row = self.conn.execute(
            "SELECT name, driver, created, labels, options FROM volumes WHERE name = ?",
            (name,),
        ).fetchone()
        return None if row is None else self._row(row)

    def get(self, name: str) -> Volume:
        v = self._get(name)
        if v is None:
            raise NotFound(f"get {name}: no such volume")
        return v

    def inspect(self, name: str) -> dict[str, object]:
        return self.get(name).inspect()

    def usage(self, name: str) -> int:
        """Bytes in the volume, or -1 where not known (a per-container filesystem)."""
        path = self.get(name).host_path
        return -1 if path is None else tree_size(path)

    def mounts(self, name: str, destination: str, *, readonly: bool = False) -> list[Mount]:
        """The mount that puts volume ``name`` at ``destination`` in a container."""
        v = self.get(name)
        ro = ("ro",) if readonly else ()
        host = v.host_path
        if host is not None:
            if not host.is_dir():
                raise NotFound(
                    f"error while mounting volume '{v.mountpoint}': failed to mount local "
                    f"volume: {host}: no such directory"
                )
            return [Mount(destination, "bind", str(host), ("rbind", *ro))]
        data = tuple(o for o in v.options.get("o", "").split(",") if o)
        return [Mount(destination, v.options["type"], v.options["device"], (*data, *ro))]

    # -- references --------------------------------------------------------------------
    def add_ref(self, name: str, container_id: str) -> None:
        """Record that ``container_id`` uses volume ``name``."""
        with Transaction(self.conn) as c:
            if c.execute("SELECT 1 FROM volumes WHERE name = ?", (name,)).fetchone() is None:
                raise NotFound(f"get {name}: no such volume")
            c.execute(
                "INSERT OR IGNORE INTO volume_refs (volume, container_id) VALUES (?, ?)",
                (name, container_id),
            )

    def remove_refs(self, container_id: str) -> None:
        """Forget every use by ``container_id`` (when the container is removed)."""
        self.conn.execute("DELETE FROM volume_refs WHERE container_id = ?", (container_id,))

    def refs(self, name: str) -> builtins.list[str]:
        rows = self.conn.execute(
            "SELECT container_id FROM volume_refs WHERE volume = ? ORDER BY container_id",
            (name,),
        )
        return [r[0] for r in rows]

    def volumes_of(self, container_id: str) -> builtins.list[str]:
        """The volumes ``container_id`` uses."""
        rows = self.conn.execute(
            "SELECT volume FROM volume_refs WHERE container_id = ? ORDER BY volume",
            (container_id,),
        )
        return [r[0] for r in rows]

    def ref_counts(self) -> dict[str, int]:
        rows = self.conn.execute("SELECT volume, COUNT(*) FROM volume_refs GROUP BY volume")
        return {r[0]: r[1] for r in rows}

    # -- removal -----------------------------------------------------------------------
    def remove(self, name: str, force: bool = False) -> None:
        """Remove volume ``name``; ``force`` ignores a missing volume. In use: Conflict."""
        doomed = self.root / f".del-{random_hex(4)}-{name}"
        with Transaction(self.conn) as c:
            if c.execute("SELECT 1 FROM volumes WHERE name = ?", (name,)).fetchone() is None:
                if force:
                    return
                raise NotFound(f"get {name}: no such volume")
            users = [
                r[0]
                for r in c.execute(
                    "SELECT container_id FROM volume_refs WHERE volume = ? ORDER BY container_id",
                    (name,),
                )
            ]
            if users:
                raise Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
            if os.path.ismount(self._dir(name) / "_data"):
                raise Conflict(f"remove {name}: volume is in use - its data dir is mounted")
            c.execute("DELETE FROM volumes WHERE name = ?", (name,))
            try:
                os.rename(self._dir(name), doomed)
            except FileNotFoundError:
                return
        remove_tree(doomed)

    def clean_stale(self) -> None:
        """After a crash: finish deletions (``.del-*``) whose volume row is gone and
        put back the data of a removal that did not commit."""
        try:
            entries = builtins.list(os.scandir(self.root_dir))
        except FileNotFoundError:
            return
        for entry in entries:
            if not entry.name.startswith(".del-"):
                continue
            name = entry.name[len(".del-") + 9 :]
            if self._get(name) is not None and not self._dir(name).exists():
                os.rename(entry.path, self._dir(name))
            else:
                remove_tree(entry.path)

    def prune(self, all: bool = False, labels: Sequence[str] = ()) -> PruneReport:
        """Remove unused volumes: anonymous ones only, unless ``all`` (Docker 23+).
        ``labels``: only volumes matching every ``key`` / ``key=value``; a ``!`` prefix
        (``!key=value``, Docker's ``label!=``) excludes the matching ones."""
        counts = self.ref_counts()
        deleted: builtins.list[str] = []
        space = 0
        for v in self.list():
            if counts.get(v.name) or not (all or v.anonymous):
                continue
            if not all_labels_match(labels, v.labels):
                continue
            size = 0 if v.is_bind or v.host_path is None else self.usage(v.name)
            try:
                self.remove(v.name)
            except (Conflict, NotFound):
                continue  # taken or removed meanwhile
            deleted.append(v.name)
            space += max(size, 0)
        return PruneReport(tuple(deleted), space)

    def list(self, filters: VolumeFilters | None = None) -> builtins.list[Volume]:
        """Volumes sorted by name, those matching ``filters``."""
        rows = self.conn.execute(
            "SELECT name, driver, created, labels, options FROM volumes ORDER BY name"
        ).fetchall()
        volumes = [self._row(r) for r in rows]
        if filters is None:
            return volumes
        counts = self.ref_counts()
        return [v for v in volumes if filters.match(v, bool(counts.get(v.name)))]


def all_labels_match(specs: Sequence[str], labels: Mapping[str, str]) -> bool:
    for spec in specs:
        negate = spec.startswith("!")
        if label_matches(spec[1:] if negate else spec, labels) == negate:
            return False
    return True


def _validate_options(name: str, opts: Mapping[str, str]) -> None:
    """Docker's local driver checks, plus what Dockyard can honour."""

    def bad(message: str) -> InvalidArgument:
        return InvalidArgument(f"create {name}: {message}")

    for key in opts:
        if key not in _VALID_OPTS:
            raise bad(f'invalid option: "{key}"')
    if "size" in opts:  # Docker's quota option, for xfs project quotas only
        raise bad("quota size requested but no quota support")
    for key, required in _MANDATORY_OPTS.items():
        if key in opts:
            for r in required:
                if r not in opts:
                    raise bad(f'missing required option: "{r}"')
    if not opts:
        return
    if _is_bind(opts):
        if not os.path.isabs(opts["device"]):
            raise bad(
                f"device {opts['device']!r}: a bind-backed volume needs an absolute host path"
            )
    elif opts["type"] == "none":
        raise bad('type "none" needs o=bind (a host directory)')
