"""What a build reports as it goes, and what the builder needs from the engine.

The builder never prints: it calls ``emit`` with these events, and the CLI
renders them (Docker's classic ``Step 2/5 : ...`` lines, or ``-q``).
:class:`Backend` is the engine's side: images, root filesystems and RUN.
"""

from __future__ import annotations

from collections.abc import Callable

from dockyard._util.litedc import dataclass

TYPE_CHECKING = False
if TYPE_CHECKING:
    from contextlib import AbstractContextManager
    from pathlib import Path
    from typing import Protocol

    from dockyard.oci.image import HistoryEntry, ImageConfig


@dataclass(frozen=True)
class Planned:
    """The build's shape, before its first step, for BuildKit-style progress:
    ``stages`` (label, steps that make a vertex) in build order (label "" when the
    Dockerfile has one stage, else its name or ``stage-N``) and ``bases``, the
    images the stages start from."""

    stages: tuple[tuple[str, int], ...]
    bases: tuple[str, ...]


@dataclass(frozen=True)
class StepStarted:
    number: int
    total: int
    text: str
    stage: int = 0  # position in Planned.stages
    keyword: str = ""  # FROM, RUN, ...; "" for an ONBUILD trigger
    base: str = ""  # FROM: the image (not a stage, not scratch), else ""


@dataclass(frozen=True)
class TriggersStarted:
    count: int


@dataclass(frozen=True)
class CacheHit:
    image_id: str


@dataclass(frozen=True)
class ContainerStarted:
    container_id: str


@dataclass(frozen=True)
class Output:
    """Bytes a RUN step wrote: ``stream`` 1 (stdout) or 2 (stderr)."""

    stream: int
    data: bytes


@dataclass(frozen=True)
class ContainerRemoved:
    container_id: str


@dataclass(frozen=True)
class StepDone:
    image_id: str  # "" for FROM scratch


@dataclass(frozen=True)
class StepExplained:
    """``--explain``: ``hit`` or why the step missed."""

    number: int
    hit: bool
    reason: str


@dataclass(frozen=True)
class Warning:
    text: str


# the steps BuildKit shows (and counts in ``[2/5]``); the others change only config
VERTEX_KEYWORDS = frozenset({"FROM", "RUN", "COPY", "ADD", "WORKDIR"})


BuildEvent = (
    Planned
    | StepStarted
    | TriggersStarted
    | CacheHit
    | ContainerStarted
    | Output
    | ContainerRemoved
    | StepDone
    | StepExplained
    | Warning
)
Emit = Callable[[BuildEvent], None]


@dataclass(frozen=True)
class BaseImage:
    id: str
    config: ImageConfig


@dataclass(frozen=True)
class StepMount:
    """A ``RUN --mount`` as the container gets it, host side already prepared:
    ``kind`` "bind" (``source`` a host path) or "tmpfs" (``size`` bytes or None)."""

    kind: str
    target: str
    source: str = ""
    readonly: bool = False
    size: int | None = None


@dataclass(frozen=True)
class RunRequest:
    """One RUN step's container."""

    parent_id: str
    argv: tuple[str, ...]
    env: tuple[str, ...]
    working_dir: str
    user: str
    network: str
    host_ca: bool = False
    mounts: tuple[StepMount, ...] = ()


@dataclass(frozen=True)
class RunResult:
    exit_code: int
    container_id: str


# the engine's side, for type checking only (nothing checks them at run time)
if TYPE_CHECKING:

    class Workspace(Protocol):
        """A writable root filesystem over an image (an overlay snapshot): ``root`` its
        merged view (mounted while the workspace is open), ``upper`` its changes."""

        @property
        def root(self) -> Path: ...

        @property
        def upper(self) -> Path: ...

    class Backend(Protocol):
        def base_image(self, name: str, *, pull: bool) -> BaseImage:
            """``FROM name``: NotFound when there is no such image."""
            ...

        def image(self, image_id: str) -> BaseImage | None:
            """A stored image, or None (a cache entry whose image was removed)."""
            ...

        def workspace(self, parent_id: str) -> AbstractContextManager[Workspace]:
            """A writable root over ``parent_id`` (``""``: empty), mounted for the block."""
            ...

        def read_only_root(self, image_id: str) -> AbstractContextManager[Path]:
            """``COPY --from``: the image's files, mounted for the block."""
            ...

        def scratch_over(self, lower: Path) -> AbstractContextManager[Path]:
            """A writable view of the directory ``lower`` whose writes are dropped after
            the block (``RUN --mount=type=bind,rw``)."""
            ...

        def state_dir(self, name: str) -> Path:
            """A directory of the engine's for the builder's own state (``name``:
            ``build-cache-mounts``), kept between builds."""
            ...

        def private_tmp(self) -> Path:
            """A root-only directory for short-lived files that must not reach the disk
            if avoidable (build secrets): under the runroot."""
            ...

        def commit(
            self,
            parent_id: str,
            config: ImageConfig,
            history: HistoryEntry,
            changes: Workspace | None,
        ) -> BaseImage:
            """A new image: ``config`` (the parent's layers and history) plus ``changes``
            as a layer and ``history`` (``empty_layer`` when there are no changes)."""
            ...

        def run(
            self,
            request: RunRequest,
            emit: Emit,
            commit: Callable[[Workspace], BaseImage],
        ) -> tuple[RunResult, BaseImage | None]:
            """Run a RUN step's container; on exit 0 call ``commit`` with its changes."""
            ...

        def tag(self, image_id: str, refs: tuple[str, ...]) -> None: ...
