"""_util/record.py: what the records get from Record, as from a frozen dataclass."""

from __future__ import annotations

import copy
import pickle

import pytest

from dockyard._util.record import OrderedRecord, Record
from dockyard.oci.digest import Digest
from dockyard.oci.reference import parse_reference


class Point(Record):
    __slots__ = ("x", "y")
    x: int
    y: list[int]

    def __init__(self, x: int, y: list[int] | None = None) -> None:
        self._set(x=x, y=[] if y is None else y)


class Version(OrderedRecord):
    __slots__ = ("major", "minor")
    major: int
    minor: int

    def __init__(self, major: int, minor: int = 0) -> None:
        self._set(major=major, minor=minor)


def test_equality_hash_repr() -> None:
    assert Version(1, 2) == Version(1, 2)
    assert Version(1, 2) != Version(1, 3)
    assert Version(1) != (1, 0)
    assert hash(Version(1, 2)) == hash(Version(1, 2))
    assert len({Version(1), Version(1, 0), Version(2)}) == 2
    assert repr(Version(1, 2)) == "Version(major=1, minor=2)"
    assert repr(Point(1, [2])) == "Point(x=1, y=[2])"


def test_immutable() -> None:
    p = Point(1)
    with pytest.raises(AttributeError):
        p.x = 2  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del p.x  # type: ignore[misc]
    with pytest.raises(AttributeError):
        p.z = 3  # type: ignore[attr-defined]
    p.y.append(2)  # as with a frozen dataclass: the list itself is not frozen
    assert p.y == [2]


def test_order() -> None:
    assert sorted([Version(2), Version(1, 5), Version(1, 2)]) == [
        Version(1, 2),
        Version(1, 5),
        Version(2),
    ]
    assert Version(1) < Version(1, 1) <= Version(1, 1) < Version(2) > Version(1)
    with pytest.raises(TypeError):
        assert Version(1) < (1, 0)  # type: ignore[operator]


@pytest.mark.parametrize(
    "value",
    [
        Point(1, [2, 3]),
        Version(3, 1),
        Digest.parse("sha256:" + "a" * 64),
        parse_reference("localhost:5000/x/y:1"),
    ],
)
def test_copy_and_pickle(value: Record) -> None:
    assert copy.copy(value) == value
    assert copy.deepcopy(value) == value
    assert pickle.loads(pickle.dumps(value)) == value
