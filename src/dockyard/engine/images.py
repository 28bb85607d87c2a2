"""The image service: the one place that combines blobs, layer trees and records.

Every way an image enters the store (import, load, bootstrap, build, pull) ends
in ``commit_image``; every way one leaves ends in ``_delete_image`` + ``gc``.

``ps``, ``run`` and ``images`` build this service, so its module imports only what
listing and resolving need: layer extraction (:mod:`dockyard.image.layers`) and the
image config/manifest types are imported by the methods that use them.
"""

from __future__ import annotations

import os

from dockyard._util.record import Record
from dockyard.errors import Conflict, InvalidArgument, NotFound
from dockyard.image.store import ImageRecord, ImageStore, LayerRecord, RefRecord
from dockyard.oci import mediatypes
from dockyard.oci.digest import Digest, is_hex_id
from dockyard.oci.reference import Reference, parse_reference

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from pathlib import Path

    from dockyard.image.content import ContentStore
    from dockyard.image.layerdirs import LayerDirs
    from dockyard.oci.image import ImageConfig, Manifest

    InUse = Callable[[], Mapping[str, Sequence[str]]]  # image id -> container names


class LayerBlob(Record):
    """A layer blob already in the content store."""

    __slots__ = ("digest", "media_type", "size")
    digest: Digest
    media_type: str
    size: int

    def __init__(self, digest: Digest, media_type: str, size: int) -> None:
        self._set(digest=digest, media_type=media_type, size=size)


class ImageSummary(Record):
    __slots__ = (  # noqa: RUF023 (field order)
        "id",
        "repo_tags",
        "repo_digests",
        "created",
        "size",
        "shared_size",
        "containers",
        "labels",
        "parent",
    )
    id: str
    repo_tags: tuple[str, ...]
    repo_digests: tuple[str, ...]
    created: int  # unix seconds
    size: int
    shared_size: int
    containers: int
    labels: tuple[tuple[str, str], ...]
    parent: str

    def __init__(
        self,
        id: str,
        repo_tags: tuple[str, ...],
        repo_digests: tuple[str, ...],
        created: int,
        size: int,
        shared_size: int,
        containers: int,
        labels: tuple[tuple[str, str], ...],
        parent: str,
    ) -> None:
        self._set(
            id=id,
            repo_tags=repo_tags,
            repo_digests=repo_digests,
            created=created,
            size=size,
            shared_size=shared_size,
            containers=containers,
            labels=labels,
            parent=parent,
        )


class RemovalReport(Record):
    __slots__ = ("untagged", "deleted", "reclaimed")  # noqa: RUF023 (field order)
    untagged: list[str]
    deleted: list[str]
    reclaimed: int

    def __init__(
        self,
        untagged: list[str] | None = None,
        deleted: list[str] | None = None,
        reclaimed: int = 0,
    ) -> None:
        self._set(
            untagged=[] if untagged is None else untagged,
            deleted=[] if deleted is None else deleted,
            reclaimed=reclaimed,
        )


class DiskUsage(Record):
    __slots__ = ("images", "total_layers_size", "active_image_ids")  # noqa: RUF023
    images: list[ImageSummary]
    total_layers_size: int
    active_image_ids: frozenset[str]

    def __init__(
        self, images: list[ImageSummary], total_layers_size: int, active_image_ids: frozenset[str]
    ) -> None:
        self._set(
            images=images, total_layers_size=total_layers_size, active_image_ids=active_image_ids
        )


def parse_created(text: str) -> int:
    if not text:
        return 0
    from datetime import datetime

    t = text.rstrip("Z")
    if "." in t:
        head, frac = t.split(".", 1)
        t = f"{head}.{frac[:6]}"
    try:
        return int(datetime.fromisoformat(t + "+00:00").timestamp())
    except ValueError:
        return 0


