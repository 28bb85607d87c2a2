"""DNS wire format: round trips, compression, truncation, and malformed input."""

from __future__ import annotations

import socket
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.network import dns_wire as w

# -- strategies ------------------------------------------------------------------------

labels_st = st.lists(st.binary(min_size=1, max_size=63), max_size=6).filter(
    lambda ls: sum(len(x) + 1 for x in ls) + 1 <= 255
)
names_st = labels_st.map(w.labels_to_name)
u16 = st.integers(0, 0xFFFF)
ipv4_st = st.binary(min_size=4, max_size=4).map(lambda b: socket.inet_ntop(socket.AF_INET, b))
ipv6_st = st.binary(min_size=16, max_size=16).map(lambda b: socket.inet_ntop(socket.AF_INET6, b))
raw_types = u16.filter(lambda t: t not in (w.A, w.AAAA, w.NS, w.CNAME, w.PTR, w.OPT))


@st.composite
def records_st(draw: st.DrawFn) -> w.Record:
    name = draw(names_st)
    ttl = draw(st.integers(0, 0xFFFFFFFF))
    kind = draw(st.sampled_from(["a", "aaaa", "name", "raw"]))
    if kind == "a":
        return w.Record(name, w.A, w.IN, ttl, draw(ipv4_st))
    if kind == "aaaa":
        return w.Record(name, w.AAAA, w.IN, ttl, draw(ipv6_st))
    if kind == "name":
        rtype = draw(st.sampled_from([w.NS, w.CNAME, w.PTR]))
        return w.Record(name, rtype, draw(u16), ttl, draw(names_st))
    return w.Record(name, draw(raw_types), draw(u16), ttl, draw(st.binary(max_size=40)))


@st.composite
def messages_st(draw: st.DrawFn) -> w.Message:
    edns = draw(
        st.none() | st.builds(w.Edns, u16, st.integers(0, 255), u16, st.binary(max_size=20))
    )
    rcode = draw(st.integers(0, 4095 if edns is not None else 15))
    questions = draw(st.lists(st.builds(w.Question, names_st, u16, u16), max_size=3))
    answers, authorities, additionals = (
        tuple(draw(st.lists(records_st(), max_size=4))) for _ in range(3)
    )
    return w.Message(
        draw(u16), draw(u16) & 0xFFF0, rcode, tuple(questions), answers, authorities, additionals,
        edns,
    )  # fmt: skip


# -- round trips -----------------------------------------------------------------------


@given(labels_st)
def test_name_text_round_trip(labels: list[bytes]) -> None:
    name = w.labels_to_name(labels)
    assert w.name_to_labels(name) == tuple(labels)
    assert w.name_to_labels(name + ".") == tuple(labels) or not labels


@given(messages_st())
@settings(max_examples=300)
def test_message_round_trip(msg: w.Message) -> None:
    assert w.parse(w.encode(msg)) == msg


def test_names_in_presentation_form() -> None:
    assert w.name_to_labels("a\\.b.c\\\\d.\\032x") == (b"a.b", b"c\\d", b" x")
    assert w.labels_to_name((b"a.b", b"c\\d", b" x", b"\xff")) == "a\\.b.c\\\\d.\\032x.\\255"
    assert w.name_to_labels("") == w.name_to_labels(".") == ()
    assert w.name_to_labels("Web.Example.") == (b"Web", b"Example")
    for bad in ("a..b", ".a", "a\\", "x" * 64, "a." * 128, "\\256"):
        with pytest.raises(w.WireError):
            w.name_to_labels(bad)
    assert w.name_key("Web.EXAMPLE.") == "web.example"
    assert w.name_key("a\\.") == "a\\."  # an escaped dot is part of the label
    assert w.name_key("a\\\\.") == "a\\\\"


def test_query_bytes_as_a_resolver_sends_them() -> None:
    # dig +noedns web A: id 0xbeef, RD
    data = bytes.fromhex("beef01000001000000000000") + b"\x03web\x00\x00\x01\x00\x01"
    msg = w.parse(data)
    assert msg.id == 0xBEEF and msg.flags == w.RD and not msg.is_response
    assert msg.questions == (w.Question("web", w.A, w.IN),)
    assert msg.edns is None
    assert w.encode(msg) == data


def test_compression_on_output() -> None:
    q = w.Message(1, w.RD, questions=(w.Question("web.mynet", w.A),))
    answers = (
        w.Record("web.mynet", w.A, w.IN, 1, "172.18.0.2"),
        w.Record("web.mynet", w.A, w.IN, 1, "172.18.0.3"),
    )
    data = w.encode(w.reply(q, answers=answers))
    # the question's name is written once; each answer points at offset 12
    assert data.count(b"\x03web\x05mynet\x00") == 1
    assert data.count(b"\xc0\x0c") == 2
    assert w.parse(data).answers == answers
    ptr = w.Record("2.0.18.172.in-addr.arpa", w.PTR, w.IN, 1, "web.mynet")
    q2 = w.Message(2, 0, questions=(w.Question("web.mynet", w.A),))
    data2 = w.encode(q2._replace(answers=(ptr,)))
    assert data2.count(b"\x03web\x05mynet\x00") == 1  # the PTR target is compressed too
    assert w.parse(data2).answers == (ptr,)


