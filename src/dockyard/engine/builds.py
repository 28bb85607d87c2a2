"""The build service: the builder (:mod:`dockyard.build`) on the engine's images,
snapshots and containers.

:class:`EngineBackend` is the builder's :class:`~dockyard.build.events.Backend`:
COPY and WORKDIR steps work in an overlay snapshot mounted on the host; a RUN
step is a container of the parent image, run attached (its output streamed as
events), whose upper directory becomes the layer; then the container goes.
A step's layer is the upper directory written as a tar (whiteouts as
``.wh.`` files): its cost follows what the step changed.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from dockyard._util.litedc import dataclass, replace
from dockyard.build import events as ev
from dockyard.build.cache import BuildCache, StepInputs
from dockyard.build.context import BuildContext
from dockyard.build.dispatch import BuildOptions, BuildResult
from dockyard.errors import NotFound
from dockyard.oci.image import HistoryEntry, ImageConfig

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3

    from dockyard.build.replay import ReplayKey
    from dockyard.engine.wiring import Engine
    from dockyard.storage.snapshots import Snapshotter


@dataclass(frozen=True)
class _Workspace:
    root: Path
    upper: Path


class EngineBackend:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.images = engine.images
        self._snapshots: Snapshotter | None = None

    @property
    def snapshots(self) -> Snapshotter:
        if self._snapshots is None:
            from dockyard.storage.snapshots import Snapshotter

            cfg = self.engine.config
            self._snapshots = Snapshotter(cfg.root / "overlay", link_dir=cfg.runroot / "l")
        return self._snapshots

    # -- images ----------------------------------------------------------------------------
    def base_image(self, name: str, *, pull: bool) -> ev.BaseImage:
        try:
            record = self.images.resolve(name)
        except NotFound:
            tags = sorted({t for img in self.images.list_images() for t in img.repo_tags})
            shown = ", ".join(tags[:12]) if tags else "none"
            raise NotFound(
                f"pull access denied for {name}, repository does not exist or may require "
                f"'docker login': no such image here and no registry reachable",
                hint=f"local images: {shown}; `dockyard bootstrap busybox|python:3.11|"
                "debian:bookworm|...` makes base images offline",
            ) from None
        return ev.BaseImage(record.id, self.images.config(record))

    def image(self, image_id: str) -> ev.BaseImage | None:
        record = self.images.store.get(image_id)
        if record is None:
            return None
        return ev.BaseImage(record.id, self.images.config(record))

    def tag(self, image_id: str, refs: tuple[str, ...]) -> None:
        for ref in refs:
            self.images.tag(image_id, ref)

    def commit(
        self,
        parent_id: str,
        config: ImageConfig,
        history: HistoryEntry,
        changes: ev.Workspace | None,
    ) -> ev.BaseImage:
        from dockyard.engine.images import LayerBlob
        from dockyard.oci import mediatypes
        from dockyard.oci.digest import Digest

        blobs: list[LayerBlob] = []
        if parent_id:
            parent = self.images.store.get(parent_id)
            if parent is None:
                raise NotFound(f"No such image: {parent_id}")
            manifest = self.images.manifest(parent)
            blobs = [
                LayerBlob(Digest.parse(d.digest), d.media_type, d.size) for d in manifest.layers
            ]
        diff_ids = list(config.diff_ids)
        added: LayerBlob | None = None
        if changes is not None and _has_entries(changes.upper):
            from dockyard.image.layers import create_layer

            with self.images.content.writer() as w:
                diff_id = create_layer(changes.upper, w, from_overlay_upper=True)  # type: ignore[arg-type]
                info = w.commit(source="build step")
            added = LayerBlob(info.digest, mediatypes.OCI_LAYER, info.size)
            blobs.append(added)
            diff_ids.append(diff_id)
            history = replace(history, empty_layer=False)
        else:
            history = replace(history, empty_layer=True)
        cfg = replace(
            config,
            created=history.created,
            diff_ids=tuple(diff_ids),
            history=(*config.history, history),
        )
        record = self.images.commit_image(cfg, blobs, parent=parent_id, source="build")
        return ev.BaseImage(record.id, cfg)

    # -- root filesystems ----------------------------------------------------------------------
    @contextmanager
    def workspace(self, parent_id: str) -> Iterator[ev.Workspace]:
        key = f"build-{os.urandom(12).hex()}"
        lowers: list[str] = []
        if parent_id:
            record = self.images.store.get(parent_id)
            if record is None:
                raise NotFound(f"No such image: {parent_id}")
            lowers = list(reversed(self.images.layer_paths(record)))
        snapshots = self.snapshots
        snapshots.prepare(key, lowers, init=False)
        try:
            with snapshots.mount_on_host(key, lazy_unmount=True) as merged:
                yield _Workspace(merged, snapshots.upper_dir(key))
        finally:
            snapshots.remove(key)

    @contextmanager
    def read_only_root(self, image_id: str) -> Iterator[Path]:
        with self.workspace(image_id) as ws:
            yield ws.root

    @contextmanager
    def scratch_over(self, lower: Path) -> Iterator[Path]:
        key = f"build-{os.urandom(12).hex()}"
        snapshots = self.snapshots
        snapshots.prepare(key, [lower], init=False)
        try:
            with snapshots.mount_on_host(key, lazy_unmount=True) as merged:
                yield merged
        finally:
            snapshots.remove(key)

    def state_dir(self, name: str) -> Path:
        return self.engine.config.root / name

    def private_tmp(self) -> Path:
        return self.engine.config.runroot / "build"

    # -- RUN ----------------------------------------------------------------------------------
    def run(
        self,
        request: ev.RunRequest,
        emit: ev.Emit,
        commit: Callable[[ev.Workspace], ev.BaseImage],
    ) -> tuple[ev.RunResult, ev.BaseImage | None]:
        from dockyard.engine.container_config import ContainerCreate
        from dockyard.specs.volumes import MountRequest

        svc = self.engine.containers
        mounts = tuple(
            MountRequest("bind", m.source, m.target, readonly=m.readonly)
            if m.kind == "bind"
            else MountRequest("tmpfs", "", m.target, tmpfs_size=m.size)
            for m in request.mounts
        )
        req = ContainerCreate(
            image=request.parent_id,
            cmd=request.argv,
            entrypoint=(),
            env=request.env,
            working_dir=request.working_dir,
            user=request.user,
            network=request.network,
            labels=(("dockyard.build.step", "1"),),
            host_ca=request.host_ca,
            mounts=mounts,
        )
        container = svc.create(req)
        cid = container.id
        emit(ev.ContainerStarted(cid))
        image: ev.BaseImage | None = None
        code = -1
        try:
            attach = {"stdin": False, "stdout": True, "stderr": True, "stdin_once": False}
            handle = svc.start(cid, attach=attach)
            if handle is not None and handle.attach_socket is not None:
                _stream(handle.attach_socket, emit)
            code = svc.client(cid).wait()
            if code == 0:
                upper = svc.snapshots.upper_dir(cid)
                lowers = svc.snapshots.lower_dirs(cid)
                targets = [m.target for m in request.mounts]
                if request.host_ca:
                    targets.append(HOST_CA_TARGET)
                for target in targets:  # mount points are not the step's (as BuildKit)
                    _drop_mountpoint(upper, lowers, target)
                image = commit(_Workspace(upper, upper))
        finally:
            try:
                svc.remove(cid, force=True, volumes=True)
            finally:
                emit(ev.ContainerRemoved(cid))
        return ev.RunResult(code, cid), image


HOST_CA_TARGET = "/etc/ssl/certs/ca-certificates.crt"


def _drop_mountpoint(upper: Path, lowers: list[Path], target: str) -> None:
    """Remove the empty file or directory (and the directories above) the runtime
    made in ``upper`` to mount ``target`` on, where the image had none: they are
    not the step's."""
    rel = target.lstrip("/")
    if any(os.path.lexists(lower / rel) for lower in lowers):
        return
    path = upper / rel
    try:
        if path.is_symlink():
            return
        if path.is_dir():
            path.rmdir()  # OSError if the step put something there (outside the mount)
        elif path.is_file() and not path.stat().st_size:
            path.unlink()
        else:
            return
    except OSError:
        return
    parent = Path(rel).parent
    while str(parent) not in (".", ""):
        if any(os.path.lexists(lower / parent) for lower in lowers):
            break
        try:
            (upper / parent).rmdir()
        except OSError:
            break
        parent = parent.parent


