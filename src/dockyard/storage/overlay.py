"""Overlayfs, as the snapshotter uses it: mount options and the changes in an upper dir.

Pure functions over paths: nothing here mounts anything.

Options. ``lowerdir=`` lists the lower directories top first, separated by
``:``; ``,`` separates options. mount(2) takes one page of options (4095 bytes
and a NUL), so an image with many layers under long paths does not fit: the
snapshotter then names each lower directory by a short symlink (``<root>/l/<id>``,
as Docker's overlay2 driver does) and the options name the links. The links are
absolute, so the mount stays a plain description any executor can perform (no
chdir needed). :func:`short_link_name` derives the link name from the target.

Changes. An upper directory records what a container changed: new and
copied-up files, whiteouts (character devices 0:0) for deletions, and opaque
directories (xattr ``trusted.overlay.opaque=y``) for directories that were
deleted and created again. :func:`changes` lists them as ``docker diff`` does.

Volatile. Unmounting an overlay syncs its whole upper filesystem (``ovl_sync_fs``):
the container's last process does it on its way out, before its parent hears of
the exit, ~2 ms of every ``run --rm true`` on this machine's ext4. A container that
is removed when it exits (``--rm``) never needs its upper dir after a crash, so its
root is mounted with ``volatile`` (Linux 5.10+), which skips those syncs -- as
Podman mounts its ``--rm`` containers. The kernel then marks the work dir
(``work/incompat/volatile``) and refuses to mount that snapshot again.
"""

from __future__ import annotations

import os
import stat

from dockyard._util.record import Record
from dockyard.errors import InvalidArgument, Unsupported

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path
    from typing import Literal

    ChangeKind = Literal["A", "C", "D"]

PAGE_LIMIT = 4095
# The kernel refuses more lower layers than this (OVL_MAX_STACK).
MAX_LAYERS = 500
OPAQUE_XATTR = "trusted.overlay.opaque"
# Characters overlay (or the option string) would need escaped in a path.
_SPECIAL = frozenset(",:\\")


def needs_escape(path: str) -> bool:
    return any(c in _SPECIAL for c in path)


def overlay_options(
    lower_dirs: Sequence[str], upper: str, work: str, extra: Sequence[str] = ()
) -> tuple[str, ...]:
    """The options of an overlay mount with these directories (no length check)."""
    if not lower_dirs:
        raise InvalidArgument("an overlay mount needs at least one lower directory")
    for p in (*lower_dirs, upper, work):
        if needs_escape(p):
            raise InvalidArgument(f"overlay directory path {p!r} contains ',', ':' or '\\'")
    return (f"lowerdir={':'.join(lower_dirs)}", f"upperdir={upper}", f"workdir={work}", *extra)


VOLATILE = "volatile"


def supports_volatile(release: str | None = None) -> bool:
    """Whether this kernel (``uname -r``) takes the ``volatile`` option: 5.10 or later."""
    rel = os.uname().release if release is None else release
    parts = rel.split(".", 2)
    try:
        return (int(parts[0]), int(parts[1].partition("-")[0])) >= (5, 10)
    except (IndexError, ValueError):
        return False


def options_length(options: Sequence[str]) -> int:
    """Bytes mount(2) receives for these (filesystem data) options, without the NUL."""
    return len(",".join(options).encode())


def fits(options: Sequence[str]) -> bool:
    return options_length(options) <= PAGE_LIMIT


def too_long(n_layers: int, length: int) -> Unsupported:
    return Unsupported(
        f"cannot mount an image with {n_layers} layers: the overlay mount options are "
        f"{length} bytes even with short layer links, and the kernel takes at most "
        f"{PAGE_LIMIT}",
        hint="use a shorter --root, or squash the image into fewer layers",
    )


def short_link_name(target: str, length: int = 8) -> str:
    """A short, stable, file-name-safe name for ``target`` (base32 of its SHA-256)."""
    import base64

    from dockyard._util.sha import sha256

    digest = sha256(os.fsencode(target)).digest()
    return base64.b32encode(digest).decode().rstrip("=").lower()[:length]


