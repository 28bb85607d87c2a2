"""``RUN --mount``: from the typed :class:`~dockyard.dockerfile.mounts.RunMount` to
the mounts of the step's container, and what the step's cache key says of them.

As BuildKit does it (``dockerfile2llb/convert_runmount.go``, ``convert_secrets.go``):

- a relative ``target`` is below the working directory; ``/`` is refused;
- ``bind`` (the default type) mounts ``source`` of the build context (what
  ``.dockerignore`` lets through), or of the stage or image ``from=`` names.
  Read-only unless ``rw``; writes to an ``rw`` bind are dropped after the step;
- ``cache`` is a directory kept between builds under the engine root
  (``build-cache-mounts/<id>``; ``id`` defaults to the target), created with
  ``mode``/``uid``/``gid`` (0755, 0, 0). ``sharing=shared`` (the default) lets
  steps use it at once, ``locked`` makes the next step wait, ``private`` gives a
  concurrent step its own instance;
- ``tmpfs`` is a fresh tmpfs (``size=``);
- ``secret`` is ``--secret id=...`` of the build, a file at ``/run/secrets/<id>``
  (or ``target=``; mode 0400 unless ``mode=``) and/or the variable ``env=``.
  A missing secret is an error when ``required``, otherwise the mount is left out.

Nothing a mount shows is part of the step's layer (the container's mount points
are removed from it too). The cache key has each mount's description (type,
target, id, sharing, mode, ...), the content hash of a bind's context source,
and the image of a ``from=``; never the content of a secret or a cache.
"""

from __future__ import annotations

import fcntl
import os
import posixpath
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import quote

from dockyard._util.litedc import dataclass
from dockyard.build import events as ev
from dockyard.build.context import BuildContext
from dockyard.build.hashing import HashMemo, entry_digest
from dockyard.build.paths import scoped_path
from dockyard.dockerfile.errors import DockerfileError
from dockyard.dockerfile.mounts import RunMount
from dockyard.errors import DockyardError, InvalidArgument, NotFound

CACHE_MOUNTS_DIR = "build-cache-mounts"


@dataclass(frozen=True)
class SecretSource:
    """``--secret id=x[,src=path|,env=VAR][,type=file|env]``."""

    id: str
    src: str = ""
    env: str = ""

    def read(self) -> bytes | None:
        """The secret's bytes, None when its source is missing. Without ``src`` and
        ``env``: the variable named ``id`` if set, else the file ``id`` (as buildx)."""
        if self.env:
            value = os.environ.get(self.env)
            return None if value is None else value.encode()
        if self.src:
            try:
                return Path(self.src).expanduser().read_bytes()
            except OSError:
                return None
        value = os.environ.get(self.id)
        if value is not None:
            return value.encode()
        try:
            return Path(self.id).read_bytes()
        except OSError:
            return None


def parse_secret(value: str) -> SecretSource:
    """One ``--secret`` flag value, buildx's syntax."""
    import csv

    try:
        fields = next(csv.reader([value]), [])
    except csv.Error as e:
        raise InvalidArgument(f"failed to parse secret {value!r}: {e}") from None
    kind = ident = src = env = ""
    for item in fields:
        key, eq, val = item.partition("=")
        key = key.strip().lower()
        if not eq:
            raise InvalidArgument(
                f"invalid field '{item}' must be a key=value pair",
                hint="--secret id=NAME,src=FILE or --secret id=NAME,env=VARIABLE",
            )
        if key == "type":
            if val not in ("file", "env"):
                raise InvalidArgument(f"unsupported secret type {val!r}", hint="file or env")
            kind = val
        elif key == "id":
            ident = val
        elif key in ("source", "src"):
            src = val
        elif key == "env":
            env = val
        else:
            raise InvalidArgument(
                f"unexpected key '{key}' in '{item}'", hint="keys: type, id, src, env"
            )
    if kind == "env" and not env:
        env, src = src, ""
    if not ident:
        ident = env or (posixpath.basename(src) if src else "")
    if not ident:
        raise InvalidArgument(f"invalid secret {value!r}: no id", hint="--secret id=NAME,src=FILE")
    return SecretSource(ident, src, env)


@dataclass(frozen=True)
class ResolvedMount:
    """One mount with its target made absolute and its source's image resolved."""

    mount: RunMount
    target: str
    image_id: str = ""  # from=: the stage's or image's id
    secret_id: str = ""

    def describe(self) -> str:
        m = self.mount
        parts = [f"type={m.type}", f"target={self.target}"]
        if m.type == "secret":
            parts += [f"id={self.secret_id}", f"required={m.required}"]
            if m.env is not None:
                parts.append(f"env={m.env}")
        if m.type == "cache":
            parts += [f"id={cache_id(m)}", f"sharing={m.sharing or 'shared'}"]
        if m.type in ("bind", "cache"):
            parts.append(f"source={m.source}")
            if m.from_:
                parts.append(f"from={self.image_id}")
        if m.type != "secret":
            parts.append(f"ro={m.readonly}")
        for name in ("mode", "uid", "gid", "size"):
            value = getattr(m, name)
            if value is not None:
                parts.append(f"{name}={value}")
        return ",".join(parts)


