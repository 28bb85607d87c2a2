import calendar
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.errors import InvalidArgument
from dockyard.specs.units import (
    format_cpus,
    format_duration,
    format_duration_nanos,
    format_size,
    parse_bytes_decimal,
    parse_cpus,
    parse_duration,
    parse_duration_nanos,
    parse_size,
    parse_timestamp,
)

KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("0", 0),
        ("100", 100),
        ("100b", 100),
        ("100B", 100),
        ("1k", KIB),
        ("1K", KIB),
        ("1kb", KIB),
        ("1KiB", KIB),
        ("512m", 512 * MIB),
        ("512M", 512 * MIB),
        ("64MiB", 64 * MIB),
        ("1g", GIB),
        ("1.5g", 3 * GIB // 2),
        ("2t", 2 << 40),
        ("1p", 1 << 50),
        ("0.1k", 102),  # truncated, as Go's int64(float64)
        ("1 kb", KIB),  # one space before the unit
        ("12 ", 12),
        ("1e3", 1000),
        ("9223372036854775807", (1 << 63) - 1),  # exact: no float rounding
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("12q", "invalid suffix: 'q'"),
        ("1kk", "invalid suffix: 'kk'"),
        ("1bb", "invalid suffix: 'bb'"),
        ("1ib", "invalid suffix: 'ib'"),
        ("1kibb", "invalid suffix: 'kibb'"),
        ("q", "invalid size: 'q'"),
        ("", "invalid size: ''"),
        ("-1", "invalid size: '-1'"),
        ("1.2.3", 'strconv.ParseFloat: parsing "1.2.3": invalid syntax'),
        ("1  k", 'strconv.ParseFloat: parsing "1 ": invalid syntax'),
        ("99999999999p", "invalid size: '99999999999p'"),
    ],
)
def test_parse_size_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        parse_size(text)
    assert str(e.value) == message


def test_size_error_names_the_flag() -> None:
    with pytest.raises(InvalidArgument) as e:
        parse_size("12q", flag="-m, --memory")
    assert str(e.value) == 'invalid argument "12q" for "-m, --memory" flag: invalid suffix: \'q\''
    assert e.value.hint


@pytest.mark.parametrize(
    ("text", "size"),
    [("10m", 10_000_000), ("10MB", 10_000_000), ("1k", 1000), ("2g", 2 * 10**9), ("5", 5)],
)
def test_parse_bytes_decimal(text: str, size: int) -> None:
    assert parse_bytes_decimal(text) == size


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0"), (100, "100"), (KIB, "1k"), (1536 * MIB, "1536m"), (GIB, "1g"), (1 << 50, "1p")],
)
def test_format_size(size: int, text: str) -> None:
    assert format_size(size) == text


@given(st.integers(min_value=0, max_value=(1 << 63) - 1))
def test_size_round_trip(size: int) -> None:
    text = format_size(size)
    assert parse_size(text) == size
    assert format_size(parse_size(text)) == text


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0.0),
        ("1s", 1.0),
        ("1m30s", 90.0),
        ("1.5h", 5400.0),
        ("2h45m", 9900.0),
        ("-2ms", -0.002),
        ("+5s", 5.0),
        ("300us", 0.0003),
        ("300\u00b5s", 0.0003),
        ("300\u03bcs", 0.0003),
        ("10ns", 1e-8),
        (".5s", 0.5),
        ("1.s", 1.0),
        ("1h1m1s1ms", 3661.001),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x", 'time: invalid duration "x"'),
        ("", 'time: invalid duration ""'),
        ("1", 'time: missing unit in duration "1"'),
        ("1q", 'time: unknown unit "q" in duration "1q"'),
        ("1\u00b5", 'time: unknown unit "\\xc2\\xb5" in duration "1\\xc2\\xb5"'),
        (".s", 'time: invalid duration ".s"'),
        ("-", 'time: invalid duration "-"'),
        ("1s 2m", 'time: unknown unit "s " in duration "1s 2m"'),
        ("9999999999h", 'time: invalid duration "9999999999h"'),
    ],
)
def test_parse_duration_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        parse_duration(text)
    assert str(e.value) == message


@pytest.mark.parametrize(
    ("nanos", "text"),
    [
        (0, "0s"),
        (1, "1ns"),
        (1500, "1.5\u00b5s"),
        (1_500_000, "1.5ms"),
        (90 * 10**9, "1m30s"),
        (3600 * 10**9, "1h0m0s"),
        (-(2 * 10**6), "-2ms"),
        (3_723_500_000_000, "1h2m3.5s"),
    ],
)
def test_format_duration(nanos: int, text: str) -> None:
    assert format_duration_nanos(nanos) == text
    assert format_duration(nanos / 1e9) == text


