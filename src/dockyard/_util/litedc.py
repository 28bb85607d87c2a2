"""``dataclass``, ``field`` and ``replace`` for the build path, without ``dataclasses``.

Importing ``dataclasses`` costs ~4.5 ms (it pulls in ``inspect`` and ``ast``) and
each ``@dataclass`` compiles its methods at import (~0.3-0.5 ms a class): the
Dockerfile instructions, the build events and the rest of the builder's ~60
classes were a third of a cold ``dockyard build``. This decorator makes the same
classes from the annotations with shared, generic methods (nothing compiled):
``__init__`` (positional and keyword, defaults, ``default_factory``,
``kw_only``), ``__eq__``/``__hash__`` over the ``compare`` fields, ``__repr__``
over the ``repr`` fields, ``frozen`` and ``slots``; type checkers see a dataclass
(``dataclass_transform``). ``dataclasses.fields``/``replace``/``asdict``/
``is_dataclass`` still work: ``__dataclass_fields__`` is made on first use (then
``dataclasses`` is imported). :func:`replace` here also takes a
:class:`~dockyard._util.record.DataRecord`.
"""

from __future__ import annotations

from operator import attrgetter

from dockyard._util.record import DataRecord

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from dataclasses import Field
    from typing import Any, TypeVar, dataclass_transform, overload

    _T = TypeVar("_T")


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class FrozenInstanceError(AttributeError):
    """Assigning to a field of a frozen class (as ``dataclasses.FrozenInstanceError``)."""


class _Spec:
    """One field: what ``field()`` says, plus its name and annotation."""

    __slots__ = ("compare", "default", "default_factory", "init", "kw_only", "name", "repr", "type")

    def __init__(
        self,
        default: Any = MISSING,
        default_factory: Any = MISSING,
        init: bool = True,
        repr: bool = True,
        compare: bool = True,
        kw_only: bool | None = None,
    ) -> None:
        self.name = ""
        self.type = ""
        self.default = default
        self.default_factory = default_factory
        self.init = init
        self.repr = repr
        self.compare = compare
        self.kw_only = kw_only


def field(
    *,
    default: Any = MISSING,
    default_factory: Callable[[], Any] | Any = MISSING,
    init: bool = True,
    repr: bool = True,
    compare: bool = True,
    kw_only: bool | None = None,
) -> Any:
    if default is not MISSING and default_factory is not MISSING:
        raise ValueError("cannot specify both default and default_factory")
    return _Spec(default, default_factory, init, repr, compare, kw_only)


def _frozen_setattr(self: object, name: str, value: object) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: object, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


class _DataclassFields:
    """``__dataclass_fields__``: real ``dataclasses.Field`` objects, made on first use."""

    def __get__(self, obj: object, owner: type) -> dict[str, Field[Any]]:
        made: dict[str, Field[Any]] | None = owner.__dict__.get("_dataclass_fields")
        if made is None:
            import dataclasses

            made = {}
            for spec in owner.__litedc_fields__:  # type: ignore[attr-defined]
                kw: dict[str, Any] = {}
                if spec.default is not MISSING:
                    kw["default"] = spec.default
                if spec.default_factory is not MISSING:
                    kw["default_factory"] = spec.default_factory
                f: Field[Any] = dataclasses.field(
                    init=spec.init, repr=spec.repr, compare=spec.compare,
                    kw_only=bool(spec.kw_only), **kw,
                )  # fmt: skip
                f.name, f.type = spec.name, spec.type
                f._field_type = dataclasses._FIELD  # type: ignore[attr-defined]
                made[spec.name] = f
            type.__setattr__(owner, "_dataclass_fields", made)
        return made


def _own_annotations(cls: type) -> dict[str, Any]:
    return cls.__dict__.get("__annotations__", {})  # type: ignore[no-any-return]  # noqa: RUF063 (no inspect)


def _fields_of(cls: type, kw_only: bool) -> list[_Spec]:
    specs: dict[str, _Spec] = {}
    for base in reversed(cls.__mro__[1:]):
        for spec in base.__dict__.get("__litedc_fields__", ()):
            specs[spec.name] = spec
    for name, annotation in _own_annotations(cls).items():
        text = annotation if isinstance(annotation, str) else repr(annotation)
        if text.startswith(("ClassVar", "typing.ClassVar")):
            continue
        value = cls.__dict__.get(name, MISSING)
        spec = value if isinstance(value, _Spec) else _Spec(default=value)
        spec.name, spec.type = name, text
        if spec.kw_only is None:
            spec.kw_only = kw_only
        if spec.default is MISSING:
            if name in cls.__dict__:
                delattr(cls, name)
        else:
            setattr(cls, name, spec.default)
        specs[name] = spec
    return list(specs.values())


