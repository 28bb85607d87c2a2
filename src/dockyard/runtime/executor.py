"""The built-in runtime: start a container from a bundle, exec into it, signal it.

API (all need root)::

    pid = start_container(bundle, spec, rootfs_mounts=mounts, stdio=(0, 1, 2), cgroup=cg)
    _, status = os.waitpid(pid, 0)               # the caller is the container's parent
    pid2 = exec_in_container(pid, process, stdio=(...))
    kill(pid, signal.SIGTERM)

Process model. ``start_container`` returns the host PID of the container's init,
which is pid 1 in its own pid namespace and a *direct child of the caller*, so
the caller (the shim) reaps it with ``os.waitpid``. To get there without an
intermediate process the caller sets its own ``pid_for_children`` with
``unshare(CLONE_NEWPID)`` (or ``setns`` to join a pid namespace), forks, and at
once restores ``pid_for_children`` with ``setns`` on its own
``/proc/self/ns/pid``; the caller's later forks (and a second container) are
unaffected. The per-thread namespace switch makes this safe with other
threads running. ``exec_in_container`` uses the same trick with ``setns`` to
the container's pid namespace.

Errors. The child reports any failure before exec over a close-on-exec pipe;
the call raises :class:`ContainerStartError` with Docker's message and exit
code (127 not found, 126 cannot invoke, 125 otherwise) after reaping the
child. When the call returns, the container's program is running (exec done).

Seccomp. With ``spec.linux.seccomp`` the child installs the compiled filter (the
shim passes the program cached at create, :mod:`dockyard.runtime.seccomp`) in
runc's order: before dropping capabilities, or with no_new_privileges last, just
before execve. Exec'd processes get the container's filter the same way.

Everything the child sets up (rootfs mounts such as the overlay, /proc, /dev,
...) lives in the container's mount namespace and vanishes with it. The only
object outside is the cgroup, which the caller creates and removes
(:class:`dockyard.runtime.cgroups.Cgroup`).
"""

from __future__ import annotations

import os
import sys

from dockyard.errors import InvalidArgument, NotFound, Unsupported
from dockyard.oci.runtime_spec import Mount, Process, RuntimeSpec
from dockyard.runtime import caps, cgroups, mounts
from dockyard.runtime import linux as L
from dockyard.runtime.container_child import (
    Identity,
    child_main,
    exec_child,
    spec_plan,
    start_child,
)
from dockyard.runtime.errors import ContainerStartError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
    from collections.abc import Callable, Sequence
    from typing import Any

else:
    import _signal as signal  # signal.py's enums: 2 ms of every exec

__all__ = ["ContainerStartError", "exec_in_container", "kill", "start_container"]

_LAST_CAP: list[int] = []


def _last_cap() -> int:
    if not _LAST_CAP:
        try:
            _LAST_CAP.append(L.cap_last_cap())
        except OSError:
            _LAST_CAP.append(len(caps.CAPABILITIES) - 1)
    return _LAST_CAP[0]


def prepare() -> None:
    """Read, once per process, the host facts every start reads (cgroup mounts, the
    last capability, cgroup namespaces) and load what the child uses (seccomp's ctypes,
    the user lookup): a shim does it while it waits for its container."""
    _last_cap()
    L.has_cgroupns()
    if not cgroups.is_v2():
        cgroups.v1_mountpoints()
    cgroups.hierarchies()
    from dockyard.runtime import seccomp, users  # noqa: F401

    seccomp.prepare_install()


# -- the parent side ---------------------------------------------------------


def _fork_in_pidns(ns_action: Callable[[], None] | None, child: Callable[[], None]) -> int:
    """Fork with the child in the pid namespace ``ns_action`` selects (unshare or setns
    of CLONE_NEWPID); the caller's own ``pid_for_children`` is restored afterwards."""
    if ns_action is None:
        pid = os.fork()
        if pid == 0:
            child()  # never returns
        return pid
    own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    try:
        ns_action()
        try:
            pid = os.fork()
            if pid == 0:
                child()
        finally:
            L.setns(own, L.CLONE_NEWPID)
    finally:
        os.close(own)
    return pid


