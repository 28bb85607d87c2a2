"""The build context: where COPY and ADD read from, and which Dockerfile is built.

A context is a directory (read in place, never copied) or a tar stream (``-``:
extracted once into a private directory). The Dockerfile is ``-f`` (relative to
the current directory, as the docker CLI reads it; inside the context or not;
``-`` reads it from stdin) or ``Dockerfile`` in the context. ``.dockerignore``
(or ``<Dockerfile>.dockerignore`` beside the Dockerfile) says what is not sent,
with the classic builder's rule that the Dockerfile and ``.dockerignore``
themselves always are.

:class:`BuildContext` indexes what is sent once, lazily (:meth:`~BuildContext.index`),
so COPY sources resolve against the same view the user's ``.dockerignore`` made.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from dockyard._util.litedc import dataclass
from dockyard.dockerfile.ignore import (
    IgnoreMatcher,
    ignore_file_for,
    keep_build_files,
    read_ignore_patterns,
)
from dockyard.errors import InvalidArgument, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO

DEFAULT_DOCKERFILE = "Dockerfile"


@dataclass(frozen=True)
class ContextEntry:
    """One path of the context that is sent: ``rel`` is ``/``-separated, no ``./``."""

    rel: str
    path: str
    mode: int
    size: int
    uid: int
    gid: int

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)

    @property
    def is_symlink(self) -> bool:
        return stat.S_ISLNK(self.mode)


class BuildContext:
    """A context directory, the Dockerfile's text and name, and the ignore rules."""

    def __init__(
        self,
        root: Path,
        dockerfile_text: str,
        dockerfile_name: str,
        patterns: list[str],
        *,
        owned_dir: Path | None = None,
        ignore_file: str = "",
    ) -> None:
        self.root = root
        self.dockerfile_text = dockerfile_text
        self.dockerfile_name = dockerfile_name
        self.patterns = patterns
        self.ignore_file = ignore_file
        self.matcher = IgnoreMatcher(patterns)
        self._owned_dir = owned_dir
        self._index: dict[str, ContextEntry] | None = None

    # -- lifetime ----------------------------------------------------------------------
    def close(self) -> None:
        if self._owned_dir is not None:
            import shutil

            shutil.rmtree(self._owned_dir, ignore_errors=True)
            self._owned_dir = None

    def __enter__(self) -> BuildContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what is sent ------------------------------------------------------------------
    def index(self) -> dict[str, ContextEntry]:
        """Every path sent, by relative path, in lexical walk order."""
        if self._index is None:
            out: dict[str, ContextEntry] = {}
            for rel, entry in self.matcher.walk(self.root):
                st = entry.stat(follow_symlinks=False)
                out[rel] = ContextEntry(
                    rel, entry.path, st.st_mode, st.st_size, st.st_uid, st.st_gid
                )
            self._index = out
        return self._index

    def entries_under(self, rel: str) -> Iterator[ContextEntry]:
        """What is sent below the directory ``rel`` (``""``: the whole context)."""
        prefix = rel + "/" if rel else ""
        for key, entry in self.index().items():
            if key.startswith(prefix):
                yield entry

    def total_size(self) -> int:
        return sum(e.size for e in self.index().values() if not e.is_dir)


def open_context(
    source: str,
    *,
    dockerfile: str | None = None,
    stdin: BinaryIO | None = None,
    tmp_dir: Path | None = None,
) -> BuildContext:
    """The context named on the command line: a directory, or ``-`` for a tar on stdin.

    ``dockerfile``: ``-f`` as given (``-``: read from stdin; then the context
    cannot be ``-`` too)."""
    if source == "-" and dockerfile == "-":
        raise InvalidArgument(
            "invalid argument: can't use stdin for both build context and dockerfile"
        )
    owned: Path | None = None
    if source == "-":
        if stdin is None:
            raise InvalidArgument("no build context on stdin")
        import shutil
        import tempfile

        owned = Path(tempfile.mkdtemp(prefix="dy-context-", dir=tmp_dir))
        try:
            head = stdin.read(512)
            if _is_tar(head):
                _extract_tar(_Rewound(head, stdin), owned)
            else:  # docker build - < Dockerfile: a Dockerfile and no context
                (owned / DEFAULT_DOCKERFILE).write_bytes(head + stdin.read())
        except BaseException:
            shutil.rmtree(owned, ignore_errors=True)
            raise
        root = owned
    else:
        root = Path(source).absolute()
        if not root.is_dir():
            if root.exists():
                raise InvalidArgument(
                    f"unable to prepare context: path {source!r} is not a directory"
                )
            raise NotFound(f'unable to prepare context: path "{source}" not found')
    try:
        text, name, rel_name, dockerfile_path = _read_dockerfile(root, source, dockerfile, stdin)
        ignore = ignore_file_for(root, dockerfile_path)
        patterns: list[str] = []
        if ignore is not None:
            raw = ignore.read_text(encoding="utf-8", errors="surrogateescape")
            patterns = read_ignore_patterns(raw)
        patterns = keep_build_files(patterns, rel_name)
        return BuildContext(
            root,
            text,
            name,
            patterns,
            owned_dir=owned,
            ignore_file=str(ignore) if ignore else "",
        )
    except BaseException:
        if owned is not None:
            import shutil

            shutil.rmtree(owned, ignore_errors=True)
        raise


def _read_dockerfile(
    root: Path, source: str, dockerfile: str | None, stdin: BinaryIO | None
) -> tuple[str, str, str | None, Path | None]:
    """(text, name for messages, context-relative name or None, path on disk or None)."""
    if dockerfile == "-":
        if stdin is None:
            raise InvalidArgument("no Dockerfile on stdin")
        return _decode(stdin.read()), DEFAULT_DOCKERFILE, None, None
    if dockerfile is None:
        path = root / DEFAULT_DOCKERFILE
        if not path.exists() and (root / "dockerfile").exists():
            path = root / "dockerfile"
    elif source == "-":
        path = root / dockerfile  # a path inside the tar
    else:
        path = Path(dockerfile).absolute()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        shown = dockerfile if dockerfile is not None else str(path)
        where = Path(shown).absolute() if source != "-" else shown
        raise NotFound(
            "unable to prepare context: unable to evaluate symlinks in Dockerfile path: "
            f"lstat {where}: no such file or directory",
            hint="name the Dockerfile with -f, or put a file named Dockerfile in the context",
        ) from None
    except IsADirectoryError:
        raise InvalidArgument(f"the Dockerfile ({path}) cannot be a directory") from None
    rel: str | None
    try:
        rel = os.path.relpath(path, root)
        if rel.startswith(".."):
            rel = None
    except ValueError:
        rel = None
    name = os.path.basename(path)
    return _decode(data), name, rel, path


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data.decode("utf-8", errors="surrogateescape")


_COMPRESSED = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")


def _is_tar(head: bytes) -> bool:
    if any(head.startswith(m) for m in _COMPRESSED):
        return True
    return len(head) >= 262 and head[257:262] == b"ustar"


class _Rewound(io.RawIOBase):
    """``head`` (already read) and then the rest of ``stream``."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self.head = head
        self.stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self.head:
            n = min(len(view), len(self.head))
            view[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        data = self.stream.read(len(view))
        view[: len(data)] = data
        return len(data)


def _extract_tar(src: Any, dest: Path) -> None:
    """A context tar (plain or compressed) into ``dest``, with the layer extractor's
    safety rules (no path leaves ``dest``)."""
    from dockyard.image.layers import apply_layer

    apply_layer(src, dest, source_name="build context")
