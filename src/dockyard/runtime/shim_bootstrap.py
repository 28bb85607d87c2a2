"""The shim's first process (see :mod:`dockyard.runtime.shim_client`): it starts the
container as its child (:func:`start_container_process`, also what a restart
starter runs), writes the state, reports to the spawner and becomes the supervisor
(:mod:`dockyard.runtime.shim`) by execve. Heavy (the executor, cgroups): runs in the
bootstrap and in forked starters, never in the supervisor itself.
"""

from __future__ import annotations

import os
import sys
import time

from dockyard._util import jsonlite
from dockyard._util.proc import proc_start_time
from dockyard.errors import DockyardError
from dockyard.runtime import state as st
from dockyard.runtime.shim_client import REPORTED_ERRORS, listen_socket, shim_argv, wait_gone
from dockyard.runtime.shim_external import start_external, stop_external

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, NoReturn

    from dockyard.runtime.executor import ChildAhead


def start_container_process(
    cdir: str,
    cfg: st.ShimConfig,
    child: tuple[int, ...],
    rundir: str | None = None,
    while_starting: Callable[[], object] | None = None,
    spare_netns: int = -1,
    prepared: Prepared | None = None,
) -> dict[str, Any]:
    """Create the cgroup and start the container as a child of the caller. Returns
    what the supervisor needs to know about it. With an external runtime
    (``cfg.runtime`` crun or runc, see
    :func:`~dockyard.runtime.shim_external.start_external`) the container is the
    caller's child only if the caller is a child subreaper (the shim is), and
    ``rundir`` (the container's runroot directory) holds the runtime's state.
    ``while_starting``: the caller's own preparations, done while the built-in
    runtime's child sets the container up (before the start otherwise).
    ``spare_netns``: see :func:`~dockyard.runtime.executor.start_container` (closed
    here either way). ``prepared``: what this process made and read ahead, while the
    container was being made (:class:`Prepared`); what the start does not use of it
    is undone here."""
    from dockyard.runtime.cgroups import Cgroup
    from dockyard.runtime.executor import start_container
    from dockyard.runtime.shim_process import read_oom_kills

    prepared = prepared or Prepared()
    made = prepared.cgroup
    if made is not None and (cfg.runtime != "dockyard" or made != cfg.cgroup_path):
        prepared.undo()  # not the cgroup this start uses (crun/runc make theirs)
    cgroup_made, ahead = prepared.cgroup, prepared.child
    if cfg.runtime != "dockyard":
        if spare_netns >= 0:
            os.close(spare_netns)
        if while_starting is not None:
            while_starting()
        return start_external(cdir, cfg, child, rundir)
    try:
        files = prepared.files
        if files is None or files.spec is None:
            files = StartFiles(cdir, cfg)
        spec, program = files.spec, files.program
        assert spec is not None
    except BaseException:
        if spare_netns >= 0:
            os.close(spare_netns)
        prepared.undo()
        raise
    path = cfg.cgroup_path or spec.linux.cgroups_path
    cg = oom = None
    created = cgroup_made is not None  # removed by a failed start, as one it made
    oom_before = pid_start = 0
    if path:
        cg = Cgroup(path)
        d = cg.controller_dir("memory")
        if d is not None:
            oom = d + ("/memory.events" if cg.version == 2 else "/memory.oom_control")

    def meanwhile(pid: int) -> None:  # while the child sets the container up
        nonlocal pid_start
        pid_start = proc_start_time(pid) or 0  # the same after its execve
        if while_starting is not None:
            while_starting()

    def make_cgroup() -> None:  # while the child is being forked (it waits to join)
        nonlocal created, oom_before
        if cg is not None:  # joined by the child before it makes its namespaces (as runc):
            resources = cfg.resources() or spec.linux.resources  # (their kernel memory
            if cgroup_made is not None:  # is the container's)
                if resources is not None:
                    cg.set_resources(resources)
            else:
                created = not cg.exists()
                cg.create(resources)
            oom_before = read_oom_kills(oom)

    try:
        stdio = (child[0], child[1], child[2])
        user = cfg.resolve_user
        pid = start_container(cdir, spec, rootfs_mounts=cfg.mounts(), stdio=stdio, cgroup=cg,
                              resolve_user=user, seccomp=program, while_starting=meanwhile,
                              before_join=make_cgroup, spare_netns=spare_netns,
                              ahead=ahead)  # fmt: skip
    except BaseException:
        if cg is not None and created:
            cg.remove(kill=True)
        raise
    dirs = cg.dirs if cg is not None else ()
    return {"pid": pid, "pid_start": pid_start, "cgroup": path,
            "cgroup_dirs": dirs, "oom_file": oom, "oom_before": oom_before,
            "started_ns": time.time_ns(), "started_mono": time.monotonic()}  # fmt: skip


