"""Bootstrapped root filesystems become tagged one-layer images."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from dockyard.engine.bootstrap.recipes import lookup
from dockyard.engine.bootstrap.rootfs import DEFAULT_SOURCE_DATE_EPOCH, build_rootfs_tar
from dockyard.engine.images import ImageService, LayerBlob
from dockyard.oci import mediatypes
from dockyard.oci.digest import Digest
from dockyard.oci.image import HistoryEntry, ImageConfig
from dockyard.oci.reference import parse_reference


@dataclass(frozen=True)
class BootstrappedImage:
    key: str
    tags: tuple[str, ...]
    image_id: str
    size: int


def bootstrap_images(
    images: ImageService,
    names: Sequence[str],
    *,
    progress: Callable[[str], None],
    cache_dir: Path | None = None,
    source_date_epoch: int = DEFAULT_SOURCE_DATE_EPOCH,
) -> Iterator[BootstrappedImage]:
    """Build each named base image (all when ``names`` is empty) and tag it.

    The image config's dates are ``source_date_epoch``, so two bootstraps from the
    same archive state give the same image IDs.
    """
    recipes = lookup(names)
    workdir = images.tmp_dir / "bootstrap"
    for recipe in recipes:
        out = workdir / f"{recipe.key}.tar"
        built = build_rootfs_tar(
            recipe,
            out,
            workdir=workdir,
            progress=progress,
            source_date_epoch=source_date_epoch,
            cache_dir=cache_dir,
        )
        recipe = recipe.with_version(built.package_version)
        try:
            info = images.content.adopt(out, Digest.parse(built.diff_id), built.size)
        finally:
            out.unlink(missing_ok=True)
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(source_date_epoch))
        config = ImageConfig(
            created=created,
            config=recipe.config,
            diff_ids=(built.diff_id,),
            history=(
                HistoryEntry(
                    created=created,
                    created_by=f"dockyard bootstrap {recipe.name}",
                    comment=recipe.description,
                ),
            ),
        )
        progress(f"{recipe.name}: unpacking the layer")
        try:
            record = images.commit_image(
                config,
                [LayerBlob(info.digest, mediatypes.OCI_LAYER, info.size)],
                [parse_reference(t) for t in recipe.tags],
                source=f"bootstrap {recipe.name}",
            )
        except BaseException:
            if str(info.digest) not in images.store.referenced_blobs():
                images.content.delete(info.digest)
            raise
        yield BootstrappedImage(recipe.key, recipe.tags, record.id, record.size)
