"""The container's side of a start or an exec: what the forked child does, from the
fork to the ``execve`` (:mod:`dockyard.runtime.executor` is the parent's side).

The parent plans (parses the spec, resolves mounts, capabilities and the seccomp
filter) and forks; the child here only performs: it joins the cgroup and the
namespaces, builds the rootfs (:mod:`dockyard.runtime.mounts`), drops privileges
and execs. Any failure before the exec is written to the parent on a close-on-exec
pipe as ``code\0message`` (:func:`child_main`), with Docker's exit codes.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat

from dockyard.runtime import linux as L
from dockyard.runtime import mounts

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

    from dockyard.oci.runtime_spec import Process, RuntimeSpec
    from dockyard.runtime.seccomp import Filter
else:
    import _signal as signal  # signal.py's enums: 2 ms of every exec

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Fail(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def child_main(w: int, body: Callable[[], None]) -> None:
    """Run ``body`` (which execs); on any failure report it on ``w`` and exit."""
    code = 125
    try:
        try:
            body()
            msg = "exec returned"
        except Fail as e:
            code, msg = e.code, str(e)
        except mounts.MountError as e:
            msg = str(e)
        except OSError as e:
            msg = f"{e.strerror or e}" + (f": {e.filename}" if e.filename else "")
        except BaseException as e:  # anything must reach the parent
            msg = f"{type(e).__name__}: {e}"
        os.write(w, f"{code}\0{msg}".encode())
    finally:
        os._exit(code)


def reset_signals(ignored: Sequence[int]) -> None:
    for s in ignored:
        signal.signal(s, signal.SIG_DFL)
    for s in (32, 33):  # invisible to Python; may be inherited as ignored
        L.reset_signal(s)
    signal.pthread_sigmask(signal.SIG_SETMASK, ())


def join_cgroup(procs: Sequence[str]) -> None:
    """Move ourselves (single-threaded: a fresh fork) into the cgroup: ``0`` into each
    of its join files (Cgroup.join_files: v1 ``tasks`` skips the kernel's global
    lock and its grace period)."""
    for f in procs:
        fd = os.open(f, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)


def setup_stdio(stdio: tuple[int, int, int] | None, terminal: bool) -> str | None:
    """Install ``stdio`` as 0, 1, 2; start a session; return the console path if any."""
    if stdio is not None:
        tmp = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) for fd in stdio]
        for i, fd in enumerate(tmp):
            os.dup2(fd, i)
            os.close(fd)
    os.setsid()
    if terminal and os.isatty(0):
        fcntl.ioctl(0, L.TIOCSCTTY, 0)
        try:
            return os.ttyname(0)
        except OSError:  # a pty of another devpts instance (exec): no console name needed
            return None
    return None


# (bounding caps to drop, effective, permitted, inheritable, ambient numbers, and the
# effective/permitted a non-root user gets) -- or None: leave capabilities alone.
Identity = tuple[tuple[int, ...], int, int, int, tuple[int, ...]] | None


def set_identity(
    process: Process, ident: Identity, resolved: bool, filt: Filter | None = None
) -> None:
    """Drop capabilities and switch user, in the order runc uses. ``resolved``: the user
    was resolved in the child, so apply Docker's rule (no effective/permitted capabilities
    for a non-root user) here. ``filt``: the seccomp filter, installed as runc does:
    while CAP_SYS_ADMIN is still held (before all this), or, with no_new_privileges,
    last, just before execve (no capability is needed then)."""
    late = process.no_new_privileges
    if filt is not None and not late:
        filt.install()
    if ident is not None:
        for n in ident[0]:
            L.prctl(L.PR_CAPBSET_DROP, n)
        L.prctl(L.PR_SET_KEEPCAPS, 1)
    u = process.user
    os.setgroups(u.additional_gids)
    os.setresgid(u.gid, u.gid, u.gid)
    os.setresuid(u.uid, u.uid, u.uid)
    if ident is not None:
        _, eff, perm, inh, ambient = ident
        if resolved and u.uid != 0:
            eff = perm = 0
        L.prctl(L.PR_SET_KEEPCAPS, 0)
        L.capset(eff, perm, inh)
        L.prctl(L.PR_CAP_AMBIENT, L.PR_CAP_AMBIENT_CLEAR_ALL)
        for n in ambient:
            L.prctl(L.PR_CAP_AMBIENT, L.PR_CAP_AMBIENT_RAISE, n)
    if process.no_new_privileges:
        L.prctl(L.PR_SET_NO_NEW_PRIVS, 1)
    if filt is not None and late:
        filt.install()


def apply_rlimits(process: Process) -> None:
    if not process.rlimits:
        return
    import resource

    for rl in process.rlimits:
        num = getattr(resource, rl.type, None)
        if not isinstance(num, int):
            raise Fail(125, f"unknown rlimit {rl.type}")
        try:
            resource.setrlimit(num, (rl.soft, rl.hard))
        except (OSError, ValueError) as e:
            raise Fail(125, f"setrlimit {rl.type}: {e}") from e


def _resolve_user(process: Process, spec: str | None) -> tuple[Process, dict[str, str]]:
    env = dict(e.partition("=")[::2] for e in process.env)
    if spec is None:
        return process, env
    from dockyard.errors import DockyardError
    from dockyard.oci.runtime_spec import User
    from dockyard.runtime.users import resolve_user

    try:
        ru = resolve_user("/", spec)
    except DockyardError as e:
        raise Fail(125, str(e)) from e
    env.setdefault("HOME", ru.home)
    return process.replace(user=User(ru.uid, ru.gid, ru.additional_gids)), env


def _lower_err(e: OSError) -> str:
    return (e.strerror or str(e)).lower()  # Go's error texts are lower case


def lookup(name: str, env: Mapping[str, str]) -> str:
    """Find ``name`` as Go's exec.LookPath would (the container's PATH); raise Fail with
    Docker's message and exit code."""
    if "/" in name:
        try:
            st = os.stat(name)
        except OSError as e:
            raise Fail(
                127 if e.errno in (errno.ENOENT, errno.ENOTDIR) else 126,
                f'exec: "{name}": stat {name}: {_lower_err(e)}',
            ) from e
        if stat.S_ISDIR(st.st_mode) or not st.st_mode & 0o111:
            raise Fail(126, f'exec: "{name}": permission denied')
        return name
    for d in env.get("PATH", DEFAULT_PATH).split(":"):
        cand = f"{d or '.'}/{name}"
        try:
            st = os.stat(cand)
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode) and st.st_mode & 0o111:
            return cand
    raise Fail(127, f'exec: "{name}": executable file not found in $PATH')


