"""``docker exec``: one more process in a running container.

::

    p = prepare_exec(engine.containers, "web", ExecConfig(("sh",), tty=True))
    pid = start_exec(p, stdio=(slave, slave, slave))   # a child of the caller
    os.waitpid(pid, 0)
    start_exec_detached(p)                             # exec -d: nobody's child here

The process is built from the container's own runtime spec (its env, working
directory, user, capabilities, rlimits, no-new-privileges) with the exec's
changes on top, as Docker does: ``-e`` is merged over the container's env, ``-w``
replaces the working directory, ``-u`` (default: the container's user) is
resolved against the container's /etc/passwd and /etc/group through
``/proc/<pid>/root``, HOME comes from passwd unless the env sets it, TERM=xterm
comes with ``-t``. The process joins the container's cgroup and namespaces
(:func:`dockyard.runtime.executor.exec_in_container`).

Failures to invoke the command are :class:`ContainerStartError` with Docker's text
(``OCI runtime exec failed: exec failed: unable to start container process: ...``)
and exit code (127 not found, 126 cannot invoke).
"""

from __future__ import annotations

import os

from dockyard._util import jsonlite
from dockyard._util.record import Record
from dockyard.errors import Conflict, DockyardError, InvalidArgument, NotFound
from dockyard.runtime.errors import ContainerStartError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from dockyard.engine.container_list import ContainerLookup
    from dockyard.engine.containers import ContainerService
    from dockyard.oci.runtime_spec import Process, RuntimeSpec
    from dockyard.runtime.users import ResolvedUser

OCI_PREFIX = "OCI runtime exec failed: exec failed: unable to start container process: "


class ExecConfig(Record):
    """What ``docker exec`` flags ask for."""

    __slots__ = ("cmd", "env", "workdir", "user", "tty", "privileged")  # noqa: RUF023
    cmd: tuple[str, ...]
    env: tuple[str, ...]  # --env-file then -e, KEY=VALUE (a bare KEY removes it)
    workdir: str  # "" keeps the container's
    user: str  # "" runs as the container's user
    tty: bool
    privileged: bool

    def __init__(
        self,
        cmd: tuple[str, ...],
        env: tuple[str, ...] = (),
        workdir: str = "",
        user: str = "",
        tty: bool = False,
        privileged: bool = False,
    ) -> None:
        self._set(cmd=cmd, env=env, workdir=workdir, user=user, tty=tty, privileged=privileged)


class PreparedExec(Record):
    """An exec ready to start: the container, the host pid of its init, the process."""

    __slots__ = (  # noqa: RUF023 (field order)
        "container_id",
        "pid",
        "process",
        "cgroup_path",
        "seccomp",
        "seccomp_flags",
    )
    container_id: str
    pid: int
    process: Process
    cgroup_path: str | None
    seccomp: bytes | None  # the container's compiled filter: exec gets it too
    seccomp_flags: int

    def __init__(
        self,
        container_id: str,
        pid: int,
        process: Process,
        cgroup_path: str | None = None,
        seccomp: bytes | None = None,
        seccomp_flags: int = 0,
    ) -> None:
        self._set(
            container_id=container_id,
            pid=pid,
            process=process,
            cgroup_path=cgroup_path,
            seccomp=seccomp,
            seccomp_flags=seccomp_flags,
        )