@dataclass(frozen=True)
class MountInputs:
    """What a step's mounts add to its cache key: ``text`` (the descriptions) and
    ``files`` (content hashes of context sources, for ``--explain``)."""

    resolved: tuple[ResolvedMount, ...]
    text: str
    files: tuple[tuple[str, str], ...]


def cache_id(m: RunMount) -> str:
    return m.id or posixpath.normpath(m.target or "/")


def mount_target(target: str, workdir: str) -> str:
    if not target:
        raise InvalidArgument(
            "mount target is required",
            hint="add target=/path to the --mount (where the step sees it)",
        )
    full = posixpath.normpath(posixpath.join("/", workdir or "/", target))
    full = "/" + full.lstrip("/")
    if full == "/":
        raise InvalidArgument(f'invalid mount target "{full}"', hint="mount below /, not on it")
    return full


def stage_refs(spec: str) -> list[str]:
    """The ``from=`` of a ``--mount`` value as written (it may not use variables)."""
    import csv

    try:
        fields = next(csv.reader([spec]), [])
    except csv.Error:
        return []
    return [v for k, _, v in (f.partition("=") for f in fields) if k.lower() == "from" and v]


def resolve_mounts(
    mounts: Sequence[RunMount],
    workdir: str,
    context: BuildContext,
    image_for: Callable[[str], str],
    memo: HashMemo | None = None,
) -> MountInputs:
    """Targets, ``from=`` images and the cache key's text; context sources hashed."""
    resolved: list[ResolvedMount] = []
    files: list[tuple[str, str]] = []
    for m in mounts:
        if m.type == "ssh":
            raise InvalidArgument(
                "RUN --mount=type=ssh is not supported",
                hint="use a secret mount (--secret) for credentials",
            )
        if m.type == "secret":
            ident = m.source or m.id or posixpath.basename(m.target)
            target = m.target
            if not target and m.env is None:
                target = "/run/secrets/" + posixpath.basename(ident)
            full = mount_target(target, workdir) if target else ""
            resolved.append(ResolvedMount(m, full, secret_id=ident))
            continue
        target = mount_target(m.target, workdir)
        image_id = image_for(m.from_) if m.from_ and m.type != "tmpfs" else ""
        if m.type == "bind" and not m.from_:
            files += _context_hashes(context, m.source, memo)
        resolved.append(ResolvedMount(m, target, image_id))
    text = "\n".join("mount " + r.describe() for r in resolved)
    return MountInputs(tuple(resolved), text, tuple(files))


def _context_rel(source: str) -> str:
    return posixpath.normpath(posixpath.join("/", source)).lstrip("/")


def _context_hashes(
    context: BuildContext, source: str, memo: HashMemo | None
) -> list[tuple[str, str]]:
    rel = _context_rel(source)
    index = context.index()
    if rel and rel not in index:
        raise NotFound(
            f'RUN --mount: source "{source}" not found in build context or excluded by '
            ".dockerignore",
            hint="source= is relative to the build context; check .dockerignore",
        )
    entries = [index[rel]] if rel and not index[rel].is_dir else list(context.entries_under(rel))
    return [(f"mount:{e.rel}", entry_digest(e.rel, e.path, memo)) for e in entries]


