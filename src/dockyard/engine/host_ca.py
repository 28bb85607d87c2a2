"""The host's CA bundle, read-only, in containers that opt in (``run --with-host-ca``)
and in build steps: for HTTPS through an intercepting proxy whose CA only the host
trusts. A bind mount, never a copy: nothing of it lands in an image layer (the
empty mountpoint file a step's upper directory may get is the builder's to leave
out of the layer).

Which file: :meth:`dockyard.config.EngineConfig.host_ca_bundle` (``--ca-bundle``,
``DOCKYARD_CA_BUNDLE``, the config file's ``"ca-bundle"``, Debian's default).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dockyard.errors import InvalidArgument

if TYPE_CHECKING:
    from dockyard.config import EngineConfig
    from dockyard.oci.runtime_spec import Mount

TARGET = "/etc/ssl/certs/ca-certificates.crt"
# Tools that do not read the system store by default (pip's and requests' certifi),
# or images whose OpenSSL looks elsewhere; a user's own -e wins.
ENV = (f"SSL_CERT_FILE={TARGET}", f"REQUESTS_CA_BUNDLE={TARGET}", f"PIP_CERT={TARGET}")


def host_ca_mount(config: EngineConfig) -> Mount:
    from dockyard.runtime.spec_builder import bind_mount

    path = config.host_ca_bundle()
    if not path.is_file():
        raise InvalidArgument(
            f"the host CA bundle {path} does not exist",
            hint="give the bundle with --ca-bundle PATH or DOCKYARD_CA_BUNDLE",
        )
    return bind_mount(str(path), TARGET, readonly=True)


def host_ca_env(env: tuple[str, ...]) -> tuple[str, ...]:
    """``ENV`` before ``env`` (the image's and the user's), for the keys it lacks."""
    have = {e.split("=", 1)[0] for e in env}
    return tuple(e for e in ENV if e.split("=", 1)[0] not in have)