def build_exec_process(
    spec: RuntimeSpec,
    cfg: ExecConfig,
    user: ResolvedUser,
    *,
    term_from_tty: bool = False,
    host_capabilities: Sequence[str] | None = None,
) -> Process:
    """The exec's ``process`` from the container's ``spec`` (pure).

    ``user``: the resolved exec user (its home gives HOME when the env has none).
    ``term_from_tty``: the container's TERM came from its own ``-t`` (not from its
    env), so an exec without ``-t`` does not inherit it. ``host_capabilities``: the
    host's bounding set, for ``--privileged`` (None: every capability known)."""

    from dockyard.runtime.spec_builder import (
        merge_env,
        process_capabilities,
        tweak_capabilities,
    )

    if not cfg.cmd:
        raise InvalidArgument("no command specified")
    base = spec.process
    env = list(base.env)
    if term_from_tty and not cfg.tty:
        env = [e for e in env if not e.startswith("TERM=")]
    if cfg.tty and not any(e.startswith("TERM=") for e in env):
        env.append("TERM=xterm")
    merged = merge_env(env, cfg.env)
    if not any(e.startswith("HOME=") for e in merged):
        merged += (f"HOME={user.home or '/'}",)
    cwd = cfg.workdir or base.cwd or "/"
    if not cwd.startswith("/"):
        raise InvalidArgument(
            f"the working directory '{cwd}' is invalid, it needs to be an absolute path"
        )
    if cfg.privileged:
        caplist = tweak_capabilities((), (), True, host_capabilities)
    elif base.capabilities is not None:
        caplist = base.capabilities.bounding
    else:
        caplist = None
    caps = process_capabilities(caplist, user.uid) if caplist is not None else None
    return base.replace(
        args=tuple(cfg.cmd),
        env=merged,
        cwd=cwd,
        user=user.user,
        terminal=cfg.tty,
        capabilities=caps,
        oom_score_adj=None,
    )


def prepare_exec(
    containers: ContainerService | ContainerLookup, ref: str, cfg: ExecConfig
) -> PreparedExec:
    """Check that ``ref`` runs and build the exec's process (nothing is started)."""
    from dockyard.runtime import state as st
    from dockyard.runtime.bundle import read_config
    from dockyard.runtime.users import ResolvedUser, resolve_user

    c = containers.get(ref)
    status = c.state.status
    if status == "paused":
        raise Conflict(f"Container {c.id} is paused, unpause the container before exec")
    if status == "restarting":
        raise Conflict(f"Container {c.id} is restarting, wait until the container is running")
    pid = containers.client(c.id).pid if status == "running" else 0
    if not pid:
        raise Conflict(f"container {c.id} is not running")
    cdir = containers.container_dir(c.id)
    spec = read_config(cdir)
    try:
        shim_cfg: st.ShimConfig | None = st.read_shim_config(str(cdir))
    except DockyardError:
        shim_cfg = None
    root = f"/proc/{pid}/root"
    user_spec = cfg.user or (shim_cfg.resolve_user if shim_cfg is not None else None) or ""
    try:
        if user_spec:
            user = resolve_user(root, user_spec)
        else:
            u = spec.process.user
            home = resolve_user(root, str(u.uid)).home
            user = ResolvedUser(u.uid, u.gid, u.additional_gids, home)
    except InvalidArgument as e:
        raise ContainerStartError(OCI_PREFIX + e.message + ": unknown", exit_code=126) from e
    except OSError as e:  # the container went away while we read its files
        raise Conflict(f"container {c.id} is not running") from e
    host_caps = None
    if cfg.privileged:
        from dockyard.runtime import caps

        host_caps = caps.bounding_set()
    # the create request's env (ContainerCreate.env), read without building the request
    env = jsonlite.loads(c.record.config).get("env") or ()
    term_from_tty = spec.process.terminal and not any(e.startswith("TERM=") for e in env)
    process = build_exec_process(
        spec, cfg, user, term_from_tty=term_from_tty, host_capabilities=host_caps
    )
    cg_path = shim_cfg.cgroup_path if shim_cfg is not None else spec.linux.cgroups_path
    program, flags = None, 0
    if spec.linux.seccomp is not None:  # Docker applies the container's profile to exec
        from dockyard.runtime import seccomp

        path = shim_cfg.seccomp_filter if shim_cfg is not None else None
        program, flags = (
            seccomp.read_filter(path, spec.linux.seccomp),
            seccomp.flags(spec.linux.seccomp),
        )
    return PreparedExec(c.id, pid, process, cg_path or None, program, flags)


_PTMX = (5, 2)  # the device number of every ptmx
_TIOCGPTN = 0x80045430
_TIOCSPTLCK = 0x40045431
_TIOCGPTPEER = 0x5441