class ImageService:
    def __init__(
        self,
        content: ContentStore,
        layer_dirs: LayerDirs,
        store: ImageStore,
        tmp_dir: str | os.PathLike[str],
        in_use: InUse = lambda: {},
    ) -> None:
        self.content = content
        self.layer_dirs = layer_dirs
        self.store = store
        self._tmp_dir = os.fspath(tmp_dir)
        self.in_use = in_use

    @property
    def tmp_dir(self) -> Path:
        """Scratch space for loads and bootstraps (a Path, made on use: run needs none)."""
        from pathlib import Path

        return Path(self._tmp_dir)

    # -- adding ---------------------------------------------------------------
    def commit_image(
        self,
        config: ImageConfig | bytes,
        layers: Sequence[LayerBlob],
        refs: Iterable[Reference] = (),
        *,
        parent: str = "",
        source: str = "image",
    ) -> ImageRecord:
        """Unpack the layers, write config and manifest, and record the image."""
        from dockyard.image.layers import chain_ids
        from dockyard.oci.image import Descriptor, ImageConfig, Manifest

        raw = config.to_json() if isinstance(config, ImageConfig) else config
        cfg = (
            config if isinstance(config, ImageConfig) else ImageConfig.from_json(raw, source=source)
        )
        if len(cfg.diff_ids) != len(layers):
            raise InvalidArgument(
                f"{source}: the config lists {len(cfg.diff_ids)} layers but "
                f"{len(layers)} were given"
            )
        chains = chain_ids(list(cfg.diff_ids))
        made_dirs: list[str] = []
        try:
            total = 0
            parent_chain = ""
            triples = zip(layers, cfg.diff_ids, chains, strict=True)
            for i, (blob, diff_id, chain) in enumerate(triples):
                rec = self.store.layer(chain)
                if rec is None or not self.layer_dirs.exists(chain):
                    if not self.layer_dirs.exists(chain):
                        applied = self.layer_dirs.unpack(
                            self.content.path(blob.digest),
                            chain,
                            diff_id,
                            source_name=f"{source} layer {i + 1} ({blob.digest.short})",
                        )
                        made_dirs.append(chain)
                        size = applied.size
                    else:
                        size = rec.size if rec else _tree_size(self.layer_dirs.diff_dir(chain))
                    rec = LayerRecord(chain, diff_id, parent_chain, size)
                    self.store.add_layer(rec)
                total += rec.size
                parent_chain = chain
            config_info = self.content.put(raw)
            manifest = Manifest(
                mediatypes.OCI_MANIFEST,
                Descriptor(mediatypes.OCI_CONFIG, str(config_info.digest), config_info.size),
                tuple(
                    Descriptor(_oci_layer_type(b.media_type), str(b.digest), b.size) for b in layers
                ),
            )
            manifest_info = self.content.put(manifest.to_json())
            image = ImageRecord(
                id=str(config_info.digest),
                manifest_digest=str(manifest_info.digest),
                manifest_media_type=mediatypes.OCI_MANIFEST,
                created=cfg.created,
                size=total,
                top_chain=chains[-1] if chains else "",
                parent=parent,
            )
            blobs = [str(config_info.digest), str(manifest_info.digest)]
            blobs += [str(b.digest) for b in layers]
            ref_records = [
                RefRecord(str(r), "digest" if r.digest else "tag", image.id) for r in refs
            ]
            self.store.add_image(image, chains, blobs, ref_records)
        except BaseException:
            for chain in made_dirs:
                if not self.store.chain_in_use(chain):
                    self.store.forget_layers([chain])
                    self.layer_dirs.remove(chain)
            raise
        return image

    # -- lookup ---------------------------------------------------------------
    def resolve(self, name: str) -> ImageRecord:
        """An image by ID, ID prefix, name[:tag] or name@digest, as Docker resolves it."""
        found = self._lookup(name)
        if found is None:
            raise NotFound(f"No such image: {name}")
        return found

    def _lookup(self, name: str) -> ImageRecord | None:
        if name.startswith("sha256:") or (len(name) == 64 and is_hex_id(name)):
            full = name if name.startswith("sha256:") else f"sha256:{name}"
            if len(full) == 71:
                return self.store.get(full)
            return self._by_prefix(full[7:], name)
        try:
            ref = parse_reference(name)
        except InvalidArgument:
            if is_hex_id(name):
                return self._by_prefix(name, name)
            raise
        image_id = self.store.resolve_ref(str(ref))
        if image_id is not None:
            return self.store.get(image_id)
        if is_hex_id(name) and ":" not in name:
            return self._by_prefix(name, name)
        return None

    def _by_prefix(self, prefix: str, name: str) -> ImageRecord | None:
        ids = self.store.ids_with_prefix(prefix)
        if len(ids) > 1:
            raise InvalidArgument(f"ambiguous image ID prefix {name!r}: give more digits")
        return self.store.get(ids[0]) if ids else None

    def config(self, image: ImageRecord) -> ImageConfig:
        from dockyard.oci.image import ImageConfig

        return ImageConfig.from_json(self.content.read(Digest.parse(image.id)), source=image.id)

    def manifest(self, image: ImageRecord) -> Manifest:
        from dockyard.oci.image import Manifest

        data = self.content.read(Digest.parse(image.manifest_digest))
        return Manifest.from_json(data, source=image.manifest_digest)

    def layer_paths(self, image: ImageRecord) -> list[str]:
        """Extracted layer trees, bottom first (overlay wants them top first)."""
        return [self.layer_dirs.diff_path(c) for c in self.store.chain_of(image.id)]

    def repo_tags(self, image_id: str) -> tuple[list[str], list[str]]:
        tags: list[str] = []
        digests: list[str] = []
        for r in self.store.refs_of(image_id):
            ref = parse_reference(r.ref, default_tag=False)
            (digests if r.kind == "digest" else tags).append(ref.familiar)
        return tags, digests

    # -- listing --------------------------------------------------------------
    def list_images(
        self, *, all_images: bool = False, filters: Mapping[str, Sequence[str]] | None = None
    ) -> list[ImageSummary]:
        filters = dict(filters or {})
        unknown = set(filters) - {"dangling", "reference", "label", "before", "since"}
        if unknown:
            raise InvalidArgument(f"invalid filter '{sorted(unknown)[0]}'")
        refs: dict[str, list[RefRecord]] = {}
        for r in self.store.all_refs():
            refs.setdefault(r.image_id, []).append(r)
        used = self.in_use()
        images = self.store.all_images()
        parents = {img.parent for img in images if img.parent}
        before = self._time_bound(filters.get("before"))
        since = self._time_bound(filters.get("since"))
        out: list[ImageSummary] = []
        for img in images:
            image_refs = refs.get(img.id, [])
            tags = tuple(
                parse_reference(r.ref, default_tag=False).familiar
                for r in image_refs
                if r.kind == "tag"
            )
            digests = tuple(
                parse_reference(r.ref, default_tag=False).familiar
                for r in image_refs
                if r.kind == "digest"
            )
            if not all_images and not tags and img.id in parents:
                continue  # an intermediate image (a parent of a built image)
            if not self._matches(img, tags, filters, before, since):
                continue
            labels: tuple[tuple[str, str], ...] = ()
            if "label" in filters:
                labels = self.config(img).config.labels
            out.append(
                ImageSummary(
                    id=img.id,
                    repo_tags=tags,
                    repo_digests=digests,
                    created=parse_created(img.created),
                    size=img.size,
                    shared_size=-1,
                    containers=len(used.get(img.id, ())),
                    labels=labels,
                    parent=img.parent,
                )
            )
        if "label" in filters:
            out = [s for s in out if _labels_match(dict(s.labels), filters["label"])]
        out.sort(key=lambda s: (-s.created, s.id))
        return out

    def _time_bound(self, names: Sequence[str] | None) -> int | None:
        if not names:
            return None
        return parse_created(self.resolve(names[-1]).created)

    @staticmethod
    def _matches(
        img: ImageRecord,
        tags: tuple[str, ...],
        filters: Mapping[str, Sequence[str]],
        before: int | None,
        since: int | None,
    ) -> bool:
        for value in filters.get("dangling", ()):
            if value.lower() not in ("true", "false", "1", "0"):
                raise InvalidArgument(f"invalid filter 'dangling={value}'")
            want = value.lower() in ("true", "1")
            if want != (not tags):
                return False
        patterns = filters.get("reference", ())
        if patterns and not any(_ref_matches(t, p) for t in tags for p in patterns):
            return False
        created = parse_created(img.created)
        if before is not None and created >= before:
            return False
        return not (since is not None and created <= since)

    # -- tagging --------------------------------------------------------------
    def tag(self, source: str, target: str) -> None:
        image = self.resolve(source)
        ref = parse_reference(target)
        if ref.digest:
            raise InvalidArgument(f"refusing to create a tag with a digest reference: {target}")
        self.store.set_ref(RefRecord(str(ref), "tag", image.id))

    # -- removal --------------------------------------------------------------
    def remove(self, name: str, *, force: bool = False, prune: bool = True) -> RemovalReport:
        image = self.resolve(name)
        report = RemovalReport()
        refs = self.store.refs_of(image.id)
        by_name = not _looks_like_id(name, image.id)
        users = self.in_use().get(image.id, ())
        if by_name:
            ref = str(parse_reference(name))
            match = [r for r in refs if r.ref == ref] or [
                r for r in refs if parse_reference(r.ref, default_tag=False).repository == ref
            ]
            if match and (len(refs) > 1 or (users and force)):
                self.store.remove_ref(match[0].ref)
                report.untagged.append(parse_reference(match[0].ref, default_tag=False).familiar)
                return report
            if users:
                raise Conflict(
                    f'conflict: unable to remove repository reference "{name}" (must force) - '
                    f"container {users[0]} is using its referenced image {image.id[7:19]}"
                )
        else:
            repos = {parse_reference(r.ref, default_tag=False).repository for r in refs}
            if len(repos) > 1 and not force:
                raise Conflict(
                    f"conflict: unable to delete {image.id[7:19]} (must be forced) - "
                    "image is referenced in multiple repositories"
                )
            if users and not force:
                raise Conflict(
                    f"conflict: unable to delete {image.id[7:19]} (must be forced) - "
                    f"image is being used by container {users[0]}"
                )
        if users:  # forced: untag, keep the image for its containers (as Docker does)
            for r in refs:
                self.store.remove_ref(r.ref)
                report.untagged.append(parse_reference(r.ref, default_tag=False).familiar)
            return report
        if self.store.children(image.id):
            raise Conflict(
                f"conflict: unable to delete {image.id[7:19]} (cannot be forced) - "
                "image has dependent child images"
            )
        for r in refs:
            report.untagged.append(parse_reference(r.ref, default_tag=False).familiar)
        self._delete_image(image, report, prune=prune)
        return report

    def _delete_image(self, image: ImageRecord, report: RemovalReport, *, prune: bool) -> None:
        self.store.delete_image(image.id)
        report.deleted.append(image.id)
        removed_chains, reclaimed = self.gc()
        report.deleted.extend(removed_chains)
        object.__setattr__(report, "reclaimed", report.reclaimed + reclaimed)
        if prune and image.parent:
            parent = self.store.get(image.parent)
            if parent and not self.store.refs_of(parent.id) and not self.store.children(parent.id):
                self._delete_image(parent, report, prune=True)

    def prune(self, *, all_images: bool = False) -> RemovalReport:
        report = RemovalReport()
        used = self.in_use()
        changed = True
        while changed:
            changed = False
            for img in self.store.all_images():
                if img.id in used or self.store.children(img.id):
                    continue
                refs = self.store.refs_of(img.id)
                if refs and not all_images:
                    continue
                for r in refs:
                    report.untagged.append(parse_reference(r.ref, default_tag=False).familiar)
                self._delete_image(img, report, prune=False)
                changed = True
        return report

    def gc(self) -> tuple[list[str], int]:
        """Remove layer trees and blobs no image references; return chains and bytes freed."""
        chains = self.store.unreferenced_layers()
        freed = 0
        for chain in chains:
            rec = self.store.layer(chain)
            freed += rec.size if rec else 0
            self.layer_dirs.remove(chain)
        self.store.forget_layers(chains)
        keep = self.store.referenced_blobs()
        for blob in self.content.walk():
            if str(blob.digest) not in keep:
                self.content.delete(blob.digest)
        return chains, freed

    def history(self, name: str) -> list[tuple[str, ImageHistoryRow]]:
        from dockyard.oci.image import HistoryEntry

        image = self.resolve(name)
        cfg = self.config(image)
        chains = self.store.chain_of(image.id)
        sizes = {c: (self.store.layer(c) or LayerRecord(c, "", "", 0)).size for c in chains}
        rows: list[tuple[str, ImageHistoryRow]] = []
        layer_index = len(chains) - 1
        entries = list(cfg.history) or [HistoryEntry() for _ in chains]
        for i, h in enumerate(reversed(entries)):
            size = 0
            if not h.empty_layer and layer_index >= 0:
                size = sizes[chains[layer_index]]
                layer_index -= 1
            row_id = image.id if i == 0 else "<missing>"
            rows.append((row_id, ImageHistoryRow(h.created, h.created_by, size, h.comment)))
        return rows

    def disk_usage(self) -> DiskUsage:
        images = self.list_images(all_images=True)
        total = sum(layer.size for layer in self.store.layers())
        return DiskUsage(images, total, frozenset(self.in_use()))

    def shared_sizes(self) -> dict[str, tuple[int, int]]:
        """image id -> (shared size, unique size), as ``system df -v`` shows them."""
        users: dict[str, int] = {}
        chains_of: dict[str, list[str]] = {}
        for img in self.store.all_images():
            chains_of[img.id] = self.store.chain_of(img.id)
            for c in chains_of[img.id]:
                users[c] = users.get(c, 0) + 1
        sizes = {layer.chain_id: layer.size for layer in self.store.layers()}
        out: dict[str, tuple[int, int]] = {}
        for image_id, chains in chains_of.items():
            shared = sum(sizes.get(c, 0) for c in chains if users[c] > 1)
            unique = sum(sizes.get(c, 0) for c in chains if users[c] == 1)
            out[image_id] = (shared, unique)
        return out

    def clean_stale(self) -> None:
        self.layer_dirs.clean_stale()
        self.content.clean_ingest()