def _collect(pid: int, r: int) -> None:
    """Wait for the child's exec (EOF on the pipe) or its error report."""
    chunks = []
    try:
        while chunk := os.read(r, 65536):
            chunks.append(chunk)
    except BaseException:  # e.g. KeyboardInterrupt: leave no half-started child behind
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    finally:
        os.close(r)
    if not chunks:
        return
    os.waitpid(pid, 0)
    code, _, msg = b"".join(chunks).partition(b"\0")
    raise ContainerStartError(msg.decode(errors="replace"), exit_code=int(code))


def _open_ns(path: str) -> int:
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise NotFound(f"cannot open namespace {path}: {e.strerror}") from e


def start_container(
    bundle: str | os.PathLike[str],
    spec: RuntimeSpec,
    *,
    rootfs_mounts: Sequence[Mount] = (),
    stdio: tuple[int, int, int] | None = None,
    cgroup: cgroups.Cgroup | None = None,
    resolve_user: str | None = None,
    seccomp: bytes | None = None,
    while_starting: Callable[[int], object] | None = None,
    before_join: Callable[[], object] | None = None,
    spare_netns: int = -1,
    ahead: ChildAhead | None = None,
) -> int:
    """Start ``spec``'s process in new namespaces; return its host PID (a child of ours).

    ``rootfs_mounts`` are mounted inside the container's mount namespace before
    anything else, a destination of ``/`` meaning ``spec.root.path`` itself (e.g.
    the overlay from the snapshotter). ``stdio``: fds for the container's 0, 1, 2
    (default: ours). With ``spec.process.terminal`` they should be a pty slave;
    it becomes the controlling terminal and /dev/console. ``cgroup``: an existing
    (created) cgroup the process joins before its first instruction.
    ``resolve_user``: a ``user[:group]`` to resolve against the container's own
    /etc/passwd and /etc/group after its rootfs is mounted (replaces
    ``spec.process.user``; adds HOME). ``seccomp``: ``spec.linux.seccomp`` compiled
    (:func:`dockyard.runtime.seccomp.cached_filter`); compiled here if not given.
    ``while_starting(pid)``: called once the child is forked, while it sets up the
    container (on the other core, if free): the caller's work that need not precede
    the start is done there, off the critical path. Should it raise, the child is
    killed. ``before_join()``: called in the parent once the child is forked; the
    child waits for it to return before it joins ``cgroup`` (so the cgroup is made
    while the fork's copy-on-write faults are paid); a raise kills the child.
    ``spare_netns``: a descriptor from :func:`spare_netns`, joined instead of making a
    network namespace if the spec asks for a new one; closed here either way.
    ``ahead``: a :class:`ChildAhead` in ``cgroup``, which becomes the container's
    process instead of a new fork if the spec wants a new pid namespace (else, and
    on any failure before it has its plan, it is killed here: it is ours either way).
    Raises :class:`ContainerStartError`.
    """
    try:
        return _start(bundle, spec, rootfs_mounts, stdio, cgroup, resolve_user, seccomp,
                      while_starting, before_join, spare_netns, ahead)  # fmt: skip
    finally:
        if ahead is not None:
            ahead.cancel()  # (unless it took its plan: then it is the container's process)


