"""The hand-written fast paths accept exactly what the regexes they stand in for accept.

``run``, ``ps`` and ``exec`` do without ``re`` (see test_startup_imports.py): the
common inputs (``busybox``, ``512m``, ``on-failure:3``, a sha256 digest, a snapshot key) are read
with str methods. Each test here compares a fast path with the original regex on edge
cases and on many generated strings.
"""

from __future__ import annotations

import random
import re

import pytest

from dockyard.errors import InvalidArgument
from dockyard.oci import reference
from dockyard.oci.digest import Digest
from dockyard.specs import units
from dockyard.specs.restart import is_int
from dockyard.specs.volumes import is_volume_name
from dockyard.storage import snapshots

SEED = 20240611


def _strings(alphabet: str, count: int, max_len: int, seed: int = SEED) -> list[str]:
    rnd = random.Random(seed)
    return ["".join(rnd.choices(alphabet, k=rnd.randint(0, max_len))) for _ in range(count)]


def _grammar(pieces: list[str], count: int, max_parts: int, seed: int = SEED) -> list[str]:
    """Strings glued from likely pieces: these hit the grammar far more often."""
    rnd = random.Random(seed)
    return ["".join(rnd.choices(pieces, k=rnd.randint(1, max_parts))) for _ in range(count)]


EDGE_WHITESPACE = ["", " ", "\n", "\t", "\x0b", "\x85", "\xa0"]
UNICODE = ["\u0661", "\u00b2", "\u00e9", "\u0130", "\u212a", "\uff11", "\u0131"]


# -- specs.restart: [+-]?[0-9]+ -------------------------------------------------------------


def test_is_int_matches_regex() -> None:
    rx = re.compile(r"[+-]?[0-9]+")
    cases = ["0", "+1", "-1", "+-1", "--1", "1-", "12a", "+", "-", "007", *EDGE_WHITESPACE]
    cases += [c + d for c in UNICODE for d in ("", "1")] + ["1\n", "\n1"]
    cases += _strings("0123456789+- a\n\u0661", 5000, 6)
    for text in cases:
        assert is_int(text) == bool(rx.fullmatch(text)), repr(text)


# -- specs.volumes: volume names ------------------------------------------------------------


def test_is_volume_name_matches_regex() -> None:
    rx = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")
    cases = ["a", "ab", "a.", "_a", ".a", "-a", "a_b-c.d", "A9", "a\n", "a b", *EDGE_WHITESPACE]
    cases += ["a" + c for c in UNICODE] + [c + "a" for c in UNICODE]
    cases += _strings("aZ09_.-/ :\n\u00e9", 5000, 6)
    for text in cases:
        assert is_volume_name(text) == bool(rx.fullmatch(text)), repr(text)


# -- specs.units: sizes (strconv.ParseFloat's syntax) and CPUs ------------------------------


def test_is_go_float_matches_regex() -> None:
    rx = re.compile(
        r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:inf|infinity|nan)", re.I | re.ASCII
    )
    cases = ["1", "1.", ".1", ".", "1.5", "1e5", "1E+5", "1e-5", "1e", "e5", ".e5", "1.e5"]
    cases += ["inf", "+Inf", "-INFINITY", "nan", "NaN", "infe5", "in", "infinit", "+", "-"]
    cases += ["1.2.3", "++1", "1e+-5", "1..2", *EDGE_WHITESPACE]
    cases += ["1" + c for c in UNICODE] + ["\u0130nf", "\u212ab", "1\u212a"]
    cases += _strings("0123456789.eE+-inaftyIN \u0661", 10000, 7)
    cases += _grammar(["1", "23", ".", "e", "E", "+", "-", "inf", "nan", "ity"], 10000, 5)
    for text in cases:
        assert units.is_go_float(text) == bool(rx.fullmatch(text)), repr(text)


