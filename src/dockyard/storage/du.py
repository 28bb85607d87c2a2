"""Disk usage of a directory tree, counted as Docker counts it.

Docker's ``directory.Size`` (used for ``ps -s``, ``system df`` and volume sizes)
adds the apparent size of every non-directory, once per inode (hard links count
once), and never follows symlinks. Mount points inside the tree are not entered.
"""

from __future__ import annotations

import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path


def tree_size(root: str | Path) -> int:
    """Bytes in the tree at ``root`` (0 if it does not exist)."""
    try:
        top = os.lstat(root)
    except FileNotFoundError:
        return 0
    if not stat.S_ISDIR(top.st_mode):
        return top.st_size
    seen: set[int] = set()
    total = 0
    stack = [os.fspath(root)]
    while stack:
        path = stack.pop()
        try:
            it = os.scandir(path)
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        with it:
            for entry in it:
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    if st.st_dev == top.st_dev:
                        stack.append(entry.path)
                    continue
                if st.st_nlink > 1:
                    if st.st_ino in seen:
                        continue
                    seen.add(st.st_ino)
                total += st.st_size
    return total