def _exec(process: Process, env: Mapping[str, str]) -> None:
    try:
        os.chdir(process.cwd)
    except OSError as e:
        raise Fail(
            127 if e.errno == errno.ENOENT else 126,
            f'chdir to cwd ("{process.cwd}") set in config.json failed: {_lower_err(e)}',
        ) from e
    path = lookup(process.args[0], env)
    L.cloexec_from(3)
    try:
        os.execve(path, list(process.args), env)
    except OSError as e:
        code = {errno.ENOENT: 127, errno.EACCES: 126, errno.EISDIR: 126}.get(e.errno or 0, 125)
        raise Fail(code, f"exec {path}: {_lower_err(e)}") from e


def start_child(
    spec: RuntimeSpec,
    rootfs: str,
    rplan: Sequence[mounts.PlannedMount],
    mplan: Sequence[mounts.PlannedMount],
    stdio: tuple[int, int, int] | None,
    procs: Sequence[str],
    join: Sequence[tuple[int, int]],
    new_flags: int,
    hier: Sequence[tuple[str, str, str]],
    resolve_user: str | None,
    ident: Identity,
    ignored_signals: Sequence[int],
    filt: Filter | None,
    go_r: int = -1,
    go_w: int = -1,
) -> None:
    reset_signals(ignored_signals)
    if go_r >= 0:  # the parent makes the cgroup meanwhile (start_container's before_join)
        os.close(go_w)
        os.read(go_r, 1)  # EOF: made (or the parent is gone, and the join fails)
        os.close(go_r)
    join_cgroup(procs)
    for fd, flag in join:
        L.setns(fd, flag)
    L.unshare(new_flags)
    if new_flags & L.CLONE_NEWNET:
        L.loopback_up()
    process = spec.process
    console = setup_stdio(stdio, process.terminal)
    if process.oom_score_adj is not None:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(process.oom_score_adj))
    if spec.hostname and new_flags & L.CLONE_NEWUTS:
        L.sethostname(spec.hostname)
    mounts.setup_rootfs(
        rootfs, mplan, rplan, cgroup_hierarchies=hier, cwd=process.cwd, console=console
    )
    for key, value in spec.linux.sysctl:
        with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
            f.write(value)
    mounts.mask_paths(spec.linux.masked_paths)
    mounts.readonly_paths(spec.linux.readonly_paths)
    process, env = _resolve_user(process, resolve_user)
    if spec.root.readonly:
        mounts.readonly_root()
    apply_rlimits(process)
    set_identity(process, ident, resolve_user is not None, filt)
    _exec(process, env)


