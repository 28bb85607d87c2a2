"""The container service: create, start, stop, remove, list — the one place that
combines images, snapshots, volumes and the runtime for a container.

Each container is a directory ``$ROOT/containers/<id>/`` (the OCI bundle, the shim's
files, the log) plus a row in the state database; its running state belongs to its
shim (``state.json``), read through :class:`ShimClient`.
"""

from __future__ import annotations

import os
import time

from dockyard._util import jsonlite
from dockyard._util.db import Transaction
from dockyard._util.fs import make_dir_under_top, remove_tree
from dockyard._util.ids import random_hex
from dockyard._util.record import DataRecord
from dockyard.config import EngineConfig
from dockyard.engine.container_records import ContainerRecord, ContainerRecords, name_conflict
from dockyard.errors import Conflict, DockyardError, InvalidArgument, NotFound
from dockyard.runtime import state as st
from dockyard.runtime.shim_client import ShimClient

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from dockyard.engine.container_config import ContainerCreate
    from dockyard.engine.images import ImageService
    from dockyard.engine.networks import NetworkService
    from dockyard.runtime.shim_client import ShimHandle
    from dockyard.runtime.shim_prefork import PendingShim
    from dockyard.specs.ports import PortBinding
    from dockyard.storage.snapshots import Snapshotter
    from dockyard.storage.volumes import VolumeStore

_NAME_FIRST = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_NAME_REST = _NAME_FIRST | frozenset("_.-")


def valid_name(name: str) -> bool:
    """Docker's ``^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`` (without a regex: ``run`` never
    imports ``re``)."""
    if name[:1] == "/":
        name = name[1:]
    return len(name) > 1 and name[0] in _NAME_FIRST and all(c in _NAME_REST for c in name)


# wait_after_attach's state reads: seconds to sleep after each
_AFTER_ATTACH_POLL = (0.0005,) * 6 + (0.001,) * 4


class Container(DataRecord):
    """A record with its current state, as ps/inspect see it."""

    __slots__ = ("record", "state", "warnings")
    record: ContainerRecord
    state: st.State
    warnings: tuple[str, ...]  # for the user (stderr), e.g. a database port on 0.0.0.0

    def __init__(
        self,
        record: ContainerRecord,
        state: st.State,
        warnings: tuple[str, ...] = (),
    ) -> None:
        self._set(record=record, state=state, warnings=warnings)

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def name(self) -> str:
        return self.record.name

    def create_request(self) -> ContainerCreate:
        from dockyard.engine.container_config import ContainerCreate

        return ContainerCreate.from_json(self.record.config)