def _cpus_by_regex(text: str) -> int | str:
    """parse_cpus as it was, all by regex (the error as its message)."""
    dec = re.compile(r"([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?", re.ASCII)
    fraction = re.compile(r"([+-]?\d+)/(\d+)", re.ASCII)
    num: int | None = None
    den = 1
    m = fraction.fullmatch(text)
    if m and int(m.group(2)) != 0:
        num, den = int(m.group(1)), int(m.group(2))
    m = dec.fullmatch(text)
    if m and (m.group(2) or m.group(3)):
        sign, whole, frac, exp = m.group(1), m.group(2), m.group(3) or "", int(m.group(4) or 0)
        num = int(whole + frac or "0") * (-1 if sign == "-" else 1)
        scale = exp - len(frac)
        if abs(scale) > 4096:
            num = None
        elif scale >= 0:
            num *= 10**scale
        else:
            den = 10**-scale
    if num is None:
        return "rational"
    nanos, rest = divmod(num * 10**9, den)
    return "precise" if rest else nanos


def test_parse_cpus_matches_regex() -> None:
    cases = ["1", "1.5", ".5", "2.", ".", "", "0", "0.000000001", "0.0000000001", "3/2", "1/0"]
    cases += ["-1.5", "+2", "1e-1", "1.5e3", "1" + "0" * 70, "0." + "0" * 70 + "1", "1\n"]
    cases += ["0." + "1" * 4100, "\u0661", "1\u0661"]
    cases += _strings("0123456789./e+- ", 5000, 8)
    for text in cases:
        try:
            got: int | str = units.parse_cpus(text)
        except InvalidArgument as e:
            got = "precise" if "too precise" in str(e) else "rational"
        assert got == _cpus_by_regex(text), repr(text)


def test_parse_size_common_forms_import_no_re() -> None:
    assert units.parse_size("512m") == 512 << 20
    assert units.parse_size("1.5g") == 3 << 29
    assert units.parse_bytes_decimal("10MB") == 10_000_000


# -- oci.digest ------------------------------------------------------------------------------

HEX64 = "0123456789abcdef" * 4


def _digest_by_regex(text: str) -> tuple[str, str] | str:
    m = re.compile(r"^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$").match(text)
    if not m:
        return "invalid"
    algo, hexpart = m.groups()
    want = {"sha256": 64, "sha512": 128}.get(algo)
    if want is None:
        return "unsupported"
    if len(hexpart) != want or not all(c in "0123456789abcdef" for c in hexpart):
        return "hex"
    return algo, hexpart


def test_digest_parse_matches_regex() -> None:
    cases = [f"sha256:{HEX64}", f"sha512:{HEX64 * 2}", f"sha256:{HEX64}\n", f"sha256:{HEX64[:-1]}"]
    cases += [f"sha256:{HEX64.upper()}", f"sha256:{HEX64}:", f"sha384:{HEX64}", f":{HEX64}"]
    cases += [f"sha256:{HEX64[:-1]}g", f"sha256::{HEX64[:-1]}", f"sha256 :{HEX64}", "sha256:"]
    cases += [f"sha256:{HEX64[:-1]}\u0661", f"\nsha256:{HEX64}", f"sha256:\n{HEX64[:-1]}"]
    rnd = random.Random(SEED)
    for _ in range(3000):
        chars = list(rnd.choice([f"sha256:{HEX64}", f"sha512:{HEX64 * 2}"]))
        for _ in range(rnd.randint(0, 2)):
            op = rnd.randrange(3)
            i = rnd.randrange(len(chars))
            c = rnd.choice("0aAfg:\n-_.+=z")
            if op == 0:
                chars[i] = c
            elif op == 1:
                chars.insert(i, c)
            else:
                del chars[i]
        cases.append("".join(chars))
    for text in cases:
        want = _digest_by_regex(text)
        try:
            d = Digest.parse(text)
        except InvalidArgument as e:
            msg = str(e)
            got: tuple[str, str] | str = (
                "unsupported"
                if "unsupported" in msg
                else "hex"
                if "lowercase hex" in msg
                else "invalid"
            )
        else:
            got = (d.algorithm, d.hex)
        assert got == want, repr(text)