def _make_init(cls: type, specs: list[_Spec], slots: bool) -> Callable[..., None]:
    init = [s for s in specs if s.init]
    positional = tuple(s.name for s in init if not s.kw_only)
    names = frozenset(s.name for s in init)
    defaults = {s.name: s.default for s in init if s.default is not MISSING}
    factories = tuple((s.name, s.default_factory) for s in init if s.default_factory is not MISSING)
    post_init = getattr(cls, "__post_init__", None)
    count = len(names)
    title = f"{cls.__qualname__}.__init__()"
    setter = object.__setattr__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if args:
            if len(args) > len(positional):
                raise TypeError(
                    f"{title} takes {len(positional) + 1} positional arguments "
                    f"but {len(args) + 1} were given"
                )
            for name, value in zip(positional, args, strict=False):
                if name in kwargs:
                    raise TypeError(f"{title} got multiple values for argument {name!r}")
                kwargs[name] = value
        values = {**defaults, **kwargs} if defaults else kwargs
        for name, factory in factories:
            if name not in values:
                values[name] = factory()
        if len(values) != count or not values.keys() <= names:
            unknown = sorted(values.keys() - names)
            if unknown:
                raise TypeError(f"{title} got an unexpected keyword argument {unknown[0]!r}")
            missing = [n for n in (s.name for s in init) if n not in values]
            raise TypeError(f"{title} missing required argument {missing[0]!r}")
        if slots:
            for name, value in values.items():
                setter(self, name, value)
        else:
            self.__dict__.update(values)
        if post_init is not None:
            post_init(self)

    return __init__


def _getter(names: list[str]) -> Callable[[Any], Any]:
    if not names:
        return lambda _: ()
    return attrgetter(*names)


def _dataclass(
    cls: type[_T] | None = None,
    /,
    *,
    frozen: bool = False,
    kw_only: bool = False,
    eq: bool = True,
    slots: bool = False,
) -> Any:
    def wrap(cls: type[_T]) -> type[_T]:
        return _process(cls, frozen=frozen, kw_only=kw_only, eq=eq, slots=slots)

    return wrap if cls is None else wrap(cls)


if TYPE_CHECKING:

    @overload  # type: ignore[no-overload-impl]  # the implementation: _dataclass
    @dataclass_transform(field_specifiers=(field,))
    def dataclass(cls: type[_T], /) -> type[_T]: ...
    @overload
    def dataclass(
        *, frozen: bool = False, kw_only: bool = False, eq: bool = True, slots: bool = False
    ) -> Callable[[type[_T]], type[_T]]: ...
else:
    dataclass = _dataclass


def _process(cls: type[_T], *, frozen: bool, kw_only: bool, eq: bool, slots: bool) -> type[_T]:
    specs = _fields_of(cls, kw_only)
    if slots:
        own = [s.name for s in specs if s.name in _own_annotations(cls)]
        ns = {k: v for k, v in cls.__dict__.items() if k not in ("__dict__", "__weakref__")}
        for name in own:
            ns.pop(name, None)
        ns["__slots__"] = tuple(own)
        meta: Any = type(cls)
        cls = meta(cls.__name__, cls.__bases__, ns)

    def put(name: str, value: object) -> None:
        if name not in cls.__dict__:
            type.__setattr__(cls, name, value)

    type.__setattr__(cls, "__litedc_fields__", tuple(specs))
    type.__setattr__(cls, "__litedc_init__", tuple(s.name for s in specs if s.init))
    type.__setattr__(cls, "__dataclass_fields__", _DataclassFields())
    put("__init__", _make_init(cls, specs, slots))
    shown = [s.name for s in specs if s.repr]
    qualname = cls.__qualname__

    def __repr__(self: Any) -> str:
        return f"{qualname}({', '.join([f'{n}={getattr(self, n)!r}' for n in shown])})"

    put("__repr__", __repr__)
    if eq:
        key = _getter([s.name for s in specs if s.compare])

        def __eq__(self: Any, other: object) -> bool:
            if other.__class__ is self.__class__:
                return bool(key(self) == key(other))
            return NotImplemented

        put("__eq__", __eq__)
        if frozen:
            if cls.__dict__.get("__hash__") is None:

                def __hash__(self: Any) -> int:
                    return hash(key(self))

                type.__setattr__(cls, "__hash__", __hash__)
        elif "__hash__" not in cls.__dict__ or cls.__dict__["__hash__"] is None:
            type.__setattr__(cls, "__hash__", None)
    if frozen:
        if "__setattr__" in cls.__dict__ or "__delattr__" in cls.__dict__:
            raise TypeError(f"cannot overwrite __setattr__/__delattr__ of frozen {qualname}")
        type.__setattr__(cls, "__setattr__", _frozen_setattr)
        type.__setattr__(cls, "__delattr__", _frozen_delattr)
    return cls


def replace(obj: _T, /, **changes: Any) -> _T:
    """``dataclasses.replace`` for these classes and for ``DataRecord`` subclasses."""
    cls = type(obj)
    names: tuple[str, ...] | None = getattr(cls, "__litedc_init__", None)
    if names is None:
        if isinstance(obj, DataRecord):
            return obj.replace(**changes)
        import dataclasses

        return dataclasses.replace(obj, **changes)  # type: ignore[type-var]
    values = {n: getattr(obj, n) for n in names}
    values.update(changes)
    return cls(**values)
