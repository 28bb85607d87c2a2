"""Labels: ``-l``/``--label k=v`` and ``--label-file`` (the docker CLI's rules).

A label is ``key=value`` or just ``key`` (an empty value); the key may not be
empty or contain spaces or tabs; the value is kept as typed.
"""

from __future__ import annotations

import os

from dockyard.specs._go import fail
from dockyard.specs.env import read_bytes, read_kv_lines

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable


def parse_label(text: str, *, flag: str | None = None) -> tuple[str, str]:
    """``k=v`` -> ``("k", "v")``; ``k`` -> ``("k", "")``."""
    key, _, value = text.partition("=")
    key = key.lstrip(" \t")
    if not key:
        fail(f"invalid label '{text}': empty name", value=text, flag=flag)
    if " " in key or "\t" in key:
        fail(f"label '{key}' contains whitespaces", value=text, flag=flag)
    return key, value


def parse_label_file(path: str | os.PathLike[str]) -> list[str]:
    """``--label-file``: ``k=v`` lines (env-file syntax; bare keys are dropped)."""
    return read_kv_lines(read_bytes(path), os.fspath(path), None, what="label file")


def parse_labels(
    items: Iterable[str],
    files: Iterable[str | os.PathLike[str]] = (),
    *,
    flag: str | None = None,
) -> dict[str, str]:
    """Labels from ``--label-file`` files, then ``--label`` items (later wins)."""
    labels: dict[str, str] = {}
    for path in files:
        for line in parse_label_file(path):
            key, _, value = line.partition("=")
            labels[key] = value
    for item in items:
        key, value = parse_label(item, flag=flag)
        labels[key] = value
    return labels
