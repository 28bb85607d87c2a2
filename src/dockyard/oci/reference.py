"""Image references with Docker's grammar and normalisation.

``[registry[:port]/]path[:tag][@digest]``; a bare name means
``docker.io/library/name:latest``. ``str(ref)`` is the full form,
``ref.familiar`` the short one ``docker images`` prints.
"""

from __future__ import annotations

from dockyard._util.lazy import Regex
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


# compiled on first use: the common references (busybox, alpine:3.19, user/app:v1,
# localhost:5000/app) are read by _fast_parse without them
_REFERENCE_RE = Regex(_REFERENCE)
_ANY_CASE_RE = Regex(_REFERENCE.replace("[a-z0-9]+", "[a-zA-Z0-9]+"))
_TAG_RE = Regex(rf"^{_TAG}$")

_LOWER_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_PATH_CHARS = _LOWER_ALNUM | frozenset("._-")
_ALNUM_CHARS = _LOWER_ALNUM | frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DOMAIN_CHARS = _ALNUM_CHARS | frozenset("-")
_TAG_CHARS = _ALNUM_CHARS | frozenset("_.-")
_DIGITS = frozenset("0123456789")


def _is_path_component(text: str) -> bool:
    """``_PATH_COMPONENT``: lowercase letters and digits in runs joined by one ``.``,
    ``_``, ``__`` or any number of ``-``."""
    if not text or not _PATH_CHARS.issuperset(text):
        return False
    if text[0] not in _LOWER_ALNUM or text[-1] not in _LOWER_ALNUM:
        return False
    # the separators between runs: what is left when the runs become spaces
    for sep in text.translate(_SEPARATORS_ONLY).split():
        if sep not in (".", "_", "__") and sep.strip("-"):
            return False
    return True


# letters and digits -> " ": leaves the separator runs, space-separated
_SEPARATORS_ONLY = str.maketrans(dict.fromkeys("abcdefghijklmnopqrstuvwxyz0123456789", " "))


def _is_domain(text: str) -> bool:
    """``_DOMAIN`` without its ``[IPv6]`` form: dotted ``_DOMAIN_COMPONENT``s, then
    an optional ``:port``."""
    host, colon, port = text.partition(":")
    if colon and (not port or not _DIGITS.issuperset(port)):
        return False
    for part in host.split("."):
        if not part or not _DOMAIN_CHARS.issuperset(part):
            return False
        if part[0] == "-" or part[-1] == "-":
            return False
    return True


def _fast_parse(text: str) -> tuple[str, str | None] | None:
    """(name, tag) as ``_REFERENCE_RE`` would match them, for a reference without
    digest, ``[IPv6]`` domain, line break or non-ASCII character; None for those
    and for anything the regex might reject (it then decides, and explains)."""
    if not text.isascii() or "@" in text or "[" in text or "\n" in text:
        return None
    name, tag = text, None
    head, colon, tail = text.rpartition(":")
    if colon and "/" not in tail:  # a colon followed by no "/" cannot be a port's
        name, tag = head, tail
        if not (0 < len(tag) <= 128 and _TAG_CHARS.issuperset(tag)) or tag[0] in ".-":
            return None
    parts = name.split("/")
    if not all(_is_path_component(p) for p in parts[1:]):
        return None
    if _is_path_component(parts[0]) or (len(parts) > 1 and _is_domain(parts[0])):
        return name, tag
    return None


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
    fast = _fast_parse(text)
    if fast is not None:
        name, tag = fast
        digest = None
    else:
        name, tag, digest = _regex_parse(text)
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidArgument(
            f"invalid reference format: repository name must not be more than "
            f"{NAME_TOTAL_LENGTH_MAX} characters"
        )
    domain, path = _split_domain(name)
    if digest is not None:
        Digest.parse(digest)
    if tag is None and digest is None and default_tag:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest)


def _regex_parse(text: str) -> tuple[str, str | None, str | None]:
    """(name, tag, digest) by the grammar's regex, or the error saying why not."""
    m = _REFERENCE_RE.match(text)
    if m is None:
        if _ANY_CASE_RE.match(text):
            raise InvalidArgument(
                f"invalid reference format: repository name ({text}) must be lowercase"
            )
        raise InvalidArgument(
            f"invalid reference format: {text!r}",
            hint="names look like [registry[:port]/]name[:tag][@sha256:digest], lowercase",
        )
    return m.group("name"), m.group("tag"), m.group("digest")


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
    if not _TAG_RE.match(tag):
        raise InvalidArgument(
            f"invalid tag format: {tag!r}",
            hint="a tag is up to 128 letters, digits, '_', '.' or '-', not starting with . or -",
        )
    return tag
