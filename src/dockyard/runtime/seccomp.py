"""Seccomp: Docker's profiles, compiled to BPF with libseccomp, installed before exec.

Three stages, each where it costs least::

    prof = select_profile("")                       # Docker's default (moby layout)
    sc = prof.resolve(caps, arch="amd64", kernel=(6, 1))   # -> linux.seccomp (OCI)
    path = cached_filter(sc, f"{root}/cache/seccomp")      # compiled once per (profile, caps)
    flt = Filter(read_filter(path, sc), flags(sc))   # in the parent, before fork
    flt.install()                                    # in the child, just before execve

1. :class:`SeccompProfile` is a profile in moby's JSON layout (``profiles/seccomp/
   default.json``, and the files ``--security-opt seccomp=FILE`` names): groups of
   syscalls with ``includes``/``excludes`` conditions on capabilities, architecture
   and kernel version. :meth:`SeccompProfile.resolve` evaluates them for one
   container as moby does, giving the OCI ``linux.seccomp`` that config.json
   carries (and that crun and runc compile themselves).
2. :func:`compile_bpf` turns a ``linux.seccomp`` into a classic BPF program with
   libseccomp (``libseccomp.so.2`` through ctypes, loaded on first use; a name this
   libseccomp does not know is skipped, as runc does). Like runc, syscalls newer
   than every syscall the profile names get ENOSYS instead of the default EPERM, so
   libc falls back to older calls instead of failing. :func:`cached_filter` keeps
   the program in a file named by the hash of the resolved profile: compiling
   (~10 ms) happens at ``create``, once per distinct profile and capability set.
3. :class:`Filter` installs the program with one ``seccomp(SECCOMP_SET_MODE_FILTER)``
   call. Without no_new_privs that needs CAP_SYS_ADMIN, so the executor installs it
   before dropping capabilities, or, with ``no-new-privileges``, after (runc's
   order); the profile must then allow what runs between the install and execve
   (Docker's does).

Stage 1 lives in :mod:`dockyard.runtime.seccomp_profile` (its names are exported
here too); stages 2 and 3 here.
"""

from __future__ import annotations

import errno
import os
import sys