@given(st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1))
def test_duration_round_trip(nanos: int) -> None:
    assert parse_duration_nanos(format_duration_nanos(nanos)) == nanos


@pytest.mark.parametrize(
    ("text", "nanos"),
    [
        ("1.5", 1_500_000_000),
        ("2", 2_000_000_000),
        (".5", 500_000_000),
        ("3/2", 1_500_000_000),
        ("1e-1", 100_000_000),
        ("0.000000001", 1),
        ("0", 0),
    ],
)
def test_parse_cpus(text: str, nanos: int) -> None:
    assert parse_cpus(text) == nanos


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1.x", "failed to parse 1.x as a rational number"),
        ("", "failed to parse  as a rational number"),
        ("1/0", "failed to parse 1/0 as a rational number"),
        ("0.0000000001", "value is too precise"),
    ],
)
def test_parse_cpus_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        parse_cpus(text)
    assert str(e.value) == message


def test_cpus_error_names_the_flag() -> None:
    with pytest.raises(InvalidArgument, match=r'^invalid argument "1.x" for "--cpus" flag: '):
        parse_cpus("1.x", flag="--cpus")


@given(st.integers(min_value=0, max_value=10**15))
def test_cpus_round_trip(nanos: int) -> None:
    assert parse_cpus(format_cpus(nanos)) == nanos


NOW = 1_700_000_000.5


def _utc(year: int, month: int, day: int, hour: int, minute: int, second: int) -> int:
    return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10m", 1_699_999_400.0),  # now - 10m, whole seconds
        ("1h30m", 1_699_994_600.0),
        ("-10s", 1_700_000_010.0),
        ("0", 0.0),
        ("1700000000", 1_700_000_000.0),
        ("1700000000.123", 1_700_000_000.123),
        ("1700000000.5", 1_700_000_000.5),
        ("2024-01-02", _utc(2024, 1, 2, 0, 0, 0)),
        ("2024-01-02Z", _utc(2024, 1, 2, 0, 0, 0)),
        ("2024-01-02T15", _utc(2024, 1, 2, 15, 0, 0)),
        ("2024-01-02T15:04", _utc(2024, 1, 2, 15, 4, 0)),
        ("2024-01-02T15:04:05", _utc(2024, 1, 2, 15, 4, 5)),
        ("2024-01-02T15:04:05Z", _utc(2024, 1, 2, 15, 4, 5)),
        ("2024-01-02T15:04:05.25Z", _utc(2024, 1, 2, 15, 4, 5) + 0.25),
        ("2024-01-02T15:04:05+02:00", _utc(2024, 1, 2, 13, 4, 5)),
        ("2024-01-02T15:04:05-07:00", _utc(2024, 1, 2, 22, 4, 5)),
        ("2024-01-02T15:04+01:00", _utc(2024, 1, 2, 14, 4, 0)),
        ("2024-02-29T00:00:00Z", _utc(2024, 2, 29, 0, 0, 0)),
        ("2024-01-02T15:04:05.123456789", _utc(2024, 1, 2, 15, 4, 5) + 0.123456789),
    ],
)
def test_parse_timestamp(text: str, expected: float) -> None:
    assert parse_timestamp(text, NOW, utc_offset=0) == pytest.approx(expected, abs=1e-6)


def test_timestamp_without_zone_uses_the_offset() -> None:
    base = _utc(2024, 1, 2, 15, 4, 5)
    assert parse_timestamp("2024-01-02T15:04:05", NOW, utc_offset=3600) == base - 3600
    assert parse_timestamp("2024-01-02T15:04:05Z", NOW, utc_offset=3600) == base
    local = time.localtime(NOW).tm_gmtoff
    assert parse_timestamp("2024-01-02T15:04:05", NOW) == base - local


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2024-13-02", 'parsing time "2024-13-02": month out of range'),
        ("2024-02-30", 'parsing time "2024-02-30": day out of range'),
        ("2023-02-29", 'parsing time "2023-02-29": day out of range'),
        ("2024-01-02x", 'parsing time "2024-01-02x": extra text: "x"'),
        ("2024-01-02T25:00Z", 'parsing time "2024-01-02T25:00Z": hour out of range'),
        (
            "2024-1-02",
            'parsing time "2024-1-02" as "2006-01-02": cannot parse "1-02" as "01"',
        ),
        (
            "2024-01-02T15:04:05z",
            'parsing time "2024-01-02T15:04:05z" as "2006-01-02T15:04:05Z07:00": '
            'cannot parse "z" as "Z07:00"',
        ),
        ("xx", 'failed to parse value as time or duration: "xx"'),
        ("1700000000.", 'failed to parse value as time or duration: "1700000000."'),
        ("", 'failed to parse value as time or duration: ""'),
    ],
)
def test_parse_timestamp_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        parse_timestamp(text, NOW, utc_offset=0)
    assert str(e.value) == message
