"""``--change`` instructions for ``import`` (and later ``commit``).

Docker accepts CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, USER, VOLUME,
WORKDIR and STOPSIGNAL here, with the Dockerfile's syntax for each.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import replace

from dockyard.errors import InvalidArgument
from dockyard.oci.image import ContainerConfig

ALLOWED = (
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "LABEL",
    "ONBUILD",
    "USER",
    "VOLUME",
    "WORKDIR",
    "STOPSIGNAL",
)


def _exec_or_shell(rest: str) -> tuple[str, ...]:
    text = rest.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
    return ("/bin/sh", "-c", text)


def _pairs(rest: str, what: str) -> list[tuple[str, str]]:
    words = shlex.split(rest)
    if len(words) >= 2 and "=" not in words[0]:
        return [(words[0], rest.strip().split(None, 1)[1])]
    out = []
    for w in words:
        key, eq, value = w.partition("=")
        if not eq or not key:
            raise InvalidArgument(f"{what} names can not be blank or lack '=': {w!r}")
        out.append((key, value))
    return out


def apply_change(config: ContainerConfig, line: str) -> ContainerConfig:
    word, _, rest = line.strip().partition(" ")
    instr = word.upper()
    if instr not in ALLOWED:
        raise InvalidArgument(
            f"{word} is not a valid change command",
            hint="--change takes one of " + ", ".join(ALLOWED),
        )
    if not rest.strip():
        raise InvalidArgument(f"{instr} requires at least one argument")
    if instr == "CMD":
        return replace(config, cmd=_exec_or_shell(rest))
    if instr == "ENTRYPOINT":
        return replace(config, entrypoint=_exec_or_shell(rest), cmd=None)
    if instr == "ENV":
        env = config.env_dict()
        for k, v in _pairs(rest, "ENV"):
            env[k] = v
        return replace(config, env=tuple(f"{k}={v}" for k, v in env.items()))
    if instr == "LABEL":
        labels = dict(config.labels)
        labels.update(_pairs(rest, "LABEL"))
        return replace(config, labels=tuple(sorted(labels.items())))
    if instr == "EXPOSE":
        ports = set(config.exposed_ports)
        for p in rest.split():
            ports.add(p if "/" in p else f"{p}/tcp")
        return replace(config, exposed_ports=tuple(sorted(ports)))
    if instr == "VOLUME":
        vols = set(config.volumes)
        text = rest.strip()
        parsed = json.loads(text) if text.startswith("[") else text.split()
        vols.update(str(v) for v in parsed)
        return replace(config, volumes=tuple(sorted(vols)))
    if instr == "USER":
        return replace(config, user=rest.strip())
    if instr == "WORKDIR":
        return replace(config, working_dir=rest.strip())
    if instr == "STOPSIGNAL":
        return replace(config, stop_signal=rest.strip())
    return replace(config, on_build=(*config.on_build, rest.strip()))


def apply_changes(config: ContainerConfig, lines: Sequence[str]) -> ContainerConfig:
    for line in lines:
        config = apply_change(config, line)
    return config