from dockyard._util import jsonlite
from dockyard.errors import InvalidArgument, Unsupported
from dockyard.oci.runtime_spec import SECCOMP_OPS, Seccomp
from dockyard.runtime.seccomp_cache import host_arch, host_kernel, kernel_filters, library_file
from dockyard.runtime.seccomp_profile import (
    ACTIONS,
    FILTER_FLAGS,
    SeccompProfile,
    default_profile,
    parse_profile,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

__all__ = [
    "Filter",
    "SeccompProfile",
    "available",
    "cached_filter",
    "compile_bpf",
    "default_profile",
    "flags",
    "host_arch",
    "host_kernel",
    "parse_profile",
    "read_filter",
    "select_profile",
]

_SYS_SECCOMP = {"x86_64": 317, "aarch64": 277, "riscv64": 277, "ppc64le": 358, "s390x": 348,
                "armv7l": 383, "i686": 354}  # fmt: skip
SECCOMP_SET_MODE_FILTER = 1
ENOSYS_STUB_VERSION = b"dockyard-seccomp-1"  # part of the cache key: bump when the output changes


def select_profile(option: str) -> SeccompProfile | None:
    """The profile ``--security-opt seccomp=OPTION`` asks for: ``""``/``builtin`` the
    default one (None where this host has no seccomp, as Docker runs then),
    ``unconfined`` none, else the profile's JSON text."""
    if option == "unconfined":
        return None
    if option in ("", "builtin"):
        return default_profile() if available() else None
    if not available():
        raise Unsupported(
            "seccomp is not enabled in your kernel, cannot run a custom seccomp profile",
            hint="install libseccomp2, or use seccomp=unconfined",
        )
    return parse_profile(option)


# -- libseccomp -----------------------------------------------------------------------

_LIB: list[Any] = []


def _lib() -> Any:
    """libseccomp through ctypes, or None where it is not installed."""
    if _LIB:
        return _LIB[0]
    import ctypes

    lib = None
    try:
        lib = ctypes.CDLL("libseccomp.so.2")
    except OSError:
        import ctypes.util

        name = ctypes.util.find_library("seccomp")
        if name is not None:
            try:
                lib = ctypes.CDLL(name)
            except OSError:
                lib = None
    if lib is not None:
        u32, c_int, vp = ctypes.c_uint32, ctypes.c_int, ctypes.c_void_p
        lib.seccomp_init.argtypes, lib.seccomp_init.restype = (u32,), vp
        lib.seccomp_release.argtypes, lib.seccomp_release.restype = (vp,), None
        lib.seccomp_arch_resolve_name.argtypes = (ctypes.c_char_p,)
        lib.seccomp_arch_resolve_name.restype = u32
        lib.seccomp_arch_native.argtypes, lib.seccomp_arch_native.restype = (), u32
        lib.seccomp_arch_add.argtypes, lib.seccomp_arch_add.restype = (vp, u32), c_int
        lib.seccomp_arch_exist.argtypes, lib.seccomp_arch_exist.restype = (vp, u32), c_int
        lib.seccomp_attr_set.argtypes, lib.seccomp_attr_set.restype = (vp, c_int, u32), c_int
        lib.seccomp_syscall_resolve_name.argtypes = (ctypes.c_char_p,)
        lib.seccomp_syscall_resolve_name.restype = c_int
        lib.seccomp_syscall_resolve_name_arch.argtypes = (u32, ctypes.c_char_p)
        lib.seccomp_syscall_resolve_name_arch.restype = c_int
        lib.seccomp_rule_add_array.argtypes = (vp, u32, c_int, ctypes.c_uint, vp)
        lib.seccomp_rule_add_array.restype = c_int
        lib.seccomp_export_bpf.argtypes, lib.seccomp_export_bpf.restype = (vp, c_int), c_int
    _LIB.append(lib)
    return lib


def _lib_installed() -> bool:
    return library_file() is not None or _lib() is not None


def _library_identity() -> str:
    """What names the installed libseccomp in the filter cache's key: its file
    (path, size, mtime: an upgrade changes them), else its version via ctypes."""
    path = library_file()
    if path is None:
        return library_version()
    st = os.stat(path)
    return f"{path}:{st.st_size}:{st.st_mtime_ns}"


def available() -> bool:
    """libseccomp is installed and the kernel filters syscalls."""
    return _lib_installed() and kernel_filters()


def library_version() -> str:
    lib = _lib()
    if lib is None:
        return ""
    import ctypes

    class _V(ctypes.Structure):
        _fields_ = (("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint))

    lib.seccomp_version.restype = ctypes.POINTER(_V)
    v = lib.seccomp_version().contents
    return f"{v.major}.{v.minor}.{v.micro}"


def _action(name: str, errno_ret: int | None) -> int:
    base = ACTIONS[name]
    if name in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
        return base | ((errno.EPERM if errno_ret is None else errno_ret) & 0xFFFF)
    return base


_SCMP_FLTATR_CTL_NNP = 3
_SCMP_FLTATR_CTL_OPTIMIZE = 8
_SCMP_ARCH_X86_64 = 0xC000003E
_SCMP_ARCH_X32 = 0x4000003E
_X32_SYSCALL_BIT = 0x40000000
_OPS = {op: i + 1 for i, op in enumerate(SECCOMP_OPS)}  # SCMP_CMP_NE = 1 ... MASKED_EQ = 7


def _arch_token(lib: Any, name: str) -> int:
    token: int = lib.seccomp_arch_resolve_name(name.removeprefix("SCMP_ARCH_").lower().encode())
    if not token:
        raise Unsupported(f"seccomp: unknown architecture {name}")
    return token


def compile_bpf(sc: Seccomp) -> bytes:
    """The classic BPF program for ``sc`` (raises Unsupported without libseccomp)."""
    import ctypes

    lib = _lib()
    if lib is None:
        raise Unsupported(
            "seccomp: libseccomp is not installed", hint="apt-get install libseccomp2"
        )
    default = _action(sc.default_action, sc.default_errno_ret)
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise InvalidArgument(f"seccomp: invalid default action {sc.default_action}")

    class ArgCmp(ctypes.Structure):
        _fields_ = (
            ("arg", ctypes.c_uint),
            ("op", ctypes.c_int),
            ("datum_a", ctypes.c_uint64),
            ("datum_b", ctypes.c_uint64),
        )

    try:
        lib.seccomp_attr_set(ctx, _SCMP_FLTATR_CTL_NNP, 0)  # the executor decides about NNP
        lib.seccomp_attr_set(ctx, _SCMP_FLTATR_CTL_OPTIMIZE, 2)  # binary tree (libseccomp 2.5+)
        tokens = [_arch_token(lib, a) for a in sc.architectures]
        for token in tokens:
            rc = lib.seccomp_arch_add(ctx, token)
            if rc < 0 and rc != -errno.EEXIST:
                raise Unsupported(
                    f"seccomp: cannot add architecture {token:#x}: {os.strerror(-rc)}"
                )
        for rule in sc.syscalls:
            action = _action(rule.action, rule.errno_ret)
            if action == default:
                continue  # libseccomp refuses these; they change nothing
            conds = [(a.index, _OPS[a.op], a.value, a.value_two) for a in rule.args]
            # libseccomp ANDs comparisons but takes one per argument: repeated indexes
            # become one rule each (runc does the same)
            same = len({c[0] for c in conds}) < len(conds)
            groups = [[c] for c in conds] if same else [conds]
            for name in rule.names:
                nr = lib.seccomp_syscall_resolve_name(name.encode())
                if nr == -1:
                    continue  # not known to this libseccomp: skipped, as runc does
                for group in groups:
                    arr = (ArgCmp * max(1, len(group)))(*(ArgCmp(*c) for c in group))
                    rc = lib.seccomp_rule_add_array(ctx, action, nr, len(group), arr)
                    if rc < 0:
                        raise InvalidArgument(
                            f"seccomp: cannot add the rule for {name}: {os.strerror(-rc)}"
                        )
        fd = os.memfd_create("seccomp-bpf", os.MFD_CLOEXEC)
        try:
            rc = lib.seccomp_export_bpf(ctx, fd)
            if rc < 0:
                raise InvalidArgument(f"seccomp: exporting the filter: {os.strerror(-rc)}")
            size = os.lseek(fd, 0, os.SEEK_CUR)
            program = os.pread(fd, size, 0)
        finally:
            os.close(fd)
        names = [n for r in sc.syscalls for n in r.names]
        return _enosys_stub(lib, sc, tokens, names) + program
    finally:
        lib.seccomp_release(ctx)


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return code.to_bytes(2, "little") + bytes((jt, jf)) + (k & 0xFFFFFFFF).to_bytes(4, "little")


_LD_W_ABS, _JEQ_K, _JGT_K, _JGE_K, _JA, _RET_K = 0x20, 0x15, 0x25, 0x35, 0x05, 0x06


def _enosys_stub(lib: Any, sc: Seccomp, tokens: Sequence[int], names: Sequence[str]) -> bytes:
    """A prefix answering ENOSYS for syscall numbers above every number the profile
    names (per architecture), runc's answer to new kernels: libc then falls back to
    the older call it knows, where EPERM would make it fail. Only for deny-by-default
    profiles; what the profile names keeps its rules."""
    if sc.default_action not in ("SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD",
                                 "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP"):  # fmt: skip
        return b""
    last: dict[int, int] = {}
    for token in tokens:
        for name in names:
            nr = lib.seccomp_syscall_resolve_name_arch(token, name.encode())
            if nr >= 0:
                last[token] = max(last.get(token, -1), nr)
    x32 = last.pop(_SCMP_ARCH_X32, None)
    blocks: list[list[tuple[int, int, int, int, str]]] = []  # (code, jt, jf, k, jump label)
    for token, top in last.items():
        body = [(_LD_W_ABS, 0, 0, 0, "")]  # A = seccomp_data.nr
        if token == _SCMP_ARCH_X86_64:
            if x32 is not None:  # x32 calls come as x86_64 with bit 30 set
                body += [(_JGE_K, 0, 1, _X32_SYSCALL_BIT, ""), (_JGT_K, 0, 0, x32, "x")]
            else:
                body += [(_JGE_K, 0, 0, _X32_SYSCALL_BIT, "main")]
        body += [(_JGT_K, 0, 0, top, "x")]
        blocks.append([(_JEQ_K, 0, len(body), token, ""), *body])
    if not blocks:
        return b""
    flat = [(_LD_W_ABS, 0, 0, 4, "")]  # A = seccomp_data.arch
    for b in blocks:
        flat += b
    flat.append((_JA, 0, 0, 0, "ja"))
    enosys, main = len(flat), len(flat) + 1
    out = b""
    for pc, (code, jt, jf, k, label) in enumerate(flat):
        if label == "x":  # true: ENOSYS, false: on to the main program
            jt, jf = enosys - pc - 1, main - pc - 1
        elif label == "main":  # true: main program; false: next instruction
            jt, jf = main - pc - 1, 0
        elif label == "ja":
            k = main - pc - 1
        out += _insn(code, jt, jf, k)
    return out + _insn(_RET_K, 0, 0, 0x00050000 | errno.ENOSYS)


def _cache_key(sc: Seccomp) -> str:
    from dockyard._util.sha import sha256

    h = sha256(ENOSYS_STUB_VERSION)
    h.update(f"\0{_library_identity()}\0{os.uname().machine}\0".encode())
    h.update(jsonlite.dumps(sc.to_dict(), sort_keys=True, separators=(",", ":")).encode())
    return h.hexdigest()


def cached_filter(sc: Seccomp, cache_dir: str | os.PathLike[str]) -> str:
    """The path of ``sc``'s compiled program in ``cache_dir`` (compiled and written
    atomically if it is not there yet)."""
    d = os.fspath(cache_dir)
    path = os.path.join(d, _cache_key(sc) + ".bpf")
    if os.path.isfile(path):
        return path
    _write(path, compile_bpf(sc))
    return path


def _write(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), 0o700, exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_filter(path: str | None, sc: Seccomp) -> bytes:
    """The program cached at ``path``; compiled again (and the file rewritten) if it is
    missing or damaged."""
    if path:
        try:
            with open(path, "rb") as f:
                data = f.read()
            if data and len(data) % 8 == 0:
                return data
        except OSError:
            pass
    data = compile_bpf(sc)
    if path:
        try:
            _write(path, data)
        except OSError:
            pass
    return data


def flags(sc: Seccomp) -> int:
    """The seccomp(2) flags ``sc.flags`` names."""
    return sum(FILTER_FLAGS.get(f, 0) for f in set(sc.flags))


# -- installing -----------------------------------------------------------------------


_SYSCALL: list[Any] = []  # libc's syscall(), made once, ahead (prepare_install)


def prepare_install() -> None:
    """Load what :class:`Filter` needs (libc's syscall, through :mod:`~dockyard.runtime.
    libc`) once per process; a shim does it while it waits for its container."""
    if not _SYSCALL:
        from dockyard.runtime.libc import c_long, function

        _SYSCALL.append(function("syscall", restype=c_long))


class Filter:
    """A compiled program made ready in the parent, so that the child does nothing
    but one system call (:meth:`install`)."""

    def __init__(self, program: bytes, flags: int = 0) -> None:
        from dockyard.runtime.libc import address, c_char_p, c_long, get_errno

        if not program or len(program) % 8 or len(program) // 8 > 0xFFFF:
            raise InvalidArgument("seccomp: not a BPF program")
        machine = os.uname().machine
        if machine not in _SYS_SECCOMP:
            raise Unsupported(f"seccomp: unsupported architecture {machine}")
        prepare_install()
        self._syscall = _SYSCALL[0]
        self._buf = c_char_p(program)  # holds the program alive at a fixed address
        # struct sock_fprog: unsigned short len, (padding), struct sock_filter *filter
        self._prog = (len(program) // 8).to_bytes(2, sys.byteorder) + bytes(6)
        self._prog += address(self._buf).to_bytes(8, sys.byteorder)
        self._args = (
            c_long(_SYS_SECCOMP[machine]),
            c_long(SECCOMP_SET_MODE_FILTER),
            c_long(flags),
            c_char_p(self._prog),
        )
        self._get_errno = get_errno

    def install(self) -> None:
        """Filter this thread's syscalls from now on (and its children's, across execve)."""
        if self._syscall(*self._args) != 0:
            e = self._get_errno()
            raise OSError(e, f"seccomp: loading the filter: {os.strerror(e)}")
