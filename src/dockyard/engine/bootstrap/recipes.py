"""What each bootstrappable image holds, and its config: pure data and a lookup.

Every recipe builds from Debian 12 "bookworm" (the one image source reachable
offline) and carries the config (Env, Cmd, Entrypoint, ExposedPorts, Volumes,
StopSignal) that the Docker Hub image of the same name documents, so a compose
file written for ``postgres:15`` works unchanged.

Versions: the static configs and tags name the versions bookworm ships (they do
not change within a Debian release except for point releases); after a build,
``recipe.with_version(debian_version)`` fills in the exact version the archive
had (``PG_VERSION``, ``REDIS_VERSION``, ``PYTHON_VERSION``) and adds the
exact-version tags (``postgres:15.20``, ``redis:7.0.15``, ``python:3.11.2``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from dockyard.errors import InvalidArgument
from dockyard.oci.image import ContainerConfig
from dockyard.oci.reference import DEFAULT_DOMAIN, OFFICIAL_PREFIX, parse_reference

Builder = Literal["busybox", "mmdebstrap"]

PATH_DEFAULT = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The python image puts /usr/local/bin first (and, as upstream does, twice).
PATH_PYTHON = "PATH=/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PG_MAJOR = "15"
PATH_POSTGRES = f"{PATH_DEFAULT}:/usr/lib/postgresql/{PG_MAJOR}/bin"
PGDATA = "/var/lib/postgresql/data"
ENTRYPOINT_PATH = "/usr/local/bin/docker-entrypoint.sh"

# Like Docker Hub's "-slim" Debian images (debuerreotype's slimify): no man pages,
# no docs but the copyright files, no translations but locale.alias. The options
# stay in /etc/dpkg/dpkg.cfg.d/, so packages installed later are slim too.
SLIM_DPKG_OPTIONS: tuple[str, ...] = (
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/groff/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/lintian/overrides/*",
    "path-exclude=/usr/share/linda/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/locale/*",
    "path-include=/usr/share/locale/locale.alias",
)

_PYTHON_PACKAGES = (
    "python3",
    "python3-pip",
    "python3-venv",
    "python-is-python3",
    "ca-certificates",
)

# Hooks run by mmdebstrap after the packages are installed; "$1" is the root.
_HOOK_PIP_UNMANAGED = 'rm -f "$1"/usr/lib/python3.*/EXTERNALLY-MANAGED'
_HOOKS_POSTGRES = (
    # The image's entrypoint runs initdb from POSTGRES_PASSWORD etc.; drop the
    # cluster Debian's postinst made, and make later installs not create one.
    f'if [ -d "$1/etc/postgresql/{PG_MAJOR}/main" ]; then '
    f'chroot "$1" pg_dropcluster {PG_MAJOR} main; fi',
    "sed -ri 's/^#?(create_main_cluster) .*$/\\1 = false/' "
    '"$1/etc/postgresql-common/createcluster.conf"',
    # As the official image does: clusters made by initdb listen on all addresses.
    f"sed -ri \"s!^#?(listen_addresses)\\s*=\\s*\\S+.*!\\1 = '*'!\" "
    f'"$1/usr/share/postgresql/{PG_MAJOR}/postgresql.conf.sample"',
    f"grep -q \"^listen_addresses = '\\*'\" "
    f'"$1/usr/share/postgresql/{PG_MAJOR}/postgresql.conf.sample"',
    # ssl-cert's postinst makes a random key pair: not reproducible, and a private
    # key has no business in an image (the entrypoint does not configure ssl).
    'rm -f "$1/etc/ssl/private/ssl-cert-snakeoil.key" "$1/etc/ssl/certs/ssl-cert-snakeoil.pem"',
    'find "$1/etc/ssl/certs" -lname ssl-cert-snakeoil.pem -delete',
)


@dataclass(frozen=True)
class FileSpec:
    """A file shipped in ``dockyard/engine/bootstrap/files/`` copied into the rootfs."""

    source: str  # name under files/
    path: str  # absolute path in the root filesystem
    mode: int = 0o755


@dataclass(frozen=True)
class DirSpec:
    """A directory to create (or fix up) in the rootfs after the packages are in."""

    path: str  # absolute, with no symlink on the way (write /run, not /var/run)
    mode: int = 0o755
    owner: str = "root"  # user name in the rootfs' /etc/passwd; group: its primary group


@dataclass(frozen=True)
class Recipe:
    """One bootstrappable image: its names, its config and how to build its rootfs."""

    key: str
    tags: tuple[str, ...]  # familiar names, the first is the main one: "python:3.11"
    config: ContainerConfig
    description: str
    builder: Builder = "mmdebstrap"
    variant: str = "minbase"  # mmdebstrap --variant
    include: tuple[str, ...] = ()  # Debian packages (busybox: the .deb to unpack)
    dpkg_options: tuple[str, ...] = ()  # mmdebstrap --dpkgopt
    customize_hooks: tuple[str, ...] = ()  # mmdebstrap --customize-hook (shell, "$1" = root)
    dirs: tuple[DirSpec, ...] = ()
    files: tuple[FileSpec, ...] = ()
    # The Debian package whose version is the image's version, and what it sets.
    version_package: str = ""
    version_env: str = ""  # e.g. "PG_VERSION"
    version_env_debian: bool = False  # the env gets "15.20-0+deb12u1", not "15.20"
    version_tags: tuple[str, ...] = ()  # e.g. "postgres:{version}" (upstream version)
    version_prefix: str = ""  # lookup accepts exact-version tags starting so: "15."
    approx_seconds: int = 0
    approx_mb: int = 0

    @property
    def name(self) -> str:
        """The main tag, as progress lines and messages name the image."""
        return self.tags[0]

    @property
    def version(self) -> str:
        """The image's version in the static config (``version_env``), or ``""``."""
        if not self.version_env:
            return ""
        return self.config.env_dict().get(self.version_env, "")

    def has_tag(self, name: str) -> bool:
        """True if ``name`` (any spelling: ``docker.io/library/redis:7``) is one of the tags."""
        return _familiar(name) in self.tags

    def accepts(self, name: str) -> bool:
        """True if ``lookup`` maps ``name`` to this recipe: a tag, or an exact-version
        tag such as ``postgres:15.20`` that a build may turn out to have (check
        ``with_version(...).has_tag(name)`` after the build)."""
        short = _familiar(name)
        if short in self.tags:
            return True
        for template in self.version_tags:
            head, _, tail = template.partition("{version}")
            if short.startswith(head) and short.endswith(tail) and len(short) > len(head + tail):
                middle = short[len(head) : len(short) - len(tail)]
                if _VERSION_RE.fullmatch(middle) and middle.startswith(self.version_prefix):
                    return True
        return False

    def with_version(self, debian_version: str) -> Recipe:
        """This recipe with the version a build found (``dpkg`` version string of
        ``version_package``): the version env set, the exact-version tags added.
        An empty version (a recipe without ``version_package``) changes nothing."""
        if not debian_version:
            return self
        upstream = upstream_version(debian_version)
        tags = list(self.tags)
        for template in self.version_tags:
            tag = template.format(version=upstream)
            if tag not in tags:
                tags.append(tag)
        env = self.config.env
        if self.version_env:
            value = debian_version if self.version_env_debian else upstream
            prefix = self.version_env + "="
            env = tuple(prefix + value if e.startswith(prefix) else e for e in env)
        return replace(self, tags=tuple(tags), config=replace(self.config, env=env))


