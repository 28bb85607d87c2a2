"""``RUN --mount=type=cache,target=/root/.cache`` as a typed :class:`RunMount`.

BuildKit's rules (``instructions/commands_runmount.go``): a CSV of ``key=value``
fields; ``type`` is ``bind`` (the default), ``cache``, ``tmpfs``, ``secret`` or
``ssh``; ``target``/``dst``/``destination``, ``source``/``src``, ``from``, ``id``,
``sharing`` (``shared``/``private``/``locked``, cache only), ``ro``/``readonly``,
``rw``/``readwrite``, ``mode`` (octal), ``uid``, ``gid`` (cache, secret, ssh only),
``required`` (secret, ssh), ``size`` (tmpfs), ``env`` (secret). Without an
explicit ``ro``/``rw`` a bind, secret or ssh mount is read-only and a cache or
tmpfs mount writable. Values are expanded with the RUN step's variables,
except ``from``, which may not use variables.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable

from dockyard._util.litedc import dataclass, replace
from dockyard.dockerfile.errors import DockerfileError, with_suggestion
from dockyard.errors import InvalidArgument

MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
SHARING_MODES = ("shared", "private", "locked")
_KEYS = (
    "type",
    "from",
    "source",
    "target",
    "readonly",
    "id",
    "sharing",
    "required",
    "mode",
    "uid",
    "gid",
    "src",
    "dst",
    "destination",
    "ro",
    "rw",
    "readwrite",
    "size",
    "env",
)
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")
_VARIABLE = re.compile(r"\$.", re.DOTALL)


@dataclass(frozen=True)
class RunMount:
    """One ``--mount``; ``spec`` is the flag's text as written.

    ``resolved`` is false for a spec that uses variables before
    :meth:`~dockyard.dockerfile.instructions.Run.expand`: only ``spec`` means
    anything then.
    """

    spec: str
    type: str = "bind"
    target: str = ""
    source: str = ""
    from_: str = ""
    readonly: bool = True
    id: str = ""
    sharing: str = ""
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    required: bool = False
    size: int | None = None
    env: str | None = None
    resolved: bool = True


def parse_mount(spec: str, expand: Callable[[str], str] | None) -> RunMount:
    """Parse one ``--mount`` value; ``expand`` maps each value (``None``: the
    spec uses variables and is only checked for ``from=$...``)."""
    try:
        rows = list(csv.reader([spec], strict=True))
    except csv.Error as e:
        raise DockerfileError(f"failed to parse csv mounts: {e}") from None
    fields = rows[0] if rows and rows[0] else None
    if fields is None:
        raise DockerfileError("failed to parse csv mounts: EOF")
    if expand is None:
        for item in fields:
            key, _, value = item.partition("=")
            if key.lower() == "from" and _VARIABLE.search(value):
                raise DockerfileError(
                    "'from' doesn't support variable expansion, define alias stage instead",
                    hint="add a stage 'FROM $IMAGE AS alias' and mount from=alias",
                )
        return RunMount(spec, resolved=False)
    m = RunMount(spec)
    ro_auto = True
    for item in fields:
        key, has_value, value = item.partition("=")
        key = key.lower()
        if not has_value:
            if key in ("readonly", "ro"):
                m, ro_auto = replace(m, readonly=True), False
            elif key in ("readwrite", "rw"):
                m, ro_auto = replace(m, readonly=False), False
            elif key == "required" and m.type in ("secret", "ssh"):
                m = replace(m, required=True)
            elif key == "required":
                raise _unexpected_for_type(key, m.type)
            else:
                raise DockerfileError(
                    f"invalid field '{item}' must be a key=value pair",
                    hint="only ro, rw and required stand alone; write key=value",
                )
            continue
        try:
            value = expand(value)
        except InvalidArgument as e:
            raise DockerfileError(e.message) from None
        m, explicit_ro = _apply(m, key, value, item)
        ro_auto = ro_auto and not explicit_ro
    return _validate(m, ro_auto)


def _apply(m: RunMount, key: str, value: str, item: str) -> tuple[RunMount, bool]:
    if key == "type":
        kind = value.lower()
        if kind not in MOUNT_TYPES:
            raise DockerfileError(
                with_suggestion(
                    f'unsupported mount type "{value}"', value, MOUNT_TYPES, case_sensitive=True
                ),
                hint="type is one of " + ", ".join(MOUNT_TYPES),
            )
        return replace(m, type=kind), False
    if key == "from":
        return replace(m, from_=value), False
    if key in ("source", "src"):
        return replace(m, source=value), False
    if key in ("target", "dst", "destination"):
        return replace(m, target=value), False
    if key in ("readonly", "ro"):
        return replace(m, readonly=_bool(key, value)), True
    if key in ("readwrite", "rw"):
        return replace(m, readonly=not _bool(key, value)), True
    if key == "required":
        if m.type not in ("secret", "ssh"):
            raise _unexpected_for_type(key, m.type)
        return replace(m, required=_bool(key, value)), False
    if key == "size":
        if m.type != "tmpfs":
            raise _unexpected_for_type(key, m.type)
        from dockyard.specs.units import parse_size

        try:
            return replace(m, size=parse_size(value)), False
        except InvalidArgument:
            raise DockerfileError(f"invalid value for {key}: {value}") from None
    if key == "id":
        return replace(m, id=value), False
    if key == "sharing":
        sharing = value.lower()
        if sharing not in SHARING_MODES:
            raise DockerfileError(
                with_suggestion(
                    f'unsupported sharing value "{value}"',
                    value,
                    SHARING_MODES,
                    case_sensitive=True,
                ),
                hint="sharing is one of " + ", ".join(SHARING_MODES),
            )
        return replace(m, sharing=sharing), False
    if key == "env":
        if m.type != "secret":
            raise _unexpected_for_type(key, m.type)
        return replace(m, env=value), False
    if key in ("mode", "uid", "gid"):
        number = _uint32(value, 8 if key == "mode" else 10)
        if number is None:
            raise DockerfileError(
                f"invalid value {value} for {key}",
                hint="mode is octal (0755); uid and gid are numbers",
            )
        if key == "mode":
            return replace(m, mode=number), False
        if key == "uid":
            return replace(m, uid=number), False
        return replace(m, gid=number), False
    raise DockerfileError(
        with_suggestion(f"unexpected key '{key}' in '{item}'", key, _KEYS, case_sensitive=True),
        hint="keys: " + ", ".join(_KEYS),
    )


def _validate(m: RunMount, ro_auto: bool) -> RunMount:
    if m.type not in ("secret", "ssh", "cache"):
        for what in ("mode", "uid", "gid"):
            if getattr(m, what) is not None:
                raise DockerfileError(
                    f'{what} not allowed for "{m.type}" type mounts',
                    hint="mode, uid and gid apply to cache, secret and ssh mounts",
                )
    if ro_auto:
        m = replace(m, readonly=m.type not in ("cache", "tmpfs"))
    if m.type == "secret":
        if m.from_:
            raise DockerfileError(
                "secret mount should not have a from",
                hint="secrets come from the build's --secret; drop from=",
            )
        if m.sharing:
            raise DockerfileError("secret mount should not define sharing")
        if not (m.source or m.target or m.id):
            raise DockerfileError(
                "invalid secret mount. one of source, target required",
                hint="give the secret an id: --mount=type=secret,id=mysecret",
            )
        if m.source and m.id:
            raise DockerfileError("both source and id can't be set")
    if m.sharing and m.type != "cache":
        raise DockerfileError(
            f"invalid cache sharing set for {m.type} mount",
            hint="sharing applies to type=cache mounts",
        )
    return m


_KEY_TYPES = {"required": "secret and ssh", "size": "tmpfs", "env": "secret"}


def _unexpected_for_type(key: str, kind: str) -> DockerfileError:
    return DockerfileError(
        f"unexpected key '{key}' for mount type '{kind}'",
        hint=f"{key} applies to {_KEY_TYPES.get(key, 'other')} mounts; is type= given first?",
    )


def _bool(key: str, value: str) -> bool:
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise DockerfileError(f"invalid value for {key}: {value}")


def _uint32(value: str, base: int) -> int | None:
    digits = "01234567" if base == 8 else "0123456789"
    if not value or any(c not in digits for c in value):
        return None
    number = int(value, base)
    return number if number < 1 << 32 else None
