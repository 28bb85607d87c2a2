"""``dockyard build --progress=plain``: build events as BuildKit's plain printer
shows them (buildx ``util/progress``, buildkit ``util/progressui`` printer), on stderr.

One numbered vertex per step BuildKit would show::

    #1 [internal] load build definition from Dockerfile
    #1 transferring dockerfile: 98B done
    #1 DONE 0.0s

    #4 [2/3] RUN echo hi
    #4 0.215 hi
    #4 DONE 0.3s

Internal vertices first (the Dockerfile, each base image's metadata,
``.dockerignore``), the build context before the first step that reads it,
``[stage N/M] INSTRUCTION`` for FROM (of an image), RUN, COPY, ADD and WORKDIR
(config-only steps make no vertex, as in BuildKit), ``CACHED`` for a cache hit,
output lines with the seconds since the vertex started, and ``exporting to
image`` at the end. Timings are ours; the shape is BuildKit's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from dockyard.build import events as ev


def _size(n: int) -> str:
    from dockyard.cli.units import human_size

    return human_size(n)


class PlainProgress:
    def __init__(
        self,
        out: TextIO,
        *,
        dockerfile_name: str,
        dockerfile_size: int,
        ignore_size: int,
        context_size: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.out = out
        self.clock = clock
        self.context_size = context_size
        self.ignore_size = ignore_size
        self.number = 0
        self.vertex = 0  # the open vertex, 0: none
        self.started = 0.0
        self.closed = False
        self.stages: tuple[tuple[str, int], ...] = ()
        self.index: dict[int, int] = {}
        self.context_loaded = False
        self.label = ""
        self.logs: list[str] = []
        self.partial = b""
        self._internal(
            f"load build definition from {dockerfile_name}",
            f"transferring dockerfile: {_size(dockerfile_size)} done",
        )

    # -- vertices -----------------------------------------------------------------------
    def _write(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def _open(self, name: str) -> None:
        self._flush_partial()
        if self.number:
            self._write("")
        self.number += 1
        self.vertex = self.number
        self.started = self.clock()
        self.closed = False
        self.label = name
        self.logs = []
        self._write(f"#{self.vertex} {name}")

    def _line(self, text: str) -> None:
        self._write(f"#{self.vertex} {text}")

    def _done(self) -> None:
        if self.vertex and not self.closed:
            self._flush_partial()
            self._line(f"DONE {self.clock() - self.started:.1f}s")
            self.closed = True

    def _internal(self, name: str, detail: str = "") -> None:
        self._open(f"[internal] {name}")
        if detail:
            self._line(detail)
        self._done()

    # -- events -------------------------------------------------------------------------
    def __call__(self, event: ev.BuildEvent) -> None:
        if isinstance(event, ev.Planned):
            self.stages = event.stages
            for base in event.bases:
                self._internal(f"load metadata for {_familiar_full(base)}")
            self._internal(
                "load .dockerignore", f"transferring context: {_size(self.ignore_size)} done"
            )
            self.label = ""
        elif isinstance(event, ev.StepStarted):
            self._step(event)
        elif isinstance(event, ev.CacheHit):
            if self.vertex and not self.closed:
                self._line("CACHED")
                self.closed = True
        elif isinstance(event, ev.Output):
            if self.vertex and not self.closed:
                self._output(event.data)
        elif isinstance(event, ev.StepDone):
            self._done()
        elif isinstance(event, ev.StepExplained):
            if self.vertex and not self.closed:
                text = "cache hit" if event.hit else f"cache miss: {event.reason}"
                self._line(f"[explain] {text}")
        elif isinstance(event, ev.Warning):
            self._flush_partial()
            self._write(event.text)

    def _step(self, event: ev.StepStarted) -> None:
        if event.keyword not in ev.VERTEX_KEYWORDS:
            self.vertex, self.closed = 0, True  # config only: no vertex, no output
            return
        label, total = self.stages[event.stage] if event.stage < len(self.stages) else ("", 0)
        index = self.index.get(event.stage, 0) + 1
        self.index[event.stage] = index
        if event.keyword == "FROM" and not event.base:
            self.vertex, self.closed = 0, True  # scratch or an earlier stage
            return
        if (
            event.keyword in ("COPY", "ADD")
            and not self.context_loaded
            and "--from" not in event.text
        ):
            self.context_loaded = True
            self._internal(
                "load build context", f"transferring context: {_size(self.context_size)} done"
            )
        width = len(str(total)) if total else 1
        prefix = f"[{label + ' ' if label else ''}{index:>{width}}/{total}]"
        text = event.text
        if event.keyword == "FROM":
            text = "FROM " + _familiar_full(event.base)
        self._open(f"{prefix} {text}")
        if event.keyword == "FROM":
            self._line("CACHED")  # a local image: nothing to pull
            self.closed = True

    def _output(self, data: bytes) -> None:
        self.partial += data
        *lines, self.partial = self.partial.split(b"\n")
        for raw in lines:
            self._log(raw)

    def _log(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").rstrip("\r")
        timed = f"{self.clock() - self.started:.3f} {text}"
        self.logs = [*self.logs[-9:], timed]
        self._line(timed)

    def _flush_partial(self) -> None:
        if self.partial and self.vertex:
            raw, self.partial = self.partial, b""
            self._log(raw)

    # -- the end ------------------------------------------------------------------------
    def finish(self, image_id: str, tags: tuple[str, ...]) -> None:
        self._done()
        self._open("exporting to image")
        self._line("exporting layers done")
        self._line(f"writing image {image_id} done")
        for tag in tags:
            self._line(f"naming to {_full(tag)} done")
        self._done()

    def fail(self, error: str, *, dockerfile_text: str = "", line: int = 0, name: str = "") -> str:
        """Mark the open vertex failed; return BuildKit's summary for stderr's end."""
        self._flush_partial()
        summary: list[str] = []
        if self.vertex and not self.closed:
            self._line(f"ERROR: {error}")
            self.closed = True
            summary += ["------", f" > {self.label}:"]
            summary += [f"{line_text}" for line_text in self.logs]
            summary.append("------")
        if dockerfile_text and line > 0:
            lines = dockerfile_text.splitlines()
            summary += [f"{name}:{line}", "-" * 20]
            for n in range(max(1, line - 2), min(len(lines), line + 2) + 1):
                mark = ">>>" if n == line else "   "
                summary.append(f"{n:>4} | {mark} {lines[n - 1]}".rstrip())
            summary.append("-" * 20)
        summary.append(f"ERROR: failed to solve: {error}")
        return "\n".join(summary) + "\n"


def _full(tag: str) -> str:
    from dockyard.oci.reference import parse_reference

    try:
        return str(parse_reference(tag))
    except Exception:
        return tag


def _familiar_full(name: str) -> str:
    """``busybox`` -> ``docker.io/library/busybox:latest``, as BuildKit names bases."""
    return _full(name)
