"""Dockerfiles: syntax, typed instructions, variable expansion and .dockerignore.

Three stages, as BuildKit has them (``STYLE.md`` item 3): :mod:`.parser`
(syntax only: lines, directives, continuations, heredocs, line ranges) ->
:mod:`.typed` (one frozen dataclass per instruction, :mod:`.instructions`, each
knowing which of its arguments Docker expands, with :mod:`.shell`) -> the
builder's dispatcher. :func:`parse_dockerfile` runs the first two;
:mod:`.ignore` reads ``.dockerignore``; :mod:`.changes` applies ``--change``.
The package is pure: no I/O but reading an ignore file and walking a context.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.dockerfile.errors import DockerfileError
    from dockyard.dockerfile.stages import Dockerfile, Stage, parse_dockerfile

__all__ = ["Dockerfile", "DockerfileError", "Stage", "parse_dockerfile"]


def __getattr__(name: str) -> object:
    """The names above on first use: importing :mod:`.ignore` (a cached build's
    replay walks the context with it) must not import the parser."""
    if name == "DockerfileError":
        from dockyard.dockerfile import errors

        return errors.DockerfileError
    if name in ("Dockerfile", "Stage", "parse_dockerfile"):
        from dockyard.dockerfile import stages

        return getattr(stages, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