def _start(
    bundle: str | os.PathLike[str],
    spec: RuntimeSpec,
    rootfs_mounts: Sequence[Mount],
    stdio: tuple[int, int, int] | None,
    cgroup: cgroups.Cgroup | None,
    resolve_user: str | None,
    seccomp: bytes | None,
    while_starting: Callable[[int], object] | None,
    before_join: Callable[[], object] | None,
    spare_netns: int,
    ahead: ChildAhead | None,
) -> int:
    b = os.path.realpath(bundle)
    root = spec.root.path
    rootfs = root if root.startswith("/") else os.path.join(b, root)
    linux = spec.linux
    join: list[tuple[int, int]] = []
    new_flags = 0
    pid_action: Callable[[], None] | None = None
    fds: list[int] = [spare_netns] if spare_netns >= 0 else []
    try:
        if linux.namespace("user") is not None:
            raise Unsupported("user namespaces are not supported by the built-in runtime")
        mnt = linux.namespace("mount")
        if mnt is None or mnt.path is not None:
            raise Unsupported("the built-in runtime needs a new mount namespace")
        if not os.path.isdir(rootfs):
            raise NotFound(f"rootfs {rootfs} does not exist")
        if not spec.process.args:
            raise InvalidArgument("no command specified")
        for ns in linux.namespaces:
            flag = L.NS_FLAGS[ns.type]
            if ns.type == "cgroup" and not L.has_cgroupns():
                continue
            if ns.type == "network" and ns.path is None and spare_netns >= 0:
                join.append((spare_netns, flag))  # made ahead, lo up: joined, not made
                continue
            if ns.type == "pid":
                if ns.path is None:
                    pid_action = _unshare_pid
                else:
                    pfd = _open_ns(ns.path)
                    fds.append(pfd)
                    pid_action = _setns_pid(pfd)
            elif ns.path is None:
                new_flags |= flag
            else:
                fd = _open_ns(ns.path)
                fds.append(fd)
                join.append((fd, flag))
        hier = cgroups.hierarchies() if any(m.type == "cgroup" for m in spec.mounts) else ()
        if resolve_user is not None:
            from dockyard.runtime import users  # noqa: F401  (imported before fork)
        procs = cgroup.join_files if cgroup is not None else ()
        ident = _identity_plan(spec.process)
        ign = _ignored_signals()
        program = _seccomp_program(spec, seccomp)
        mplan = mounts.plan(spec.mounts, b)
        rplan = mounts.plan(rootfs_mounts, b)
        pid = r = go_w = -1
        if ahead is not None and pid_action is _unshare_pid and procs == ahead.join_files:
            if before_join is not None:
                before_join()  # the child ahead has joined, but waits for its plan
                before_join = None
            flags = [f for _, f in join]
            plan = (spec_plan(spec), rootfs, rplan, mplan, stdio is not None, flags,
                    new_flags, hier, resolve_user, ident, program)  # fmt: skip
            pid, r = _hand_over(ahead, plan, [*(stdio or ()), *(fd for fd, _ in join)])
        if pid < 0:  # no child ahead, or it was gone: fork one
            filt = None
            if program is not None:
                from dockyard.runtime.seccomp import Filter

                filt = Filter(*program)
            args = (spec, rootfs, rplan, mplan, stdio, procs, join, new_flags, hier,
                    resolve_user, ident, ign, filt)  # fmt: skip
            pid, r, go_w = _fork_child(pid_action, args, before_join is not None)
        try:
            if before_join is not None:
                before_join()
                os.close(go_w)  # EOF: the child goes on
                go_w = -1
            if while_starting is not None:
                while_starting(pid)
        except BaseException:
            os.close(r)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise
        finally:
            if go_w >= 0:
                os.close(go_w)
    finally:
        for fd in fds:
            os.close(fd)
    _collect(pid, r)
    return pid


def _hand_over(ahead: ChildAhead, plan: tuple[Any, ...], fds: list[int]) -> tuple[int, int]:
    """Give ``ahead`` its plan and ``fds``, with a report pipe: (its pid, the pipe's read
    end), or (-1, -1) if it was gone."""
    r, w = os.pipe()
    try:
        pid = ahead.go(plan, [w, *fds])
    except BaseException:
        os.close(r)
        raise
    finally:
        os.close(w)
    if pid < 0:
        os.close(r)
        return -1, -1
    return pid, r


