"""``ADD <http(s) url> <dest>``: the download, as Docker's classic builder does it
(moby ``builder/dockerfile/copy.go`` ``downloadSource``), and BuildKit's ``--checksum``.

- the file's name is the URL path's last segment, else the ``Content-Disposition``
  filename; with neither, a destination ending in ``/`` is an error and any other
  destination is the file itself;
- it is written with mode 0600 and the ``Last-Modified`` time (the download time
  without one); it is never unpacked, even when it is an archive;
- the step's cache key is the content hash of the download (the classic builder
  downloads on every build to know it);
- ``--checksum=sha256:<hex>`` is checked against the bytes: a mismatch is an error
  naming both digests (BuildKit's ``digest mismatch <actual>: <expected>``).

Git sources (``git@host:repo``, ``git://``, ``*.git``) are not fetched.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
from pathlib import Path

from dockyard._util.litedc import dataclass
from dockyard.errors import InvalidArgument, NotFound, Unsupported

UNNAMED = "__unnamed__"
_TIMEOUT = 60.0
_CHUNK = 1 << 20
_SHA256 = re.compile(r"sha256:[0-9a-f]{64}")


def is_url(src: str) -> bool:
    return src.startswith(("http://", "https://"))


def is_git(src: str) -> bool:
    if src.startswith(("git@", "git://", "ssh://")):
        return True
    return is_url(src) and src.split("#", 1)[0].rstrip("/").endswith(".git")


@dataclass(frozen=True)
class Download:
    """A downloaded file: ``name`` "" when the URL and headers name none."""

    path: Path
    name: str
    digest: str  # sha256:<hex> of the bytes


def check_checksum_flag(checksum: str, sources: tuple[str, ...]) -> None:
    if not checksum:
        return
    if not all(is_url(s) for s in sources):
        raise InvalidArgument(
            "checksum can't be specified for non-HTTP(S) sources",
            hint="--checksum verifies a download: use it with ADD https://...",
        )
    if not _SHA256.fullmatch(checksum):
        raise InvalidArgument(
            f"invalid checksum {checksum!r}",
            hint="--checksum=sha256:<64 hex digits> (the only algorithm supported)",
        )


def download(url: str, directory: Path, checksum: str = "") -> Download:
    """Fetch ``url`` into ``directory`` (which must exist and be private)."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": "dockyard-build"})
    try:
        response = urllib.request.urlopen(request, timeout=_TIMEOUT)
    except urllib.error.HTTPError as e:
        body = e.read(512).decode("utf-8", "replace").strip()
        raise NotFound(
            f"failed to GET {url} with status {e.code} {e.reason}: {body}",
            hint="check the URL (ADD downloads it from the machine running the build)",
        ) from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise NotFound(
            f"failed to GET {url}: {reason}",
            hint="check the URL and that this machine can reach it",
        ) from None
    with response:
        name = _file_name(url, response.headers.get("Content-Disposition", ""))
        path = directory / (name or UNNAMED)
        h = hashlib.sha256()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as out:
            while chunk := response.read(_CHUNK):
                h.update(chunk)
                out.write(chunk)
        os.chmod(path, 0o600)
        mtime = _http_time(response.headers.get("Last-Modified", ""))
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    digest = "sha256:" + h.hexdigest()
    if checksum and digest != checksum:
        raise InvalidArgument(
            f"digest mismatch {digest}: {checksum}",
            hint=f"{url} has {digest} but --checksum expects {checksum}; "
            "update --checksum if the new file is the right one",
        )
    return Download(path, name, digest)


def _file_name(url: str, disposition: str) -> str:
    from urllib.parse import unquote, urlsplit

    path = unquote(urlsplit(url).path)
    if path and not path.endswith("/"):
        base = posixpath.basename(path)
        if base:
            return base
    if disposition:
        from email.message import Message

        msg = Message()
        msg["Content-Disposition"] = disposition
        filename = msg.get_param("filename", header="Content-Disposition")
        if isinstance(filename, str) and filename and not filename.endswith("/"):
            return posixpath.basename(filename)
    return ""


def _http_time(value: str) -> float | None:
    if not value:
        return None
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def git_unsupported(src: str) -> Unsupported:
    return Unsupported(
        f"ADD {src}: git sources are not supported",
        hint="clone in a RUN step (git clone ...), or clone beside the Dockerfile and COPY it",
    )


__all__ = ["UNNAMED", "Download", "download", "is_git", "is_url"]
