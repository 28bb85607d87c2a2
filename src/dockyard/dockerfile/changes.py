"""``--change`` instructions for ``import`` (and later ``commit``).

Docker (``builder/dockerfile.BuildFromConfig``) joins the changes into one
Dockerfile, parses it with the Dockerfile parser, accepts only CMD, ENTRYPOINT,
ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME and WORKDIR,
and applies each as the classic builder would: variables expand against the
config's ``Env``, the shell form runs under the config's ``Shell``, ENTRYPOINT
clears a CMD not set by the same changes, a relative WORKDIR joins the current
one.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, replace

from dockyard.dockerfile import instructions as ins
from dockyard.dockerfile.errors import DockerfileError
from dockyard.dockerfile.parser import parse
from dockyard.dockerfile.typed import instruction_from_node
from dockyard.errors import InvalidArgument
from dockyard.oci.image import ContainerConfig

ALLOWED = (
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "HEALTHCHECK",
    "LABEL",
    "ONBUILD",
    "USER",
    "VOLUME",
    "WORKDIR",
    "STOPSIGNAL",
)
DEFAULT_SHELL = ("/bin/sh", "-c")


@dataclass
class _State:
    config: ContainerConfig
    cmd_set: bool = False


def apply_change(config: ContainerConfig, line: str) -> ContainerConfig:
    return apply_changes(config, [line])


def apply_changes(config: ContainerConfig, lines: Sequence[str]) -> ContainerConfig:
    """``config`` with the ``--change`` lines applied, in order."""
    if not lines:
        return config
    try:
        tree = parse("\n".join(lines), name="--change")
    except DockerfileError as e:
        raise InvalidArgument(e.reason, hint=e.hint) from None
    for node in tree.nodes:
        if node.name not in ALLOWED:
            raise InvalidArgument(
                f"{node.keyword} is not a valid change command",
                hint="--change takes one of " + ", ".join(ALLOWED),
            )
    state = _State(config)
    for node in tree.nodes:
        try:
            instruction = instruction_from_node(node, escape=tree.escape)
            _apply(state, instruction)
        except DockerfileError as e:
            raise InvalidArgument(e.reason, hint=e.hint) from None
    return state.config


def _command(instruction: ins.Cmd | ins.Entrypoint, config: ContainerConfig) -> tuple[str, ...]:
    if instruction.shell_form:
        return (*(config.shell or DEFAULT_SHELL), *instruction.command)
    return instruction.command


def _apply(state: _State, instruction: ins.Instruction) -> None:
    config = state.config
    env = config.env_dict()
    if isinstance(instruction, ins.Onbuild):
        state.config = replace(config, on_build=(*config.on_build, instruction.expression))
        return
    if isinstance(instruction, ins.Healthcheck):
        state.config = replace(config, healthcheck=instruction.to_config())
        return
    if isinstance(instruction, ins.Cmd):
        state.config = replace(config, cmd=_command(instruction, config))
        state.cmd_set = True
        return
    if isinstance(instruction, ins.Entrypoint):
        entrypoint = _command(instruction, config)
        cmd = config.cmd if state.cmd_set else None
        state.config = replace(config, entrypoint=entrypoint, cmd=cmd)
        return
    instruction = instruction.expand(env)
    if isinstance(instruction, ins.Env):
        for key, value in instruction.pairs:
            env[key] = value
        state.config = replace(config, env=tuple(f"{k}={v}" for k, v in env.items()))
    elif isinstance(instruction, ins.Label):
        labels = dict(config.labels)
        labels.update(instruction.pairs)
        state.config = replace(config, labels=tuple(sorted(labels.items())))
    elif isinstance(instruction, ins.Expose):
        from dockyard.specs.ports import parse_expose

        ports = set(config.exposed_ports)
        for text in instruction.ports:
            ports.update(p.render() for p in parse_expose(text))
        state.config = replace(config, exposed_ports=tuple(sorted(ports)))
    elif isinstance(instruction, ins.Volume):
        volumes = set(config.volumes) | set(instruction.paths)
        state.config = replace(config, volumes=tuple(sorted(volumes)))
    elif isinstance(instruction, ins.User):
        state.config = replace(config, user=instruction.user)
    elif isinstance(instruction, ins.Workdir):
        path = instruction.path
        if not path.startswith("/"):
            path = posixpath.normpath(posixpath.join("/", config.working_dir, path))
        state.config = replace(config, working_dir=path)
    elif isinstance(instruction, ins.StopSignal):
        from dockyard.specs.signals import parse_signal

        parse_signal(instruction.signal)
        state.config = replace(config, stop_signal=instruction.signal)
