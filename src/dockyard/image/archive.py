"""Image archives: ``docker save`` tarballs and OCI image-layout tarballs.

Writing: the default format is the one Docker 25+ writes, an OCI image layout
that also carries Docker's ``manifest.json``, so both ``docker load`` and OCI
tools (``skopeo ... oci-archive:``) read it. ``fmt="oci"`` leaves out
``manifest.json``.

Reading: the archive is streamed (it may come from stdin) into a staging
directory, every file hashed on the way; then the images are read from
``manifest.json`` (Docker) or ``index.json`` (OCI) and checked before anything
enters the store.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

from dockyard.errors import InvalidContent
from dockyard.image.content import ContentStore
from dockyard.image.layers import detect_compression
from dockyard.oci import mediatypes
from dockyard.oci.digest import Digest
from dockyard.oci.image import Descriptor, ImageConfig, Manifest
from dockyard.oci.reference import Reference, parse_reference

_CHUNK = 1 << 20
_JSON_LIMIT = 16 << 20
REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"


# -- writing ------------------------------------------------------------------
@dataclass(frozen=True)
class SaveImage:
    manifest: Manifest
    manifest_digest: str
    names: tuple[Reference, ...]


def write_archive(
    out: BinaryIO, images: Sequence[SaveImage], content: ContentStore, *, fmt: str = "docker"
) -> None:
    if fmt not in ("docker", "oci"):
        raise InvalidContent(f"unknown archive format {fmt!r}: use docker or oci")
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        written: set[str] = set()
        index: list[dict[str, Any]] = []
        docker_manifest: list[dict[str, Any]] = []
        _add_dir(tar, "blobs/")
        _add_dir(tar, "blobs/sha256/")
        for image in images:
            m = image.manifest
            for desc in (m.config, *m.layers):
                _add_blob(tar, content, desc.digest, written)
            _add_blob(tar, content, image.manifest_digest, written)
            mbytes = content.info(Digest.parse(image.manifest_digest)).size
            names = image.names or (None,)
            for ref in names:
                entry: dict[str, Any] = {
                    "mediaType": m.media_type,
                    "digest": image.manifest_digest,
                    "size": mbytes,
                }
                if ref is not None:
                    entry["annotations"] = {
                        CONTAINERD_NAME: str(ref),
                        REF_NAME: ref.tag or "latest",
                    }
                index.append(entry)
            docker_manifest.append(
                {
                    "Config": _blob_path(m.config.digest),
                    "RepoTags": [r.familiar for r in image.names] or None,
                    "Layers": [_blob_path(layer.digest) for layer in m.layers],
                }
            )
        idx = {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": index}
        _add_bytes(tar, "index.json", json.dumps(idx).encode())
        if fmt == "docker":
            _add_bytes(tar, "manifest.json", json.dumps(docker_manifest).encode())
        _add_bytes(tar, "oci-layout", b'{"imageLayoutVersion": "1.0.0"}')


def _blob_path(digest: str) -> str:
    return "blobs/sha256/" + Digest.parse(digest).hex


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    tar.addfile(info)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _add_blob(tar: tarfile.TarFile, content: ContentStore, digest: str, written: set[str]) -> None:
    if digest in written:
        return
    written.add(digest)
    d = Digest.parse(digest)
    info = tarfile.TarInfo(_blob_path(digest))
    info.size = content.info(d).size
    info.mode = 0o444
    with content.open(d) as f:
        tar.addfile(info, f)


# -- reading ------------------------------------------------------------------
@dataclass(frozen=True)
class StagedFile:
    path: Path
    digest: Digest
    size: int


@dataclass(frozen=True)
class ArchiveImage:
    config: bytes
    layers: tuple[StagedFile, ...]
    layer_media_types: tuple[str, ...]
    names: tuple[Reference, ...]


def stage_archive(src: BinaryIO, staging: Path, *, source: str) -> dict[str, StagedFile]:
    """Copy every regular file of the tar stream into ``staging``, hashing it."""
    files: dict[str, StagedFile] = {}
    links: dict[str, str] = {}
    n = 0
    try:
        with tarfile.open(fileobj=src, mode="r|*") as tar:
            for member in tar:
                name = _clean(member.name)
                if member.isfile():
                    n += 1
                    path = staging / f"{n:06d}"
                    fobj = tar.extractfile(member)
                    assert fobj is not None
                    files[name] = _stage_one(fobj, path)
                elif member.issym() or member.islnk():
                    target = member.linkname
                    if member.issym():
                        target = os.path.normpath(os.path.join(os.path.dirname(name), target))
                    links[name] = _clean(target)
    except (tarfile.TarError, EOFError, OSError, ValueError) as e:
        raise InvalidContent(
            f"{source} is not a valid image archive: {e}",
            hint="the file may be truncated; save it again",
        )
    if n == 0:
        raise InvalidContent(f"{source} is empty or not a tar archive")
    for name, target in links.items():
        seen = set()
        while target in links and target not in seen:
            seen.add(target)
            target = links[target]
        if target in files:
            files[name] = files[target]
    return files


def _stage_one(fobj: IO[bytes], path: Path) -> StagedFile:
    h = hashlib.sha256()
    size = 0
    with open(path, "wb") as out:
        while chunk := fobj.read(_CHUNK):
            h.update(chunk)
            out.write(chunk)
            size += len(chunk)
    return StagedFile(path, Digest("sha256", h.hexdigest()), size)


def _clean(name: str) -> str:
    return os.path.normpath("/" + name).lstrip("/")


def read_archive_images(files: dict[str, StagedFile], *, source: str) -> list[ArchiveImage]:
    if "manifest.json" in files:
        return _read_docker(files, source)
    if "index.json" in files:
        return _read_oci(files, source)
    raise InvalidContent(
        f"{source} holds neither manifest.json nor index.json: "
        "not a docker save or OCI image archive"
    )


def _json(files: dict[str, StagedFile], name: str, source: str) -> Any:
    f = files.get(name)
    if f is None:
        raise InvalidContent(f"{source}: {name} is missing from the archive")
    if f.size > _JSON_LIMIT:
        raise InvalidContent(f"{source}: {name} is too large ({f.size} bytes)")
    try:
        return json.loads(f.path.read_bytes())
    except ValueError as e:
        raise InvalidContent(f"{source}: {name} is not valid JSON: {e}")


def _layer_type(f: StagedFile, source: str) -> str:
    with open(f.path, "rb") as fh:
        head = fh.read(512)
    kind = detect_compression(head)
    types = {
        "none": mediatypes.OCI_LAYER,
        "gzip": mediatypes.OCI_LAYER_GZIP,
        "zstd": mediatypes.OCI_LAYER_ZSTD,
    }
    if kind not in types:
        raise InvalidContent(f"{source}: layer compressed with {kind} is not supported in images")
    return types[kind]


def _read_docker(files: dict[str, StagedFile], source: str) -> list[ArchiveImage]:
    entries = _json(files, "manifest.json", source)
    if not isinstance(entries, list):
        raise InvalidContent(f"{source}: manifest.json must be a list")
    images = []
    for i, entry in enumerate(entries):
        where = f"{source}: manifest.json entry {i + 1}"
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
            raise InvalidContent(f"{where} has no Config")
        cfg_file = files.get(_clean(entry["Config"]))
        if cfg_file is None:
            raise InvalidContent(f"{where}: config {entry['Config']} is missing")
        config = cfg_file.path.read_bytes()
        cfg = ImageConfig.from_json(config, source=f"{source}: {entry['Config']}")
        layer_names = entry.get("Layers") or []
        layers = []
        for name in layer_names:
            f = files.get(_clean(str(name)))
            if f is None:
                raise InvalidContent(f"{where}: layer {name} is missing from the archive")
            layers.append(f)
        if len(layers) != len(cfg.diff_ids):
            raise InvalidContent(
                f"{where}: {len(layers)} layers but the config lists {len(cfg.diff_ids)}"
            )
        types = tuple(_layer_type(f, source) for f in layers)
        for f, t, diff_id in zip(layers, types, cfg.diff_ids, strict=True):
            if t == mediatypes.OCI_LAYER and str(f.digest) != diff_id:
                raise InvalidContent(
                    f"{where}: layer content is {f.digest}, but the config says {diff_id} "
                    "(corrupt archive)"
                )
        names = tuple(parse_reference(str(t)) for t in (entry.get("RepoTags") or []))
        images.append(ArchiveImage(config, tuple(layers), types, names))
    return images


def _blob(files: dict[str, StagedFile], desc: Descriptor, source: str) -> StagedFile:
    name = _blob_path(desc.digest)
    f = files.get(name)
    if f is None:
        raise InvalidContent(f"{source}: blob {desc.digest} is missing from the archive")
    if str(f.digest) != desc.digest:
        raise InvalidContent(
            f"{source}: {name} has digest {f.digest}, expected {desc.digest} (corrupt archive)"
        )
    if f.size != desc.size:
        raise InvalidContent(
            f"{source}: {name} has {f.size} bytes, its descriptor says {desc.size}"
        )
    return f


def _read_oci(files: dict[str, StagedFile], source: str) -> list[ArchiveImage]:
    index = _json(files, "index.json", source)
    if not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
        raise InvalidContent(f"{source}: index.json has no manifests list")
    by_manifest: dict[str, tuple[Manifest, list[Reference]]] = {}
    for raw in index["manifests"]:
        desc = Descriptor.from_dict(raw, source=f"{source}: index.json")
        names = _oci_names(dict(desc.annotations))
        manifest_desc = _pick_manifest(files, desc, source)
        f = _blob(files, manifest_desc, source)
        manifest = Manifest.from_json(f.path.read_bytes(), source=f"{source}: {desc.digest}")
        known = by_manifest.setdefault(manifest_desc.digest, (manifest, []))
        known[1].extend(n for n in names if n not in known[1])
    images = []
    for manifest, names in by_manifest.values():
        config = _blob(files, manifest.config, source).path.read_bytes()
        layers = tuple(_blob(files, d, source) for d in manifest.layers)
        types = tuple(_oci_media(d.media_type) for d in manifest.layers)
        images.append(ArchiveImage(config, layers, types, tuple(names)))
    return images


def _pick_manifest(files: dict[str, StagedFile], desc: Descriptor, source: str) -> Descriptor:
    """Follow nested indexes down to the linux/amd64 (or the only) manifest."""
    for _ in range(8):
        if desc.media_type in mediatypes.MANIFESTS or not desc.media_type:
            return desc
        if desc.media_type not in mediatypes.INDEXES:
            raise InvalidContent(f"{source}: unsupported media type {desc.media_type!r}")
        data = json.loads(_blob(files, desc, source).path.read_bytes())
        children = [Descriptor.from_dict(m, source=source) for m in data.get("manifests", [])]
        chosen = [c for c in children if dict(c.platform).get("architecture") in (None, "amd64")]
        if not chosen:
            raise InvalidContent(f"{source}: no linux/amd64 image in {desc.digest}")
        desc = chosen[0]
    raise InvalidContent(f"{source}: indexes nested too deeply")


def _oci_names(annotations: dict[str, str]) -> list[Reference]:
    for key in (CONTAINERD_NAME, REF_NAME):
        value = annotations.get(key)
        if value and ("/" in value or ":" in value or key == CONTAINERD_NAME):
            try:
                return [parse_reference(value)]
            except InvalidContent:
                continue
            except Exception:
                continue
    return []


def _oci_media(media_type: str) -> str:
    return {
        mediatypes.DOCKER_LAYER: mediatypes.OCI_LAYER,
        mediatypes.DOCKER_LAYER_GZIP: mediatypes.OCI_LAYER_GZIP,
    }.get(media_type, media_type)
