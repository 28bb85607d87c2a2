"""``docker update``: change a container's resource limits and restart policy.

A running container gets the change at once, through its shim (the cgroup limits,
the policy the shim applies at the next exit). In every case the change is kept
for later starts: in ``shim.json`` (what the shim starts with), in the bundle's
``config.json`` (what an external runtime reads) and in the stored create request
(what ``inspect`` shows and a re-created container uses).

Checks and messages are the Docker daemon's (``verifyContainerResources``,
``UpdateContainer``). What the kernel refuses (a memory limit below what the
container uses, say) comes back as the kernel said it, with a hint.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from dockyard.errors import Conflict, DockyardError, InvalidArgument

if TYPE_CHECKING:
    from dockyard.engine.container_config import ContainerCreate
    from dockyard.engine.containers import Container, ContainerService
    from dockyard.oci.runtime_spec import Resources
    from dockyard.specs.restart import RestartPolicy

MIN_MEMORY = 6 * 1024 * 1024
CPU_PERIOD = 100_000


@dataclass(frozen=True)
class ContainerUpdate:
    """What to change; None leaves a setting as it is.

    ``memory_swap`` -1 means unlimited swap; ``nano_cpus`` 0 removes the CPU limit;
    ``pids_limit`` 0 or -1 removes the pids limit."""

    memory: int | None = None
    memory_swap: int | None = None
    nano_cpus: int | None = None
    cpu_shares: int | None = None
    pids_limit: int | None = None
    restart: RestartPolicy | None = None

    def empty(self) -> bool:
        return self == ContainerUpdate()

    @property
    def resources_changed(self) -> bool:
        return replace(self, restart=None) != ContainerUpdate()


def validate(upd: ContainerUpdate, req: ContainerCreate, *, cpus: int | None = None) -> None:
    """The daemon's checks of an update against the container's current settings."""
    if upd.restart is not None and req.auto_remove and upd.restart.name != "no":
        raise InvalidArgument(
            "Restart policy cannot be updated because AutoRemove is enabled for the container"
        )
    if upd.memory is not None and upd.memory < MIN_MEMORY:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    memory = upd.memory if upd.memory is not None else req.memory
    if upd.memory_swap is not None and upd.memory_swap > 0:
        if not memory:
            raise InvalidArgument(
                "You should always set the Memory limit when using Memoryswap limit, see usage"
            )
        if upd.memory_swap < memory:
            raise InvalidArgument(
                "Minimum memoryswap limit should be larger than memory limit, see usage"
            )
    elif (
        upd.memory is not None
        and upd.memory_swap is None
        and req.memory_swap
        and req.memory_swap > 0
        and upd.memory > req.memory_swap
    ):
        raise Conflict(
            "Memory limit should be smaller than already set memoryswap limit, update the "
            "memoryswap at the same time"
        )
    if upd.nano_cpus is not None:
        n = cpus or os.cpu_count() or 1
        if upd.nano_cpus < 0 or upd.nano_cpus > n * 1_000_000_000:
            raise InvalidArgument(
                f"Range of CPUs is from 0.01 to {n}.00, as there are only {n} CPUs available"
            )
    if upd.cpu_shares is not None and upd.cpu_shares < 0:
        raise InvalidArgument(f"invalid CPU shares {upd.cpu_shares}: it cannot be negative")


def apply(upd: ContainerUpdate, req: ContainerCreate) -> ContainerCreate:
    """The create request with the update in it."""
    new = req
    if upd.memory is not None:
        new = replace(new, memory=upd.memory)
    if upd.memory_swap is not None:
        new = replace(new, memory_swap=upd.memory_swap or None)
    if upd.nano_cpus is not None:
        new = replace(new, nano_cpus=upd.nano_cpus or None)
    if upd.cpu_shares is not None:
        new = replace(new, cpu_shares=upd.cpu_shares or None)
    if upd.pids_limit is not None:
        new = replace(new, pids_limit=upd.pids_limit if upd.pids_limit > 0 else None)
    if upd.restart is not None:
        new = replace(new, restart=upd.restart)
    return new


def _quota(nano_cpus: int) -> int:
    return round(nano_cpus * CPU_PERIOD / 1_000_000_000)


def change_resources(upd: ContainerUpdate) -> Resources:
    """The limits to write into a running container's cgroup: only what changes, a
    removed limit as "unlimited" (-1)."""
    from dockyard.oci.runtime_spec import Resources

    quota = period = None
    if upd.nano_cpus is not None:
        quota = _quota(upd.nano_cpus) if upd.nano_cpus > 0 else -1
        period = CPU_PERIOD
    pids = None
    if upd.pids_limit is not None:
        pids = upd.pids_limit if upd.pids_limit > 0 else -1
    return Resources(upd.memory, quota, period, upd.cpu_shares or None, pids, upd.memory_swap)


def full_resources(req: ContainerCreate) -> Resources:
    """Every limit of the request, for a start (as the spec builder makes them)."""
    from dockyard.oci.runtime_spec import Resources

    quota = period = None
    if req.nano_cpus:
        quota, period = _quota(req.nano_cpus), CPU_PERIOD
    pids = req.pids_limit if req.pids_limit is not None and req.pids_limit > 0 else None
    swap = req.memory_swap if req.memory_swap and req.memory else None
    return Resources(req.memory, quota, period, req.cpu_shares, pids, swap)


def update_container(svc: ContainerService, ref: str, upd: ContainerUpdate) -> Container:
    """``docker update`` of one container (see the module docstring)."""
    c = svc.get(ref)
    req = c.create_request()
    validate(upd, req)
    new_req = apply(upd, req)
    client = svc.client(c.id)
    if client.shim_alive():
        policy = None if upd.restart is None else (upd.restart.name, upd.restart.max_retries)
        resources = None
        if upd.resources_changed:
            change = change_resources(upd)
            _raise_swap_first(svc.cgroup_path(c.id), change)
            resources = change.to_dict()
        try:
            client.update(restart_policy=policy, resources=resources)
        except DockyardError as e:
            raise _update_error(c.id, e) from None
    _persist(svc, c.id, new_req)
    return c


def _update_error(cid: str, e: DockyardError) -> DockyardError:
    hint = e.hint
    if "Device or resource busy" in e.message:
        hint = (
            "the kernel could not reclaim enough memory: the container uses more than the "
            "new limit; give a higher one"
        )
    elif "Invalid argument" in e.message:
        hint = "the kernel refused the value; check it against the other limits"
    message = re.sub(r"^\[Errno \d+\] ", "", e.message)
    return type(e)(f"Cannot update container {cid}: {message}", hint=hint)


def _raise_swap_first(cgroup_path: str, change: Resources) -> None:
    """cgroup v1 refuses a memory limit above the memory+swap limit. The runtime
    writes the memory limit first, then memory+swap (twice the memory); when the
    new limit is above the current memory+swap limit, raise that one first (raising
    it is always allowed) so the runtime's writes succeed."""
    if change.memory_limit is None or change.memory_limit < 0:
        return
    from dockyard.runtime.cgroups import Cgroup

    cg = Cgroup(cgroup_path)
    d = cg.controller_dir("memory")
    if cg.version != 1 or d is None:
        return
    path = f"{d}/memory.memsw.limit_in_bytes"
    try:
        with open(path, encoding="ascii") as f:
            current = int(f.read().strip())
        if change.memory_limit > current:
            with open(path, "w", encoding="ascii") as f:
                f.write(str(2 * change.memory_limit))
    except (OSError, ValueError):
        pass  # no swap accounting: nothing to raise


def _persist(svc: ContainerService, cid: str, new_req: ContainerCreate) -> None:
    from dockyard.runtime.bundle import read_config, write_config
    from dockyard.runtime.state import read_shim_config, write_shim_config

    cdir = svc.container_dir(cid)
    res = full_resources(new_req)
    cfg = read_shim_config(str(cdir))
    write_shim_config(
        str(cdir),
        cfg.replace(
            resources_json=res.to_dict(),
            restart_policy=new_req.restart.name,
            max_retries=new_req.restart.max_retries,
        ),
    )
    spec = read_config(cdir)
    linux = replace(spec.linux, resources=None if res == type(res)() else res)
    write_config(cdir, replace(spec, linux=linux))
    svc.records.set_config(cid, new_req.to_json())
