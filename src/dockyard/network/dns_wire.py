"""DNS messages on the wire: parse and build (RFC 1035, AAAA RFC 3596, EDNS RFC 6891).

Pure: bytes in, values out, and back. What the embedded DNS server needs and no more:

- :func:`parse` reads a whole message: header, questions, records (A, AAAA, PTR,
  CNAME and NS data decoded, other types kept as raw bytes), the EDNS OPT record
  (taken out of the additional section into :attr:`Message.edns`). Anything
  malformed raises :class:`WireError` -- never another exception, never a hang:
  compression pointers must point backwards, names stay within 255 bytes, every
  length is checked against the data (hypothesis fuzzes this in the unit tests).
- :func:`encode` writes a message with name compression and truncates it (TC bit,
  records dropped) when it does not fit ``max_size``.
- Helpers for a server: :func:`reply` (the answer to a query, EDNS echoed),
  :func:`error_reply` (FORMERR and friends for queries too broken to parse),
  :func:`udp_limit`, :func:`with_id`, :func:`question_of` (to match an upstream's
  answer to what was asked), :func:`reverse_name` / :func:`reverse_address`.

Names are text in presentation form without the trailing dot (``""`` is the root):
``.`` separates labels, a ``.`` or ``\\`` inside a label is escaped with ``\\``,
bytes outside printable ASCII (and space) as ``\\DDD``. Case is kept, as it came
(resolvers that randomise case expect it echoed); compare with :func:`name_key`.

Records use typed :class:`typing.NamedTuple` values (immutable, compared by value):
this module is imported by the small DNS server process, where dataclasses would
cost 1.5 MB of its RSS.
"""

from __future__ import annotations

import socket
import struct
from typing import NamedTuple

# -- constants -------------------------------------------------------------------

A, NS, CNAME, SOA, PTR, MX, TXT, AAAA, SRV, OPT, ANY = 1, 2, 5, 6, 12, 15, 16, 28, 33, 41, 255
IN = 1
CLASS_ANY = 255

NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
BADVERS = 16  # extended rcode (needs EDNS)

QR, AA, TC, RD, RA, AD, CD = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080, 0x0020, 0x0010
OPCODE_MASK = 0x7800
OPCODE_QUERY = 0
EDNS_DO = 0x8000  # the DNSSEC OK bit in the OPT record's flags

MAX_NAME = 255
MAX_LABEL = 63
MAX_MESSAGE = 65535
UDP_DEFAULT = 512
EDNS_PAYLOAD = 1232  # what we advertise (the DNS flag day 2020 value)
UDP_MAX = 4096  # the most we send over UDP, whatever a client advertises

_NAME_TYPES = (NS, CNAME, PTR)
_HEADER = struct.Struct("!HHHHHH")
_RR_FIXED = struct.Struct("!HHIH")
_Q_FIXED = struct.Struct("!HH")


class WireError(ValueError):
    """A malformed DNS message or name."""


# -- values ------------------------------------------------------------------------


class Question(NamedTuple):
    name: str
    qtype: int
    qclass: int = IN


class Record(NamedTuple):
    """One resource record. ``data``: the address text for A/AAAA, a name for PTR,
    CNAME and NS, the raw RDATA bytes for every other type (kept as received: an MX
    or SOA from a parse may hold compression pointers, so it is not re-encoded)."""

    name: str
    rtype: int
    rclass: int
    ttl: int
    data: str | bytes


class Edns(NamedTuple):
    """The OPT pseudo-record. The extended rcode bits live in :attr:`Message.rcode`."""

    payload: int = EDNS_PAYLOAD
    version: int = 0
    flags: int = 0  # EDNS_DO and the Z bits
    options: bytes = b""


class Message(NamedTuple):
    """A DNS message. ``flags``: the header's 16-bit flags word without the rcode bits;
    ``rcode``: the full response code (low 4 bits in the header, higher ones in OPT)."""

    id: int
    flags: int
    rcode: int = NOERROR
    questions: tuple[Question, ...] = ()
    answers: tuple[Record, ...] = ()
    authorities: tuple[Record, ...] = ()
    additionals: tuple[Record, ...] = ()  # without the OPT record
    edns: Edns | None = None

    @property
    def is_response(self) -> bool:
        return bool(self.flags & QR)

    @property
    def opcode(self) -> int:
        return (self.flags & OPCODE_MASK) >> 11

    @property
    def truncated(self) -> bool:
        return bool(self.flags & TC)


# -- names ---------------------------------------------------------------------------