def test_case_is_kept_through_compression() -> None:
    q = w.Message(1, 0, questions=(w.Question("WeB.MyNet", w.A),))
    rr = w.Record("web.mynet", w.A, w.IN, 1, "10.0.0.1")
    back = w.parse(w.encode(q._replace(answers=(rr,))))
    assert back.questions[0].name == "WeB.MyNet"
    assert back.answers[0].name == "web.mynet"


def test_truncation_drops_records_and_sets_tc() -> None:
    q = w.parse(w.encode(w.Message(7, w.RD, questions=(w.Question("many", w.A),))))
    answers = tuple(w.Record("many", w.A, w.IN, 1, f"10.0.{i // 256}.{i % 256}") for i in range(60))
    full = w.encode(w.reply(q, answers=answers))
    assert len(full) > 512
    cut = w.parse(w.encode(w.reply(q, answers=answers), w.udp_limit(q)))
    assert cut.truncated and cut.answers == () and cut.questions == q.questions


def test_edns_is_tolerated_and_echoed() -> None:
    q = w.Message(9, w.RD, questions=(w.Question("x", w.A),),
                  edns=w.Edns(4096, 0, w.EDNS_DO, b"\x00\x0a\x00\x08" + b"c" * 8))  # fmt: skip
    parsed = w.parse(w.encode(q))
    assert parsed.edns == q.edns
    assert w.udp_limit(parsed) == 4096
    assert w.udp_limit(parsed._replace(edns=w.Edns(100))) == 512
    assert w.udp_limit(parsed._replace(edns=w.Edns(65000))) == w.UDP_MAX
    r = w.reply(parsed, w.NOERROR)
    assert r.edns == w.Edns(w.EDNS_PAYLOAD, 0, w.EDNS_DO)
    assert w.parse(w.encode(w.reply(parsed, w.BADVERS))).rcode == w.BADVERS
    # without EDNS an extended rcode cannot be said: SERVFAIL instead
    assert w.reply(parsed._replace(edns=None), w.BADVERS).rcode == w.SERVFAIL
    with pytest.raises(w.WireError):
        w.encode(w.Message(1, 0, w.BADVERS))


def test_opt_record_rules() -> None:
    base = w.encode(w.Message(1, 0, questions=(w.Question("x", w.A),), edns=w.Edns()))
    opt = base[-11:]
    twice = base[:10] + b"\x00\x02" + base[12:] + opt
    with pytest.raises(w.WireError, match="OPT"):
        w.parse(twice)
    in_answers = base[:6] + b"\x00\x01\x00\x00\x00\x00" + base[12:]
    with pytest.raises(w.WireError, match="OPT"):
        w.parse(in_answers)


def test_reverse_names() -> None:
    assert w.reverse_name("172.18.0.2") == "2.0.18.172.in-addr.arpa"
    assert w.reverse_address("2.0.18.172.IN-ADDR.ARPA.") == "172.18.0.2"
    six = w.reverse_name("fd00::1")
    assert six.startswith("1.0.0.0.") and six.endswith(".0.0.d.f.ip6.arpa")
    assert w.reverse_address(six) == "fd00::1"
    for not_one in ("18.172.in-addr.arpa", "256.0.18.172.in-addr.arpa", "01.0.18.172.in-addr.arpa",
                    "a.b.c.d.in-addr.arpa", "web", "1.ip6.arpa"):  # fmt: skip
        assert w.reverse_address(not_one) is None


def test_error_reply_for_broken_queries() -> None:
    data = bytes.fromhex("abcd01000001000000000000") + b"\x05web"  # question cut short
    with pytest.raises(w.WireError):
        w.parse(data)
    out = w.error_reply(data, w.FORMERR)
    assert out is not None
    msg = w.parse(out)
    assert msg.id == 0xABCD and msg.is_response and msg.rcode == w.FORMERR and msg.flags & w.RD
    assert w.error_reply(b"\x00" * 11, w.FORMERR) is None
    assert w.error_reply(out, w.FORMERR) is None  # never answer a response


# -- malformed input -------------------------------------------------------------------


def test_compression_loops_and_bad_pointers() -> None:
    header = struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0)
    cases = [
        header + b"\xc0\x0c\x00\x01\x00\x01",  # points at itself
        header + b"\x01a\xc0\x0c\x00\x01\x00\x01",  # label then back to itself: a loop
        header + b"\xc0\xff\x00\x01\x00\x01",  # points forward, past the end
        header + b"\x40abc\x00\x00\x01\x00\x01",  # extended label type
        header + b"\x05ab",  # label past the end
        header + b"\x01a",  # no terminating zero
        header + (b"\x3f" + b"a" * 63) * 4 + b"\x00\x00\x01\x00\x01",  # 257 bytes
    ]
    for data in cases:
        with pytest.raises(w.WireError):
            w.parse(data)


@given(st.binary(max_size=600))
@settings(max_examples=1000)
def test_random_bytes_only_raise_wire_error(data: bytes) -> None:
    try:
        w.parse(data)
    except w.WireError:
        pass
    try:
        w.question_of(data)
    except w.WireError:
        pass


@given(messages_st(), st.data())
@settings(max_examples=500)
def test_mutated_messages_only_raise_wire_error(msg: w.Message, data: st.DataObject) -> None:
    raw = bytearray(w.encode(msg))
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    for candidate in (bytes(raw), bytes(raw[:cut])):
        try:
            parsed = w.parse(candidate)
        except w.WireError:
            continue
        # whatever parses encodes again (names and records are valid values)
        w.encode(parsed)
