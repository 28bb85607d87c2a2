"""Seccomp profiles in moby's JSON layout (``profiles/seccomp/default.json``, and the
files ``--security-opt seccomp=FILE`` names): groups of syscalls with
``includes``/``excludes`` conditions on capabilities, architecture and kernel
version. :meth:`SeccompProfile.resolve` evaluates them for one container as moby
does, giving the OCI ``linux.seccomp`` that config.json carries. Pure Python: the
compiling and installing is :mod:`dockyard.runtime.seccomp`'s.
"""

from __future__ import annotations

from dockyard._util import jsonlite
from dockyard._util.record import Record
from dockyard.errors import InvalidArgument, Unsupported
from dockyard.oci.runtime_spec import SECCOMP_OPS, Seccomp, SeccompArg, SeccompSyscall
from dockyard.runtime.seccomp_cache import MACHINES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

# libseccomp action values (seccomp.h); ERRNO and TRACE carry a 16-bit value.
ACTIONS: dict[str, int] = {
    "SCMP_ACT_KILL": 0x00000000,
    "SCMP_ACT_KILL_THREAD": 0x00000000,
    "SCMP_ACT_KILL_PROCESS": 0x80000000,
    "SCMP_ACT_TRAP": 0x00030000,
    "SCMP_ACT_ERRNO": 0x00050000,
    "SCMP_ACT_TRACE": 0x7FF00000,
    "SCMP_ACT_LOG": 0x7FFC0000,
    "SCMP_ACT_ALLOW": 0x7FFF0000,
}
FILTER_FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": 1,
    "SECCOMP_FILTER_FLAG_LOG": 2,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4,
}
# uname machine -> (Go's GOARCH, libseccomp's native architecture)
_GOARCH_SCMP = dict(MACHINES.values())


# -- profiles (moby's layout) ----------------------------------------------------------


def _fail(what: str) -> InvalidArgument:
    return InvalidArgument(f"decoding seccomp profile failed: {what}")


def _version(text: str) -> tuple[int, int]:
    parts = text.split(".")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        raise _fail(f"invalid kernel version {text!r}") from None


class Condition(Record):
    """A rule's ``includes`` or ``excludes``: GOARCH names, capabilities, a kernel."""

    __slots__ = ("arches", "caps", "min_kernel")
    arches: tuple[str, ...]
    caps: tuple[str, ...]
    min_kernel: tuple[int, int] | None

    def __init__(
        self,
        arches: tuple[str, ...] = (),
        caps: tuple[str, ...] = (),
        min_kernel: tuple[int, int] | None = None,
    ) -> None:
        self._set(arches=arches, caps=caps, min_kernel=min_kernel)


_ANY = Condition()


class ProfileRule(Record):
    """One entry of a profile's ``syscalls``: the OCI rule and its conditions."""

    __slots__ = ("syscall", "includes", "excludes")  # noqa: RUF023 (field order)
    syscall: SeccompSyscall
    includes: Condition
    excludes: Condition

    def __init__(
        self, syscall: SeccompSyscall, includes: Condition = _ANY, excludes: Condition = _ANY
    ) -> None:
        self._set(syscall=syscall, includes=includes, excludes=excludes)

    def applies(self, caps: frozenset[str], arch: str, kernel: tuple[int, int] | None) -> bool:
        """moby's rules: any excluded arch, cap or kernel drops the rule; every
        included cap, one included arch and the kernel are needed."""
        ex, inc = self.excludes, self.includes
        if arch in ex.arches or any(c in caps for c in ex.caps):
            return False
        if ex.min_kernel is not None and (kernel is None or kernel >= ex.min_kernel):
            return False
        if inc.arches and arch not in inc.arches:
            return False
        if not all(c in caps for c in inc.caps):
            return False
        return not (inc.min_kernel is not None and kernel is not None and kernel < inc.min_kernel)


