"""Engine configuration: built once (in the CLI or the service), frozen."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ROOT = Path("/var/lib/dockyard")
DEFAULT_RUNROOT = Path("/run/dockyard")


@dataclass(frozen=True)
class EngineConfig:
    root: Path = DEFAULT_ROOT
    runroot: Path = DEFAULT_RUNROOT

    @classmethod
    def from_env(cls, root: str | None = None, runroot: str | None = None) -> EngineConfig:
        """Flags win over DOCKYARD_ROOT / DOCKYARD_RUNROOT, which win over defaults."""
        r = root or os.environ.get("DOCKYARD_ROOT") or str(DEFAULT_ROOT)
        rr = runroot or os.environ.get("DOCKYARD_RUNROOT") or str(DEFAULT_RUNROOT)
        return cls(root=Path(r).absolute(), runroot=Path(rr).absolute())

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
        import hashlib

        return "dockyard-" + hashlib.sha256(str(self.root).encode()).hexdigest()[:12]
