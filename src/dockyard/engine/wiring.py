"""Builds the engine's services from one frozen EngineConfig.

Nothing is opened until first used, so ``dockyard --version`` or a failing
flag parse touch no disk.
"""

from __future__ import annotations

import os

from dockyard._util.lazy import cached_property
from dockyard.config import EngineConfig

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard._util.db import Connection
    from dockyard.engine.containers import ContainerService
    from dockyard.engine.images import ImageService
    from dockyard.engine.networks import NetworkService
    from dockyard.storage.volumes import VolumeStore


class Engine:
    def __init__(self, config: EngineConfig) -> None:
        self.config = config

    @cached_property
    def db(self) -> Connection:
        from dockyard._util.db import open_db

        os.makedirs(self.config.root_dir, mode=0o711, exist_ok=True)
        return open_db(self.config.state_db)

    @cached_property
    def images(self) -> ImageService:
        from dockyard.engine.images import ImageService
        from dockyard.image.content import ContentStore
        from dockyard.image.layerdirs import LayerDirs
        from dockyard.image.store import ImageStore

        root = self.config.root_dir
        content = ContentStore(os.path.join(root, "content"))
        content.init()
        return ImageService(
            content,
            LayerDirs(os.path.join(root, "layers")),
            ImageStore(self.db),
            os.path.join(root, "tmp"),
            in_use=self._images_in_use,
        )

    def _images_in_use(self) -> dict[str, list[str]]:
        """image id -> containers using it; reads the records only (no container service)."""
        from dockyard.engine.container_records import ContainerRecords

        return ContainerRecords(self.db).images_in_use()

    @cached_property
    def volumes(self) -> VolumeStore:
        from dockyard.storage.volumes import VolumeStore

        return VolumeStore(self.config.root_dir, self.db)

    @cached_property
    def containers(self) -> ContainerService:
        from dockyard.engine.container_records import ContainerRecords
        from dockyard.engine.containers import ContainerService
        from dockyard.storage.snapshots import Snapshotter

        snapshots = Snapshotter(os.path.join(self.config.root_dir, "overlay"),
                                link_dir=os.path.join(self.config.runroot_dir, "l"))  # fmt: skip
        return ContainerService(
            self.config,
            ContainerRecords(self.db),
            self.images,
            snapshots,
            lambda: self.volumes,
            lambda: self.networks,
        )

    @cached_property
    def networks(self) -> NetworkService:
        from dockyard.engine.container_records import ContainerRecords
        from dockyard.engine.networks import NetworkService

        records = ContainerRecords(self.db)

        def name_of(cid: str) -> str | None:
            rec = records.get(cid)
            return rec.name if rec else None

        def running(cid: str) -> bool:
            return self.containers.client(cid).state().running

        return NetworkService(self.config, self.db, container_name=name_of, is_running=running)

    def close(self) -> None:
        if "db" in self.__dict__:
            self.db.close()