class SeccompProfile(Record):
    """A seccomp profile as Docker reads it (see the module docstring)."""

    __slots__ = (  # noqa: RUF023 (field order)
        "default_action",
        "default_errno_ret",
        "architectures",
        "arch_map",
        "flags",
        "rules",
    )
    default_action: str
    default_errno_ret: int | None
    architectures: tuple[str, ...]
    arch_map: tuple[tuple[str, tuple[str, ...]], ...]
    flags: tuple[str, ...]
    rules: tuple[ProfileRule, ...]

    def __init__(
        self,
        default_action: str,
        default_errno_ret: int | None = None,
        architectures: tuple[str, ...] = (),
        arch_map: tuple[tuple[str, tuple[str, ...]], ...] = (),
        flags: tuple[str, ...] = (),
        rules: tuple[ProfileRule, ...] = (),
    ) -> None:
        self._set(default_action=default_action, default_errno_ret=default_errno_ret,
                  architectures=architectures, arch_map=arch_map, flags=flags,
                  rules=rules)  # fmt: skip

    def resolve(
        self, caps: Sequence[str], *, arch: str, kernel: tuple[int, int] | None = None
    ) -> Seccomp:
        """The ``linux.seccomp`` for a container whose bounding set is ``caps``, on a
        host of GOARCH ``arch`` running ``kernel`` (None: unknown, taken as recent)."""
        archs = self.architectures
        if not archs:
            native = _GOARCH_SCMP.get(arch)
            for main, subs in self.arch_map:
                if main == native:
                    archs = (main, *subs)
        held = frozenset(caps)
        return Seccomp(
            default_action=self.default_action,
            default_errno_ret=self.default_errno_ret,
            architectures=archs,
            flags=self.flags,
            syscalls=tuple(r.syscall for r in self.rules if r.applies(held, arch, kernel)),
        )


def _strs(d: Mapping[str, Any], key: str) -> tuple[str, ...]:
    v = d.get(key) or ()
    if isinstance(v, str) or not all(isinstance(s, str) for s in v):
        raise _fail(f"{key} must be a list of strings")
    return tuple(v)


def _condition(d: object) -> Condition:
    if d is None:
        return Condition()
    if not isinstance(d, dict):
        raise _fail("includes/excludes must be objects")
    mk = d.get("minKernel")
    if mk is not None and not isinstance(mk, str):
        raise _fail("minKernel must be a string")
    return Condition(_strs(d, "arches"), _strs(d, "caps"), None if not mk else _version(mk))


def _rule(d: object) -> ProfileRule:
    if not isinstance(d, dict):
        raise _fail("syscalls must be objects")
    names = _strs(d, "names")
    name = d.get("name")
    if name:
        if names:
            raise _fail("use either 'name' or 'names'")
        if not isinstance(name, str):
            raise _fail("name must be a string")
        names = (name,)
    action = d.get("action")
    if action not in ACTIONS:
        raise _fail(f"unknown action {action!r}")
    errno_ret = d.get("errnoRet")
    if errno_ret is not None and (not isinstance(errno_ret, int) or isinstance(errno_ret, bool)):
        raise _fail("errnoRet must be an integer")
    args = []
    for a in d.get("args") or ():
        if not isinstance(a, dict) or a.get("op") not in SECCOMP_OPS:
            raise _fail(f"invalid argument comparison {a!r}")
        try:
            args.append(
                SeccompArg(int(a["index"]), int(a["value"]), a["op"], int(a.get("valueTwo") or 0))
            )
        except (KeyError, TypeError, ValueError):
            raise _fail(f"invalid argument comparison {a!r}") from None
    return ProfileRule(
        SeccompSyscall(names, action, errno_ret, tuple(args)),
        _condition(d.get("includes")),
        _condition(d.get("excludes")),
    )


def parse_profile(data: object) -> SeccompProfile:
    """A profile from moby's JSON layout (a parsed object or the JSON text)."""
    if isinstance(data, (str, bytes)):
        try:
            data = jsonlite.loads(data)
        except ValueError as e:
            raise _fail(str(e)) from None
    if not isinstance(data, dict):
        raise _fail("expected a JSON object")
    default = data.get("defaultAction")
    if default not in ACTIONS:
        raise _fail(f"unknown defaultAction {default!r}")
    if data.get("listenerPath"):
        raise Unsupported("seccomp notification (listenerPath) is not supported")
    arch_map = []
    for entry in data.get("archMap") or ():
        if not isinstance(entry, dict) or not isinstance(entry.get("architecture"), str):
            raise _fail("archMap entries need an architecture")
        arch_map.append((entry["architecture"], _strs(entry, "subArchitectures")))
    archs = _strs(data, "architectures")
    if archs and arch_map:
        raise _fail(
            "'architectures' and 'archMap' were specified in the seccomp profile, use either "
            "'architectures' or 'archMap'"
        )
    der = data.get("defaultErrnoRet")
    if der is not None and (not isinstance(der, int) or isinstance(der, bool)):
        raise _fail("defaultErrnoRet must be an integer")
    for f in _strs(data, "flags"):
        if f not in FILTER_FLAGS:
            raise _fail(f"unknown flag {f!r}")
    return SeccompProfile(
        default_action=default,
        default_errno_ret=der,
        architectures=archs,
        arch_map=tuple(arch_map),
        flags=_strs(data, "flags"),
        rules=tuple(_rule(r) for r in data.get("syscalls") or ()),
    )


def default_profile() -> SeccompProfile:
    """Docker's default profile (:mod:`dockyard.runtime.seccomp_default`)."""
    from dockyard.runtime.seccomp_default import profile

    return parse_profile(profile())
