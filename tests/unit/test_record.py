"""_util/record.py: what the records get from Record, as from a frozen dataclass."""

from __future__ import annotations

import copy
import pickle

import pytest

from dockyard._util.record import DataRecord, OrderedRecord, Record
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


class Box(DataRecord):
    __slots__ = ("label", "size", "inner")  # noqa: RUF023 (field order)
    label: str
    size: int
    inner: Point | None

    def __init__(self, label: str, size: int = 1, inner: Point | None = None) -> None:
        self._set(label=label, size=size, inner=inner)


def test_data_record_is_taken_as_a_dataclass() -> None:
    import dataclasses

    box = Box("a", 2, Point(1, [2]))
    assert box.replace(size=3) == Box("a", 3, Point(1, [2]))
    assert dataclasses.replace(box, label="b") == Box("b", 2, Point(1, [2]))
    assert dataclasses.is_dataclass(box) and dataclasses.is_dataclass(Box)
    assert [f.name for f in dataclasses.fields(Box)] == ["label", "size", "inner"]
    assert [f.type for f in dataclasses.fields(box)] == ["str", "int", "Point | None"]
    assert dataclasses.asdict(Box("c")) == {"label": "c", "size": 1, "inner": None}
    assert not dataclasses.is_dataclass(Point(1))  # a plain Record is not one
    with pytest.raises(TypeError):
        box.replace(colour="red")


def test_run_path_records_keep_their_dataclass_api() -> None:
    """The runtime spec, image config and create request left @dataclass for start-up;
    code elsewhere (executor, external runtimes, build, update) still calls
    dataclasses.replace on them."""
    import dataclasses

    from dockyard.engine.container_config import ContainerCreate
    from dockyard.oci.image import ImageConfig
    from dockyard.oci.runtime_spec import Process, RuntimeSpec, User

    spec = RuntimeSpec(Process(("sh",)))
    proc = dataclasses.replace(spec.process, user=User(1, 2))
    assert proc == Process(("sh",), user=User(1, 2)) and proc != spec.process
    assert dataclasses.replace(spec, process=proc).process.user.gid == 2
    req = ContainerCreate("busybox", cmd=("true",))
    assert ContainerCreate.from_json(req.with_name("x").to_json()) == req.replace(name="x")
    assert dataclasses.replace(ImageConfig(), os="plan9").os == "plan9"
    assert hash(spec) == hash(RuntimeSpec(Process(("sh",))))
