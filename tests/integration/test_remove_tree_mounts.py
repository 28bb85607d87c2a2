"""_util.fs.remove_tree never empties nor removes a filesystem mounted below the tree
(a leftover mount of a container is left for its owner to unmount)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from dockyard._util.fs import remove_tree

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mount)"),
]


def test_mounts_below_the_tree_are_left_alone(tmp_path: Path) -> None:
    top = tmp_path / "c"
    full, empty = top / "rootfs", top / "work" / "empty"
    full.mkdir(parents=True)
    empty.mkdir(parents=True)
    (top / "state.json").write_text("{}")
    mounted = []
    try:
        for d in (full, empty):
            subprocess.run(["mount", "-t", "tmpfs", "dytest", str(d)], check=True)
            mounted.append(d)
        (full / "kept").write_text("x")
        remove_tree(top)
        assert (full / "kept").read_text() == "x"
        assert os.path.ismount(full) and os.path.ismount(empty)  # an empty one too
        assert not (top / "state.json").exists()  # the rest went
    finally:
        for d in reversed(mounted):
            subprocess.run(["umount", str(d)], check=False)
    remove_tree(top)
    assert not top.exists()
