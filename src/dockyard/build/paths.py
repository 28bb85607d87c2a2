"""COPY/ADD path rules, as Docker's classic builder has them (pure functions).

- Sources are relative to the context root (a leading ``/`` too; ``..`` cannot
  leave it); ``*``, ``?`` and ``[...]`` match within one path component, so a
  pattern matches paths of its own depth.
- The destination is relative to WORKDIR unless absolute. It names a directory
  when it ends in ``/`` (or ``/.``), or when it already is one in the image.
- More than one source (after wildcards) needs a directory destination ending
  in ``/``.
- A directory source copies its contents, not itself.

:func:`scoped_path` resolves a path inside a root filesystem as the container
would see it: symlinks are followed, but never out of the root.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import re
from collections.abc import Iterable
from pathlib import Path

from dockyard.errors import InvalidArgument

_WILDCARD = re.compile(r"[*?\[]")
MULTI_SOURCE_ERROR = (
    "When using {what} with more than one source file, the destination must be a "
    "directory and end with a /"
)


def has_wildcards(pattern: str) -> bool:
    return bool(_WILDCARD.search(pattern))


def clean_source(src: str) -> str:
    """A source as a context-relative path: ``""`` for the root itself."""
    cleaned = posixpath.normpath("/" + src).lstrip("/")
    return "" if cleaned == "." else cleaned


def match_pattern(pattern: str, candidates: Iterable[str]) -> list[str]:
    """Context paths matching ``pattern`` component by component (Go's ``filepath.Match``)."""
    parts = pattern.split("/")
    out = []
    for rel in candidates:
        names = rel.split("/")
        if len(names) == len(parts) and all(
            fnmatch.fnmatchcase(n, p) for n, p in zip(names, parts, strict=True)
        ):
            out.append(rel)
    return out


def destination(dest: str, workdir: str) -> tuple[str, bool]:
    """The absolute destination and whether it is written as a directory (``/`` at the end)."""
    as_dir = dest.endswith("/") or dest.endswith("/.") or dest in (".", "")
    path = dest if dest.startswith("/") else posixpath.join(workdir or "/", dest)
    path = posixpath.normpath(path)
    if path.startswith("//"):
        path = "/" + path.lstrip("/")
    return path, as_dir


def check_multi_source(count: int, dest_is_dir: bool, what: str) -> None:
    if count > 1 and not dest_is_dir:
        raise InvalidArgument(MULTI_SOURCE_ERROR.format(what=what))


def file_target(dest: str, dest_is_dir: bool, name: str) -> str:
    """Where a file source lands: ``dest/name`` into a directory, else ``dest`` itself."""
    return posixpath.join(dest, name) if dest_is_dir else dest


def scoped_path(root: Path, path: str, *, follow_last: bool = True) -> Path:
    """``path`` (absolute, in the container) as a host path under ``root``.

    Each symlink met on the way is resolved relative to ``root`` (an absolute
    target restarts at ``root``; ``..`` stops at it), so the result never leaves
    ``root``. The last component is followed only with ``follow_last``."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    hops = 0
    while parts:
        name = parts.pop(0)
        if name == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = root.joinpath(*resolved, name)
        if (parts or follow_last) and os.path.islink(candidate):
            hops += 1
            if hops > 255:
                raise InvalidArgument(f"too many levels of symbolic links in {path}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        resolved.append(name)
    return root.joinpath(*resolved)
