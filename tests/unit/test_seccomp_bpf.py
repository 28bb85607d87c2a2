"""Compiling with libseccomp, the cache, and what the installed filter answers.

No root needed: a forked child sets no_new_privs, installs the program and reports
the result of raw syscalls (skipped where libseccomp is not installed)."""

from __future__ import annotations

import ctypes
import errno
import json
import os
import platform
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.oci.runtime_spec import Seccomp
from dockyard.runtime import seccomp
from dockyard.runtime.spec_builder import tweak_capabilities

pytestmark = [
    pytest.mark.skipif(not seccomp.available(), reason="libseccomp is not installed"),
    pytest.mark.skipif(platform.machine() != "x86_64", reason="syscall numbers are x86_64's"),
]

# x86_64 syscall numbers
GETPID, MOUNT, UNSHARE, ADD_KEY, KEYCTL, CLONE3, PERSONALITY = 39, 165, 272, 248, 250, 435, 135
CLONE_NEWUSER, CLONE_NEWNS = 0x10000000, 0x20000
PR_SET_NO_NEW_PRIVS = 38


def resolved(caps: tuple[str, ...] = ()) -> Seccomp:
    p = seccomp.default_profile()
    return p.resolve(tweak_capabilities(caps, (), False), arch="amd64", kernel=(6, 1))


def under_filter(program: bytes, probe: Callable[[Callable[..., int]], object]) -> object:
    """``probe(syscall)`` in a child with ``program`` installed; its result (JSON)."""
    flt = seccomp.Filter(program)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        out: object = None
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
            flt.install()

            def call(*args: int) -> int:
                ctypes.set_errno(0)
                ret = libc.syscall(*(ctypes.c_long(a) for a in args))
                return 0 if ret >= 0 else ctypes.get_errno()

            out = probe(call)
        except BaseException as e:
            out = f"{type(e).__name__}: {e}"
        os.write(w, json.dumps(out).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 4096):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(data)


def test_default_filter_answers() -> None:
    program = seccomp.compile_bpf(resolved())
    assert len(program) % 8 == 0 and 100 < len(program) // 8 < 4096

    def probe(call: Callable[..., int]) -> dict[str, int]:
        return {
            "getpid": call(GETPID),
            "unshare_user": call(UNSHARE, CLONE_NEWUSER),
            "unshare_mount": call(UNSHARE, CLONE_NEWNS),
            "mount": call(MOUNT, 0, 0, 0, 0, 0),
            "add_key": call(ADD_KEY, 0, 0, 0, 0, 0),
            "keyctl": call(KEYCTL, 0, 0, 0, 0, 0),
            "clone3": call(CLONE3, 0, 0),
            "personality_query": call(PERSONALITY, 0xFFFFFFFF),
            "personality_other": call(PERSONALITY, 0x0400000),
            "newer_than_any_named": call(1000),
            "seccomp_status": int(open("/proc/self/status").read().split("Seccomp:")[1].split()[0]),
        }

    got = under_filter(program, probe)
    assert got == {
        "getpid": 0,
        "unshare_user": errno.EPERM,
        "unshare_mount": errno.EPERM,
        "mount": errno.EPERM,
        "add_key": errno.EPERM,
        "keyctl": errno.EPERM,
        "clone3": errno.ENOSYS,  # glibc falls back to clone
        "personality_query": 0,
        "personality_other": errno.EPERM,
        "newer_than_any_named": errno.ENOSYS,  # runc's stub: libc falls back
        "seccomp_status": 2,
    }, got


def test_sys_admin_lifts_unshare() -> None:
    program = seccomp.compile_bpf(resolved(("SYS_ADMIN",)))
    got = under_filter(program, lambda call: [call(CLONE3, 0, 0), call(UNSHARE, 0)])
    # the kernel answers now: clone3 without arguments is invalid, unshare(0) does nothing
    assert got == [errno.EINVAL, 0], got


def test_custom_profile_errno() -> None:
    p = seccomp.parse_profile(
        {"defaultAction": "SCMP_ACT_ALLOW",
         "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}
    )  # fmt: skip
    program = seccomp.compile_bpf(p.resolve((), arch="amd64"))
    assert under_filter(program, lambda call: [call(GETPID), call(UNSHARE, 0)]) == [13, 0]


def test_cache_compiles_once_per_profile_and_caps(tmp_path: Path) -> None:
    d = tmp_path / "cache"
    a = seccomp.cached_filter(resolved(), d)
    mtime = os.stat(a).st_mtime_ns
    assert seccomp.cached_filter(resolved(), d) == a and os.stat(a).st_mtime_ns == mtime
    b = seccomp.cached_filter(resolved(("SYS_ADMIN",)), d)
    assert b != a and sorted(os.listdir(d)) == sorted({os.path.basename(a), os.path.basename(b)})
    program = Path(a).read_bytes()
    assert seccomp.read_filter(a, resolved()) == program
    Path(a).write_bytes(b"garbage")  # damaged: compiled again, file repaired
    assert seccomp.read_filter(a, resolved()) == program == Path(a).read_bytes()
    os.unlink(a)
    assert seccomp.read_filter(a, resolved()) == program
    assert seccomp.read_filter(None, resolved()) == program


def test_filter_rejects_garbage() -> None:
    from dockyard.errors import InvalidArgument

    with pytest.raises(InvalidArgument):
        seccomp.Filter(b"1234567")
    with pytest.raises(InvalidArgument):
        seccomp.Filter(b"")


def test_default_profile_cache(tmp_path: Path) -> None:
    """create resolves the default profile from the root's cache: the same linux.seccomp
    and compiled filter as a resolution from scratch, for each capability set; an entry
    that cannot be read is resolved (and written) again."""
    from dockyard.runtime.seccomp_cache import DefaultProfile

    caps = tweak_capabilities((), (), False)
    fresh = seccomp.default_profile().resolve(caps, arch="amd64", kernel=(6, 1))
    first = DefaultProfile(str(tmp_path))
    sc = first.resolve(caps, arch="amd64", kernel=(6, 1))
    assert sc == fresh
    assert first.filter_path(sc) == seccomp.cached_filter(fresh, tmp_path)
    assert first.filter_path(fresh) is None  # only what it resolved itself
    (entry,) = tmp_path.glob("default-*.json")

    again = DefaultProfile(str(tmp_path))  # the next create: from the cache
    cached = again.resolve(caps, arch="amd64", kernel=(6, 1))
    assert cached == fresh and again.filter_path(cached) == first.filter_path(sc)

    more = tweak_capabilities(("SYS_ADMIN",), (), False)
    other = again.resolve(more, arch="amd64", kernel=(6, 1))
    assert other == seccomp.default_profile().resolve(more, arch="amd64", kernel=(6, 1))
    assert len(list(tmp_path.glob("default-*.json"))) == 2

    entry.write_text("{not json")
    assert DefaultProfile(str(tmp_path)).resolve(caps, arch="amd64", kernel=(6, 1)) == fresh
    assert json.loads(entry.read_text())["seccomp"] == fresh.to_dict()