def _fork_child(
    pid_action: Callable[[], None] | None, args: tuple[Any, ...], wait_go: bool
) -> tuple[int, int, int]:
    """Fork the container's process (:func:`start_child` with ``args``): (its pid, the
    read end of its report pipe, the write end of its go pipe if ``wait_go``, else -1:
    the child waits for its EOF before it joins the cgroup)."""
    start: Callable[..., None] = start_child  # args: all its arguments up to go_r
    r, w = os.pipe()
    go_r, go_w = os.pipe() if wait_go else (-1, -1)
    try:
        pid = _fork_in_pidns(pid_action, lambda: child_main(w, lambda: start(*args, go_r, go_w)))
    except BaseException:
        os.close(r)
        if go_w >= 0:
            os.close(go_w)
        raise
    finally:
        os.close(w)
        if go_r >= 0:
            os.close(go_r)
    return pid, r, go_w


class ChildAhead:
    """A container's process forked before its container is known: a pending shim
    (:mod:`dockyard.runtime.shim_prefork`) makes it as soon as it has made the cgroup,
    while the caller still makes the container. It is pid 1 of a new pid namespace,
    has joined ``cgroup``, and waits for its plan (:meth:`go`, from
    :func:`start_container`): the fork, the child's first wait for a CPU and the
    cgroup join are then off the start's critical path. It dies with its parent
    until it has its plan (parent-death signal), and with :meth:`cancel`."""

    def __init__(self, cgroup: cgroups.Cgroup) -> None:
        import _socket

        from dockyard.runtime.container_child import wait_ahead

        self.join_files = cgroup.join_files
        self._sock: _socket.socket | None
        self._sock, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        fd, mine, ign = theirs.fileno(), self._sock.fileno(), _ignored_signals()
        procs = self.join_files
        try:
            self.pid = _fork_in_pidns(_unshare_pid, lambda: wait_ahead(fd, mine, ign, procs))
        except BaseException:
            self._sock.close()
            raise
        finally:
            theirs.close()

    def go(self, plan: tuple[Any, ...], fds: Sequence[int]) -> int:
        """Hand the child its plan (marshalled) and ``fds`` (its report pipe first);
        its pid, now the container's process; -1 if it was gone (reaped here)."""
        import _socket
        import marshal

        assert self._sock is not None
        rights = b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in fds)
        try:
            self._sock.sendmsg(
                [marshal.dumps(plan)], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)]
            )
        except OSError:
            self.cancel()
            return -1
        self._sock.close()
        self._sock = None
        return self.pid

    def cancel(self) -> None:
        """Kill and reap the child, unless it took its plan (idempotent)."""
        if self._sock is None:
            return
        self._sock.close()
        self._sock = None
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


def spare_netns() -> int:
    """A new network namespace with ``lo`` up, made ahead of a container that may want
    one (a pending shim makes it while it waits): a descriptor for ``start_container``.
    Making one is ~1 ms of the kernel's (and ``lo``'s) work that a start then skips.
    Made from, and handed back to, the caller's own namespace (single-threaded callers
    only). Its kernel memory is charged to the caller's cgroup, as Docker's libnetwork
    makes a container's namespace in dockerd's."""
    own = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        L.unshare(L.CLONE_NEWNET)
        try:
            L.loopback_up()
            return os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        finally:
            L.setns(own, L.CLONE_NEWNET)
    finally:
        os.close(own)


def _seccomp_program(spec: RuntimeSpec, program: bytes | None) -> tuple[bytes, int] | None:
    """The filter ``spec.linux.seccomp`` asks for: its program and flags (``program``:
    compiled already), for :class:`~dockyard.runtime.seccomp.Filter`."""
    sc = spec.linux.seccomp
    if sc is None:
        return None
    from dockyard.runtime import seccomp as S

    return (program if program is not None else S.compile_bpf(sc)), S.flags(sc)


def _unshare_pid() -> None:
    L.unshare(L.CLONE_NEWPID)


