"""Metadata instructions: how each changes an image's config, and its history text.

Pure: :func:`apply_metadata` takes the stage's config and an expanded
instruction and returns the new config with the comment the classic builder
records (``ENV FOO=bar``; :mod:`dockyard.build.history` adds the ``#(nop)``).
The rules are the classic builder's: ENV replaces a variable in place or
appends it, ENTRYPOINT clears a CMD inherited from the base image (not one set
in this stage), a relative WORKDIR joins the previous one, HEALTHCHECK replaces
the whole check, EXPOSE and VOLUME add to sets.
"""

from __future__ import annotations

import posixpath

from dockyard._util.litedc import dataclass, replace
from dockyard.build.history import DEFAULT_SHELL, go_list_q, go_list_v, healthcheck_text
from dockyard.dockerfile import instructions as ins
from dockyard.oci.image import ContainerConfig

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class MetadataChange:
    config: ContainerConfig
    comment: str
    author: str | None = None  # MAINTAINER
    cmd_set: bool = False
    single_space: bool = False  # WORKDIR: "#(nop) WORKDIR /app"


def with_default_path(config: ContainerConfig) -> ContainerConfig:
    """``setDefaultPath``: a stage's config always has PATH."""
    if any(e.partition("=")[0] == "PATH" for e in config.env):
        return config
    return replace(config, env=(*config.env, f"PATH={DEFAULT_PATH}"))


def set_env(env: tuple[str, ...], pairs: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    out = list(env)
    for key, value in pairs:
        item = f"{key}={value}"
        for i, existing in enumerate(out):
            if existing.partition("=")[0] == key:
                out[i] = item
                break
        else:
            out.append(item)
    return tuple(out)


def shell_command(
    instruction: ins.Cmd | ins.Entrypoint | ins.Run, config: ContainerConfig
) -> tuple[str, ...]:
    if instruction.shell_form:
        return (*(config.shell or DEFAULT_SHELL), *instruction.command)
    return instruction.command


def workdir_path(current: str, path: str) -> str:
    if not path.startswith("/"):
        path = posixpath.join("/", current or "/", path)
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/")


def apply_metadata(
    config: ContainerConfig, instruction: ins.Instruction, *, cmd_set: bool
) -> MetadataChange:
    """``instruction`` (already expanded) applied to ``config``."""
    if isinstance(instruction, ins.Env):
        env = set_env(config.env, instruction.pairs)
        text = "ENV " + " ".join(f"{k}={v}" for k, v in instruction.pairs)
        return MetadataChange(replace(config, env=env), text, cmd_set=cmd_set)
    if isinstance(instruction, ins.Label):
        labels = dict(config.labels)
        labels.update(instruction.pairs)
        text = "LABEL " + " ".join(f"{k}={v}" for k, v in instruction.pairs)
        return MetadataChange(replace(config, labels=tuple(labels.items())), text, cmd_set=cmd_set)
    if isinstance(instruction, ins.Cmd):
        cmd = shell_command(instruction, config)
        return MetadataChange(replace(config, cmd=cmd), f"CMD {go_list_q(cmd)}", cmd_set=True)
    if isinstance(instruction, ins.Entrypoint):
        entrypoint = shell_command(instruction, config)
        kept = config.cmd if cmd_set else None
        return MetadataChange(
            replace(config, entrypoint=entrypoint, cmd=kept),
            f"ENTRYPOINT {go_list_q(entrypoint)}",
            cmd_set=cmd_set,
        )
    if isinstance(instruction, ins.Workdir):
        path = workdir_path(config.working_dir, instruction.path)
        return MetadataChange(
            replace(config, working_dir=path), f"WORKDIR {path}", cmd_set=cmd_set, single_space=True
        )
    if isinstance(instruction, ins.User):
        return MetadataChange(
            replace(config, user=instruction.user), f"USER {instruction.user}", cmd_set=cmd_set
        )
    if isinstance(instruction, ins.StopSignal):
        from dockyard.specs.signals import parse_signal

        parse_signal(instruction.signal)
        return MetadataChange(
            replace(config, stop_signal=instruction.signal),
            f"STOPSIGNAL {instruction.signal}",
            cmd_set=cmd_set,
        )
    if isinstance(instruction, ins.Expose):
        from dockyard.specs.ports import parse_expose

        ports = list(config.exposed_ports)
        for text in instruction.ports:
            for port in parse_expose(text):
                if port.render() not in ports:
                    ports.append(port.render())
        comment = "EXPOSE " + " ".join(sorted(instruction.ports))
        return MetadataChange(
            replace(config, exposed_ports=tuple(sorted(ports))), comment, cmd_set=cmd_set
        )
    if isinstance(instruction, ins.Volume):
        volumes = list(config.volumes)
        volumes += [p for p in instruction.paths if p not in volumes]
        return MetadataChange(
            replace(config, volumes=tuple(sorted(volumes))),
            f"VOLUME {go_list_v(instruction.paths)}",
            cmd_set=cmd_set,
        )
    if isinstance(instruction, ins.Healthcheck):
        hc = instruction.to_config()
        return MetadataChange(
            replace(config, healthcheck=hc), healthcheck_text(hc), cmd_set=cmd_set
        )
    if isinstance(instruction, ins.Shell):
        return MetadataChange(
            replace(config, shell=instruction.shell),
            f"SHELL {go_list_v(instruction.shell)}",
            cmd_set=cmd_set,
        )
    if isinstance(instruction, ins.Onbuild):
        return MetadataChange(
            replace(config, on_build=(*config.on_build, instruction.expression)),
            f"ONBUILD {instruction.expression}",
            cmd_set=cmd_set,
        )
    if isinstance(instruction, ins.Maintainer):
        return MetadataChange(
            config, f"MAINTAINER {instruction.name}", author=instruction.name, cmd_set=cmd_set
        )
    if isinstance(instruction, ins.Arg):
        words = [a.name if a.default is None else f"{a.name}={a.default}" for a in instruction.args]
        return MetadataChange(config, "ARG " + " ".join(words), cmd_set=cmd_set)
    raise TypeError(f"not a metadata instruction: {instruction.KEYWORD}")
