"""What a container is made from: the typed create request, and its JSON form.

``ContainerCreate`` is what the CLI, the API server and compose hand to
``ContainerService.create``. It is stored with the container (as JSON) so that
``inspect``, ``restart`` after a reboot and ``update`` can read it back.
"""

from __future__ import annotations

from dockyard._util import jsonlite
from dockyard._util.record import DataRecord, Record
from dockyard.specs.ports import PortBinding
from dockyard.specs.restart import RestartPolicy
from dockyard.specs.volumes import MountRequest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


NO_RESTART = RestartPolicy()


class ContainerCreate(DataRecord):
    # --security-opt seccomp=...: "" (Docker's default profile), "unconfined", "builtin",
    # or a profile's JSON text (the CLI reads the file, as Docker's does)
    __slots__ = (  # noqa: RUF023 (field order)
        "image",
        "name",
        "cmd",
        "entrypoint",
        "env",
        "working_dir",
        "user",
        "hostname",
        "domainname",
        "tty",
        "open_stdin",
        "stdin_once",
        "labels",
        "mounts",
        "restart",
        "auto_remove",
        "init",
        "memory",
        "memory_swap",
        "nano_cpus",
        "cpu_shares",
        "pids_limit",
        "read_only",
        "cap_add",
        "cap_drop",
        "privileged",
        "no_new_privileges",
        "stop_signal",
        "stop_timeout",
        "log_driver",
        "log_options",
        "network",
        "network_aliases",
        "ip",
        "ports",
        "publish_all",
        "exposed",
        "dns",
        "dns_search",
        "dns_options",
        "extra_hosts",
        "sysctls",
        "shm_size",
        "oom_score_adj",
        "runtime",
        "host_ca",
        "seccomp_profile",
    )
    image: str
    name: str | None
    cmd: tuple[str, ...] | None  # None: the image's Cmd
    entrypoint: tuple[str, ...] | None  # None: the image's; (): none (--entrypoint "")
    env: tuple[str, ...]
    working_dir: str
    user: str
    hostname: str
    domainname: str
    tty: bool
    open_stdin: bool
    stdin_once: bool
    labels: tuple[tuple[str, str], ...]
    mounts: tuple[MountRequest, ...]
    restart: RestartPolicy
    auto_remove: bool
    init: bool
    memory: int | None
    memory_swap: int | None
    nano_cpus: int | None
    cpu_shares: int | None
    pids_limit: int | None
    read_only: bool
    cap_add: tuple[str, ...]
    cap_drop: tuple[str, ...]
    privileged: bool
    no_new_privileges: bool
    stop_signal: str
    stop_timeout: int | None
    log_driver: str
    log_options: tuple[tuple[str, str], ...]
    network: str
    network_aliases: tuple[str, ...]
    ip: str
    ports: tuple[PortBinding, ...]
    publish_all: bool
    exposed: tuple[str, ...]
    dns: tuple[str, ...]
    dns_search: tuple[str, ...]
    dns_options: tuple[str, ...]
    extra_hosts: tuple[tuple[str, str], ...]
    sysctls: tuple[tuple[str, str], ...]
    shm_size: int | None
    oom_score_adj: int | None
    runtime: str
    host_ca: bool  # --with-host-ca: the host's CA bundle, read-only
    seccomp_profile: str

    def __init__(
        self,
        image: str,
        name: str | None = None,
        cmd: tuple[str, ...] | None = None,
        entrypoint: tuple[str, ...] | None = None,
        env: tuple[str, ...] = (),
        working_dir: str = "",
        user: str = "",
        hostname: str = "",
        domainname: str = "",
        tty: bool = False,
        open_stdin: bool = False,
        stdin_once: bool = False,
        labels: tuple[tuple[str, str], ...] = (),
        mounts: tuple[MountRequest, ...] = (),
        restart: RestartPolicy = NO_RESTART,
        auto_remove: bool = False,
        init: bool = False,
        memory: int | None = None,
        memory_swap: int | None = None,
        nano_cpus: int | None = None,
        cpu_shares: int | None = None,
        pids_limit: int | None = None,
        read_only: bool = False,
        cap_add: tuple[str, ...] = (),
        cap_drop: tuple[str, ...] = (),
        privileged: bool = False,
        no_new_privileges: bool = False,
        stop_signal: str = "",
        stop_timeout: int | None = None,
        log_driver: str = "json-file",
        log_options: tuple[tuple[str, str], ...] = (),
        network: str = "default",
        network_aliases: tuple[str, ...] = (),
        ip: str = "",
        ports: tuple[PortBinding, ...] = (),
        publish_all: bool = False,
        exposed: tuple[str, ...] = (),
        dns: tuple[str, ...] = (),
        dns_search: tuple[str, ...] = (),
        dns_options: tuple[str, ...] = (),
        extra_hosts: tuple[tuple[str, str], ...] = (),
        sysctls: tuple[tuple[str, str], ...] = (),
        shm_size: int | None = None,
        oom_score_adj: int | None = None,
        runtime: str = "dockyard",
        host_ca: bool = False,
        seccomp_profile: str = "",
    ) -> None:
        self._set(
            image=image,
            name=name,
            cmd=cmd,
            entrypoint=entrypoint,
            env=env,
            working_dir=working_dir,
            user=user,
            hostname=hostname,
            domainname=domainname,
            tty=tty,
            open_stdin=open_stdin,
            stdin_once=stdin_once,
            labels=labels,
            mounts=mounts,
            restart=restart,
            auto_remove=auto_remove,
            init=init,
            memory=memory,
            memory_swap=memory_swap,
            nano_cpus=nano_cpus,
            cpu_shares=cpu_shares,
            pids_limit=pids_limit,
            read_only=read_only,
            cap_add=cap_add,
            cap_drop=cap_drop,
            privileged=privileged,
            no_new_privileges=no_new_privileges,
            stop_signal=stop_signal,
            stop_timeout=stop_timeout,
            log_driver=log_driver,
            log_options=log_options,
            network=network,
            network_aliases=network_aliases,
            ip=ip,
            ports=ports,
            publish_all=publish_all,
            exposed=exposed,
            dns=dns,
            dns_search=dns_search,
            dns_options=dns_options,
            extra_hosts=extra_hosts,
            sysctls=sysctls,
            shm_size=shm_size,
            oom_score_adj=oom_score_adj,
            runtime=runtime,
            host_ca=host_ca,
            seccomp_profile=seccomp_profile,
        )

    def to_json(self) -> str:
        data = {name: _plain(getattr(self, name)) for name in self.__slots__}
        return jsonlite.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ContainerCreate:
        data = jsonlite.loads(text)
        kw: dict[str, Any] = {}
        names = set(cls.__slots__)
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
        return self.replace(name=name)

    @property
    def bridged(self) -> bool:
        """On bridge networks (not host, none, container:): only such a container
        ever has network endpoints (``network connect`` refuses the others)."""
        return is_bridge_mode(self.network)


def is_bridge_mode(mode: str) -> bool:
    """A ``--network`` value that puts the container on a bridge network."""
    return mode not in ("host", "none") and not mode.startswith("container:")


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
