"""COPY/ADD sources: from the context (or a ``--from`` image) to a :class:`CopyPlan`
and the content hash the cache keys on.

Context sources resolve against what the context sends (``.dockerignore``
applied): a missing path is Docker's ``file not found in build context or
excluded by .dockerignore``, a wildcard that matches nothing is ``no source
files were specified``. A symlink named as a source is followed inside the
context. Sources of another image are read from its mounted root.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

from dockyard._util.litedc import dataclass
from dockyard.build.context import BuildContext
from dockyard.build.copier import CopyItem, CopyPlan, parse_chmod
from dockyard.build.hashing import HashMemo, SourceHash, combine, entry_digest, text_digest
from dockyard.build.paths import (
    check_multi_source,
    clean_source,
    destination,
    has_wildcards,
    scoped_path,
)
from dockyard.build.remote import (
    UNNAMED,
    check_checksum_flag,
    download,
    git_unsupported,
    is_git,
    is_url,
)
from dockyard.dockerfile import instructions as ins
from dockyard.errors import InvalidArgument, NotFound


@dataclass
class PreparedTransfer:
    plan: CopyPlan
    sources: SourceHash
    hash_text: str  # "file:<hex>", "dir:<hex>" or "multi:<hex>" (the history's words)
    from_id: str = ""


def prepare_transfer(
    instruction: ins.Copy | ins.Add,
    context: BuildContext,
    source_root: tuple[str, Path] | None,
    workdir: str,
    memo: HashMemo | None = None,
    download_dir: Path | None = None,
) -> PreparedTransfer:
    """``download_dir``: where ``ADD <url>`` puts its downloads (kept by the caller
    until the copy is done)."""
    what = instruction.KEYWORD
    dest, dest_is_dir = destination(instruction.dest, workdir)
    items: list[CopyItem] = []
    hashes: list[tuple[str, str]] = []
    if isinstance(instruction, ins.Add):
        check_checksum_flag(instruction.checksum, instruction.sources)
    for src in instruction.sources:
        if is_git(src) and what == "ADD":
            raise git_unsupported(src)
        if is_url(src):
            if what == "COPY" or download_dir is None:
                raise InvalidArgument(
                    "COPY failed: source can't be a URL for COPY",
                    hint="use ADD to download a file",
                )
            checksum = instruction.checksum if isinstance(instruction, ins.Add) else ""
            import tempfile

            got = download(src, Path(tempfile.mkdtemp(dir=download_dir)), checksum)
            if not got.name and instruction.dest.endswith("/"):
                raise InvalidArgument(f"ADD failed: cannot determine filename for source {src}")
            name = got.name or UNNAMED
            items.append(CopyItem(name, str(got.path), no_extract=True))
            hashes.append((src, entry_digest(name, str(got.path))))
            continue
        if source_root is None:
            found = _from_context(context, src, what, memo)
        else:
            found = _from_image(source_root[1], src, what)
        for item, item_hashes in found:
            items.append(item)
            hashes.extend(item_hashes)
    for content in instruction.contents:
        data = content.data.encode("utf-8", "surrogateescape")
        items.append(CopyItem(name=content.path, data=data))
        hashes.append((f"<<{content.path}", text_digest(content.data)))
    check_multi_source(len(items), dest_is_dir, what)
    if source_root is not None:
        hashes = [("from", source_root[0]), *hashes]
    sources = combine(hashes)
    kind = "multi"
    if len(items) == 1:
        kind = "dir" if items[0].is_dir else "file"
    plan = CopyPlan(
        items,
        dest,
        dest_is_dir,
        chmod=parse_chmod(instruction.chmod),
        extract_archives=what == "ADD"
        and not (isinstance(instruction, ins.Add) and instruction.unpack is False),
        what=what,
    )
    return PreparedTransfer(
        plan, sources, f"{kind}:{sources.digest}", source_root[0] if source_root else ""
    )


def _from_context(
    context: BuildContext, src: str, what: str, memo: HashMemo | None
) -> list[tuple[CopyItem, list[tuple[str, str]]]]:
    index = context.index()
    rel = clean_source(src)
    if has_wildcards(rel):
        from dockyard.build.paths import match_pattern

        matches = match_pattern(rel, index.keys())
        if not matches:
            raise InvalidArgument(f"{what} failed: no source files were specified")
    elif rel == "" or rel in index:
        matches = [rel]
    else:
        raise NotFound(
            f"{what} failed: file not found in build context or excluded by .dockerignore: "
            f"stat {src.lstrip('/') or '.'}: file does not exist",
            hint="check the path (it is relative to the build context) and .dockerignore",
        )
    out = []
    for match in matches:
        entry = index.get(match)
        host = str(context.root / match) if match else str(context.root)
        if entry is not None and entry.is_symlink:
            host = str(scoped_path(context.root, "/" + match))
        if match == "" or os.path.isdir(host):
            subs = [
                (e.rel[len(match) + 1 :] if match else e.rel, e.path)
                for e in context.entries_under(match)
            ]
            hashes = [(f"{match}/{sub}", entry_digest(sub, path, memo)) for sub, path in subs]
            out.append((CopyItem(posixpath.basename(match), host, True, tuple(subs)), hashes))
        else:
            name = posixpath.basename(match)
            out.append((CopyItem(name, host), [(match, entry_digest(name, host, memo))]))
    return out


def _from_image(root: Path, src: str, what: str) -> list[tuple[CopyItem, list[tuple[str, str]]]]:
    rel = clean_source(src)
    candidates = [""]
    for part in [p for p in rel.split("/") if p]:
        nxt = []
        for base in candidates:
            if has_wildcards(part):
                import fnmatch

                host = scoped_path(root, "/" + base)
                try:
                    names = sorted(os.listdir(host))
                except OSError:
                    names = []
                nxt += [posixpath.join(base, n) for n in names if fnmatch.fnmatchcase(n, part)]
            else:
                nxt.append(posixpath.join(base, part))
        candidates = nxt
    out: list[tuple[CopyItem, list[tuple[str, str]]]] = []
    for match in candidates:
        host = scoped_path(root, "/" + match)
        if not host.exists():
            if has_wildcards(rel):
                continue
            raise NotFound(f"{what} failed: stat {'/' + match}: file does not exist")
        if host.is_dir():
            subs = []
            for dirpath, dirs, files in os.walk(host):
                dirs.sort()
                for name in sorted(dirs + files):
                    full = os.path.join(dirpath, name)
                    subs.append((os.path.relpath(full, host), full))
            out.append((CopyItem(posixpath.basename(match), str(host), True, tuple(subs)), []))
        else:
            out.append((CopyItem(posixpath.basename(match), str(host)), []))
    if not out:
        raise InvalidArgument(f"{what} failed: no source files were specified")
    return out