class StartFiles:
    """What a start reads in the container's directory: the shim's config, and for the
    built-in runtime the spec and the compiled seccomp program. A pending shim reads
    them while the caller still records the container (:meth:`PendingShim.prepare
    <dockyard.runtime.shim_prefork.PendingShim.prepare>`); :meth:`unchanged` tells
    whether they are still what is on disk."""

    def __init__(self, cdir: str, cfg: st.ShimConfig | None = None) -> None:
        from dockyard.runtime.bundle import read_config

        self.cdir = cdir
        self.stamp = _stamp(cdir)
        self.cfg = cfg if cfg is not None else st.read_shim_config(cdir)
        self.spec = read_config(cdir) if self.cfg.runtime == "dockyard" else None
        self.program: bytes | None = None
        if self.spec is not None and self.spec.linux.seccomp is not None:
            from dockyard.runtime.seccomp import read_filter

            self.program = read_filter(self.cfg.seccomp_filter, self.spec.linux.seccomp)

    def unchanged(self, cdir: str) -> bool:
        """Read from ``cdir``, whose files have not been replaced since."""
        return cdir == self.cdir and _stamp(cdir) == self.stamp


def _stamp(cdir: str) -> tuple[tuple[int, int, int], ...]:
    """The identity of config.json and shim.json (both replaced by rename when written)."""
    from dockyard.runtime.bundle import CONFIG

    out = []
    for name in (CONFIG, st.SHIM_FILE):
        try:
            s = os.stat(os.path.join(cdir, name))
            out.append((s.st_ino, s.st_mtime_ns, s.st_size))
        except FileNotFoundError:
            out.append((0, 0, 0))
    return tuple(out)


class Prepared:
    """What a pending shim (:mod:`dockyard.runtime.shim_prefork`) made and read while
    the caller made its container: ``cgroup``, the container's cgroup (directories and
    device rules: only its limits are left to apply; a start that fails removes it as
    one it made); ``child``, the container's process, forked into it to wait for its
    plan (:class:`~dockyard.runtime.executor.ChildAhead`); ``files``, the container's
    files read ahead (:class:`StartFiles`)."""

    def __init__(
        self,
        cgroup: str | None = None,
        child: ChildAhead | None = None,
        files: StartFiles | None = None,
    ) -> None:
        self.cgroup = cgroup
        self.child = child
        self.files = files

    def undo(self) -> None:
        """What the start will not use: the child ahead killed, the cgroup removed."""
        if self.child is not None:
            self.child.cancel()
            self.child = None
        if self.cgroup is not None:
            from dockyard.runtime.cgroups import Cgroup

            Cgroup(self.cgroup).remove()
            self.cgroup = None


def prepare() -> None:
    """What every start reads or loads, done once ahead: this module is imported by
    the processes that start containers (a pending shim while it waits for its
    container, a restart's starter, ``shim start``), so it runs on import."""
    try:
        from dockyard.runtime.executor import prepare

        prepare()
    except Exception:  # an ahead-of-time cache: the start reads it again
        pass


prepare()


def _report(fd: int, msg: dict[str, Any]) -> None:
    try:
        os.write(fd, jsonlite.dumps(msg).encode() + b"\n")
    except OSError:
        pass  # the spawner is gone; state.json tells the story


def _error_msg(e: BaseException) -> dict[str, Any]:
    kind = type(e).__name__ if type(e).__name__ in REPORTED_ERRORS else "ContainerStartError"
    text = str(e) if isinstance(e, DockyardError) else f"{type(e).__name__}: {e}"
    return {"ok": False, "exit_code": getattr(e, "exit_code", 125), "kind": kind, "error": text}


FAST_EXIT = 0.01  # a container gone this soon is supervised by the bootstrap itself


