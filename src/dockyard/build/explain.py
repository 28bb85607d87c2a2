"""``build --explain``: a look at the context before the build.

:func:`preflight` sums what the context sends, names the largest files and
directories, and suggests ``.dockerignore`` lines for well-known bulky or
private paths that are sent (VCS metadata, virtualenvs, caches, node_modules,
build output, editor files). The per-step part of ``--explain`` (hit, or which
input changed) comes from the cache as the build goes
(:meth:`dockyard.build.cache.BuildCache.why_missed`).
"""

from __future__ import annotations

from dockyard._util.litedc import dataclass
from dockyard.build.context import BuildContext

# (pattern to suggest, top-level or any-depth directory/file names it covers)
_SUGGESTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (".git", (".git",)),
    (".hg", (".hg",)),
    ("**/node_modules", ("node_modules",)),
    ("**/__pycache__", ("__pycache__",)),
    ("**/*.pyc", ()),
    (".venv", (".venv", "venv")),
    (".tox", (".tox",)),
    (".mypy_cache", (".mypy_cache",)),
    (".pytest_cache", (".pytest_cache",)),
    (".ruff_cache", (".ruff_cache",)),
    ("dist", ("dist",)),
    ("build", ("build",)),
    ("*.log", ()),
    (".env", (".env",)),
    (".idea", (".idea",)),
    (".vscode", (".vscode",)),
)


@dataclass(frozen=True)
class Preflight:
    total_bytes: int
    files: int
    largest_files: tuple[tuple[str, int], ...]
    largest_dirs: tuple[tuple[str, int], ...]
    suggestions: tuple[tuple[str, int], ...]  # (.dockerignore line, bytes it would save)
    ignore_file: str


def preflight(context: BuildContext, top: int = 5) -> Preflight:
    index = context.index()
    files = [e for e in index.values() if not e.is_dir]
    total = sum(e.size for e in files)
    largest = sorted(((e.rel, e.size) for e in files), key=lambda x: (-x[1], x[0]))[:top]
    dirs: dict[str, int] = {}
    for e in files:
        head = e.rel.split("/", 1)[0]
        if head != e.rel:
            dirs[head] = dirs.get(head, 0) + e.size
    largest_dirs = sorted(dirs.items(), key=lambda x: (-x[1], x[0]))[:top]
    suggestions: list[tuple[str, int]] = []
    for pattern, names in _SUGGESTIONS:
        saved = 0
        hit = False
        for e in files:
            parts = e.rel.split("/")
            if pattern == "**/*.pyc":
                match = e.rel.endswith(".pyc") and "__pycache__" not in parts
            elif pattern == "*.log":
                match = len(parts) == 1 and e.rel.endswith(".log")
            elif pattern.startswith("**/"):
                match = any(p in names for p in parts[:-1])
            else:
                match = parts[0] in names and (len(parts) > 1 or pattern == ".env")
            if match:
                hit = True
                saved += e.size
        if hit:
            suggestions.append((pattern, saved))
    return Preflight(
        total,
        len(files),
        tuple(largest),
        tuple(largest_dirs),
        tuple(suggestions),
        context.ignore_file,
    )


def tar_size(context: BuildContext) -> int:
    """About what the context weighs as a tar stream (what Docker reports sending)."""
    size = 1024
    for e in context.index().values():
        size += 512
        if not e.is_dir and not e.is_symlink:
            size += (e.size + 511) // 512 * 512
    return size
