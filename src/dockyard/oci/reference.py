"""Image references with Docker's grammar and normalisation.

``[registry[:port]/]path[:tag][@digest]``; a bare name means
``docker.io/library/name:latest``. ``str(ref)`` is the full form,
``ref.familiar`` the short one ``docker images`` prints.
"""

from __future__ import annotations

import functools
import re

from dockyard._util.record import OrderedRecord
from dockyard.errors import InvalidArgument
from dockyard.oci.digest import Digest

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEP = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEP}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,}"
_REFERENCE = (
    rf"^(?P<name>(?:(?P<domain>{_DOMAIN})/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$"
)
_HEX_DIGITS = frozenset("0123456789abcdef")


# compiled on first use: commands that parse no reference do not pay for them
@functools.cache
def _reference_re() -> re.Pattern[str]:
    return re.compile(_REFERENCE)


@functools.cache
def _any_case_re() -> re.Pattern[str]:
    return re.compile(_REFERENCE.replace("[a-z0-9]+", "[a-zA-Z0-9]+"))


@functools.cache
def _tag_re() -> re.Pattern[str]:
    return re.compile(rf"^{_TAG}$")


def _is_hex64(text: str) -> bool:
    """``^[a-f0-9]{64}$`` (``$`` also matches before a final newline)."""
    if text.endswith("\n"):
        text = text[:-1]
    return len(text) == 64 and _HEX_DIGITS.issuperset(text)


class Reference(OrderedRecord):
    __slots__ = ("domain", "path", "tag", "digest")  # noqa: RUF023 (field order)
    domain: str
    path: str
    tag: str | None
    digest: str | None

    def __init__(
        self, domain: str, path: str, tag: str | None = None, digest: str | None = None
    ) -> None:
        self._set(domain=domain, path=path, tag=tag, digest=digest)

    @property
    def repository(self) -> str:
        """``docker.io/library/busybox``."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """``busybox`` for ``docker.io/library/busybox``; ``localhost:5000/x`` stays."""
        if self.domain == DEFAULT_DOMAIN:
            if self.path.startswith(OFFICIAL_PREFIX) and self.path.count("/") == 1:
                return self.path[len(OFFICIAL_PREFIX) :]
            return self.path
        return self.repository

    @property
    def familiar(self) -> str:
        return self.familiar_name + self._suffix()

    def _suffix(self) -> str:
        s = ""
        if self.tag is not None:
            s += f":{self.tag}"
        if self.digest is not None:
            s += f"@{self.digest}"
        return s

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.domain, self.path, tag, None)

    def __str__(self) -> str:
        return self.repository + self._suffix()


def parse_reference(text: str, *, default_tag: bool = True) -> Reference:
    """Parse and normalise a reference the way ``docker pull NAME`` does."""
    if not text:
        raise InvalidArgument("invalid reference format: empty name")
    if _is_hex64(text):
        raise InvalidArgument(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings"
        )
    m = _reference_re().match(text)
    if m is None:
        if _any_case_re().match(text):
            raise InvalidArgument(
                f"invalid reference format: repository name ({text}) must be lowercase"
            )
        raise InvalidArgument(
            f"invalid reference format: {text!r}",
            hint="names look like [registry[:port]/]name[:tag][@sha256:digest], lowercase",
        )
    name = m.group("name")
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidArgument(
            f"invalid reference format: repository name must not be more than "
            f"{NAME_TOTAL_LENGTH_MAX} characters"
        )
    domain, path = _split_domain(name)
    tag = m.group("tag")
    digest = m.group("digest")
    if digest is not None:
        Digest.parse(digest)
    if tag is None and digest is None and default_tag:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest)


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if not sep or ("." not in first and ":" not in first and first != "localhost"):
        domain, path = DEFAULT_DOMAIN, name
    else:
        domain, path = first, rest
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_PREFIX + path
    return domain, path


def validate_tag(tag: str) -> str:
    if not _tag_re().match(tag):
        raise InvalidArgument(
            f"invalid tag format: {tag!r}",
            hint="a tag is up to 128 letters, digits, '_', '.' or '-', not starting with . or -",
        )
    return tag