def exec_child(
    process: Process,
    stdio: tuple[int, int, int] | None,
    procs: Sequence[str],
    join: Sequence[tuple[int, int]],
    resolve_user: str | None,
    ident: Identity,
    ignored_signals: Sequence[int],
    filt: Filter | None,
) -> None:
    reset_signals(ignored_signals)
    join_cgroup(procs)
    for fd, flag in join:
        L.setns(fd, flag)
    setup_stdio(stdio, process.terminal)
    process, env = _resolve_user(process, resolve_user)
    apply_rlimits(process)
    set_identity(process, ident, resolve_user is not None, filt)
    _exec(process, env)


def wait_ahead(sock: int, peer: int, ignored: Sequence[int], procs: Sequence[str]) -> None:
    """The child of an :class:`~dockyard.runtime.executor.ChildAhead`: join the cgroup
    (``procs``), then wait on ``sock`` for the plan and the descriptors that
    :meth:`~dockyard.runtime.executor.ChildAhead.go` sends, and start the container
    as a forked child would. Exits if the parent dies (its end, ``peer``, closes:
    ours is closed here) or cancels first."""
    try:
        os.close(peer)
        reset_signals(ignored)
        L.prctl(L.PR_SET_PDEATHSIG, signal.SIGKILL)  # (its death before: EOF below)
        join_cgroup(procs)
        import _socket
        import marshal
        import sys

        msg, anc, _, _ = _socket.socket(fileno=sock).recvmsg(
            1 << 18, _socket.CMSG_SPACE(64 * 4), _socket.MSG_CMSG_CLOEXEC
        )
        if not msg:
            return  # cancelled
        L.prctl(L.PR_SET_PDEATHSIG, 0)  # the container outlives its shim, as with runc
        data = b"".join(d for level, kind, d in anc if kind == _socket.SCM_RIGHTS)
        fds = [int.from_bytes(data[i : i + 4], sys.byteorder, signed=True)
               for i in range(0, len(data) - 3, 4)]  # fmt: skip
        child_main(fds[0], lambda: _start_planned(marshal.loads(msg), fds[1:]))
    finally:
        os._exit(125)


def _start_planned(plan: tuple[Any, ...], fds: list[int]) -> None:
    """:func:`start_child` with a plan from :meth:`ChildAhead.go
    <dockyard.runtime.executor.ChildAhead.go>` (the cgroup joined, signals reset)."""
    spec_t, rootfs, rplan, mplan, has_stdio, join_flags, new_flags, hier, user, ident, prog = plan
    stdio = (fds[0], fds[1], fds[2]) if has_stdio else None
    join = list(zip(fds[3:] if has_stdio else fds, join_flags, strict=True))
    filt = None
    if prog is not None:
        from dockyard.runtime.seccomp import Filter

        filt = Filter(*prog)
    spec = spec_from_plan(spec_t)
    start_child(spec, rootfs, rplan, mplan, stdio, (), join, new_flags, hier, user, ident, (), filt)


def spec_plan(spec: RuntimeSpec) -> tuple[Any, ...]:
    """What :func:`start_child` reads of ``spec`` (the mounts, capabilities and filter
    go planned), as plain data for a child ahead's plan; :func:`spec_from_plan` makes
    it a spec again."""
    p, linux = spec.process, spec.linux
    u = p.user
    rlimits = tuple((r.type, r.hard, r.soft) for r in p.rlimits)
    process = (p.args, p.env, p.cwd, (u.uid, u.gid, u.additional_gids), p.terminal,
               p.no_new_privileges, rlimits, p.oom_score_adj)  # fmt: skip
    return (process, spec.root.path, spec.root.readonly, spec.hostname, linux.masked_paths,
            linux.readonly_paths, linux.sysctl)  # fmt: skip


def spec_from_plan(t: tuple[Any, ...]) -> RuntimeSpec:
    """The spec a child ahead's plan carries (:func:`spec_plan`)."""
    from dockyard.oci.runtime_spec import Linux, Process, Rlimit, Root, RuntimeSpec, User

    (args, env, cwd, user, terminal, nnp, rlimits, oom), path, ro, hostname, masked, rop, sysctl = t
    process = Process(args, env, cwd, User(*user), terminal, None, nnp,
                      tuple(Rlimit(*r) for r in rlimits), oom)  # fmt: skip
    linux = Linux(masked_paths=masked, readonly_paths=rop, sysctl=sysctl)
    return RuntimeSpec(process, Root(path, ro), hostname, linux=linux)