# -- changes ---------------------------------------------------------------------------


class Change(Record):
    """One line of ``docker diff``: ``A`` added, ``C`` changed, ``D`` deleted."""

    __slots__ = ("kind", "path")
    kind: ChangeKind
    path: str  # absolute, inside the container

    def __init__(self, kind: ChangeKind, path: str) -> None:
        self._set(kind=kind, path=path)

    def __str__(self) -> str:
        return f"{self.kind} {self.path}"


def is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def lower_lstat(lower_dirs: Sequence[str], parts: Sequence[str]) -> os.stat_result | None:
    """What the merged lower layers (top first) show at ``parts``, or None if nothing:
    whiteouts, opaque directories and non-directories in a higher layer hide what the
    layers below have."""
    last = len(parts) - 1
    for layer in lower_dirs:
        cur = layer
        opaque_above = False
        for i, part in enumerate(parts):
            cur = os.path.join(cur, part)
            st = _lstat(cur)
            if st is None:
                if opaque_above:
                    return None
                break  # not in this layer: the layers below decide
            if is_whiteout(st):
                return None
            if i == last:
                return st
            if not stat.S_ISDIR(st.st_mode):
                return None
            opaque_above = opaque_above or is_opaque(cur)
    return None


def _same_time(a: int, b: int) -> bool:
    """Go's sameFsTime: equal, or equal seconds when one side has no nanoseconds."""
    if a == b:
        return True
    (sa, na), (sb, nb) = divmod(a, 10**9), divmod(b, 10**9)
    return sa == sb and (na == 0 or nb == 0)


def changes(upper: Path, lower_dirs: Sequence[Path]) -> Iterator[Change]:
    """The changes recorded in ``upper`` over ``lower_dirs`` (top first), in the order
    and with the rules of Docker's overlay ``docker diff``: a lexical walk; a whiteout
    or an opaque directory is ``D``; a path the lower layers lack is ``A``, one they
    have is ``C`` unless it is a directory with the same size, mode and mtime; the
    parent of an ``A`` or ``D`` is listed as ``C`` (once, and never ``/``)."""
    lowers = [os.fspath(p) for p in lower_dirs]
    changed_dirs: set[str] = set()
    yield from _walk(os.fspath(upper), (), lowers, False, changed_dirs)


def _walk(
    upper: str,
    parts: tuple[str, ...],
    lowers: Sequence[str],
    hidden: bool,
    changed_dirs: set[str],
) -> Iterator[Change]:
    base = os.path.join(upper, *parts)
    try:
        names = sorted(os.listdir(base))
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in names:
        sub = (*parts, name)
        full = os.path.join(base, name)
        st = _lstat(full)
        if st is None:
            continue
        path = "/" + "/".join(sub)
        is_dir = stat.S_ISDIR(st.st_mode)
        opaque = is_dir and is_opaque(full)
        kind: ChangeKind | None
        if is_whiteout(st) or opaque:
            kind = "D"
        else:
            lower = None if hidden else lower_lstat(lowers, sub)
            kind = "A" if lower is None else "C"
            if (
                lower is not None
                and is_dir
                and stat.S_ISDIR(lower.st_mode)
                and lower.st_size == st.st_size
                and lower.st_mode == st.st_mode
                and _same_time(lower.st_mtime_ns, st.st_mtime_ns)
            ):
                kind = None  # an unchanged directory on the way to a change
        if kind is not None:
            if is_dir:
                changed_dirs.add(path)
            if kind in ("A", "D"):
                parent = os.path.dirname(path)
                if parent != "/" and parent not in changed_dirs:
                    changed_dirs.add(parent)
                    yield Change("C", parent)
            yield Change(kind, path)
        if is_dir:
            yield from _walk(upper, sub, lowers, hidden or opaque, changed_dirs)
