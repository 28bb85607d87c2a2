"""Errors that point into a Dockerfile, and BuildKit's "did you mean" suggestions.

Every problem found in a Dockerfile is a :class:`DockerfileError`: the message
reads ``Dockerfile:3: unknown instruction: RUNN (did you mean RUN?)`` (the file,
the first line of the instruction, then BuildKit's own text), and ``hint`` says
what to change.
"""

from __future__ import annotations

from collections.abc import Iterable

from dockyard.errors import InvalidArgument


class DockerfileError(InvalidArgument):
    """A syntax or argument error at ``file:line``; ``reason`` is BuildKit's text."""

    def __init__(
        self,
        reason: str,
        *,
        file: str = "Dockerfile",
        line: int = 0,
        end_line: int = 0,
        hint: str | None = None,
    ) -> None:
        self.reason = reason
        self.file = file
        self.line = line
        self.end_line = max(end_line, line)
        where = f"{file}:{line}" if line > 0 else file
        super().__init__(f"{where}: {reason}", hint=hint)

    def located(
        self, *, file: str | None = None, line: int = 0, end_line: int = 0
    ) -> DockerfileError:
        """The same error with a file name, and a location if it has none yet."""
        if self.line > 0:
            line, end_line = self.line, self.end_line
        return DockerfileError(
            self.reason, file=file or self.file, line=line, end_line=end_line, hint=self.hint
        )


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions), one row at a time."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def suggest(value: str, options: Iterable[str], *, case_sensitive: bool) -> str | None:
    """BuildKit's ``suggest.WrapError``: the closest option within two edits.

    ``None`` when nothing is close or when ``value`` is itself an option. Without
    case sensitivity the suggestion takes the case of ``value`` (``runn`` -> ``run``,
    ``RUNN`` -> ``RUN``).
    """
    if not value:
        return None
    probe = value if case_sensitive else value.lower()
    match, best = None, 3
    for option in options:
        candidate = option if case_sensitive else option.lower()
        if candidate == probe:
            return None
        distance = levenshtein(probe, candidate)
        if distance < best:
            best = distance
            match = candidate if case_sensitive else _match_case(candidate, value)
    return match


def with_suggestion(
    reason: str, value: str, options: Iterable[str], *, case_sensitive: bool
) -> str:
    match = suggest(value, options, case_sensitive=case_sensitive)
    return f"{reason} (did you mean {match}?)" if match else reason


def _match_case(option: str, original: str) -> str:
    if original == original.lower():
        return option.lower()
    if original == original.upper():
        return option.upper()
    return option