def _setns_pid(fd: int) -> Callable[[], None]:
    return lambda: L.setns(fd, L.CLONE_NEWPID)


def exec_in_container(
    pid: int,
    process: Process,
    *,
    stdio: tuple[int, int, int] | None = None,
    cgroup: cgroups.Cgroup | None = None,
    resolve_user: str | None = None,
    seccomp: bytes | None = None,
    seccomp_flags: int = 0,
) -> int:
    """Run ``process`` inside the running container whose init is ``pid``.

    Joins its cgroups (``cgroup``, or those of ``pid``), then its ipc, uts, net,
    cgroup, pid and mount namespaces; applies ``process`` (capabilities, user,
    no_new_privileges, cwd, env) and execs. Returns the new process's host PID, a
    direct child of the caller. ``resolve_user`` as in :func:`start_container`.
    ``seccomp``: the container's compiled filter, which the process gets too (as
    Docker applies the container's profile to exec).
    """
    if not process.args:
        raise InvalidArgument("no command specified")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        raise NotFound(f"container process {pid} is not running")
    procs = cgroup.join_files if cgroup is not None else cgroups.join_files_of(pid)
    fds: list[int] = []
    join: list[tuple[int, int]] = []
    pid_action: Callable[[], None] | None = None
    try:
        for ns in ("ipc", "uts", "network", "cgroup", "pid", "mount"):
            name = L.NS_FILES[ns]
            if not os.path.exists(f"/proc/self/ns/{name}"):
                continue
            if os.stat(f"/proc/{pid}/ns/{name}").st_ino == os.stat(f"/proc/self/ns/{name}").st_ino:
                continue
            fd = _open_ns(f"/proc/{pid}/ns/{name}")
            fds.append(fd)
            if ns == "pid":
                pid_action = _setns_pid(fd)
            else:
                join.append((fd, L.NS_FLAGS[ns]))
        if resolve_user is not None:
            from dockyard.runtime import users  # noqa: F401
        ident = _identity_plan(process)
        ign = _ignored_signals()
        filt = None
        if seccomp is not None:
            from dockyard.runtime.seccomp import Filter

            filt = Filter(seccomp, seccomp_flags)
        r, w = os.pipe()
        try:
            child = _fork_in_pidns(
                pid_action,
                lambda: child_main(
                    w,
                    lambda: exec_child(process, stdio, procs, join, resolve_user, ident, ign, filt),
                ),
            )
        except BaseException:
            os.close(r)
            raise
        finally:
            os.close(w)
    finally:
        for fd in fds:
            os.close(fd)
    _collect(child, r)
    return child


def kill(pid: int, sig: int = signal.SIGTERM) -> None:
    """Send ``sig`` to the container's init (``NotFound`` if it is gone).

    Signals the init has no handler for are ignored by a pid-namespace init
    (as in Docker); SIGKILL always works and takes the whole namespace down."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        raise NotFound(f"container process {pid} is not running")


def _ignored_signals() -> tuple[int, ...]:
    """Signals ignored here (Python ignores SIGPIPE and SIGXFSZ; a shell may ignore
    more). Ignored stays ignored across exec, so the child resets these; computed in
    the parent, where it is cheap."""
    sig_ign = signal.SIG_IGN
    return tuple(
        s
        for s in range(1, signal.NSIG)
        if s not in (9, 19, 32, 33) and signal.getsignal(s) == sig_ign
    )


def _identity_plan(process: Process) -> Identity:
    c = process.capabilities
    if c is None:
        return None
    keep = caps.to_mask(c.bounding)
    drop = tuple(n for n in range(_last_cap() + 1) if not keep >> n & 1)
    return (
        drop,
        caps.to_mask(c.effective),
        caps.to_mask(c.permitted),
        caps.to_mask(c.inheritable),
        tuple(caps.CAP_NUMBERS[a] for a in c.ambient),
    )
