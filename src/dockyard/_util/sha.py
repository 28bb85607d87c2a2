"""SHA-256 of short strings (names, keys) without importing :mod:`hashlib`.

``import hashlib`` loads OpenSSL (``_hashlib``): about 2.5 ms, a tenth of a
``run`` budget, spent to hash a few dozen bytes. CPython's built-in ``_sha256``
costs 0.04 ms to import and gives the same digests. Bulk data (layers, blobs)
keeps hashlib: OpenSSL is faster per byte.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hashlib import _Hash


def sha256(data: bytes = b"") -> _Hash:
    try:
        from _sha256 import sha256 as impl  # type: ignore[import-not-found]
    except ImportError:  # a Python built without it
        from hashlib import sha256 as impl
    h: _Hash = impl(data)
    return h


def sha256_hex(data: bytes) -> str:
    return sha256(data).hexdigest()