class ImageHistoryRow(Record):
    __slots__ = ("created", "created_by", "size", "comment")  # noqa: RUF023 (field order)
    created: str
    created_by: str
    size: int
    comment: str

    def __init__(self, created: str, created_by: str, size: int, comment: str) -> None:
        self._set(created=created, created_by=created_by, size=size, comment=comment)


def _looks_like_id(name: str, image_id: str) -> bool:
    bare = name[7:] if name.startswith("sha256:") else name
    return is_hex_id(bare) and image_id[7:].startswith(bare)


def _ref_matches(familiar: str, pattern: str) -> bool:
    import fnmatch

    name = familiar.rsplit(":", 1)[0] if ":" in familiar.rsplit("/", 1)[-1] else familiar
    if ":" in pattern.rsplit("/", 1)[-1]:
        return fnmatch.fnmatchcase(familiar, pattern)
    return fnmatch.fnmatchcase(name, pattern)


def _labels_match(labels: Mapping[str, str], wanted: Sequence[str]) -> bool:
    for w in wanted:
        key, eq, value = w.partition("=")
        if key not in labels or (eq and labels[key] != value):
            return False
    return True


def _oci_layer_type(media_type: str) -> str:
    return {
        mediatypes.DOCKER_LAYER: mediatypes.OCI_LAYER,
        mediatypes.DOCKER_LAYER_GZIP: mediatypes.OCI_LAYER_GZIP,
        mediatypes.DOCKER_LAYER_FOREIGN: mediatypes.OCI_LAYER_NONDIST_GZIP,
    }.get(media_type, media_type)


def _tree_size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total
