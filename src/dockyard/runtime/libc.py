"""libc's functions through ``_ctypes``, without the ``ctypes`` package.

The container's start calls a handful of libc functions that ``os`` lacks (mount,
pivot_root, capset, seccomp, ...). Importing ``ctypes`` for them costs ~2 ms on
every start: the package defines some fifty types and imports ``struct`` and
``types`` (and the shim's other imports wait on it). The few types the runtime
passes are defined here on ``_ctypes`` itself, as ``ctypes`` defines them; structs
are passed as ``bytes`` built with ``int.to_bytes`` (read-only arguments: the
kernel copies them in).

    mount = function("mount", c_char_p, c_char_p, c_char_p, c_ulong, c_char_p)
    if mount(b"proc", b"/proc", b"proc", 0, None) < 0:
        raise OSError(get_errno(), ...)
"""

from __future__ import annotations

import _ctypes

get_errno = _ctypes.get_errno


class c_int(_ctypes._SimpleCData):  # type: ignore[type-arg]
    _type_ = "i"


class c_uint(_ctypes._SimpleCData):  # type: ignore[type-arg]
    _type_ = "I"


class c_long(_ctypes._SimpleCData):  # type: ignore[type-arg]
    _type_ = "l"


class c_ulong(_ctypes._SimpleCData):  # type: ignore[type-arg]
    _type_ = "L"


class c_char_p(_ctypes._SimpleCData):  # type: ignore[type-arg]
    _type_ = "z"


class c_void_p(_ctypes._SimpleCData):  # type: ignore[type-arg]
    _type_ = "P"


class _Process:
    """What ``CFuncPtr`` looks a name up in: the process's own symbols (libc)."""

    _handle = _ctypes.dlopen(None, _ctypes.RTLD_LOCAL)  # type: ignore[arg-type]


class Function(_ctypes.CFuncPtr):
    _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO  # errno saved per call
    _restype_ = c_int


def function(name: str, *argtypes: type, restype: type = c_int) -> Function:
    """libc's ``name`` (AttributeError if this libc has none), called with
    ``argtypes`` (none given: Python ints pass as C ints, bytes as pointers)."""
    f = Function((name, _Process))  # type: ignore[arg-type]  # (name, what has _handle)
    if argtypes:
        f.argtypes = argtypes
    f.restype = restype
    return f


def address(buf: c_char_p) -> int:
    """The address of the bytes ``buf`` holds (alive as long as ``buf`` is)."""
    value: int = c_void_p.from_buffer(buf).value or 0
    return value
