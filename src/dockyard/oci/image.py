"""Image config, manifest and index as typed values.

``ImageConfig.to_json()`` is canonical (sorted keys, compact), so an image's ID,
the sha256 of its config, depends only on its content: two bootstraps of the same
root filesystem give the same ID.
"""

from __future__ import annotations

from dockyard._util import jsonlite
from dockyard._util.record import DataRecord
from dockyard.errors import InvalidContent
from dockyard.oci import mediatypes
from dockyard.oci.digest import Digest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _strs(value: object, what: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidContent(f"image config: {what} must be a list of strings")
    return tuple(value)


def _keys(value: object, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise InvalidContent(f"image config: {what} must be an object")
    return tuple(sorted(value))


class Healthcheck(DataRecord):
    __slots__ = ("test", "interval", "timeout", "start_period", "start_interval", "retries")  # noqa: RUF023 (field order)
    test: tuple[str, ...]
    interval: int
    timeout: int
    start_period: int
    start_interval: int
    retries: int

    def __init__(
        self,
        test: tuple[str, ...] = (),
        interval: int = 0,
        timeout: int = 0,
        start_period: int = 0,
        start_interval: int = 0,
        retries: int = 0,
    ) -> None:
        self._set(
            test=test,
            interval=interval,
            timeout=timeout,
            start_period=start_period,
            start_interval=start_interval,
            retries=retries,
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"Test": list(self.test)}
        for key, val in (
            ("Interval", self.interval),
            ("Timeout", self.timeout),
            ("StartPeriod", self.start_period),
            ("StartInterval", self.start_interval),
            ("Retries", self.retries),
        ):
            if val:
                d[key] = val
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Healthcheck:
        return cls(
            test=tuple(d.get("Test") or ()),
            interval=int(d.get("Interval") or 0),
            timeout=int(d.get("Timeout") or 0),
            start_period=int(d.get("StartPeriod") or 0),
            start_interval=int(d.get("StartInterval") or 0),
            retries=int(d.get("Retries") or 0),
        )


class ContainerConfig(DataRecord):
    """The ``config`` object of an image config: defaults for containers."""

    __slots__ = (  # noqa: RUF023 (field order)
        "user",
        "env",
        "entrypoint",
        "cmd",
        "working_dir",
        "exposed_ports",
        "volumes",
        "labels",
        "stop_signal",
        "shell",
        "on_build",
        "healthcheck",
        "args_escaped",
    )
    user: str
    env: tuple[str, ...]
    entrypoint: tuple[str, ...] | None
    cmd: tuple[str, ...] | None
    working_dir: str
    exposed_ports: tuple[str, ...]
    volumes: tuple[str, ...]
    labels: tuple[tuple[str, str], ...]
    stop_signal: str
    shell: tuple[str, ...] | None
    on_build: tuple[str, ...]
    healthcheck: Healthcheck | None
    args_escaped: bool

    def __init__(
        self,
        user: str = "",
        env: tuple[str, ...] = (),
        entrypoint: tuple[str, ...] | None = None,
        cmd: tuple[str, ...] | None = None,
        working_dir: str = "",
        exposed_ports: tuple[str, ...] = (),
        volumes: tuple[str, ...] = (),
        labels: tuple[tuple[str, str], ...] = (),
        stop_signal: str = "",
        shell: tuple[str, ...] | None = None,
        on_build: tuple[str, ...] = (),
        healthcheck: Healthcheck | None = None,
        args_escaped: bool = False,
    ) -> None:
        self._set(
            user=user,
            env=env,
            entrypoint=entrypoint,
            cmd=cmd,
            working_dir=working_dir,
            exposed_ports=exposed_ports,
            volumes=volumes,
            labels=labels,
            stop_signal=stop_signal,
            shell=shell,
            on_build=on_build,
            healthcheck=healthcheck,
            args_escaped=args_escaped,
        )

    def env_dict(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for item in self.env:
            k, _, v = item.partition("=")
            out[k] = v
        return out

    def to_dict(self) -> dict[str, Any]:
        """Docker's shape: absent fields omitted, as ``docker inspect`` shows them."""
        d: dict[str, Any] = {}
        if self.user:
            d["User"] = self.user
        if self.exposed_ports:
            d["ExposedPorts"] = {p: {} for p in self.exposed_ports}
        if self.env:
            d["Env"] = list(self.env)
        if self.entrypoint is not None:
            d["Entrypoint"] = list(self.entrypoint)
        if self.cmd is not None:
            d["Cmd"] = list(self.cmd)
        if self.healthcheck is not None:
            d["Healthcheck"] = self.healthcheck.to_dict()
        if self.args_escaped:
            d["ArgsEscaped"] = True
        if self.volumes:
            d["Volumes"] = {v: {} for v in self.volumes}
        if self.working_dir:
            d["WorkingDir"] = self.working_dir
        if self.labels:
            d["Labels"] = dict(self.labels)
        if self.on_build:
            d["OnBuild"] = list(self.on_build)
        if self.stop_signal:
            d["StopSignal"] = self.stop_signal
        if self.shell is not None:
            d["Shell"] = list(self.shell)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> ContainerConfig:
        if not d:
            return cls()
        labels = d.get("Labels") or {}
        if not isinstance(labels, dict):
            raise InvalidContent("image config: Labels must be an object")
        hc = d.get("Healthcheck")
        return cls(
            user=str(d.get("User") or ""),
            env=_strs(d.get("Env"), "Env") or (),
            entrypoint=_strs(d.get("Entrypoint"), "Entrypoint"),
            cmd=_strs(d.get("Cmd"), "Cmd"),
            working_dir=str(d.get("WorkingDir") or ""),
            exposed_ports=_keys(d.get("ExposedPorts"), "ExposedPorts"),
            volumes=_keys(d.get("Volumes"), "Volumes"),
            labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
            stop_signal=str(d.get("StopSignal") or ""),
            shell=_strs(d.get("Shell"), "Shell"),
            on_build=_strs(d.get("OnBuild"), "OnBuild") or (),
            healthcheck=Healthcheck.from_dict(hc) if isinstance(hc, dict) else None,
            args_escaped=bool(d.get("ArgsEscaped")),
        )


EMPTY_CONFIG = ContainerConfig()


class HistoryEntry(DataRecord):
    __slots__ = ("created", "created_by", "comment", "author", "empty_layer")  # noqa: RUF023 (field order)
    created: str
    created_by: str
    comment: str
    author: str
    empty_layer: bool

    def __init__(
        self,
        created: str = "",
        created_by: str = "",
        comment: str = "",
        author: str = "",
        empty_layer: bool = False,
    ) -> None:
        self._set(
            created=created,
            created_by=created_by,
            comment=comment,
            author=author,
            empty_layer=empty_layer,
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        if self.created:
            d["created"] = self.created
        if self.created_by:
            d["created_by"] = self.created_by
        if self.author:
            d["author"] = self.author
        if self.comment:
            d["comment"] = self.comment
        if self.empty_layer:
            d["empty_layer"] = True
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HistoryEntry:
        return cls(
            created=str(d.get("created") or ""),
            created_by=str(d.get("created_by") or ""),
            comment=str(d.get("comment") or ""),
            author=str(d.get("author") or ""),
            empty_layer=bool(d.get("empty_layer")),
        )


class ImageConfig(DataRecord):
    __slots__ = (  # noqa: RUF023 (field order)
        "architecture",
        "os",
        "created",
        "author",
        "comment",
        "variant",
        "config",
        "diff_ids",
        "history",
    )
    architecture: str
    os: str
    created: str
    author: str
    comment: str
    variant: str
    config: ContainerConfig
    diff_ids: tuple[str, ...]
    history: tuple[HistoryEntry, ...]

    def __init__(
        self,
        architecture: str = "amd64",
        os: str = "linux",
        created: str = "",
        author: str = "",
        comment: str = "",
        variant: str = "",
        config: ContainerConfig = EMPTY_CONFIG,
        diff_ids: tuple[str, ...] = (),
        history: tuple[HistoryEntry, ...] = (),
    ) -> None:
        self._set(
            architecture=architecture,
            os=os,
            created=created,
            author=author,
            comment=comment,
            variant=variant,
            config=config,
            diff_ids=diff_ids,
            history=history,
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"architecture": self.architecture}
        if self.author:
            d["author"] = self.author
        if self.comment:
            d["comment"] = self.comment
        d["config"] = self.config.to_dict()
        if self.created:
            d["created"] = self.created
        if self.history:
            d["history"] = [h.to_dict() for h in self.history]
        d["os"] = self.os
        d["rootfs"] = {"type": "layers", "diff_ids": list(self.diff_ids)}
        if self.variant:
            d["variant"] = self.variant
        return d

    def to_json(self) -> bytes:
        return jsonlite.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()

    @property
    def digest(self) -> Digest:
        return Digest.of_bytes(self.to_json())

    def with_config(self, config: ContainerConfig) -> ImageConfig:
        return self.replace(config=config)

    @classmethod
    def from_json(cls, data: bytes, *, source: str = "image config") -> ImageConfig:
        try:
            d = jsonlite.loads(data)
        except (ValueError, UnicodeDecodeError) as e:
            raise InvalidContent(f"{source} is not valid JSON: {e}")
        if not isinstance(d, dict):
            raise InvalidContent(f"{source} must be a JSON object")
        rootfs = d.get("rootfs") or {}
        diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
        if not isinstance(diff_ids, list):
            raise InvalidContent(f"{source} has no rootfs.diff_ids")
        for did in diff_ids:
            Digest.parse(str(did))
        hist = d.get("history") or []
        return cls(
            architecture=str(d.get("architecture") or "amd64"),
            os=str(d.get("os") or "linux"),
            created=str(d.get("created") or ""),
            author=str(d.get("author") or ""),
            comment=str(d.get("comment") or ""),
            variant=str(d.get("variant") or ""),
            config=ContainerConfig.from_dict(d.get("config") or d.get("container_config")),
            diff_ids=tuple(str(x) for x in diff_ids),
            history=tuple(HistoryEntry.from_dict(h) for h in hist if isinstance(h, dict)),
        )


class Descriptor(DataRecord):
    __slots__ = ("media_type", "digest", "size", "annotations", "platform")  # noqa: RUF023 (field order)
    media_type: str
    digest: str
    size: int
    annotations: tuple[tuple[str, str], ...]
    platform: tuple[tuple[str, str], ...]

    def __init__(
        self,
        media_type: str,
        digest: str,
        size: int,
        annotations: tuple[tuple[str, str], ...] = (),
        platform: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self._set(
            media_type=media_type,
            digest=digest,
            size=size,
            annotations=annotations,
            platform=platform,
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.annotations:
            d["annotations"] = dict(self.annotations)
        if self.platform:
            d["platform"] = dict(self.platform)
        return d

    @classmethod
    def from_dict(cls, d: object, *, source: str) -> Descriptor:
        if not isinstance(d, dict):
            raise InvalidContent(f"{source}: descriptor must be an object")
        try:
            digest = str(d["digest"])
            size = int(d["size"])
        except (KeyError, TypeError, ValueError):
            raise InvalidContent(f"{source}: descriptor needs digest and size")
        Digest.parse(digest)
        if size < 0:
            raise InvalidContent(f"{source}: negative size for {digest}")
        ann = d.get("annotations") or {}
        plat = d.get("platform") or {}
        return cls(
            media_type=str(d.get("mediaType") or ""),
            digest=digest,
            size=size,
            annotations=tuple(sorted((str(k), str(v)) for k, v in ann.items())),
            platform=tuple(sorted((str(k), str(v)) for k, v in plat.items() if isinstance(v, str))),
        )


class Manifest(DataRecord):
    __slots__ = ("media_type", "config", "layers")  # noqa: RUF023 (field order)
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]

    def __init__(
        self,
        media_type: str,
        config: Descriptor,
        layers: tuple[Descriptor, ...],
    ) -> None:
        self._set(media_type=media_type, config=config, layers=layers)

    def to_json(self) -> bytes:
        d = {
            "schemaVersion": 2,
            "mediaType": self.media_type,
            "config": self.config.to_dict(),
            "layers": [layer.to_dict() for layer in self.layers],
        }
        return jsonlite.dumps(d, indent=3).encode()

    @classmethod
    def from_json(cls, data: bytes, *, source: str = "manifest") -> Manifest:
        try:
            d = jsonlite.loads(data)
        except (ValueError, UnicodeDecodeError) as e:
            raise InvalidContent(f"{source} is not valid JSON: {e}")
        if not isinstance(d, dict) or d.get("schemaVersion") != 2:
            raise InvalidContent(f"{source}: only schemaVersion 2 manifests are supported")
        media_type = str(d.get("mediaType") or mediatypes.OCI_MANIFEST)
        if media_type not in mediatypes.MANIFESTS:
            raise InvalidContent(f"{source}: unsupported manifest media type {media_type!r}")
        config = Descriptor.from_dict(d.get("config"), source=source)
        layers = d.get("layers")
        if not isinstance(layers, list):
            raise InvalidContent(f"{source}: manifest has no layers list")
        descs = tuple(Descriptor.from_dict(x, source=source) for x in layers)
        for desc in descs:
            if desc.media_type not in mediatypes.LAYERS:
                raise InvalidContent(
                    f"{source}: unknown layer media type {desc.media_type!r} for {desc.digest}"
                )
        return cls(media_type, config, descs)