_VERSION_RE = re.compile(r"[0-9]+(?:\.[0-9]+)*")
_UPSTREAM_RE = re.compile(r"(?:[0-9]+:)?([0-9]+(?:\.[0-9]+)*)")


def upstream_version(debian_version: str) -> str:
    """``"5:7.0.15-1~deb12u10"`` -> ``"7.0.15"``: epoch, revision and suffixes dropped."""
    m = _UPSTREAM_RE.match(debian_version)
    if m is None:
        raise InvalidArgument(f"not a Debian version: {debian_version!r}")
    return m.group(1)


def _familiar(name: str) -> str:
    """``docker.io/library/redis`` -> ``redis:latest``; other registries stay as they are."""
    ref = parse_reference(name)
    if ref.digest is not None:
        return str(ref)
    if ref.domain == DEFAULT_DOMAIN and ref.path.startswith(OFFICIAL_PREFIX):
        return f"{ref.familiar_name}:{ref.tag}"
    return str(ref)


def _python(slim: bool) -> Recipe:
    suffix = "-slim" if slim else ""
    return Recipe(
        key="python-slim" if slim else "python",
        tags=(
            (f"python:3.11{suffix}", f"python:3{suffix}", "python:slim")
            if slim
            else ("python:3.11", "python:3", "python:latest")
        ),
        config=ContainerConfig(
            env=(PATH_PYTHON, "LANG=C.UTF-8", "PYTHON_VERSION=3.11.2"),
            cmd=("python3",),
        ),
        description=(
            "Debian's Python 3.11 with pip and venv; pip installs as root work"
            + (" (slim: no docs, man pages, translations)" if slim else "")
        ),
        include=_PYTHON_PACKAGES,
        dpkg_options=SLIM_DPKG_OPTIONS if slim else (),
        customize_hooks=(_HOOK_PIP_UNMANAGED,),
        version_package="python3.11",
        version_env="PYTHON_VERSION",
        version_tags=(f"python:{{version}}{suffix}",),
        version_prefix="3.11.",
        approx_seconds=25,
        approx_mb=215 if slim else 250,
    )


