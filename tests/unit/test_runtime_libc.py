"""runtime.libc: libc's functions through _ctypes, without the ctypes package."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

from dockyard.runtime.libc import address, c_char_p, c_int, c_ulong, function, get_errno


def test_calls_return_values_and_errno() -> None:
    assert function("getpid")() == os.getpid()
    close = function("close", c_int)
    assert close(-1) == -1 and get_errno() == errno.EBADF


def test_pointers_to_bytes() -> None:
    strlen = function("strlen", c_char_p, restype=c_ulong)
    assert strlen(b"container") == 9
    buf = c_char_p(b"abc\0def")
    by_address = function("strlen", c_ulong, restype=c_ulong)
    assert by_address(address(buf)) == 3


def test_an_unknown_function_is_an_attribute_error() -> None:
    try:
        function("no_such_function_in_libc")
    except AttributeError:
        return
    raise AssertionError("no AttributeError")


def test_the_runtime_does_not_import_ctypes() -> None:
    """The syscall wrappers and the seccomp filter load _ctypes only (the ctypes package
    and what it imports, struct and types, were ~2 ms of every container start)."""
    code = (
        f"import sys; sys.path[:0] = {sys.path!r}\n"
        "from dockyard.runtime import linux, seccomp\n"
        "import dockyard.runtime.executor\n"
        "seccomp.prepare_install()\n"
        "print(sorted(m for m in ('ctypes', 'collections', 'struct') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True,
                         text=True, check=False)  # fmt: skip
    assert out.stdout == "[]\n", out.stderr