def _has_entries(path: Path) -> bool:
    with os.scandir(path) as it:
        return next(it, None) is not None


def _stream(sock: object, emit: ev.Emit) -> None:
    """Docker's multiplexed attach stream (8-byte frame headers) into Output events."""
    from dockyard._util.sock import Socket

    assert isinstance(sock, Socket)
    buf = b""
    try:
        while chunk := sock.recv(65536):
            buf += chunk
            while len(buf) >= 8:
                stream, length = buf[0], struct.unpack(">I", buf[4:8])[0]
                if len(buf) < 8 + length:
                    break
                emit(ev.Output(2 if stream == 2 else 1, buf[8 : 8 + length]))
                buf = buf[8 + length :]
    finally:
        sock.close()


class _RecordingBackend(EngineBackend):
    """The engine backend, noting what a replay record needs: the image each base
    name resolved to, and whether a step downloaded (``ADD <url>``: not replayed)."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.bases: dict[str, str] = {}
        self.spoiled = False

    def base_image(self, name: str, *, pull: bool) -> ev.BaseImage:
        found = super().base_image(name, pull=pull)
        if self.bases.setdefault(name, found.id) != found.id:
            self.spoiled = True
        return found

    def state_dir(self, name: str) -> Path:
        if name == "tmp":  # ADD <url>: its cache key is the download's content
            self.spoiled = True
        return super().state_dir(name)


class _RecordingCache(BuildCache):
    """The layer cache, noting each hit's key and image; a recorded step (a miss)
    means the build was not fully cached."""

    def __init__(self, db: sqlite3.Connection) -> None:
        super().__init__(db)
        self.hits: list[tuple[str, str]] = []
        self.missed = False

    def lookup(self, inputs: StepInputs) -> str | None:
        image_id = super().lookup(inputs)
        if image_id is not None:
            self.hits.append((inputs.key, image_id))
        return image_id

    def record(self, inputs: StepInputs, image_id: str) -> None:
        self.missed = True
        super().record(inputs, image_id)


class BuildService:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def build(
        self,
        context: BuildContext,
        options: BuildOptions,
        emit: ev.Emit,
        replay_key: ReplayKey | None = None,
    ) -> BuildResult:
        """Build; with ``replay_key`` (computed before the build, see
        :mod:`dockyard.build.replay`), a fully cached build is recorded for replay."""
        from dockyard.build.dispatch import Builder
        from dockyard.build.hashing import HashMemo

        memo = HashMemo()
        memo_path = self.engine.config.root / "build-hash-memo.json"
        memo.load(memo_path)
        if replay_key is not None and (options.no_cache or options.pull or options.secrets):
            replay_key = None
        backend = _RecordingBackend(self.engine) if replay_key else EngineBackend(self.engine)
        cache = _RecordingCache(self.engine.db) if replay_key else BuildCache(self.engine.db)
        events: list[ev.BuildEvent] = []

        def recording_emit(event: ev.BuildEvent) -> None:
            events.append(event)
            emit(event)

        builder = Builder(
            backend, cache, context, options, recording_emit if replay_key else emit, memo
        )
        try:
            result = builder.build()
        finally:
            memo.save(memo_path)
        if replay_key is not None:
            assert isinstance(backend, _RecordingBackend) and isinstance(cache, _RecordingCache)
            self._record(replay_key, context, result, backend, cache, events)
        return result

    def _record(
        self,
        key: ReplayKey,
        context: BuildContext,
        result: BuildResult,
        backend: _RecordingBackend,
        cache: _RecordingCache,
        events: list[ev.BuildEvent],
    ) -> None:
        if backend.spoiled or cache.missed:
            return
        from dockyard.build.explain import tar_size
        from dockyard.build.replay import encode_events
        from dockyard.engine.build_replay import record

        printed = encode_events(events)
        if printed is None:
            return
        record(
            self.engine,
            key,
            image_id=result.image_id,
            bases=sorted(backend.bases.items()),
            steps=cache.hits,
            events=printed,
            context_size=tar_size(context),
        )
