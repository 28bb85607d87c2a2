"""``docker image inspect`` JSON, built from the stored config and records."""

from __future__ import annotations

from typing import Any

from dockyard.engine.images import ImageService
from dockyard.image.store import ImageRecord
from dockyard.oci.image import ContainerConfig


def container_config_json(c: ContainerConfig) -> dict[str, Any]:
    """The image's Config as Docker's API prints it: every field, nulls included."""
    return {
        "Hostname": "",
        "Domainname": "",
        "User": c.user,
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "ExposedPorts": {p: {} for p in c.exposed_ports} or None,
        "Tty": False,
        "OpenStdin": False,
        "StdinOnce": False,
        "Env": list(c.env) or None,
        "Cmd": list(c.cmd) if c.cmd is not None else None,
        "Healthcheck": c.healthcheck.to_dict() if c.healthcheck else None,
        "ArgsEscaped": c.args_escaped or None,
        "Image": "",
        "Volumes": {v: {} for v in c.volumes} or None,
        "WorkingDir": c.working_dir,
        "Entrypoint": list(c.entrypoint) if c.entrypoint is not None else None,
        "OnBuild": list(c.on_build) or None,
        "Labels": dict(c.labels) or None,
        **({"StopSignal": c.stop_signal} if c.stop_signal else {}),
        **({"Shell": list(c.shell)} if c.shell is not None else {}),
    }


def inspect_image(images: ImageService, image: ImageRecord) -> dict[str, Any]:
    cfg = images.config(image)
    tags, digests = images.repo_tags(image.id)
    config = container_config_json(cfg.config)
    if config["Healthcheck"] is None:
        del config["Healthcheck"]
    if config["ArgsEscaped"] is None:
        del config["ArgsEscaped"]
    lower = [str(p) for p in reversed(images.layer_paths(image))]
    return {
        "Id": image.id,
        "RepoTags": tags,
        "RepoDigests": digests,
        "Parent": image.parent,
        "Comment": cfg.comment or (cfg.history[-1].comment if cfg.history else ""),
        "Created": cfg.created or "0001-01-01T00:00:00Z",
        "DockerVersion": "",
        "Author": cfg.author,
        "Config": config,
        "Architecture": cfg.architecture,
        **({"Variant": cfg.variant} if cfg.variant else {}),
        "Os": cfg.os,
        "Size": image.size,
        "GraphDriver": {
            "Data": {
                "LowerDir": ":".join(lower[1:]) or None,
                "UpperDir": lower[0] if lower else None,
            },
            "Name": "overlay",
        },
        "RootFS": {"Type": "layers", "Layers": list(cfg.diff_ids)},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    }
