"""Docker's copy semantics as pure functions (moby ``pkg/archive/copy.go``, the
docker CLI's ``cp``): the source is archived as entries named after its last path
element; the destination decides where they are extracted and under which name
(:func:`prepare_archive_copy`): a directory copied into an existing directory is
nested in it, ``SRC/.`` copies the contents, a trailing ``/`` on the destination
asserts a directory. Go's path functions are here as that code uses them.
"""

from __future__ import annotations

import os
import posixpath
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dockyard.errors import InvalidArgument

if TYPE_CHECKING:
    from dockyard.engine.container_fs_tar import Entries, Entry

# -- Go's path functions, as Docker's copy code uses them -----------------------------


def clean(path: str) -> str:
    """Go's ``filepath.Clean``."""
    if not path:
        return "."
    out = posixpath.normpath(path)
    return "/" + out.lstrip("/") if out.startswith("//") else out


def go_base(path: str) -> str:
    """Go's ``filepath.Base``."""
    if not path:
        return "."
    path = path.rstrip("/")
    return path.rsplit("/", 1)[-1] if path else "/"


def go_split(path: str) -> tuple[str, str]:
    """Go's ``filepath.Split``: the directory (with its trailing slash) and the rest."""
    i = path.rfind("/")
    return path[: i + 1], path[i + 1 :]


def go_dir(path: str) -> str:
    return clean(go_split(path)[0])


def specifies_current_dir(path: str) -> bool:
    return go_base(path) == "."


def has_trailing_sep(path: str) -> bool:
    return path.endswith("/")


def asserts_directory(path: str) -> bool:
    return has_trailing_sep(path) or specifies_current_dir(path)


def preserve_trailing_dot_or_separator(cleaned: str, original: str) -> str:
    if not specifies_current_dir(cleaned) and specifies_current_dir(original):
        if not has_trailing_sep(cleaned):
            cleaned += "/"
        cleaned += "."
    if not has_trailing_sep(cleaned) and has_trailing_sep(original):
        cleaned += "/"
    return cleaned


def split_path_dir_entry(path: str) -> tuple[str, str]:
    """Docker's ``SplitPathDirEntry``: ``/a/b`` -> (``/a``, ``b``); ``/a/b/.`` ->
    (``/a/b``, ``.``)."""
    cleaned = clean(path)
    if specifies_current_dir(path):
        cleaned += "/."
    return go_dir(cleaned), go_base(cleaned)


def container_abs(path: str) -> str:
    """A path given for a container as the absolute path Docker makes of it."""
    return preserve_trailing_dot_or_separator(clean("/" + path), path)


def local_abs(path: str, cwd: str | None = None) -> str:
    """The docker CLI's ``resolveLocalPath``: absolute, trailing ``/`` or ``/.`` kept."""
    full = path if path.startswith("/") else posixpath.join(cwd or os.getcwd(), path)
    return preserve_trailing_dot_or_separator(clean(full), path)


def get_rebase_name(path: str, resolved: str) -> tuple[str, str]:
    """Docker's ``GetRebaseName``: the resolved path (trailing ``/`` or ``/.`` carried
    over) and the name entries must take when the last element changed ("")."""
    if specifies_current_dir(path) and not specifies_current_dir(resolved):
        resolved += "/."
    if has_trailing_sep(path) and not has_trailing_sep(resolved):
        resolved += "/"
    rebase = go_base(path) if go_base(path) != go_base(resolved) else ""
    return resolved, rebase


def split_cp_arg(arg: str) -> tuple[str, str]:
    """The docker CLI's ``splitCpArg``: ``C:/path`` -> (``C``, ``/path``); a local path
    (absolute, or starting with ``.``, or without ``:``) -> (``""``, path)."""
    if arg.startswith("/"):
        return "", arg
    container, colon, path = arg.partition(":")
    if not colon or container.startswith("."):
        return "", arg
    return container, path


# -- copy planning (pure) ------------------------------------------------------------


class CopyError(InvalidArgument):
    """An error the docker CLI itself reports (not the daemon): printed as it is."""


@dataclass(frozen=True)
class CopyInfo:
    """One side of a copy (Docker's ``archive.CopyInfo``)."""

    path: str
    exists: bool = False
    is_dir: bool = False
    rebase_name: str = ""


@dataclass(frozen=True)
class CopyPlan:
    """Where to extract the source's entries (``dst_dir``), and the renaming of their
    top element ``rebase[0]`` -> ``rebase[1]`` (None: as they are)."""

    dst_dir: str
    rebase: tuple[str, str] | None


def prepare_archive_copy(src: CopyInfo, dst: CopyInfo) -> CopyPlan:
    """Docker's ``PrepareArchiveCopy``: how a source lands at a destination."""
    dst_dir, dst_base = split_path_dir_entry(dst.path)
    src_base = src.rebase_name or split_path_dir_entry(src.path)[1]
    if dst.exists and dst.is_dir:
        return CopyPlan(dst.path, None)  # extracted into it: a directory nests
    if dst.exists and src.is_dir:
        raise CopyError("cannot copy directory")
    if dst.exists or src.is_dir:
        return CopyPlan(dst_dir, (src_base, dst_base))
    if asserts_directory(dst.path):
        raise CopyError("no such directory")
    return CopyPlan(dst_dir, (src_base, dst_base))


def rebase_name(name: str, old: str, new: str) -> str | None:
    """``name`` with its top element ``old`` renamed ``new``; None if not under ``old``."""
    name = name.rstrip("/")
    if old in (".", "/", ""):
        rest = name[2:] if name.startswith("./") else "" if name in (".", "") else name
        return posixpath.join(new, rest) if rest else new
    if name == old:
        return new
    if name.startswith(old + "/"):
        return new + name[len(old) :]
    return None


def rebase(entries: Iterable[Entry], old: str, new: str) -> Entries:
    """Docker's ``RebaseArchiveEntries``; hard link targets follow their file."""
    for info, data in entries:
        name = rebase_name(info.name, old, new)
        if name is None:
            yield info, data  # not under the renamed element: as it is
            continue
        info.name = name
        if info.islnk():
            info.linkname = rebase_name(info.linkname, old, new) or info.linkname
        yield info, data


def tar_size(info: tarfile.TarInfo) -> int:
    """Bytes an entry takes in a tar (header, data, padding), for the progress line."""
    size = info.size if info.isreg() else 0
    extra = 1024 if len(info.name) > 100 or len(info.linkname) > 100 else 0
    return 512 + extra + -(-size // 512) * 512