class MountPreparer:
    """Makes the host side of a step's mounts for the duration of the step."""

    def __init__(
        self,
        backend: ev.Backend,
        context: BuildContext,
        secrets: Mapping[str, SecretSource],
    ) -> None:
        self.backend = backend
        self.context = context
        self.secrets = secrets

    @contextmanager
    def mounted(
        self, inputs: MountInputs, line: int = 0
    ) -> Iterator[tuple[tuple[ev.StepMount, ...], tuple[str, ...]]]:
        """(the container's mounts, variables for ``env=`` secrets), for the block.
        A mount that cannot be made is a :class:`DockerfileError` at ``line``."""
        out: list[ev.StepMount] = []
        env: list[str] = []
        with ExitStack() as stack:
            try:
                for r in inputs.resolved:
                    m = r.mount
                    if m.type == "tmpfs":
                        out.append(ev.StepMount("tmpfs", r.target, size=m.size))
                    elif m.type == "secret":
                        self._secret(r, stack, out, env)
                    elif m.type == "cache":
                        out.append(self._cache(r, stack))
                    else:
                        out.append(self._bind(r, stack))
            except DockyardError as e:
                raise DockerfileError(e.message, line=line, hint=e.hint) from None
            yield tuple(out), tuple(env)

    # -- secret -------------------------------------------------------------------------
    def _secret(
        self, r: ResolvedMount, stack: ExitStack, out: list[ev.StepMount], env: list[str]
    ) -> None:
        m = r.mount
        source = self.secrets.get(r.secret_id)
        data = source.read() if source is not None else None
        if data is None:
            if m.required:
                raise NotFound(
                    f"secret {r.secret_id}: not found",
                    hint=f"give it to the build: --secret id={r.secret_id},src=FILE "
                    f"(or env=VARIABLE)",
                )
            return
        if m.env is not None:
            env.append(f"{m.env}={data.decode('utf-8', 'surrogateescape')}")
        if not r.target:
            return
        base = self.backend.private_tmp()
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        import shutil
        import tempfile

        holder = Path(tempfile.mkdtemp(prefix="secret-", dir=base))
        stack.callback(shutil.rmtree, holder, True)
        path = holder / "secret"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
        try:
            os.write(fd, data)
            os.fchown(fd, m.uid or 0, m.gid or 0)
            os.fchmod(fd, 0o400 if m.mode is None else m.mode)
        finally:
            os.close(fd)
        out.append(ev.StepMount("bind", r.target, str(path), readonly=True))

    # -- cache --------------------------------------------------------------------------
    def _cache(self, r: ResolvedMount, stack: ExitStack) -> ev.StepMount:
        m = r.mount
        root = self.backend.state_dir(CACHE_MOUNTS_DIR)
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        name = quote(cache_id(m), safe="") or "_"
        sharing = m.sharing or "shared"
        directory = root / name
        lock = stack.enter_context(_locked(root / f"{name}.lock", exclusive=sharing != "shared",
                                           wait=sharing != "private"))  # fmt: skip
        n = 0
        while not lock and sharing == "private":  # in use: the next private instance
            n += 1
            directory = root / f"{name}.private-{n}"
            lock = stack.enter_context(_locked(root / f"{name}.private-{n}.lock",
                                               exclusive=True, wait=False))  # fmt: skip
        if not directory.is_dir():
            self._new_cache_dir(directory, r, stack)
        source = directory
        if m.source:
            source = scoped_path(directory, m.source)
            source.mkdir(parents=True, exist_ok=True)
        return ev.StepMount("bind", r.target, str(source), readonly=m.readonly)

    def _new_cache_dir(self, directory: Path, r: ResolvedMount, stack: ExitStack) -> None:
        m = r.mount
        tmp = directory.with_name(directory.name + ".new")
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        if m.from_:  # seeded from the stage's or image's files
            root = stack.enter_context(self.backend.read_only_root(r.image_id))
            shutil.copytree(root, tmp, symlinks=True)
        else:
            tmp.mkdir()
        os.chown(tmp, m.uid or 0, m.gid or 0)
        os.chmod(tmp, 0o755 if m.mode is None else m.mode)
        os.replace(tmp, directory)

    # -- bind ---------------------------------------------------------------------------
    def _bind(self, r: ResolvedMount, stack: ExitStack) -> ev.StepMount:
        m = r.mount
        if m.from_:
            root = stack.enter_context(self.backend.read_only_root(r.image_id))
            source = scoped_path(root, m.source or "/")
            if not os.path.lexists(source):
                raise NotFound(
                    f'RUN --mount: source "{m.source}" not found in {m.from_}',
                    hint="source= is a path in the from= stage or image",
                )
            # a writable overlay already: rw writes go when the block ends
            return ev.StepMount("bind", r.target, str(source), readonly=m.readonly)
        source = self._context_view(m.source, stack)
        if not m.readonly:
            if source.is_dir():
                source = stack.enter_context(self.backend.scratch_over(source))
            else:
                import shutil
                import tempfile

                holder = Path(tempfile.mkdtemp(prefix="bind-", dir=self._tmp()))
                stack.callback(shutil.rmtree, holder, True)
                shutil.copy2(source, holder / source.name, follow_symlinks=False)
                source = holder / source.name
        return ev.StepMount("bind", r.target, str(source), readonly=m.readonly)

    def _tmp(self) -> Path:
        base = self.backend.private_tmp()
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        return base

    def _context_view(self, source: str, stack: ExitStack) -> Path:
        """The context's ``source`` as the step may see it: the directory itself when
        ``.dockerignore`` excludes nothing there, else a copy of what is sent."""
        context = self.context
        rel = _context_rel(source)
        entry = context.index().get(rel) if rel else None
        if entry is not None and not entry.is_dir:
            return scoped_path(context.root, rel)
        if not any(not p.startswith("!") for p in context.patterns):
            return scoped_path(context.root, rel) if rel else context.root
        import shutil
        import tempfile

        view = Path(tempfile.mkdtemp(prefix="bind-", dir=self._tmp()))
        stack.callback(shutil.rmtree, view, True)
        prefix = rel + "/" if rel else ""
        for e in context.entries_under(rel):
            dest = view / e.rel[len(prefix) :]
            if e.is_dir:
                dest.mkdir(parents=True, exist_ok=True)
                shutil.copystat(e.path, dest)
            else:
                dest.parent.mkdir(parents=True, exist_ok=True)
                if stat.S_ISREG(e.mode):
                    try:
                        os.link(e.path, dest)
                        continue
                    except OSError:
                        pass
                shutil.copy2(e.path, dest, follow_symlinks=False)
        return view


@contextmanager
def _locked(path: Path, *, exclusive: bool, wait: bool) -> Iterator[bool]:
    """flock ``path`` for the block; False (and no lock) if ``wait`` is off and it is taken."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        flags = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        try:
            fcntl.flock(fd, flags if wait else flags | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)