def name_to_labels(name: str) -> tuple[bytes, ...]:
    """``"a\\.b.c"`` -> ``(b"a.b", b"c")``. Raises :class:`WireError` for an empty
    label, a label over 63 bytes, a name over 255 bytes on the wire, a bad escape."""
    if name in ("", "."):
        return ()
    labels: list[bytes] = []
    cur = bytearray()
    i, n = 0, len(name)
    while i < n:
        c = name[i]
        if c == "\\":
            digits = name[i + 1 : i + 4]
            if len(digits) == 3 and digits.isascii() and digits.isdigit():
                v = int(digits)
                if v > 255:
                    raise WireError(f"bad escape in name {name!r}")
                cur.append(v)
                i += 4
                continue
            if i + 1 >= n:
                raise WireError(f"name ends in a backslash: {name!r}")
            cur += name[i + 1].encode()
            i += 2
            continue
        if c == ".":
            if not cur:
                raise WireError(f"empty label in name {name!r}")
            labels.append(bytes(cur))
            cur = bytearray()
            i += 1
            if i == n:  # one trailing dot: absolute form
                break
            continue
        cur += c.encode()
        i += 1
    else:
        if not cur:
            raise WireError(f"empty label in name {name!r}")
        labels.append(bytes(cur))
    _check_labels(labels, name)
    return tuple(labels)


def _check_labels(labels: list[bytes] | tuple[bytes, ...], what: object) -> None:
    total = 1
    for label in labels:
        if not label or len(label) > MAX_LABEL:
            raise WireError(f"bad label length {len(label)} in name {what!r}")
        total += len(label) + 1
    if total > MAX_NAME:
        raise WireError(f"name longer than {MAX_NAME} bytes: {what!r}")


def _escape_label(label: bytes) -> str:
    if label.replace(b"-", b"").replace(b"_", b"").isalnum():  # ASCII letters and digits
        return label.decode()
    out = []
    for b in label:
        if b in (0x2E, 0x5C):  # . \
            out.append("\\" + chr(b))
        elif 0x21 <= b <= 0x7E:
            out.append(chr(b))
        else:
            out.append(f"\\{b:03d}")
    return "".join(out)


def labels_to_name(labels: tuple[bytes, ...] | list[bytes]) -> str:
    return ".".join(_escape_label(label) for label in labels)


def name_key(name: str) -> str:
    """The form to compare names by: ASCII lower case, no trailing dot."""
    if name.endswith("."):
        backslashes = len(name) - 1 - len(name[:-1].rstrip("\\"))
        if backslashes % 2 == 0:  # the dot is a separator, not an escaped one
            name = name[:-1]
    return name.translate(_LOWER)


_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


# -- parse -----------------------------------------------------------------------------


def _read_name(data: bytes, pos: int) -> tuple[tuple[bytes, ...], int]:
    """The name at ``pos`` and the offset just after it (after the first pointer, if
    any). Pointers must point strictly backwards; a name is at most 255 bytes."""
    labels: list[bytes] = []
    total = 1
    end = -1
    n = len(data)
    while True:
        if pos >= n:
            raise WireError("name runs past the end of the message")
        length = data[pos]
        if length == 0:
            pos += 1
            break
        kind = length & 0xC0
        if kind == 0xC0:
            if pos + 1 >= n:
                raise WireError("compression pointer runs past the end of the message")
            target = ((length & 0x3F) << 8) | data[pos + 1]
            if target >= pos:
                raise WireError("compression pointer does not point backwards")
            if end < 0:
                end = pos + 2
            pos = target
            continue
        if kind:
            raise WireError(f"unsupported label type 0x{kind:02x}")
        total += length + 1
        if total > MAX_NAME:
            raise WireError(f"name longer than {MAX_NAME} bytes")
        if pos + 1 + length > n:
            raise WireError("label runs past the end of the message")
        labels.append(data[pos + 1 : pos + 1 + length])
        pos += 1 + length
    return tuple(labels), (end if end >= 0 else pos)


def _read_question(data: bytes, pos: int) -> tuple[Question, int]:
    labels, pos = _read_name(data, pos)
    if pos + 4 > len(data):
        raise WireError("question runs past the end of the message")
    qtype, qclass = _Q_FIXED.unpack_from(data, pos)
    return Question(labels_to_name(labels), qtype, qclass), pos + 4


def _read_record(data: bytes, pos: int) -> tuple[Record, int]:
    labels, pos = _read_name(data, pos)
    if pos + 10 > len(data):
        raise WireError("record runs past the end of the message")
    rtype, rclass, ttl, rdlen = _RR_FIXED.unpack_from(data, pos)
    pos += 10
    end = pos + rdlen
    if end > len(data):
        raise WireError("record data runs past the end of the message")
    rdata: str | bytes
    if rtype == A and rclass == IN:
        if rdlen != 4:
            raise WireError(f"A record with {rdlen} bytes of data")
        rdata = socket.inet_ntop(socket.AF_INET, data[pos:end])
    elif rtype == AAAA and rclass == IN:
        if rdlen != 16:
            raise WireError(f"AAAA record with {rdlen} bytes of data")
        rdata = socket.inet_ntop(socket.AF_INET6, data[pos:end])
    elif rtype in _NAME_TYPES:
        target, after = _read_name(data, pos)
        if after != end:
            raise WireError("record data length does not match its name")
        rdata = labels_to_name(target)
    else:
        rdata = data[pos:end]
    return Record(labels_to_name(labels), rtype, rclass, ttl, rdata), end