def bootstrap(
    cdir: str,
    rundir: str,
    report: int,
    attach_fd: int,
    attach: dict[str, Any] | None,
    python: str,
    spare_netns: int = -1,
    prepared: Prepared | None = None,
) -> NoReturn:
    """In the detached process: start the container as our child, write the state,
    report, and become the supervisor by execve (same pid, the container stays our
    child). Never returns; on failure nothing is left but state.json saying why.
    ``prepared``: see :func:`start_container_process`."""
    if TYPE_CHECKING:
        import signal
    else:
        import _signal as signal  # signal.py's enums: 2 ms of the shim's start

    from dockyard._util.sock import Socket
    from dockyard.runtime.shim import Shim, serve
    from dockyard.runtime.shim_process import remove_cgroup_dirs, sync_state, write_state_nosync
    from dockyard.runtime.shim_stdio import Stdio

    sock_path = os.path.join(rundir, st.SOCKET_NAME)
    info: dict[str, Any] = {}
    listener: Socket | None = None
    try:
        for s in (signal.SIGINT, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)  # for good (ignored stays so across execve)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        # a SIGTERM stays pending across the execve until the supervisor handles it
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        from dockyard.runtime import linux

        linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)  # kept across execve: for restarts
        prepared = prepared or Prepared()
        files = prepared.files
        if files is not None and not files.unchanged(cdir):
            prepared.files = files = None  # rewritten since (--network container:): read again
        cfg = files.cfg if files is not None else st.read_shim_config(cdir)
        me, shim_start = os.getpid(), proc_start_time(os.getpid()) or 0
        stdio = Stdio(cfg.tty, cfg.open_stdin)

        def meanwhile() -> None:  # while the container is set up: off the critical path
            nonlocal listener
            listener = listen_socket(sock_path)

        try:
            info = start_container_process(cdir, cfg, stdio.child, rundir, meanwhile,
                                           spare_netns, prepared)  # fmt: skip
        except BaseException as e:
            err = _error_msg(e)
            st.write_state(
                cdir, st.State(id=cfg.id, exit_code=err["exit_code"], error=err["error"])
            )
            raise
        stdio.close_child()
        if "console_fd" in info:  # an external runtime made the pty
            stdio.adopt_console(info.pop("console_fd"))
        assert listener is not None
        started = st.rfc3339_nano(info["started_ns"])
        running = st.State(id=cfg.id, status="running", pid=info["pid"],
                           pid_start=info["pid_start"], shim_pid=me, shim_start=shim_start,
                           started_at=started)  # fmt: skip
        # Not fsynced before the report: readers see the whole file (rename) either
        # way, and a crash that could lose it also ends the container and this shim
        # (their readers repair a dead shim's state). Synced below, once reported.
        write_state_nosync(cdir, running)
        _report(report, {"ok": True, "pid": info["pid"], "shim_pid": me})
        os.close(report)
        report = -1
        att = None if attach_fd < 0 else (Socket(fileno=attach_fd), attach or {})
        if cfg.restart_policy == "no":
            # made while the container runs its first milliseconds: if it is gone
            # by then (run --rm true), it is supervised from here at once
            shim = Shim(cdir, rundir, listener, cfg=cfg, state=running)
            if wait_gone(info["pid"], None, FAST_EXIT):  # its final state supersedes this
                serve(cdir, rundir, listener, info, stdio, att, shim=shim)
        if not cfg.auto_remove:  # a --rm container's state is moot after a crash
            sync_state(cdir)
        for fd in (listener.fileno(), *stdio.outs, stdio.stdin, attach_fd):
            if fd >= 0:
                os.set_inheritable(fd, True)
        adopt = {**info, "listen_fd": listener.fileno(), "stdio": stdio.to_json(),
                 "attach_fd": None if att is None else attach_fd, "attach": attach}  # fmt: skip
        os.execv(python, shim_argv(python, "supervise", cdir, rundir, jsonlite.dumps(adopt)))
    except BaseException as e:
        if info:  # started, but no supervisor could take over: leave nothing behind
            try:
                os.kill(info["pid"], signal.SIGKILL)
                os.waitpid(info["pid"], 0)
                if info.get("runtime"):
                    stop_external(cdir, st.read_shim_config(cdir), rundir)
                remove_cgroup_dirs(info["cgroup_dirs"])
                final = st.read_state(cdir).replace(status="exited", pid=0, exit_code=137)
                st.write_state(cdir, final.replace(error=f"starting the shim: {e}"))
            except BaseException:
                pass
        try:
            os.unlink(sock_path)
        except OSError:
            pass
        if report >= 0:
            _report(report, _error_msg(e))
    finally:
        os._exit(1)


def exec_bootstrap(cdir: str, rundir: str, opts: dict[str, Any]) -> NoReturn:
    """``shim start``: the exec mode's first process. Daemonize (the spawner reaps our
    parent at once), then bootstrap."""
    try:
        if os.fork():
            os._exit(0)
        fd, att = opts["report_fd"], opts.get("attach")
        bootstrap(cdir, rundir, fd, opts.get("attach_fd", -1), att, sys.executable)
    finally:
        os._exit(1)
