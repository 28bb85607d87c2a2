"""``dockyard bootstrap``: base images made from Debian's package archive.

Docker Hub is out of reach, so the images users name most (``busybox``,
``debian:bookworm``, ``python:3.11``, ``redis:7``, ``postgres:15``) are built
locally: :mod:`.recipes` says what each image holds and its config,
:mod:`.rootfs` turns a recipe into a reproducible root-filesystem tar (one layer).
"""

from __future__ import annotations

from dockyard.engine.bootstrap.recipes import (
    RECIPES,
    DirSpec,
    FileSpec,
    Recipe,
    bootstrappable_names,
    lookup,
    upstream_version,
)
from dockyard.engine.bootstrap.rootfs import (
    DEFAULT_SOURCE_DATE_EPOCH,
    MIRRORS,
    BuiltRootfs,
    build_rootfs_tar,
)

__all__ = [
    "DEFAULT_SOURCE_DATE_EPOCH",
    "MIRRORS",
    "RECIPES",
    "BuiltRootfs",
    "DirSpec",
    "FileSpec",
    "Recipe",
    "bootstrappable_names",
    "build_rootfs_tar",
    "lookup",
    "upstream_version",
]
