"""A Dockerfile as build stages: :func:`parse_dockerfile` is the entry point.

text -> :func:`~dockyard.dockerfile.parser.parse` (syntax) ->
:func:`~dockyard.dockerfile.typed.instruction_from_node` (typed instructions) ->
:class:`Dockerfile`: the ARGs before the first FROM, then one :class:`Stage` per
FROM. Errors are :class:`~dockyard.dockerfile.errors.DockerfileError` naming
the file and line.
"""

from __future__ import annotations

from dockyard._util.litedc import dataclass, replace
from dockyard.dockerfile import instructions as ins
from dockyard.dockerfile.errors import DockerfileError
from dockyard.dockerfile.parser import Directives, parse
from dockyard.dockerfile.shell import go_quote
from dockyard.dockerfile.typed import instruction_from_node


@dataclass(frozen=True)
class Stage:
    """One ``FROM`` and what follows it; ``name`` is lower-case (``""`` if unnamed)."""

    name: str
    base: str
    platform: str
    instructions: tuple[ins.Instruction, ...]
    line: int
    index: int = 0
    from_: ins.From | None = None


@dataclass(frozen=True)
class Dockerfile:
    name: str
    stages: tuple[Stage, ...]
    global_args: tuple[ins.Arg, ...]
    directives: Directives
    warnings: tuple[str, ...] = ()

    @property
    def escape(self) -> str:
        return self.directives.escape

    def stage(self, ref: str) -> Stage | None:
        """The stage named ``ref`` (case-insensitive) or at index ``ref``."""
        wanted = ref.lower()
        for stage in self.stages:
            if stage.name and stage.name == wanted:
                return stage
        if ref.isdecimal() and int(ref) < len(self.stages):
            return self.stages[int(ref)]
        return None


def parse_dockerfile(text: str, *, name: str = "Dockerfile") -> Dockerfile:
    """Parse and type a Dockerfile; raises :class:`DockerfileError`."""
    tree = parse(text, name=name)
    global_args: list[ins.Arg] = []
    stages: list[Stage] = []
    current: list[ins.Instruction] = []
    names: set[str] = set()

    def close() -> None:
        if stages:
            stages[-1] = replace(stages[-1], instructions=tuple(current))

    for node in tree.nodes:
        try:
            instruction = instruction_from_node(node, escape=tree.escape)
            if isinstance(instruction, ins.From):
                if instruction.name and instruction.name in names:
                    raise DockerfileError(
                        f"duplicate stage name {go_quote(instruction.name)}",
                        line=node.start,
                        hint="give each stage its own name",
                    )
                names.add(instruction.name)
                close()
                current = []
                stages.append(
                    Stage(
                        instruction.name,
                        instruction.image,
                        instruction.platform,
                        (),
                        node.start,
                        len(stages),
                        instruction,
                    )
                )
            elif not stages and isinstance(instruction, ins.Arg):
                global_args.append(instruction)
            elif not stages:
                raise DockerfileError(
                    "no build stage in current context",
                    line=node.start,
                    end_line=node.end,
                    hint="start the Dockerfile with FROM (only ARG may come before it)",
                )
            else:
                current.append(instruction)
        except DockerfileError as e:
            raise e.located(file=name) from None
    close()
    return Dockerfile(name, tuple(stages), tuple(global_args), tree.directives, tree.warnings)
