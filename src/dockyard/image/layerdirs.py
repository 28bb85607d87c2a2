"""Extracted layer trees: ``layers/<chain-id hex>/diff``, usable as overlay lowerdirs.

A layer is extracted into a temporary directory beside its final place and
renamed into place when whole, so a directory named by a chain ID is always
complete. Removal renames first and deletes afterwards for the same reason.
"""

from __future__ import annotations

import os

from dockyard.errors import InvalidContent
from dockyard.oci.digest import Digest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

    from dockyard.image.layers import AppliedLayer


class LayerDirs:
    """Extracted layers under ``root``, by chain ID. ``root_dir`` and
    :meth:`diff_path` are strings (running a container needs no pathlib);
    ``root`` and :meth:`diff_dir` give :class:`~pathlib.Path` objects."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root_dir = os.fspath(root)

    @property
    def root(self) -> Path:
        from pathlib import Path

        return Path(self.root_dir)

    def diff_path(self, chain_id: str) -> str:
        """The layer's directory, as a string."""
        return os.path.join(self.root_dir, Digest.parse(chain_id).hex, "diff")

    def diff_dir(self, chain_id: str) -> Path:
        from pathlib import Path

        return Path(self.diff_path(chain_id))

    def exists(self, chain_id: str) -> bool:
        return os.path.isdir(self.diff_path(chain_id))

    def unpack(
        self, blob: Path, chain_id: str, expected_diff_id: str, *, source_name: str
    ) -> AppliedLayer:
        """Extract ``blob`` as the layer ``chain_id`` if its content is ``expected_diff_id``.

        (Extraction imports :mod:`dockyard.image.layers` and its tar reader here, not
        at import: listing and running need only the directories.)"""
        import shutil

        from dockyard.image.layers import apply_layer

        self.root.mkdir(parents=True, exist_ok=True)
        final = self.root / Digest.parse(chain_id).hex
        tmp = self.root / f".tmp-{final.name[:16]}-{os.getpid()}-{id(blob):x}"
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "diff").mkdir(parents=True)
        try:
            with open(blob, "rb") as src:
                applied = apply_layer(src, tmp / "diff", source_name=source_name)
            if applied.diff_id != expected_diff_id:
                raise InvalidContent(
                    f"{source_name}: layer content is {applied.diff_id}, but the image "
                    f"config says {expected_diff_id} (corrupt or mismatched archive)"
                )
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if final.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            os.replace(tmp, final)
        return applied

    def remove(self, chain_id: str) -> None:
        import shutil

        final = self.root / Digest.parse(chain_id).hex
        if not final.exists():
            return
        doomed = self.root / f".del-{final.name[:16]}-{os.getpid()}"
        os.replace(final, doomed)
        shutil.rmtree(doomed, ignore_errors=True)

    def clean_stale(self) -> None:
        """Remove half-extracted or half-deleted directories left by a crash."""
        import shutil

        try:
            entries = list(os.scandir(self.root_dir))
        except FileNotFoundError:
            return
        for entry in entries:
            if entry.name.startswith((".tmp-", ".del-")):
                shutil.rmtree(entry.path, ignore_errors=True)
