"""What a container is made from: the typed create request, and its JSON form.

``ContainerCreate`` is what the CLI, the API server and compose hand to
``ContainerService.create``. It is stored with the container (as JSON) so that
``inspect``, ``restart`` after a reboot and ``update`` can read it back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace

from dockyard._util.record import Record
from dockyard.specs.ports import PortBinding
from dockyard.specs.restart import RestartPolicy
from dockyard.specs.volumes import MountRequest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


@dataclass(frozen=True)
class ContainerCreate:
    image: str
    name: str | None = None
    cmd: tuple[str, ...] | None = None  # None: the image's Cmd
    entrypoint: tuple[str, ...] | None = None  # None: the image's; (): none (--entrypoint "")
    env: tuple[str, ...] = ()
    working_dir: str = ""
    user: str = ""
    hostname: str = ""
    domainname: str = ""
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    labels: tuple[tuple[str, str], ...] = ()
    mounts: tuple[MountRequest, ...] = ()
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    auto_remove: bool = False
    init: bool = False
    memory: int | None = None
    memory_swap: int | None = None
    nano_cpus: int | None = None
    cpu_shares: int | None = None
    pids_limit: int | None = None
    read_only: bool = False
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    privileged: bool = False
    no_new_privileges: bool = False
    stop_signal: str = ""
    stop_timeout: int | None = None
    log_driver: str = "json-file"
    log_options: tuple[tuple[str, str], ...] = ()
    network: str = "default"
    network_aliases: tuple[str, ...] = ()
    ip: str = ""
    ports: tuple[PortBinding, ...] = ()
    publish_all: bool = False
    exposed: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    extra_hosts: tuple[tuple[str, str], ...] = ()
    sysctls: tuple[tuple[str, str], ...] = ()
    shm_size: int | None = None
    oom_score_adj: int | None = None
    runtime: str = "dockyard"
    host_ca: bool = False  # --with-host-ca: the host's CA bundle, read-only
    # --security-opt seccomp=...: "" (Docker's default profile), "unconfined", "builtin",
    # or a profile's JSON text (the CLI reads the file, as Docker's does)
    seccomp_profile: str = ""

    def to_json(self) -> str:
        data = {f.name: _plain(getattr(self, f.name)) for f in fields(self)}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ContainerCreate:
        data = json.loads(text)
        kw: dict[str, Any] = {}
        names = {f.name for f in fields(cls)}
        for key, value in data.items():
            if key not in names:
                continue
            if key == "mounts":
                value = tuple(_mount(m) for m in value)
            elif key == "restart":
                value = RestartPolicy(**value)
            elif key == "ports":
                value = tuple(PortBinding(**p) for p in value)
            elif isinstance(value, list):
                value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
            kw[key] = value
        return cls(**kw)

    def with_name(self, name: str) -> ContainerCreate:
        return replace(self, name=name)


def _plain(value: Any) -> Any:
    """``dataclasses.asdict``'s conversion, which also takes the :class:`Record` values
    (restart policy, ports, mounts): JSON-ready data, same shape, same field order."""
    if isinstance(value, Record):
        return {k: _plain(v) for k, v in value.__getstate__().items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _mount(d: dict[str, Any]) -> MountRequest:
    kw: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, list):
            v = tuple(tuple(x) if isinstance(x, list) else x for x in v)
        kw[k] = v
    return MountRequest(**kw)