class ContainerService:
    def __init__(
        self,
        config: EngineConfig,
        records: ContainerRecords,
        images: ImageService,
        snapshots: Snapshotter,
        volumes: Callable[[], VolumeStore],
        networks: Callable[[], NetworkService],
    ) -> None:
        self.config = config
        self.records = records
        self.images = images
        self.snapshots = snapshots
        self._volumes = volumes
        self._networks = networks
        self.start_warnings: list[str] = []  # what the last start() wants the user to read

    @property
    def volumes(self) -> VolumeStore:
        """Made on first use: a container without volumes is made and started without
        the volume store being imported (``rm`` imports it: :meth:`prepare_remove`)."""
        return self._volumes()

    @property
    def networks(self) -> NetworkService:
        """Made on first use: a container on ``--network none|host|container:`` starts
        and goes without the network stack (~10 modules) ever being imported."""
        return self._networks()

    # -- paths ---------------------------------------------------------------------
    def container_dir(self, cid: str) -> str:
        return os.path.join(self.config.root_dir, "containers", cid)

    def run_dir(self, cid: str) -> str:
        return os.path.join(self.config.runroot_dir, "containers", cid)

    def client(self, cid: str) -> ShimClient:
        return ShimClient(self.run_dir(cid), self.container_dir(cid))

    # -- lookup --------------------------------------------------------------------
    def get(self, ref: str) -> Container:
        rec = self.records.find(ref)
        return Container(rec, self.client(rec.id).state())

    def all(self) -> list[Container]:
        return [Container(r, self.client(r.id).state()) for r in self.records.all()]

    # -- create --------------------------------------------------------------------
    def create(self, req: ContainerCreate, *, pending: PendingShim | None = None) -> Container:
        """Make a container (Docker's ``create``). ``pending``: the shim forked ahead
        to start it (``run``), which makes its cgroup meanwhile (the built-in runtime's;
        removed by the shim if the start never comes), and reads its files once
        written. On any failure nothing is left: no directory, snapshot, record, nor a
        volume this call created."""

        from dockyard.engine.container_create import ContainerBuilder, command, validate

        validate(req)
        image = self.images.resolve(req.image)
        image_cfg = self.images.config(image).config
        name = self._choose_name(req.name)
        args = command(req, image_cfg)
        self.network_namespace(req)  # a bad --network fails before anything is made
        cid = random_hex(32)
        cdir = self.container_dir(cid)
        made_volumes: list[str] = []
        try:
            make_dir_under_top(cdir, 0o710)
            if pending is not None and req.runtime == "dockyard":
                pending.make_cgroup(self.cgroup_path(cid))
            if req.bridged:
                self.networks.attach(cid, req)
            lowers = list(reversed(self.images.layer_paths(image)))
            ContainerBuilder(self, cid, req, image_cfg, made_volumes).build(lowers, args)
            if pending is not None:
                pending.prepare(cdir)  # it reads the files while we record the container
            created_ns = time.time_ns()
            rec = ContainerRecord(
                id=cid,
                name=name,
                image_id=image.id,
                image_name=req.image,
                command=jsonlite.dumps(list(args)),
                created=st.rfc3339_nano(created_ns),
                created_ns=created_ns,
                labels=jsonlite.dumps(dict(req.labels)),
                config=req.with_name(name).to_json(),
            )
            self.records.add(rec)
        except BaseException:
            self._discard(cid, made_volumes, req.bridged)
            raise
        warnings = self.networks.create_warnings(req) if req.bridged or req.ports else ()
        return Container(rec, st.State(id=cid), tuple(warnings))

    def _choose_name(self, name: str | None) -> str:

        from dockyard.engine.names import random_name

        if name is None:
            for _ in range(10):
                candidate = random_name()
                try:
                    self.records.find(candidate)
                except NotFound:
                    return candidate
            return random_name() + random_hex(2)
        if not valid_name(name):
            raise InvalidArgument(
                f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )
        name = name.lstrip("/")
        try:
            holder = self.records.find(name)
        except NotFound:
            return name
        if holder.name == name:
            raise name_conflict(name, holder.id)
        return name

    def _discard(self, cid: str, made_volumes: Sequence[str], bridged: bool = True) -> None:
        try:
            self.snapshots.remove(cid)
        except (DockyardError, OSError):
            pass
        remove_tree(self.container_dir(cid))
        self.volumes.remove_refs(cid)
        try:
            if bridged:
                self.networks.teardown(cid)
        except (DockyardError, OSError):
            pass
        for v in made_volumes:
            try:
                self.volumes.remove(v)
            except DockyardError:
                pass

    def network_namespace(self, req: ContainerCreate, cid: str = "") -> str:
        """The runtime's network: ``none`` (own namespace), ``host``, or a netns path
        (container ``cid``'s own, on bridge networks; checked only without ``cid``)."""
        mode = req.network
        if mode == "none":
            return "none"
        if mode == "host":
            return "host"
        if mode.startswith("container:"):
            other = self.get(mode.split(":", 1)[1])
            if other.state.status != "running":
                raise Conflict(f"cannot join network of a non running container: {other.id}")
            return f"/proc/{other.state.pid}/ns/net"
        if self.networks.resolve_mode(req) is None:  # NotFound for an unknown network
            return "none"
        return str(self.networks.netns_path(cid)) if cid else "none"

    def cgroup_path(self, cid: str) -> str:
        return f"{self.config.cgroup_parent}/{cid}"

    # -- lifecycle -----------------------------------------------------------------
    def start(
        self,
        ref: str,
        *,
        attach: dict[str, bool] | None = None,
        pending: PendingShim | None = None,
        meanwhile: Callable[[], object] | None = None,
        created: Container | None = None,
    ) -> ShimHandle | None:
        """Start a container; None if it was running already (Docker's no-op).
        ``pending``: a shim forked ahead for it (``run``); cancelled if not used.
        ``meanwhile``: the caller's work, done while the shim starts the container.
        ``created``: the container :meth:`create` just returned (``run``): not read
        again."""
        from dockyard.runtime.shim_client import spawn_shim

        try:
            c = created if created is not None and created.id == ref else self.get(ref)
            if c.state.status in ("running", "restarting", "paused"):
                return None
            if c.state.status == "dead":
                self.client(c.id).cleanup()
            req = c.create_request()
            if req.network.startswith("container:"):
                self._rewrite_netns(c.id, req)
            self.start_warnings = []
            if req.bridged:
                self.start_warnings = self.networks.prepare(c.id, self._port_bindings(c, req))
            run = self.run_dir(c.id)
            try:
                make_dir_under_top(run, 0o700)
            except FileExistsError:
                pass
            handle = spawn_shim(self.container_dir(c.id), run, attach=attach, pending=pending,
                                meanwhile=meanwhile)  # fmt: skip
            pending = None
            return handle
        finally:
            if pending is not None:
                pending.cancel()

    def _rewrite_netns(self, cid: str, req: ContainerCreate) -> None:
        from dockyard.oci.runtime_spec import Namespace
        from dockyard.runtime.bundle import read_config, write_config

        path = self.network_namespace(req)
        spec = read_config(self.container_dir(cid))
        ns = tuple(
            Namespace("network", path) if n.type == "network" else n for n in spec.linux.namespaces
        )
        write_config(self.container_dir(cid), spec.replace(linux=spec.linux.replace(namespaces=ns)))

    def _port_bindings(self, c: Container, req: ContainerCreate) -> list[PortBinding]:
        """``-p`` bindings, plus with ``-P`` a random host port for each exposed port
        (the image's EXPOSE and ``--expose``) that ``-p`` does not publish."""
        from dockyard.specs.ports import PortBinding

        bindings = list(req.ports)
        if req.publish_all:
            exposed = set(req.exposed)
            image = self.images.store.get(c.record.image_id)
            if image is not None:
                exposed.update(self.images.config(image).config.exposed_ports)
            done = {b.port_key for b in bindings}
            for key in sorted(exposed):
                port, _, proto = key.partition("/")
                if key not in done and port.isdigit():
                    bindings.append(PortBinding(int(port), proto or "tcp"))
        return bindings

    def stop(self, ref: str, timeout: int | None = None, signal: str | None = None) -> Container:
        c = self.get(ref)
        if c.state.running:
            self.client(c.id).stop(timeout, signal)
        if c.create_request().bridged:
            self.networks.release_ports(c.id)
        return c

    def kill(self, ref: str, signal: str | int = "SIGKILL") -> Container:
        c = self.get(ref)
        if c.state.status not in ("running", "paused", "restarting"):
            raise Conflict(f"cannot kill container: {ref}: container {c.id} is not running")
        self.client(c.id).signal(signal)
        return c

    def restart(self, ref: str, timeout: int | None = None) -> Container:
        c = self.stop(ref, timeout)
        self.client(c.id).wait(timeout=60)
        self.start(c.id)
        return c

    def wait(self, ref: str, condition: str = "not-running") -> int:
        c = self.get(ref)
        return self.client(c.id).wait(condition)

    def wait_after_attach(self, cid: str, *, remove: bool = False) -> int:
        """The exit code of container ``cid`` once its attach stream ended (``run``
        in the foreground). The shim ends the stream with the run and writes the final
        state a millisecond or so later; ShimClient.wait, asked in between, finds no
        shim to ask nor a final state and sleeps 5 ms. So: read the state a few times
        at short intervals first (~7 ms in all), then wait as usual. ``remove`` as
        ShimClient.wait's."""
        client = self.client(cid)
        for delay in _AFTER_ATTACH_POLL:
            s = client.raw_state()
            if s.status == "exited":
                return s.exit_code
            if s.status != "running":  # restarting, or a shim that died: the usual way
                break
            time.sleep(delay)
        return client.wait(remove=remove)

    def pause(self, ref: str) -> Container:
        c = self.get(ref)
        if c.state.status != "running":
            raise Conflict(f"container {c.id} is not running")
        self.client(c.id).pause()
        return c

    def unpause(self, ref: str) -> Container:
        c = self.get(ref)
        if c.state.status != "paused":
            raise Conflict(f"container {c.id} is not paused")
        self.client(c.id).resume()
        return c

    def rename(self, ref: str, new_name: str) -> None:
        c = self.get(ref)
        if not valid_name(new_name):
            raise InvalidArgument(
                f"Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )
        new_name = new_name.lstrip("/")
        if new_name == c.name:
            raise InvalidArgument("Renaming a container with the same name as its current name")
        self.records.rename(c.id, new_name)
        req = c.create_request().with_name(new_name)
        self.records.set_config(c.id, req.to_json())

    def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> Container:
        c = self.get(ref)
        client = self.client(c.id)
        if c.state.status in ("running", "paused", "restarting") and not force:
            raise Conflict(
                f"You cannot remove a {'paused' if c.state.status == 'paused' else 'running'} "
                f"container {c.id}. Stop the container before attempting removal or force "
                "remove"
            )
        if c.state.status != "created" or client.shim_alive():
            client.cleanup()
        anonymous = (
            [name for name in self.volumes_of(c.id) if self.volumes.get(name).anonymous]
            if volumes
            else []
        )
        if anonymous:  # (else the references go with the record: one commit)
            self.volumes.remove_refs(c.id)
        for name in anonymous:
            try:
                self.volumes.remove(name)
            except DockyardError:
                pass
        req = c.create_request()
        if req.bridged:
            self.networks.teardown(c.id)
        try:
            self.snapshots.remove(c.id, durable=not req.auto_remove)
        except (NotFound, FileNotFoundError):
            pass  # removed meanwhile (by the shim's --rm hook, say)
        volume_store = self.volumes  # (made before: its schema check has a transaction)
        with Transaction(self.records.conn):
            volume_store.remove_refs(c.id)
            self.records.remove(c.id)
        remove_tree(self.container_dir(c.id))
        remove_tree(self.run_dir(c.id))
        self._prune_cgroup_parent()
        return c

    def prepare_remove(self) -> None:
        """Import (and open) what :meth:`remove` needs, ahead: ``run --rm`` does it
        while the shim starts the container, instead of after its exit."""
        from dockyard.runtime import cgroups

        self.volumes  # noqa: B018 -- made now (imported, its schema checked)
        if not cgroups.is_v2():
            cgroups.v1_mountpoints()  # (cached) read now: the removal prunes the parent

    def _prune_cgroup_parent(self) -> None:
        """The root's cgroup parent goes with its last container (nothing is left on
        the machine after rm); the next start makes it again."""
        from dockyard.runtime.cgroups import remove_if_empty

        try:
            remove_if_empty(self.config.cgroup_parent)
        except DockyardError:  # no cgroup hierarchy at all
            pass

    def volumes_of(self, cid: str) -> list[str]:
        return self.volumes.volumes_of(cid)

    def prune(self) -> tuple[list[str], int]:
        removed: list[str] = []
        reclaimed = 0
        for c in self.all():
            if c.state.status in ("exited", "created", "dead"):
                try:
                    reclaimed += self.snapshots.usage(c.id)
                except (DockyardError, OSError):
                    pass
                self.remove(c.id, force=True)
                removed.append(c.id)
        return removed, reclaimed

    def logs(self, ref: str, **kw: object) -> Iterator[tuple[str, bytes, int]]:
        from dockyard.runtime.logs import read_logs

        c = self.get(ref)
        driver = c.create_request().log_driver
        if driver not in ("json-file", "local"):
            raise InvalidArgument("configured logging driver does not support reading")
        return read_logs(self.container_dir(c.id), c.id, **kw)  # type: ignore[arg-type]

    def images_in_use(self) -> dict[str, list[str]]:
        return self.records.images_in_use()