RECIPES: tuple[Recipe, ...] = (
    Recipe(
        key="busybox",
        tags=("busybox:latest", "busybox:1.35"),
        config=ContainerConfig(env=(PATH_DEFAULT,), cmd=("sh",)),
        description="BusyBox 1.35 (Debian's busybox-static), every applet linked in /bin",
        builder="busybox",
        include=("busybox-static",),
        version_package="busybox-static",
        version_tags=("busybox:{version}",),
        version_prefix="1.35.",
        approx_seconds=2,
        approx_mb=2,
    ),
    Recipe(
        key="debian",
        tags=("debian:bookworm", "debian:12", "debian:latest"),
        config=ContainerConfig(env=(PATH_DEFAULT,), cmd=("bash",)),
        description="Debian 12 bookworm, mmdebstrap's minbase variant",
        approx_seconds=15,
        approx_mb=170,
    ),
    Recipe(
        key="debian-slim",
        tags=("debian:bookworm-slim", "debian:12-slim"),
        config=ContainerConfig(env=(PATH_DEFAULT,), cmd=("bash",)),
        description="Debian 12 bookworm minbase without docs, man pages and translations",
        dpkg_options=SLIM_DPKG_OPTIONS,
        approx_seconds=15,
        approx_mb=125,
    ),
    _python(slim=False),
    _python(slim=True),
    Recipe(
        key="redis",
        tags=("redis:7", "redis:7.0", "redis:latest"),
        config=ContainerConfig(
            entrypoint=("docker-entrypoint.sh",),
            env=(PATH_DEFAULT, "REDIS_VERSION=7.0.15"),
            cmd=("redis-server",),
            working_dir="/data",
            volumes=("/data",),
            exposed_ports=("6379/tcp",),
        ),
        description="Debian's Redis 7.0; runs as user redis, protected mode off, data in /data",
        include=("redis-server",),
        dirs=(DirSpec("/data", 0o755, "redis"),),
        files=(FileSpec("redis-entrypoint.sh", ENTRYPOINT_PATH),),
        version_package="redis-server",
        version_env="REDIS_VERSION",
        version_tags=("redis:{version}",),
        version_prefix="7.0.",
        approx_seconds=15,
        approx_mb=185,
    ),
    Recipe(
        key="postgres",
        tags=(f"postgres:{PG_MAJOR}", "postgres:latest"),
        config=ContainerConfig(
            entrypoint=("docker-entrypoint.sh",),
            env=(
                PATH_POSTGRES,
                # Debian's C.UTF-8 needs no locales package; initdb accepts it.
                "LANG=C.UTF-8",
                f"PG_MAJOR={PG_MAJOR}",
                "PG_VERSION=15.20-0+deb12u1",
                f"PGDATA={PGDATA}",
            ),
            cmd=("postgres",),
            volumes=(PGDATA,),
            exposed_ports=("5432/tcp",),
            stop_signal="SIGINT",
        ),
        description=(
            "Debian's PostgreSQL 15; the entrypoint initialises PGDATA from "
            "POSTGRES_PASSWORD, POSTGRES_USER, POSTGRES_DB like the official image"
        ),
        include=("postgresql",),
        customize_hooks=_HOOKS_POSTGRES,
        dirs=(
            DirSpec(PGDATA, 0o1777, "postgres"),
            DirSpec("/run/postgresql", 0o3777, "postgres"),
            DirSpec("/docker-entrypoint-initdb.d", 0o755, "root"),
        ),
        files=(FileSpec("postgres-entrypoint.sh", ENTRYPOINT_PATH),),
        version_package=f"postgresql-{PG_MAJOR}",
        version_env="PG_VERSION",
        version_env_debian=True,
        version_tags=("postgres:{version}",),
        version_prefix=f"{PG_MAJOR}.",
        approx_seconds=30,
        approx_mb=420,
    ),
)


def bootstrappable_names() -> list[str]:
    """Every tag some recipe makes, in recipe order."""
    return [tag for recipe in RECIPES for tag in recipe.tags]


def lookup(names: Sequence[str]) -> list[Recipe]:
    """The recipes for ``names`` (in order, each once); no names means all of them.

    A name is matched against the recipes' tags after Docker's normalisation
    (``docker.io/library/``, default tag ``latest``), so ``python``,
    ``python:3.11`` and ``docker.io/library/python:3.11`` all find the same
    recipe. An unknown name raises :class:`InvalidArgument` listing what exists.
    """
    if not names:
        return list(RECIPES)
    found: list[Recipe] = []
    for name in names:
        recipe = next((r for r in RECIPES if r.accepts(name)), None)
        if recipe is None:
            raise InvalidArgument(
                f"cannot bootstrap {name!r}: no recipe makes it; "
                f"images that can be bootstrapped: {', '.join(bootstrappable_names())}",
                hint="Docker Hub is out of reach; `dockyard bootstrap NAME` builds only "
                "these images, from Debian's package archive",
            )
        if recipe not in found:
            found.append(recipe)
    return found