def parse_header(data: bytes) -> tuple[int, int, int, int, int, int]:
    """``(id, flags word, qdcount, ancount, nscount, arcount)``; raises WireError."""
    if len(data) < 12:
        raise WireError(f"message of {len(data)} bytes is shorter than a header")
    mid, flags, qd, an, ns, ar = _HEADER.unpack_from(data)
    return mid, flags, qd, an, ns, ar


def parse(data: bytes) -> Message:
    """The whole message. Raises :class:`WireError` and nothing else for bad input."""
    mid, word, qd, an, ns, ar = parse_header(data)
    pos = 12
    questions = []
    for _ in range(qd):
        q, pos = _read_question(data, pos)
        questions.append(q)
    sections: list[list[Record]] = [[], [], []]
    edns: Edns | None = None
    ext_rcode = 0
    for section, count in zip(sections, (an, ns, ar), strict=True):
        for _ in range(count):
            rr, pos = _read_record(data, pos)
            if rr.rtype == OPT:
                if section is not sections[2] or edns is not None or rr.name != "":
                    raise WireError("misplaced or repeated OPT record")
                assert isinstance(rr.data, bytes)
                ext_rcode = rr.ttl >> 24
                edns = Edns(rr.rclass, (rr.ttl >> 16) & 0xFF, rr.ttl & 0xFFFF, rr.data)
                continue
            section.append(rr)
    return Message(
        mid,
        word & 0xFFF0,
        (ext_rcode << 4) | (word & 0xF),
        tuple(questions),
        tuple(sections[0]),
        tuple(sections[1]),
        tuple(sections[2]),
        edns,
    )


def question_of(data: bytes) -> tuple[int, int, Question | None]:
    """``(id, flags word, first question)`` of a message, reading no further: enough
    to match an answer to a query. Raises :class:`WireError`."""
    mid, word, qd, *_ = parse_header(data)
    if qd == 0:
        return mid, word, None
    return mid, word, _read_question(data, 12)[0]


# -- build ---------------------------------------------------------------------------


class _Writer:
    def __init__(self) -> None:
        self.buf = bytearray()
        self.names: dict[tuple[bytes, ...], int] = {}

    def name(self, name: str) -> None:
        labels = name_to_labels(name)
        for i in range(len(labels)):
            suffix = labels[i:]  # exact bytes: a pointer never changes a name's case
            offset = self.names.get(suffix)
            if offset is not None:
                self.buf += struct.pack("!H", 0xC000 | offset)
                return
            if len(self.buf) < 0x4000:
                self.names[suffix] = len(self.buf)
            self.buf.append(len(labels[i]))
            self.buf += labels[i]
        self.buf.append(0)

    def record(self, rr: Record) -> None:
        self.name(rr.name)
        if not 0 <= rr.ttl <= 0xFFFFFFFF:
            raise WireError(f"TTL out of range: {rr.ttl}")
        self.buf += struct.pack("!HHI", rr.rtype, rr.rclass, rr.ttl)
        at = len(self.buf)
        self.buf += b"\0\0"
        data = rr.data
        if isinstance(data, bytes):
            self.buf += data
        elif rr.rtype == A:
            self.buf += _pton(socket.AF_INET, data)
        elif rr.rtype == AAAA:
            self.buf += _pton(socket.AF_INET6, data)
        elif rr.rtype in _NAME_TYPES:
            self.name(data)
        else:
            raise WireError(f"text data for record type {rr.rtype}: {data!r}")
        rdlen = len(self.buf) - at - 2
        if rdlen > 0xFFFF:
            raise WireError("record data longer than 65535 bytes")
        struct.pack_into("!H", self.buf, at, rdlen)


def _pton(family: int, text: str) -> bytes:
    try:
        return socket.inet_pton(family, text)
    except (OSError, ValueError):
        raise WireError(f"not an IPv{4 if family == socket.AF_INET else 6} address: {text!r}")


