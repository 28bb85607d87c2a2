"""Content digests (``sha256:<64 hex>``) as a value type."""

from __future__ import annotations

from dockyard._util.lazy import Regex
from dockyard._util.record import OrderedRecord
from dockyard.errors import InvalidArgument

_HEX = {"sha256": 64, "sha512": 128}
_LOWER_HEX = frozenset("0123456789abcdef")

# compiled on first use: well-formed sha256/sha512 digests never need it (Digest.parse)
_DIGEST_RE = Regex(r"^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$")


class Digest(OrderedRecord):
    __slots__ = ("algorithm", "hex")
    algorithm: str
    hex: str

    def __init__(self, algorithm: str, hex: str) -> None:
        self._set(algorithm=algorithm, hex=hex)

    @classmethod
    def parse(cls, text: str) -> Digest:
        algo, _, hexpart = text.partition(":")
        if len(hexpart) == _HEX.get(algo) and _LOWER_HEX.issuperset(hexpart):
            return cls(algo, hexpart)  # what the regex and the checks below accept
        m = _DIGEST_RE.match(text)
        if not m:
            raise InvalidArgument(f"invalid digest {text!r}: expected algorithm:hex")
        algo, hexpart = m.groups()
        want = _HEX.get(algo)
        if want is None:
            raise InvalidArgument(f"unsupported digest algorithm {algo!r} in {text!r}")
        if len(hexpart) != want or not _LOWER_HEX.issuperset(hexpart):
            raise InvalidArgument(
                f"invalid digest {text!r}: {algo} needs {want} lowercase hex digits"
            )
        return cls(algo, hexpart)

    @classmethod
    def of_bytes(cls, data: bytes) -> Digest:
        import hashlib

        return cls("sha256", hashlib.sha256(data).hexdigest())

    @classmethod
    def from_sha256_hex(cls, hexpart: str) -> Digest:
        return cls("sha256", hexpart)

    @property
    def short(self) -> str:
        """The 12-digit form ``docker images`` shows."""
        return self.hex[:12]

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


def is_hex_id(text: str, *, minimum: int = 1) -> bool:
    """True if ``text`` looks like an (abbreviated) hex ID, optionally sha256:-prefixed."""
    if text.startswith("sha256:"):
        text = text[7:]
    return minimum <= len(text) <= 64 and _LOWER_HEX.issuperset(text)
