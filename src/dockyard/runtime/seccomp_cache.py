"""Docker's default seccomp profile, resolved once per capability set and host.

Every ``create`` with the default profile (nearly all of them) gets the same
``linux.seccomp`` for the same capabilities on the same host. Resolving it means
importing the profile and its rules (:mod:`~dockyard.runtime.seccomp`,
``seccomp_profile``, ``seccomp_default``) and evaluating them: ~2 ms of every
``run``, before the container can start. :class:`DefaultProfile` keeps the result,
with the name of its compiled filter, in the root's cache and reads it back::

    profile = DefaultProfile(f"{root}/cache/seccomp")   # what build_spec resolves
    sc = profile.resolve(caps, arch="amd64", kernel=(6, 1))
    path = profile.filter_path(sc)          # the compiled program, or None: compile

An entry's name is a hash of everything the result depends on: Dockyard's version,
the profile's and the resolver's source files, libseccomp's file, the kernel and
machine, and the capability set. A changed input is a different entry; an entry
that cannot be read is resolved again (and rewritten).
"""

from __future__ import annotations

import os
import sys

from dockyard._util import jsonlite

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from dockyard.oci.runtime_spec import Seccomp

_SOURCES = ("seccomp_default.py", "seccomp_profile.py", "seccomp.py", "seccomp_cache.py")

# uname's machine -> (Go's GOARCH, libseccomp's architecture)
MACHINES = {
    "x86_64": ("amd64", "SCMP_ARCH_X86_64"),
    "aarch64": ("arm64", "SCMP_ARCH_AARCH64"),
    "armv7l": ("arm", "SCMP_ARCH_ARM"),
    "i686": ("386", "SCMP_ARCH_X86"),
    "ppc64le": ("ppc64le", "SCMP_ARCH_PPC64LE"),
    "s390x": ("s390x", "SCMP_ARCH_S390X"),
    "riscv64": ("riscv64", "SCMP_ARCH_RISCV64"),
}


def host_arch() -> str:
    """This host's architecture in Go's GOARCH names (what profiles' ``arches`` use)."""
    m = os.uname().machine
    return MACHINES.get(m, (m, ""))[0]


def host_kernel() -> tuple[int, int] | None:
    """This host's kernel as (major, minor); None if ``uname -r`` does not say."""
    parts = os.uname().release.split("-")[0].split(".")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        return None


_LIBRARY: list[str | None] = []  # library_file()'s answer, once per process


def library_file() -> str | None:
    """libseccomp.so.2 in a standard library directory: a look, not a dlopen (ctypes
    and the library cost the create path ~2 ms; it only needs to know the library is
    there and which one, the BPF itself comes from the filter cache). Looked up once
    per process (a create asks twice: availability, then the cache key)."""
    if not _LIBRARY:
        arch = getattr(sys.implementation, "_multiarch", "") or ""
        found = None
        for d in (f"/usr/lib/{arch}", f"/lib/{arch}", "/usr/lib64", "/lib64", "/usr/lib", "/lib"):
            path = f"{d}/libseccomp.so.2"
            if os.path.exists(path):
                found = os.path.realpath(path)
                break
        _LIBRARY.append(found)
    return _LIBRARY[0]


def kernel_filters() -> bool:
    """The kernel filters syscalls (it has seccomp)."""
    try:
        with open("/proc/self/status", "rb") as f:
            return any(line.startswith(b"Seccomp:") for line in f)
    except OSError:
        return False


def available() -> bool | None:
    """Whether seccomp can be used here (:func:`~dockyard.runtime.seccomp.available`),
    without loading libseccomp: None when its file is not where this looks."""
    return None if library_file() is None else kernel_filters()


def _stamp(path: str | None) -> str:
    if path is None:
        return "-"
    try:
        st = os.stat(path)
    except OSError:
        return "-"
    return f"{path}:{st.st_size}:{st.st_mtime_ns}"


class DefaultProfile:
    """Docker's default profile, as :func:`~dockyard.runtime.seccomp.select_profile`
    gives it, with its resolutions cached in ``cache_dir`` (module docstring). Made only
    where seccomp is available (``select_profile`` would return a profile)."""

    def __init__(self, cache_dir: str) -> None:
        self.cache_dir = cache_dir
        self._last: tuple[Seccomp, str] | None = None  # the last resolution, its filter

    def _entry(self, caps: Sequence[str], arch: str, kernel: tuple[int, int] | None) -> str:
        from dockyard import __version__
        from dockyard._util.sha import sha256

        here = os.path.dirname(os.path.abspath(__file__))
        u = os.uname()
        parts = [__version__, u.release, u.machine, arch, repr(kernel), ",".join(sorted(caps))]
        parts += [_stamp(library_file()), *(_stamp(os.path.join(here, f)) for f in _SOURCES)]
        key = sha256("\0".join(parts).encode()).hexdigest()
        return os.path.join(self.cache_dir, f"default-{key}.json")

    def resolve(
        self, caps: Sequence[str], *, arch: str, kernel: tuple[int, int] | None = None
    ) -> Seccomp:
        """As :meth:`~dockyard.runtime.seccomp.SeccompProfile.resolve` on the default
        profile (from the cache when it has this one)."""
        from dockyard.oci.runtime_spec import Seccomp

        entry = self._entry(caps, arch, kernel)
        try:
            with open(entry, "rb") as f:
                d = jsonlite.loads(f.read())
            sc = Seccomp.from_dict(d["seccomp"])
            bpf = os.path.join(self.cache_dir, os.path.basename(str(d["filter"])))
            if os.path.isfile(bpf):
                self._last = (sc, bpf)
                return sc
        except (OSError, ValueError, KeyError, TypeError):
            pass
        from dockyard._util.atomic import atomic_write
        from dockyard.runtime.seccomp import cached_filter, default_profile

        sc = default_profile().resolve(caps, arch=arch, kernel=kernel)
        bpf = cached_filter(sc, self.cache_dir)
        data = {"seccomp": sc.to_dict(), "filter": os.path.basename(bpf)}
        atomic_write(entry, jsonlite.dumps(data).encode())
        self._last = (sc, bpf)
        return sc

    def filter_path(self, sc: Seccomp) -> str | None:
        """The compiled program of ``sc`` if this profile resolved it, else None."""
        if self._last is not None and self._last[0] is sc:
            return self._last[1]
        return None
