"""Build a recipe's root filesystem as one reproducible, uncompressed layer tar.

Debian-based recipes are made by ``mmdebstrap --mode=root`` into a directory
under ``workdir``; busybox from the ``busybox-static`` .deb alone. The tree is
then cleaned (no /dev nodes, no host resolv.conf/hostname, no random keys),
given the recipe's directories and entrypoint, and packed by GNU tar with
sorted names, numeric owners and no ``./`` prefix.

Reproducible: with the same archive content and ``source_date_epoch`` two
builds give byte-identical tars. ``SOURCE_DATE_EPOCH`` is set for mmdebstrap
(which then drops logs, ldconfig's aux-cache etc. and dates /etc/shadow);
every file made or changed during the build gets the epoch as mtime, while
files unpacked from packages keep the package's mtime.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dockyard.engine.bootstrap import _tree
from dockyard.engine.bootstrap._tools import mounts_under, remove_tree, require_tools, run_tool
from dockyard.engine.bootstrap.recipes import Recipe
from dockyard.errors import DockyardError, ExternalToolFailed, Unsupported

# 2023-11-14T22:13:20Z: the mtime of everything the build makes (not of the
# files packages ship), and the date in /etc/shadow.
DEFAULT_SOURCE_DATE_EPOCH = 1_700_000_000
SUITE = "bookworm"
MIRRORS: tuple[str, ...] = (
    "deb http://deb.debian.org/debian bookworm main",
    "deb http://deb.debian.org/debian bookworm-updates main",
    "deb http://deb.debian.org/debian-security bookworm-security main",
)
_NET_HINT = (
    "bootstrap downloads from deb.debian.org over http: check that it is reachable "
    "(proxy settings: /etc/apt/apt.conf.d) and that there is disk space"
)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BuiltRootfs:
    """What ``build_rootfs_tar`` made."""

    path: Path
    size: int  # bytes
    sha256: str  # hex sha256 of the tar: the layer's DiffID
    package_version: str  # Debian version of recipe.version_package ("" if none)
    seconds: float

    @property
    def diff_id(self) -> str:
        return "sha256:" + self.sha256


def build_rootfs_tar(
    recipe: Recipe,
    out: Path,
    *,
    workdir: Path,
    progress: Progress,
    source_date_epoch: int = DEFAULT_SOURCE_DATE_EPOCH,
    cache_dir: Path | None = None,
    mirrors: Sequence[str] = MIRRORS,
) -> BuiltRootfs:
    """Write ``recipe``'s root filesystem to ``out`` as a plain tar (one layer).

    ``workdir`` holds the build tree (a Debian image needs about three times its
    size free there: use /var/tmp or the engine's state directory, not a small
    /tmp). ``cache_dir``, if given, keeps downloaded .debs for the next build
    (copied in and out by mmdebstrap hooks; apt checks them against the archive's
    hashes, so the result is the same as without the cache; old versions are not
    pruned).
    ``out`` appears only when complete (written next to it, then renamed); on
    failure nothing is left behind and :class:`ExternalToolFailed` carries the
    tool's last lines of output.

    Use ``recipe.with_version(result.package_version)`` for the final config and tags.
    """
    if os.geteuid() != 0:
        raise Unsupported(
            "dockyard bootstrap must run as root (it runs mmdebstrap --mode=root and chroot)",
            hint="run it as root, e.g. with sudo",
        )
    if recipe.builder == "busybox":
        require_tools("apt-get", "dpkg-deb", "tar")
    else:
        require_tools("mmdebstrap", "tar")
    workdir.mkdir(parents=True, exist_ok=True)
    _check_space(recipe, workdir, out.parent)
    out.parent.mkdir(parents=True, exist_ok=True)

    started = time.monotonic()
    build = Path(tempfile.mkdtemp(prefix=f"bootstrap-{recipe.key}-", dir=workdir))
    tmp: Path | None = None
    try:
        os.chmod(build, 0o755)  # apt's _apt user must reach the chroot's cache
        fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        if recipe.builder == "busybox":
            root, version = _busybox_tree(recipe, build, progress, source_date_epoch)
        else:
            root, version = _debian_tree(
                recipe, build, progress, source_date_epoch, cache_dir, mirrors
            )
        progress(f"{recipe.name}: writing the layer tar")
        _tree.write_tar(root, tmp)
        digest = _sha256(tmp)
        size = tmp.stat().st_size
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        try:
            remove_tree(build)
        except DockyardError as cleanup:
            progress(f"{recipe.name}: warning: {cleanup} ({cleanup.hint})")
        if isinstance(exc, OSError):
            raise ExternalToolFailed(
                f"bootstrap of {recipe.name} failed: {exc}",
                hint=f"check the space and permissions of {workdir} and {out.parent}",
            ) from exc
        raise
    remove_tree(build)
    seconds = time.monotonic() - started
    progress(f"{recipe.name}: done in {seconds:.0f} s, {size / 1e6:.0f} MB")
    return BuiltRootfs(out, size, digest, version, seconds)


def _check_space(recipe: Recipe, *dirs: Path) -> None:
    need = (recipe.approx_mb * 3 + 100) * 1_000_000
    for d in dirs:
        probe = d
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        free = shutil.disk_usage(probe).free
        if free < need:
            raise Unsupported(
                f"not enough disk space for bootstrapping {recipe.name} in {d}: "
                f"{free // 1_000_000} MB free, about {need // 1_000_000} MB needed",
                hint="free some space or choose a work directory on a larger filesystem",
            )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _tool_env(source_date_epoch: int, tmpdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG"))}
    env.update(
        SOURCE_DATE_EPOCH=str(source_date_epoch),
        LC_ALL="C.UTF-8",
        LANG="C.UTF-8",
        TMPDIR=str(tmpdir),
        PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    )
    return env


def _busybox_tree(
    recipe: Recipe, build: Path, progress: Progress, source_date_epoch: int
) -> tuple[Path, str]:
    package = recipe.include[0] if recipe.include else "busybox-static"
    since = time.time() - 1
    download = build / "download"
    download.mkdir()
    progress(f"{recipe.name}: downloading {package}")
    env = _tool_env(source_date_epoch, build)
    run_tool(
        ["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", package],
        cwd=download,
        env=env,
        what=f"downloading {package}",
        hint=f"run `apt-get update` (this machine's package lists must be current); {_NET_HINT}",
    )
    debs = sorted(download.glob("*.deb"))
    if len(debs) != 1:
        raise ExternalToolFailed(
            f"apt-get download {package} gave {len(debs)} .deb files", hint="try again"
        )
    version = run_tool(
        ["dpkg-deb", "--field", str(debs[0]), "Version"],
        env=env,
        what=f"reading {debs[0].name}",
        hint="the download may be corrupt: try again",
    ).strip()
    unpacked = build / "unpacked"
    run_tool(
        ["dpkg-deb", "--extract", str(debs[0]), str(unpacked)],
        env=env,
        what=f"unpacking {debs[0].name}",
        hint="the download may be corrupt: try again",
    )
    binary = next(
        (p for p in (unpacked / "bin/busybox", unpacked / "usr/bin/busybox") if p.is_file()),
        None,
    )
    if binary is None:
        raise ExternalToolFailed(
            f"{debs[0].name} has no bin/busybox", hint=f"is {package} the static busybox?"
        )
    root = build / "rootfs"
    root.mkdir(mode=0o755)
    _tree.make_busybox_tree(root, binary)
    _tree.make_dirs(root, recipe.dirs)
    _tree.install_files(root, recipe.files)
    _tree.normalise_mtimes(root, since=since, epoch=source_date_epoch)
    return root, version


def _mmdebstrap_argv(
    recipe: Recipe, root: Path, cache_dir: Path | None, mirrors: Sequence[str]
) -> list[str]:
    argv = ["mmdebstrap", "--mode=root", "--format=directory", f"--variant={recipe.variant}"]
    if recipe.include:
        argv.append("--include=" + ",".join(recipe.include))
    argv += [f"--dpkgopt={opt}" for opt in recipe.dpkg_options]
    if cache_dir is not None:
        # Only the .debs go in and out (not apt's lock and partial/, whose
        # mtimes would then differ from a build without cache).
        cache = shlex.quote(str(cache_dir))
        archives = '"$1"/var/cache/apt/archives'
        argv += [
            "--skip=essential/unlink",
            f"--setup-hook=mkdir -p {archives} && find {cache} -maxdepth 1 -name '*.deb' "
            f"-exec cp -p -t {archives} {{}} +",
            f"--customize-hook=find {archives} -maxdepth 1 -name '*.deb' "
            f"-exec cp -p -t {cache} {{}} +",
        ]
    # The host's files, which mmdebstrap copies in; the engine provides its own.
    argv.append('--customize-hook=rm -f "$1"/etc/resolv.conf "$1"/etc/hostname')
    argv += [f"--customize-hook={hook}" for hook in recipe.customize_hooks]
    argv += [SUITE, str(root), *mirrors]
    return argv


def _debian_tree(
    recipe: Recipe,
    build: Path,
    progress: Progress,
    source_date_epoch: int,
    cache_dir: Path | None,
    mirrors: Sequence[str],
) -> tuple[Path, str]:
    root = build / "rootfs"
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
    packages = f" + {', '.join(recipe.include)}" if recipe.include else ""
    slim = ", slim" if recipe.dpkg_options else ""
    progress(
        f"{recipe.name}: mmdebstrap {recipe.variant}{packages}{slim} "
        f"(about {recipe.approx_seconds} s)"
    )

    def on_line(line: str) -> None:
        # mmdebstrap's phases: "I: downloading packages with apt..." etc.
        if line.startswith("I: ") and line.endswith("..."):
            progress(f"{recipe.name}: {line[3:]}")

    since = time.time() - 1
    run_tool(
        _mmdebstrap_argv(recipe, root, cache_dir, mirrors),
        env=_tool_env(source_date_epoch, build),
        on_line=on_line,
        what=f"building {recipe.name}",
        hint=_NET_HINT,
    )
    left = mounts_under(root)
    if left:
        raise ExternalToolFailed(
            f"building {recipe.name}: mmdebstrap left {', '.join(left)} mounted",
            hint=f"unmount them (umount -R {root})",
        )
    _tree.empty_dir(root / "dev")  # Docker's images have an empty /dev
    _tree.remove_paths(root, ("etc/resolv.conf", "etc/hostname"))
    _tree.make_dirs(root, recipe.dirs)
    _tree.install_files(root, recipe.files)
    version = ""
    if recipe.version_package:
        version = _tree.dpkg_version(root, recipe.version_package)
        if not version:
            raise ExternalToolFailed(
                f"building {recipe.name}: {recipe.version_package} did not get installed",
                hint="the recipe names a package that bookworm does not have",
            )
    _tree.normalise_mtimes(root, since=since, epoch=source_date_epoch)
    return root, version
