"""Images in and out of tarballs: ``save``, ``load`` and ``import``."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import BinaryIO

from dockyard.engine.images import ImageService, LayerBlob
from dockyard.errors import InvalidArgument
from dockyard.image.archive import SaveImage, read_archive_images, stage_archive, write_archive
from dockyard.image.content import BlobInfo
from dockyard.image.layers import decompressed
from dockyard.oci import mediatypes
from dockyard.oci.digest import Digest
from dockyard.oci.image import ContainerConfig, HistoryEntry, ImageConfig
from dockyard.oci.reference import Reference, parse_reference


@dataclass(frozen=True)
class LoadedImage:
    id: str
    names: tuple[str, ...]  # familiar names, as `docker load` prints them


def save(images: ImageService, names: Sequence[str], out: BinaryIO, *, fmt: str = "docker") -> None:
    """Write the named images (with the given tags, or all tags for IDs) to ``out``."""
    if not names:
        raise InvalidArgument("docker save requires at least one image name")
    chosen: dict[str, tuple[SaveImage, list[Reference]]] = {}
    for name in names:
        image = images.resolve(name)
        refs: list[Reference] = []
        if image.id.startswith(name) or image.id[7:].startswith(name):
            refs = [
                parse_reference(r.ref) for r in images.store.refs_of(image.id) if r.kind == "tag"
            ]
        else:
            refs = [parse_reference(name)]
        entry = chosen.setdefault(
            image.id, (SaveImage(images.manifest(image), image.manifest_digest, ()), [])
        )
        entry[1].extend(r for r in refs if r not in entry[1])
    to_write = [replace(s, names=tuple(refs)) for s, refs in chosen.values()]
    write_archive(out, to_write, images.content, fmt=fmt)


def load(images: ImageService, src: BinaryIO, *, source: str) -> list[LoadedImage]:
    images.tmp_dir.mkdir(parents=True, exist_ok=True)
    staging = tempfile.mkdtemp(prefix="load-", dir=images.tmp_dir)
    try:
        from pathlib import Path

        files = stage_archive(src, Path(staging), source=source)
        found = read_archive_images(files, source=source)
        loaded: list[LoadedImage] = []
        for item in found:
            blobs = []
            for f, media_type in zip(item.layers, item.layer_media_types, strict=True):
                blobs.append(_adopt(images, f.path, f.digest, f.size, media_type))
            record = images.commit_image(item.config, blobs, item.names, source=source)
            loaded.append(LoadedImage(record.id, tuple(r.familiar for r in item.names)))
        return loaded
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _adopt(
    images: ImageService, path: os.PathLike[str], digest: Digest, size: int, media_type: str
) -> LayerBlob:
    if images.content.has(digest):
        return LayerBlob(digest, media_type, size)
    # A staged file may back several names (hard or symbolic links): copy, don't move.
    with images.content.writer(digest, size) as w, open(path, "rb") as f:
        w.copy_from(f)
        info: BlobInfo = w.commit()
    return LayerBlob(info.digest, media_type, info.size)


def import_tarball(
    images: ImageService,
    src: BinaryIO,
    *,
    source: str,
    reference: str | None = None,
    changes: ContainerConfig | None = None,
    message: str = "",
    created: datetime | None = None,
) -> str:
    """``docker import``: a root filesystem tarball becomes a one-layer image."""
    ref = parse_reference(reference) if reference else None
    plain = decompressed(src, source_name=source)
    with images.content.writer() as w:
        w.copy_from(plain)
        info = w.commit(source=source)
    try:
        blob = LayerBlob(info.digest, mediatypes.OCI_LAYER, info.size)
        diff_id = str(info.digest)
        when = (created or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        history = HistoryEntry(
            created=when, comment=message or f"Imported from {source}", created_by=""
        )
        config = ImageConfig(
            created=when,
            config=changes or ContainerConfig(),
            diff_ids=(diff_id,),
            history=(history,),
        )
        record = images.commit_image(config, [blob], [ref] if ref else [], source=source)
    except BaseException:
        if str(info.digest) not in images.store.referenced_blobs():
            images.content.delete(info.digest)
        raise
    return record.id
