"""Listing containers (``ps``) without building the container service.

``ContainerService.all()`` gives the same list, but the service needs the image
service, the snapshotter and the volume store (and their imports) for create, start
and remove; ``ps`` needs only the records and each container's state: one query,
then one ``state.json`` read per container (and a look at ``/proc`` only for the
shims of containers whose state says they run, see :meth:`ShimClient.state`).
"""

from __future__ import annotations

import os

from dockyard.engine.container_records import ContainerRecord, ContainerRecords
from dockyard.runtime.shim_client import ShimClient

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3

    from dockyard.config import EngineConfig
    from dockyard.engine.container_config import ContainerCreate
    from dockyard.runtime.state import State


class ListedContainer:
    """A record with its current state, as ``ps`` sees it (what ps reads of
    :class:`dockyard.engine.containers.Container`)."""

    __slots__ = ("record", "state")

    def __init__(self, record: ContainerRecord, state: State) -> None:
        self.record = record
        self.state = state

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def name(self) -> str:
        return self.record.name

    def create_request(self) -> ContainerCreate:
        from dockyard.engine.container_config import ContainerCreate

        return ContainerCreate.from_json(self.record.config)


def list_containers(config: EngineConfig, db: sqlite3.Connection) -> list[ListedContainer]:
    """Every container, newest first, with its state (ContainerService.all()'s order).

    The directories are ContainerService.container_dir / run_dir."""
    root = os.path.join(config.root_dir, "containers")
    runroot = os.path.join(config.runroot_dir, "containers")
    out = []
    for r in ContainerRecords(db).all():
        client = ShimClient(os.path.join(runroot, r.id), os.path.join(root, r.id))
        out.append(ListedContainer(r, client.state()))
    return out


class ContainerLookup:
    """One container by reference, its directories and its shim, from the records
    alone: what ``exec`` needs of :class:`~dockyard.engine.containers.ContainerService`
    (``get``, ``client``, ``container_dir``), without that service's imports (images,
    snapshots, volumes)."""

    def __init__(self, config: EngineConfig, db: sqlite3.Connection) -> None:
        self.records = ContainerRecords(db)
        self.root = os.path.join(config.root_dir, "containers")
        self.runroot = os.path.join(config.runroot_dir, "containers")

    def container_dir(self, cid: str) -> str:
        return os.path.join(self.root, cid)

    def client(self, cid: str) -> ShimClient:
        return ShimClient(os.path.join(self.runroot, cid), self.container_dir(cid))

    def get(self, ref: str) -> ListedContainer:
        rec = self.records.find(ref)
        return ListedContainer(rec, self.client(rec.id).state())
