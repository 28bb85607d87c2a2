"""OCI bundles on disk: ``<bundle>/config.json`` next to the rootfs directory."""

from __future__ import annotations

import os

from dockyard._util import jsonlite
from dockyard._util.atomic import atomic_write
from dockyard.errors import InvalidArgument, NotFound
from dockyard.oci.runtime_spec import RuntimeSpec

CONFIG = "config.json"


def write_config(
    bundle: str | os.PathLike[str], spec: RuntimeSpec, *, durable: bool = True
) -> None:
    """Write ``spec`` as the bundle's config.json (atomically; ``durable``: see
    :func:`~dockyard._util.atomic.atomic_write`)."""
    # compact, as containerd writes it: indent= forces json's pure-Python encoder
    # (1.3 ms per create; 0.15 ms without)
    data = jsonlite.dumps(spec.to_dict(), separators=(",", ":")).encode() + b"\n"
    atomic_write(os.path.join(os.fspath(bundle), CONFIG), data, durable=durable)


def read_config(bundle: str | os.PathLike[str]) -> RuntimeSpec:
    path = os.path.join(os.fspath(bundle), CONFIG)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise NotFound(f"no {CONFIG} in bundle {os.fspath(bundle)}")
    try:
        data = jsonlite.loads(raw)
    except ValueError as e:
        raise InvalidArgument(f"invalid {path}: {e}") from e
    return RuntimeSpec.from_dict(data)