def open_pty(p: PreparedExec) -> tuple[int, int]:
    """A pty pair (master, slave) for ``exec -t``, from the container's own devpts
    (as runc does): inside, the slave is ``/dev/pts/N`` (``tty`` names it, ttyname
    works). A pty of ours would be nameless in there. The slave belongs to the exec
    user, as runc leaves it. Both fds are close-on-exec."""
    import fcntl
    import stat
    import struct

    from dockyard.runtime.paths import secure_join

    root = f"/proc/{p.pid}/root"
    try:
        path = secure_join(root, "/dev/pts/ptmx")
        master = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError as e:
        raise ContainerStartError(
            f"{OCI_PREFIX}open /dev/pts/ptmx: {(e.strerror or str(e)).lower()}: unknown"
        ) from e
    try:
        st = os.fstat(master)
        if not stat.S_ISCHR(st.st_mode) or (os.major(st.st_rdev), os.minor(st.st_rdev)) != _PTMX:
            raise ContainerStartError(f"{OCI_PREFIX}/dev/pts/ptmx is not a ptmx device: unknown")
        fcntl.ioctl(master, _TIOCSPTLCK, struct.pack("i", 0))
        flags = os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC
        try:
            slave = fcntl.ioctl(master, _TIOCGPTPEER, flags)
        except OSError:  # kernels before 4.13
            (n,) = struct.unpack("I", fcntl.ioctl(master, _TIOCGPTN, b"\0" * 4))
            slave = os.open(secure_join(root, f"/dev/pts/{n}"), flags | os.O_NOFOLLOW)
        try:
            u = p.process.user
            os.fchown(slave, u.uid, u.gid)
        except OSError:
            pass
    except BaseException:
        os.close(master)
        raise
    return master, slave


def start_exec(p: PreparedExec, *, stdio: tuple[int, int, int] | None = None) -> int:
    """Start the prepared process; its host pid, a child of the caller (reap it with
    ``os.waitpid``). ``stdio``: its fds 0, 1, 2 (a pty slave with ``tty``)."""
    from dockyard.runtime import cgroup_warm
    from dockyard.runtime.cgroups import Cgroup
    from dockyard.runtime.executor import exec_in_container

    cg = None
    if p.cgroup_path:
        cg = Cgroup(p.cgroup_path)
        if not cg.dirs or not all(os.path.isdir(d) for d in cg.dirs):
            cg = None  # joined through /proc/<pid>/cgroup instead
    try:
        return exec_in_container(p.pid, p.process, stdio=stdio, cgroup=cg, seccomp=p.seccomp,
                                 seccomp_flags=p.seccomp_flags)  # fmt: skip
    except ContainerStartError as e:
        if e.message.startswith(OCI_PREFIX):
            raise
        raise ContainerStartError(OCI_PREFIX + e.message + ": unknown", exit_code=e.exit_code)
    except NotFound as e:
        raise Conflict(f"container {p.container_id} is not running") from e
    finally:
        cgroup_warm.settle()  # it has joined the cgroup (or failed to)


def start_exec_detached(p: PreparedExec) -> None:
    """``exec -d``: start the process with stdio on /dev/null and leave it running; it
    is started from a short-lived child, so it is not the caller's child (init, or the
    nearest subreaper, reaps it). Errors are raised here as :func:`start_exec`'s."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (runs in the child)
        out: dict[str, object] = {"ok": True}
        try:
            os.close(r)
            null = os.open(os.devnull, os.O_RDWR)
            start_exec(p, stdio=(null, null, null))
        except DockyardError as e:
            out = {"ok": False, "error": e.message, "kind": type(e).__name__,
                   "exit_code": getattr(e, "exit_code", 125)}  # fmt: skip
        except BaseException as e:
            out = {"ok": False, "error": f"{type(e).__name__}: {e}", "exit_code": 125}
        finally:
            try:
                os.write(w, jsonlite.dumps(out).encode())
            finally:
                os._exit(0)
    os.close(w)
    data = b""
    try:
        while chunk := os.read(r, 65536):
            data += chunk
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    try:
        res = jsonlite.loads(data)
    except ValueError:
        res = {"ok": False, "error": "exec failed: the starter died", "exit_code": 125}
    if not res.get("ok"):
        msg, code = str(res.get("error", "?")), int(res.get("exit_code", 125))
        if res.get("kind") == "Conflict":
            raise Conflict(msg)
        raise ContainerStartError(msg, exit_code=code)
