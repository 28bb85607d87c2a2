"""The one error taxonomy.

Library code raises these; the CLI maps them to exit codes once
(``cli/main.py``) and the API server maps them to HTTP status once. Each error
may carry a ``hint``: one line telling the user what to do about it.
"""

from __future__ import annotations


class DockyardError(Exception):
    """Base of every error Dockyard raises on purpose."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class NotFound(DockyardError):
    """A named object (image, container, blob, volume, ...) does not exist."""


class AlreadyExists(DockyardError):
    """The object being created exists already (not always a failure)."""


class Conflict(DockyardError):
    """The operation clashes with the state of another object (in use, running)."""


class InvalidArgument(DockyardError):
    """Bad input from the user: a flag, a name, a file's content."""


class InvalidContent(InvalidArgument):
    """Bad bytes: a corrupt or truncated archive, a digest or size mismatch,
    an unknown media type, a hostile path in a layer."""


class Unsupported(DockyardError):
    """A request the machine or this version cannot honour (missing kernel
    feature, missing tool)."""


class ExternalToolFailed(DockyardError):
    """A program Dockyard runs (mmdebstrap, nft, a runtime) failed."""


class Interrupted(DockyardError):
    """The user interrupted the operation."""
