"""Engine configuration: built once (in the CLI or the service), frozen.

Every command builds one, so this stays light: a :class:`Record`, not a dataclass,
and no ``pathlib`` at import (it brings fnmatch, urllib.parse and ipaddress: ~3.5 ms,
a sixth of a ``ps``). The directories are kept as absolute strings (``root_dir``,
``runroot_dir``); ``root``/``runroot`` give them as :class:`~pathlib.Path` for the
code that builds paths with ``/``.
"""

from __future__ import annotations

import os

from dockyard._util.lazy import as_path
from dockyard._util.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

DEFAULT_ROOT = "/var/lib/dockyard"
DEFAULT_RUNROOT = "/run/dockyard"
DEFAULT_CONFIG_FILE = "/etc/dockyard/config.json"
DEFAULT_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


class EngineConfig(Record):
    __slots__ = ("root_dir", "runroot_dir", "ca_bundle")  # noqa: RUF023 (constructor order)
    root_dir: str
    runroot_dir: str
    ca_bundle: str  # --ca-bundle / DOCKYARD_CA_BUNDLE; "" = config file, then the default

    def __init__(
        self,
        root: str | os.PathLike[str] = DEFAULT_ROOT,
        runroot: str | os.PathLike[str] = DEFAULT_RUNROOT,
        ca_bundle: str = "",
    ) -> None:
        self._set(root_dir=os.path.abspath(root), runroot_dir=os.path.abspath(runroot),
                  ca_bundle=ca_bundle)  # fmt: skip

    @classmethod
    def from_env(
        cls, root: str | None = None, runroot: str | None = None, ca_bundle: str | None = None
    ) -> EngineConfig:
        """Flags win over DOCKYARD_ROOT / DOCKYARD_RUNROOT / DOCKYARD_CA_BUNDLE, which
        win over defaults."""
        r = root or os.environ.get("DOCKYARD_ROOT") or DEFAULT_ROOT
        rr = runroot or os.environ.get("DOCKYARD_RUNROOT") or DEFAULT_RUNROOT
        ca = ca_bundle or os.environ.get("DOCKYARD_CA_BUNDLE") or ""
        return cls(root=r, runroot=rr, ca_bundle=ca)

    @property
    def root(self) -> Path:
        return as_path(self.root_dir)

    @property
    def runroot(self) -> Path:
        return as_path(self.runroot_dir)

    def host_ca_bundle(self) -> Path:
        """The host's CA bundle that containers opting in (``run --with-host-ca``, build
        steps) see read-only: ``--ca-bundle`` / ``DOCKYARD_CA_BUNDLE``, else the
        ``"ca-bundle"`` key of the config file (``DOCKYARD_CONFIG``, default
        ``/etc/dockyard/config.json``), else Debian's bundle. Read only when needed."""
        if self.ca_bundle:
            return as_path(os.path.abspath(self.ca_bundle))
        import json

        path = os.environ.get("DOCKYARD_CONFIG") or str(DEFAULT_CONFIG_FILE)
        try:
            with open(path) as f:
                value = json.load(f).get("ca-bundle")
        except (OSError, ValueError, AttributeError):
            value = None
        if isinstance(value, str) and value:
            return as_path(os.path.abspath(value))
        return as_path(DEFAULT_CA_BUNDLE)

    @property
    def content_dir(self) -> Path:
        return self.root / "content"

    @property
    def layers_dir(self) -> Path:
        return self.root / "layers"

    @property
    def state_db(self) -> str:
        return os.path.join(self.root_dir, "state.db")

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    @property
    def cgroup_parent(self) -> str:
        """``dockyard`` for the default root; a root of its own gets a parent of its own,
        so that engines (and tests) on one machine never share a cgroup directory."""
        if self.root_dir == DEFAULT_ROOT:
            return "dockyard"
        from dockyard._util.sha import sha256

        return "dockyard-" + sha256(self.root_dir.encode()).hexdigest()[:12]
