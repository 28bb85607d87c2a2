"""``build --progress=plain``: the BuildKit-style rendering of a scripted build
against ``golden/build/progress_plain.txt`` (a fake clock makes the times exact)."""

from __future__ import annotations

import io
from pathlib import Path

from dockyard.build import events as ev
from dockyard.cli.commands.build_progress import PlainProgress

GOLDEN = Path(__file__).parent / "golden" / "build"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        self.now += 0.0625
        return self.now


def _progress(out: io.StringIO) -> PlainProgress:
    return PlainProgress(
        out,
        dockerfile_name="Dockerfile",
        dockerfile_size=98,
        ignore_size=2,
        context_size=4100,
        clock=Clock(),
    )


def _script(p: PlainProgress) -> None:
    p(ev.Planned((("builder", 3), ("stage-1", 3)), ("busybox",)))
    p(ev.StepStarted(1, 8, "FROM busybox AS builder", 0, "FROM", "busybox"))
    p(ev.StepDone("sha256:1"))
    p(ev.StepStarted(2, 8, "ENV A=1", 0, "ENV"))
    p(ev.CacheHit("sha256:2"))
    p(ev.StepDone("sha256:2"))
    p(ev.StepStarted(3, 8, "COPY a.txt /a", 0, "COPY"))
    p(ev.CacheHit("sha256:3"))
    p(ev.StepDone("sha256:3"))
    p(ev.StepStarted(4, 8, "RUN echo hi", 0, "RUN"))
    p(ev.ContainerStarted("c" * 64))
    p(ev.Output(1, b"hi\nthere"))
    p(ev.Output(2, b" again\n"))
    p(ev.Output(1, b"no newline"))
    p(ev.ContainerRemoved("c" * 64))
    p(ev.StepDone("sha256:4"))
    p(ev.StepStarted(5, 8, "FROM scratch", 1, "FROM", ""))
    p(ev.StepDone(""))
    p(ev.StepStarted(6, 8, "COPY --from=builder /a /a", 1, "COPY"))
    p(ev.StepDone("sha256:6"))
    p(ev.StepStarted(7, 8, "WORKDIR /w", 1, "WORKDIR"))
    p(ev.StepDone("sha256:7"))
    p(ev.StepStarted(8, 8, 'CMD ["sh"]', 1, "CMD"))
    p(ev.StepDone("sha256:8"))


def test_plain_progress_golden() -> None:
    out = io.StringIO()
    p = _progress(out)
    _script(p)
    p.finish("sha256:" + "ab" * 32, ("docker.io/library/x:y",))
    assert out.getvalue() == (GOLDEN / "progress_plain.txt").read_text()


def test_plain_progress_failure_golden() -> None:
    out = io.StringIO()
    p = _progress(out)
    p(ev.Planned((("", 3),), ("busybox",)))
    p(ev.StepStarted(1, 3, "FROM busybox", 0, "FROM", "busybox"))
    p(ev.StepDone("sha256:1"))
    p(ev.StepStarted(2, 3, "RUN echo before; exit 3", 0, "RUN"))
    p(ev.Output(1, b"before\n"))
    error = 'process "/bin/sh -c echo before; exit 3" did not complete successfully: exit code: 3'
    text = "FROM busybox\nRUN echo before; exit 3\nRUN echo never\n"
    summary = p.fail(error, dockerfile_text=text, line=2, name="Dockerfile")
    out.write(summary)
    assert out.getvalue() == (GOLDEN / "progress_plain_failure.txt").read_text()
