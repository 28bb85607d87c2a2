"""Whole-build replay: a fully cached build answered without parsing the Dockerfile.

A build whose every step came from the layer cache is a function of its inputs:
the Dockerfile's bytes, the ignore file, the build args, labels, target,
``--network`` and ``--with-host-ca``, what the context sends, the images its
stages start from (and ``COPY --from`` names), and the step cache rows it hit.
Such a build is recorded once (by the engine, :mod:`dockyard.engine.build_replay`)
under a :class:`ReplayKey`, with what it printed; the next identical build is
answered from that record after checking that the base names still resolve to
the same images, every step's cache row still names the same image, and those
images exist. Any other change is a miss, and the build runs step by step.

:func:`replay_key` computes the key without the parser, the dispatcher or the
hash memo: the context is walked with the ignore rules (as
:meth:`~dockyard.build.context.BuildContext.index` does) and each path sent
counts by its identity (type, mode, owner; for files and links also size,
mtime, ctime, inode): an edit, a ``touch``, a new or removed file changes the
key. That is stricter than the step cache's content hashes (a ``touch`` only
costs one step-by-step build, which records the new key), never looser.

The stored events are the classic builder's lines (``Step 1/3 : ...``,
``Using cache``, `` ---> id``, warnings), so the output is the step path's.
"""

from __future__ import annotations

import json
import os

from dockyard._util.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from dockyard.build.events import BuildEvent

VERSION = 1


def _sha256() -> Any:
    """sha256 without importing OpenSSL's ``_hashlib`` (3 ms on the start-up path)."""
    try:
        import _sha256  # type: ignore[import-not-found]

        return _sha256.sha256()
    except ImportError:  # another interpreter build: hashlib has it
        import hashlib

        return hashlib.sha256()


class ReplayKey(Record):
    """``slot``: the same Dockerfile path, context and options (one record each);
    ``key``: all of the build's inputs, the slot's included."""

    __slots__ = ("key", "slot")
    slot: str
    key: str

    def __init__(self, slot: str, key: str) -> None:
        self._set(slot=slot, key=key)


def replay_key(
    source: str,
    dockerfile: str | None,
    *,
    build_args: Iterable[tuple[str, str]],
    labels: Iterable[tuple[str, str]],
    target: str,
    network: str,
    host_ca: bool,
) -> ReplayKey | None:
    """The key of a build of the context directory ``source`` with ``-f dockerfile``
    (``None``: the context's Dockerfile); ``None`` when this build cannot be
    replayed (a stdin context or Dockerfile, or anything the step path would turn
    into an error)."""
    if source == "-" or dockerfile == "-":
        return None
    root = os.path.abspath(source)
    if dockerfile is None:
        path = os.path.join(root, "Dockerfile")
        if not os.path.exists(path) and os.path.exists(os.path.join(root, "dockerfile")):
            path = os.path.join(root, "dockerfile")
    else:
        path = os.path.abspath(dockerfile)
    try:
        with open(path, "rb") as f:
            data = f.read()
        if not os.path.isdir(root):
            return None
        rel: str | None = os.path.relpath(path, root)
        if rel is not None and rel.startswith(".."):
            rel = None
        return _key(root, path, rel, data, build_args, labels, target, network, host_ca)
    except (OSError, ValueError):
        return None
    except Exception as e:  # an invalid ignore pattern: the step path reports it
        from dockyard.errors import DockyardError

        if isinstance(e, DockyardError):
            return None
        raise


def _key(
    root: str,
    path: str,
    rel: str | None,
    data: bytes,
    build_args: Iterable[tuple[str, str]],
    labels: Iterable[tuple[str, str]],
    target: str,
    network: str,
    host_ca: bool,
) -> ReplayKey:
    from dockyard.dockerfile.ignore import (
        IgnoreMatcher,
        ignore_file_for,
        keep_build_files,
        read_ignore_patterns,
    )

    ignore = ignore_file_for(root, path)
    ignore_text = ""
    if ignore is not None:
        ignore_text = ignore.read_text(encoding="utf-8", errors="surrogateescape")
    patterns = keep_build_files(read_ignore_patterns(ignore_text) if ignore_text else [], rel)
    slot_text = json.dumps(
        [
            VERSION,
            root,
            path,
            [list(a) for a in build_args],
            [list(a) for a in labels],
            target,
            network,
            host_ca,
        ],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    slot = _sha256()
    slot.update(slot_text.encode("utf-8", "surrogateescape"))
    h = _sha256()
    h.update(slot_text.encode("utf-8", "surrogateescape"))
    h.update(b"\0dockerfile\0%d\0" % len(data) + data)
    ignore_bytes = ignore_text.encode("utf-8", "surrogateescape")
    h.update(b"\0ignore\0%d\0" % len(ignore_bytes) + ignore_bytes)
    st = os.stat(root)
    parts = [f"\0root\0{st.st_mode:o}\0{st.st_uid}:{st.st_gid}\n"]
    for name, entry in IgnoreMatcher(patterns).walk(root):
        st = entry.stat(follow_symlinks=False)
        if entry.is_dir(follow_symlinks=False):  # its entries count, not its times
            parts.append(f"{name}\0{st.st_mode:o}\0{st.st_uid}:{st.st_gid}\n")
        else:
            parts.append(
                f"{name}\0{st.st_mode:o}\0{st.st_uid}:{st.st_gid}\0{st.st_size}\0"
                f"{st.st_mtime_ns}\0{st.st_ctime_ns}\0{st.st_dev}:{st.st_ino}\n"
            )
    h.update("".join(parts).encode("utf-8", "surrogateescape"))
    return ReplayKey(slot.hexdigest(), h.hexdigest())


def encode_events(events: Iterable[BuildEvent]) -> list[list[object]] | None:
    """What a fully cached build printed, as the record keeps it: ``["step", n,
    total, text]``, ``["triggers", count]``, ``["hit", id]``, ``["done", id]``,
    ``["warning", text]``; ``None`` when the build did more than that (ran a
    container, made an image): it is not replayed."""
    from dockyard.build import events as ev

    out: list[list[object]] = []
    for e in events:
        if isinstance(e, ev.StepStarted):
            out.append(["step", e.number, e.total, e.text])
        elif isinstance(e, ev.TriggersStarted):
            out.append(["triggers", e.count])
        elif isinstance(e, ev.CacheHit):
            out.append(["hit", e.image_id])
        elif isinstance(e, ev.StepDone):
            out.append(["done", e.image_id])
        elif isinstance(e, ev.Warning):
            out.append(["warning", e.text])
        elif not isinstance(e, ev.Planned | ev.StepExplained):
            return None
    return out
