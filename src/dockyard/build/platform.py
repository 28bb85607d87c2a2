"""Platforms: the host's, BuildKit's predefined platform ARGs, and ``FROM --platform``.

Dockyard builds for the machine it runs on. As BuildKit defines them, every
build has ``BUILDPLATFORM``/``BUILDOS``/``BUILDARCH``/``BUILDVARIANT`` (the
builder's) and ``TARGETPLATFORM``/``TARGETOS``/``TARGETARCH``/``TARGETVARIANT``
(the output's; here the same), in the global scope (usable in ``FROM``) and in
a stage that declares them with ``ARG NAME``. ``FROM --platform=`` (and
``build --platform``) accept these and ``linux/<host arch>``; another platform
is an error that names it and the host's.
"""

from __future__ import annotations

import functools
import os

from dockyard.errors import InvalidArgument

# uname -m -> (GOARCH, variant), as containerd's platforms package normalizes them
_ARCHES = {
    "x86_64": ("amd64", ""),
    "amd64": ("amd64", ""),
    "x86-64": ("amd64", ""),
    "aarch64": ("arm64", ""),
    "arm64": ("arm64", ""),
    "armv8l": ("arm64", ""),
    "armv7l": ("arm", "v7"),
    "armhf": ("arm", "v7"),
    "armv7": ("arm", "v7"),
    "armv6l": ("arm", "v6"),
    "armel": ("arm", "v6"),
    "arm": ("arm", "v7"),
    "i386": ("386", ""),
    "i686": ("386", ""),
    "386": ("386", ""),
    "ppc64le": ("ppc64le", ""),
    "s390x": ("s390x", ""),
    "riscv64": ("riscv64", ""),
    "mips64": ("mips64", ""),
    "mips64le": ("mips64le", ""),
    "loongarch64": ("loong64", ""),
}


def _machine() -> str:
    """``uname -m``: platform.machine(), without importing platform (3 ms)."""
    return os.uname().machine


@functools.cache
def host_platform() -> tuple[str, str, str]:
    """(os, arch, variant) of this machine: ``("linux", "amd64", "")``."""
    machine = _machine().lower()
    arch, variant = _ARCHES.get(machine, (machine, ""))
    return "linux", arch, variant


def format_platform(os_name: str, arch: str, variant: str = "") -> str:
    return f"{os_name}/{arch}" + (f"/{variant}" if variant else "")


def platform_args() -> dict[str, str]:
    """BuildKit's predefined platform ARGs, for a build on (and for) this machine."""
    os_name, arch, variant = host_platform()
    full = format_platform(os_name, arch, variant)
    out: dict[str, str] = {}
    for prefix in ("BUILD", "TARGET"):
        out |= {
            f"{prefix}PLATFORM": full,
            f"{prefix}OS": os_name,
            f"{prefix}ARCH": arch,
            f"{prefix}VARIANT": variant,
        }
    return out


def check_platform(value: str) -> None:
    """``--platform=value``: fine when it names this machine's platform (or is empty)."""
    if not value:
        return
    host = host_platform()
    shown = format_platform(*host)
    for spec in value.split(","):
        parts = [p.strip().lower() for p in spec.strip().split("/")]
        if len(parts) == 1:  # "amd64": an architecture on the host's OS
            parts = [host[0], *parts]
        os_name, arch = parts[0], parts[1] if len(parts) > 1 else ""
        variant = parts[2] if len(parts) > 2 else ""
        norm_arch, norm_variant = _ARCHES.get(arch, (arch, ""))
        variant = variant or norm_variant
        same_variant = variant == host[2] or (norm_arch == "arm64" and variant in ("", "v8"))
        if len(parts) > 3 or os_name != host[0] or norm_arch != host[1] or not same_variant:
            raise InvalidArgument(
                f"platform {spec.strip()!r} is not this machine's ({shown}): dockyard builds "
                "for the host's platform only",
                hint=f"drop --platform, or use --platform={shown} or $BUILDPLATFORM",
            )