def _encode(msg: Message) -> bytes:
    if not 0 <= msg.rcode < 4096 or (msg.rcode > 15 and msg.edns is None):
        raise WireError(f"rcode {msg.rcode} cannot be encoded")
    w = _Writer()
    ar = len(msg.additionals) + (msg.edns is not None)
    counts = (len(msg.questions), len(msg.answers), len(msg.authorities), ar)
    if max(counts) > 0xFFFF:
        raise WireError("too many records")
    w.buf += _HEADER.pack(msg.id, (msg.flags & 0xFFF0) | (msg.rcode & 0xF), *counts)
    for q in msg.questions:
        w.name(q.name)
        w.buf += _Q_FIXED.pack(q.qtype, q.qclass)
    for rr in (*msg.answers, *msg.authorities, *msg.additionals):
        w.record(rr)
    if msg.edns is not None:
        e = msg.edns
        ttl = ((msg.rcode >> 4) << 24) | ((e.version & 0xFF) << 16) | (e.flags & 0xFFFF)
        w.buf += b"\0" + struct.pack("!HHIH", OPT, e.payload & 0xFFFF, ttl, len(e.options))
        w.buf += e.options
    return bytes(w.buf)


def encode(msg: Message, max_size: int = MAX_MESSAGE) -> bytes:
    """The message on the wire, names compressed. If it is longer than ``max_size``,
    the records are dropped and TC is set (the client retries over TCP). Raises
    :class:`WireError` for values that cannot be encoded."""
    data = _encode(msg)
    if len(data) > max_size:
        data = _encode(msg._replace(flags=msg.flags | TC, answers=(), authorities=(),
                                    additionals=()))  # fmt: skip
    if len(data) > MAX_MESSAGE:
        raise WireError("message longer than 65535 bytes")
    return data


# -- server helpers ------------------------------------------------------------------


def reply(
    query: Message,
    rcode: int = NOERROR,
    answers: tuple[Record, ...] = (),
    *,
    authoritative: bool = False,
    recursion_available: bool = True,
) -> Message:
    """The response to ``query``: same id, opcode, RD and CD, its questions echoed, an
    OPT record when the query had one (DO copied, as RFC 3225 asks)."""
    flags = QR | (query.flags & (OPCODE_MASK | RD | CD))
    if authoritative:
        flags |= AA
    if recursion_available:
        flags |= RA
    edns = None
    if query.edns is not None:
        edns = Edns(EDNS_PAYLOAD, 0, query.edns.flags & EDNS_DO)
    elif rcode > 15:
        rcode = SERVFAIL
    return Message(query.id, flags, rcode, query.questions, answers, edns=edns)


def error_reply(data: bytes, rcode: int) -> bytes | None:
    """A bare response (header only, no sections) to a query too broken to parse, or
    None when ``data`` is no query at all (shorter than a header, or a response)."""
    if len(data) < 12:
        return None
    mid, word = struct.unpack_from("!HH", data)
    if word & QR:
        return None
    flags = QR | RA | (word & (OPCODE_MASK | RD | CD))
    return _HEADER.pack(mid, flags | (rcode & 0xF), 0, 0, 0, 0)


def udp_limit(query: Message) -> int:
    """How long a UDP response to ``query`` may be: 512 bytes, or what its EDNS
    record advertises (at most 4096)."""
    if query.edns is None:
        return UDP_DEFAULT
    return max(UDP_DEFAULT, min(query.edns.payload, UDP_MAX))


def with_id(data: bytes, mid: int) -> bytes:
    return struct.pack("!H", mid) + data[2:]


def reverse_name(address: str) -> str:
    """``172.18.0.2`` -> ``2.0.18.172.in-addr.arpa`` (and nibbles under ip6.arpa)."""
    if ":" in address:
        raw = _pton(socket.AF_INET6, address).hex()
        return ".".join(reversed(raw)) + ".ip6.arpa"
    return ".".join(str(b) for b in reversed(_pton(socket.AF_INET, address))) + ".in-addr.arpa"


def reverse_address(name: str) -> str | None:
    """The address a reverse-lookup name stands for, or None if it is not one (a
    partial name like ``18.172.in-addr.arpa`` is not)."""
    key = name_key(name)
    if key.endswith(".in-addr.arpa"):
        parts = key[: -len(".in-addr.arpa")].split(".")
        if len(parts) != 4 or not all(p.isdigit() and p.isascii() and len(p) <= 3 for p in parts):
            return None
        if any(int(p) > 255 or (len(p) > 1 and p[0] == "0") for p in parts):
            return None
        return ".".join(reversed(parts))
    if key.endswith(".ip6.arpa"):
        nibbles = key[: -len(".ip6.arpa")].split(".")
        if len(nibbles) != 32 or not all(len(x) == 1 and x in "0123456789abcdef" for x in nibbles):
            return None
        raw = bytes.fromhex("".join(reversed(nibbles)))
        return socket.inet_ntop(socket.AF_INET6, raw)
    return None
