"""What the parts of the network service share: Docker's network names and options,
endpoint and sandbox ids, :class:`Attachment`, and the network lock.

The parts: :mod:`~dockyard.engine.network_definitions` (the networks),
:mod:`~dockyard.engine.network_attachments` (each container's side of them),
:mod:`~dockyard.engine.network_ports` (published ports) and
:mod:`~dockyard.engine.network_firewall` (our nft table);
:class:`~dockyard.engine.networks.NetworkService` puts them together.
"""

from __future__ import annotations

import fcntl
import os

from dockyard._util.record import Record
from dockyard._util.sha import sha256
from dockyard.engine.container_config import is_bridge_mode as is_bridge_mode  # re-exported
from dockyard.network import bridge as br
from dockyard.network.store import Endpoint, NetworkRecord

DEFAULT_NETWORK = "bridge"
PREDEFINED = ("bridge", "host", "none")
DEFAULT_MODES = ("default", "bridge", "")
DATABASE_PORTS = {5432: "postgres", 3306: "mysql", 6379: "redis", 27017: "mongodb"}
BRIDGE_NAME_OPT = "com.docker.network.bridge.name"
MTU_OPT = "com.docker.network.driver.mtu"


def endpoint_id(network_id: str, container_id: str) -> str:
    return sha256(f"endpoint/{network_id}/{container_id}".encode()).hexdigest()


def sandbox_id(container_id: str) -> str:
    return sha256(f"sandbox/{container_id}".encode()).hexdigest()


class Attachment(Record):
    """One of a container's endpoints with its network."""

    __slots__ = ("network", "endpoint")  # noqa: RUF023 (constructor order)
    network: NetworkRecord
    endpoint: Endpoint

    def __init__(self, network: NetworkRecord, endpoint: Endpoint) -> None:
        self._set(network=network, endpoint=endpoint)


class NetworkLock:
    """The one lock under which bridges, veths, namespaces and the table change:
    flock on ``$RUNROOT/network/lock``."""

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.state_dir = os.fspath(state_dir)

    def held(self) -> _Held:
        """Holds the lock (``with``); gives its fd, which a detached finisher may
        inherit to hold the lock until it is done."""
        return _Held(self.state_dir)


class _Held:
    """``with lock.held() as fd``: a class, not ``contextlib.contextmanager`` (whose
    import a ``run`` does not otherwise need)."""

    def __init__(self, state_dir: str) -> None:
        self.state_dir = state_dir
        self.fd = -1

    def __enter__(self) -> int:
        os.makedirs(self.state_dir, exist_ok=True, mode=0o700)
        fd = os.open(f"{self.state_dir}/lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        return fd

    def __exit__(self, *_: object) -> None:
        os.close(self.fd)


def drop_bridge(net: NetworkRecord) -> None:
    """Delete the network's Linux bridge if it exists (under the lock)."""
    if net.bridge and br.is_bridge(net.bridge):
        br.delete_links([net.bridge])
