"""Small immutable value classes without ``dataclasses``.

``@dataclass(frozen=True)`` costs every command that imports the class: importing
``dataclasses`` pulls in ``inspect`` and ``ast`` (~4.5 ms) and each class generates
and compiles its methods at import (~0.5 ms a class). The records that every hot
command needs (the engine config, image and container rows, digests, references)
derive from :class:`Record` instead, like :mod:`dockyard.runtime.state` does for the
shim: ``__slots__`` name the fields (in order), an explicit typed ``__init__`` sets
them with ``_set``, and this base compares, hashes, prints and copies them by those
fields, as a frozen dataclass would.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import Field
    from typing import Any, ClassVar, Self


class Record:
    """Immutable, slotted, compared/hashed/printed by its ``__slots__`` fields."""

    __slots__: tuple[str, ...] = ()

    def _set(self, **values: object) -> None:
        for k, v in values.items():
            object.__setattr__(self, k, v)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r} of {type(self).__name__}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r} of {type(self).__name__}")

    def _values(self) -> tuple[Any, ...]:
        return tuple([getattr(self, k) for k in self.__slots__])

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self) or not isinstance(other, Record):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        body = ", ".join([f"{k}={getattr(self, k)!r}" for k in self.__slots__])
        return f"{type(self).__qualname__}({body})"

    # copy, deepcopy and pickle restore the slots through here (plain setattr refuses)
    def __getstate__(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._set(**state)


class OrderedRecord(Record):
    """A :class:`Record` that also orders by its fields (``@dataclass(order=True)``)."""

    __slots__ = ()

    def __lt__(self, other: object) -> bool:
        if type(other) is not type(self) or not isinstance(other, Record):
            return NotImplemented
        return self._values() < other._values()

    def __le__(self, other: object) -> bool:
        if type(other) is not type(self) or not isinstance(other, Record):
            return NotImplemented
        return self._values() <= other._values()

    def __gt__(self, other: object) -> bool:
        if type(other) is not type(self) or not isinstance(other, Record):
            return NotImplemented
        return self._values() > other._values()

    def __ge__(self, other: object) -> bool:
        if type(other) is not type(self) or not isinstance(other, Record):
            return NotImplemented
        return self._values() >= other._values()


class _DataclassFields:
    """``__dataclass_fields__`` of a :class:`DataRecord`, made on first use: one
    ``dataclasses.Field`` per slot, as ``@dataclass`` would have made them. Only what
    reads it (``dataclasses.replace``, ``fields``, ``asdict``) imports dataclasses."""

    def __get__(self, obj: object, owner: type[DataRecord]) -> dict[str, Field[Any]]:
        made: dict[str, Field[Any]] | None = owner.__dict__.get("_dataclass_fields")
        if made is None:
            import dataclasses
            import inspect  # imported by dataclasses anyway

            made = {}
            annotations = inspect.get_annotations(owner)
            names: tuple[str, ...] = owner.__slots__
            for name in names:
                f: Field[Any] = dataclasses.field()
                f.name, f.type = name, annotations.get(name, "Any")
                f._field_type = dataclasses._FIELD  # type: ignore[attr-defined]
                made[name] = f
            type.__setattr__(owner, "_dataclass_fields", made)
        return made


class DataRecord(Record):
    """A :class:`Record` in place of a frozen dataclass that other code treats as one:
    ``dataclasses.replace``, ``fields``, ``asdict`` and ``is_dataclass`` take it as the
    dataclass with its ``__slots__`` as fields (``__init__`` takes them all, in order).
    :meth:`replace` is ``dataclasses.replace`` without importing dataclasses."""

    __slots__ = ()
    if TYPE_CHECKING:
        __dataclass_fields__: ClassVar[dict[str, Field[Any]]]
    else:
        __dataclass_fields__ = _DataclassFields()

    def replace(self, **changes: Any) -> Self:
        return type(self)(**{**self.__getstate__(), **changes})
