"""Random ids and picks from the kernel's CSPRNG, without ``secrets``: that module
imports ``hmac``, ``hashlib`` (OpenSSL) and ``random``, ~4 ms of the ``run`` path for
two one-line functions."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence


def random_hex(nbytes: int) -> str:
    """``secrets.token_hex``: ``2 * nbytes`` hex digits."""
    return os.urandom(nbytes).hex()


def random_choice(items: Sequence[str]) -> str:
    """``secrets.choice``: uniform (rejection sampling, no modulo bias)."""
    n = len(items)
    limit = (1 << 32) - (1 << 32) % n
    while True:
        r = int.from_bytes(os.urandom(4), "little")
        if r < limit:
            return items[r % n]
