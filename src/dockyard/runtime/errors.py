"""Errors specific to the runtime."""

from __future__ import annotations

from dockyard.errors import DockyardError


class ContainerStartError(DockyardError):
    """The container's process could not be started.

    ``exit_code`` is what ``docker run`` exits with for this failure: 127 when the
    command (or a file it needs) is not found, 126 when it cannot be invoked
    (permission denied, a directory), 125 for any other failure in setting up the
    container. The message uses Docker's wording, e.g.
    ``exec: "foo": executable file not found in $PATH``.
    """

    def __init__(self, message: str, *, exit_code: int = 125, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.exit_code = exit_code