# -- oci.reference ---------------------------------------------------------------------------

REFERENCES_COMMON = [
    "busybox",
    "busybox:latest",
    "alpine:3.19",
    "library/busybox",
    "user/app:v1.2_rc-3",
    "docker.io/library/busybox:1.36",
    "localhost:5000/app",
    "localhost:5000/team/app:dev",
    "registry.example.com/a/b/c:TAG",
    "my-registry.io:443/x",
    "a",
    "a.b/c",
    "a__b",
    "a---b",
    "ghcr.io/owner/repo:sha-abc123",
]


def test_reference_fast_path_matches_regex() -> None:
    rx = re.compile(reference._REFERENCE)
    cases = [*REFERENCES_COMMON, "", ":", "/", "a:", ":a", "a/", "/a", "a//b", "a:b:c", "a/b:c/d"]
    cases += ["A", "a_", "_a", "a._b", "a..b", "a___b", "a-", "-a", "a.-b", "a:-b", "a:.b"]
    cases += ["a:_b", "a:" + "t" * 128, "a:" + "t" * 129, "a\n", "a:b\n", "a@b", "[::1]/a"]
    cases += ["a:b/c", "a:5000/b", "a:50a0/b", "a:/b", "-a.b/c", "a-.b/c", "a.b-/c", ".a/b", "a./b"]
    cases += ["a:\u00e9", "\u00e9", "a/\u0131", "Ab.c/d", "a_b.io/c", "ab:1/c:2", "ab:1:2/c"]
    cases += _grammar(
        ["a", "b0", "Z", ".", "_", "__", "-", "--", "/", ":", "5000", "x.io", "\n", "@", "é"],
        20000,
        8,
    )
    cases += _strings("ab0Z._-/:\n", 20000, 9)
    accepted = 0
    for text in cases:
        fast = reference._fast_parse(text)
        m = rx.match(text)
        eligible = text.isascii() and not any(c in text for c in "@[\n")
        if fast is None:
            # left to the regex: only what it rejects, or a form the fast path skips
            assert m is None or not eligible, repr(text)
            continue
        accepted += 1
        assert m is not None, repr(text)
        assert fast == (m.group("name"), m.group("tag")), repr(text)
        assert m.group("digest") is None
    assert accepted > 2000  # the generator does reach the fast path
    for text in REFERENCES_COMMON:
        assert reference._fast_parse(text) is not None, text


def test_reference_parse_unchanged_for_what_the_fast_path_leaves() -> None:
    for text in (f"busybox@sha256:{HEX64}", "[::1]:5000/a:b", "a:\u00e9", "Busybox", "a\n"):
        try:
            got = str(reference.parse_reference(text))
        except InvalidArgument as e:
            got = str(e)
        assert got  # parsed or explained by the regex, as before
    assert str(reference.parse_reference("a:\u00e9")) == "docker.io/library/a:\u00e9"
    with pytest.raises(InvalidArgument, match="must be lowercase"):
        reference.parse_reference("Busybox")


# -- storage.snapshots: keys -----------------------------------------------------------------


def test_snapshot_key_fast_path_matches_regex() -> None:
    rx = re.compile(snapshots._KEY_PATTERN)
    cases = ["a", "abc", "a.b", "a_b-c", "a" * 128, "a" * 129, "", ".", "-a", "_a", "a/b"]
    cases += ["a\n", "a ", "A", "Z9", "9", "a..b", "\u00e9", "a\u0661", "sha256:" + HEX64]
    cases += _strings("aZ9._-:/ \n\u00e9", 20000, 6)
    cases += ["x" * n for n in range(120, 140)]
    for text in cases:
        assert snapshots.is_valid_key(text) == bool(rx.fullmatch(text)), repr(text)
