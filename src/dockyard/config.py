"""Engine configuration: built once (in the CLI or the service), frozen.

Every command builds one, so this stays light: a :class:`Record`, not a dataclass.
"""

from __future__ import annotations

import os
from pathlib import Path

from dockyard._util.record import Record

DEFAULT_ROOT = Path("/var/lib/dockyard")
DEFAULT_RUNROOT = Path("/run/dockyard")
DEFAULT_CONFIG_FILE = Path("/etc/dockyard/config.json")
DEFAULT_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


class EngineConfig(Record):
    __slots__ = ("root", "runroot", "ca_bundle")  # noqa: RUF023 (constructor order)
    root: Path
    runroot: Path
    ca_bundle: str  # --ca-bundle / DOCKYARD_CA_BUNDLE; "" = config file, then the default

    def __init__(
        self, root: Path = DEFAULT_ROOT, runroot: Path = DEFAULT_RUNROOT, ca_bundle: str = ""
    ) -> None:
        self._set(root=root, runroot=runroot, ca_bundle=ca_bundle)

    @classmethod
    def from_env(
        cls, root: str | None = None, runroot: str | None = None, ca_bundle: str | None = None
    ) -> EngineConfig:
        """Flags win over DOCKYARD_ROOT / DOCKYARD_RUNROOT / DOCKYARD_CA_BUNDLE, which
        win over defaults."""
        r = root or os.environ.get("DOCKYARD_ROOT") or str(DEFAULT_ROOT)
        rr = runroot or os.environ.get("DOCKYARD_RUNROOT") or str(DEFAULT_RUNROOT)
        ca = ca_bundle or os.environ.get("DOCKYARD_CA_BUNDLE") or ""
        return cls(root=Path(r).absolute(), runroot=Path(rr).absolute(), ca_bundle=ca)

    def host_ca_bundle(self) -> Path:
        """The host's CA bundle that containers opting in (``run --with-host-ca``, build
        steps) see read-only: ``--ca-bundle`` / ``DOCKYARD_CA_BUNDLE``, else the
        ``"ca-bundle"`` key of the config file (``DOCKYARD_CONFIG``, default
        ``/etc/dockyard/config.json``), else Debian's bundle. Read only when needed."""
        if self.ca_bundle:
            return Path(self.ca_bundle).absolute()
        import json

        path = os.environ.get("DOCKYARD_CONFIG") or str(DEFAULT_CONFIG_FILE)
        try:
            with open(path) as f:
                value = json.load(f).get("ca-bundle")
        except (OSError, ValueError, AttributeError):
            value = None
        return Path(value).absolute() if isinstance(value, str) and value else DEFAULT_CA_BUNDLE

    @property
    def content_dir(self) -> Path:
        return self.root / "content"

    @property
    def layers_dir(self) -> Path:
        return self.root / "layers"

    @property
    def state_db(self) -> Path:
        return self.root / "state.db"

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    @property
    def cgroup_parent(self) -> str:
        """``dockyard`` for the default root; a root of its own gets a parent of its own,
        so that engines (and tests) on one machine never share a cgroup directory."""
        if self.root == DEFAULT_ROOT:
            return "dockyard"
        from dockyard._util.sha import sha256

        return "dockyard-" + sha256(str(self.root).encode()).hexdigest()[:12]
