"""What the engine calls: spawn a container's shim, read its state, talk to it.

::

    write_shim_config(D, ShimConfig.build(cid, rootfs_mounts=..., cgroup_path=...))
    h = spawn_shim(D, RUN)            # returns once the container runs (or raises)
    c = ShimClient(RUN, D)            # any later process: the CLI, the API server
    c.state(); c.attach(...); c.wait(); c.stop(10); c.signal(9); c.cleanup()

Spawning. ``spawn_shim`` detaches a process (new session, stdio on /dev/null, not
our child) that starts the container as its own child, writes state.json, reports
on a pipe and then ``execve``s the small supervisor (:mod:`dockyard.runtime.shim`).
Two ways to get that detached process (``mode``):

- ``fork`` (default when the caller is single-threaded, as the CLI is): fork twice;
  the copy of the caller already has the interpreter and the executor imported
  (spawn_shim imports it once before forking).
- ``exec`` (default when the caller runs threads, as the API server will, where
  forking is unsafe): a new ``python -I -S`` that imports the executor first.

Either way the long-lived supervisor is a fresh interpreter: keeping the forked
copy of the caller as the supervisor would keep the caller's RSS (13 MB for the CLI
today and growing, 17 MB for a test process) for the container's whole life.

Measured on this 2-core VM (medians of 30 runs back to back; ``-I -S``; busybox
rootfs on overlay, own cgroup):

=================================  ===========  ===========
                                   fork mode    exec mode
=================================  ===========  ===========
spawn -> running                   9-10 ms      47 ms
``run --rm true`` (spawn + wait)   20 ms        51 ms
idle shim RSS (VmRSS)              10.6 MB      10.6 MB
=================================  ===========  ===========

Without bytecode for the shim's modules (PYTHONDONTWRITEBYTECODE, which makes us
pass ``-B``) the supervisor compiles them: 12.3 MB, exec mode 64 ms. The supervisor
serves requests ~25 ms after "running" (interpreter 5.6 ms, imports ~9 ms: json
pulls in re and enum). After a second of idleness this VM's first start is slower
(26 ms spawn -> running): waking idle vCPUs, not our code.

A failed start raises :class:`ContainerStartError` with the executor's exit code
and message, after the shim has removed what it made (cgroup, socket) and exited;
state.json then says ``created`` with that exit code and error, as Docker does.

Crash safety. If the shim is SIGKILLed, state.json still says "running" with a
dead ``shim_pid``: :meth:`ShimClient.state` reports "dead" (the container process
still runs, unsupervised: see :attr:`ShimClient.pid`) or "exited" with code 137 and
says why; :meth:`ShimClient.cleanup` kills the container (its pid checked against
the start time in state.json), removes the cgroup and the socket and writes the
final state.
"""

from __future__ import annotations

import json
import os
import sys
import time

from dockyard.errors import Conflict, DockyardError, InvalidArgument, NotFound, Unsupported
from dockyard.runtime import state as st
from dockyard.runtime.errors import ContainerStartError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from typing import Any, NoReturn

_BOOT = (
    "import sys;sys.path.insert(0,sys.argv.pop(1));from dockyard.runtime.shim import main;main()"
)
_ERRORS: dict[str, type[DockyardError]] = {
    "NotFound": NotFound,
    "Conflict": Conflict,
    "InvalidArgument": InvalidArgument,
    "Unsupported": Unsupported,
}
DETACH_KEYS = b"\x10\x11"  # ctrl-p ctrl-q


def _src_dir() -> str:
    import dockyard

    return os.path.dirname(os.path.dirname(os.path.abspath(dockyard.__file__)))


def shim_argv(python: str, *args: str) -> list[str]:
    """``python -I -S -c BOOT SRC args...``: isolated, no site (the shim needs only the
    stdlib and this package), ``-B`` when the caller does not write bytecode either."""
    flags = ["-I", "-S"] + (["-B"] if sys.dont_write_bytecode else [])
    return [python, *flags, "-c", _BOOT, _src_dir(), *args]


# -- sockets --------------------------------------------------------------------


def _sun_path(path: str) -> tuple[str, int]:
    """A path short enough for sockaddr_un (108 bytes): itself, or through
    /proc/self/fd/N of its directory (the fd is returned; close it afterwards)."""
    if len(os.fsencode(path)) < 100:
        return path, -1
    fd = os.open(os.path.dirname(path), os.O_PATH | os.O_CLOEXEC)
    return f"/proc/self/fd/{fd}/{os.path.basename(path)}", fd


def listen_socket(path: str) -> socket.socket:
    import socket

    os.makedirs(os.path.dirname(path), 0o700, exist_ok=True)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    name, fd = _sun_path(path)
    try:
        s.bind(name)
    finally:
        if fd >= 0:
            os.close(fd)
    s.listen(64)
    return s


def connect_socket(path: str, timeout: float | None = None) -> socket.socket:
    import socket

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    name, fd = _sun_path(path)
    try:
        s.connect(name)
    except BaseException:
        s.close()
        raise
    finally:
        if fd >= 0:
            os.close(fd)
    return s


# -- starting the container (heavy: runs in the bootstrap and in restart starters) -


def start_container_process(
    cdir: str, cfg: st.ShimConfig, child: tuple[int, ...], rundir: str | None = None
) -> dict[str, Any]:
    """Create the cgroup and start the container as a child of the caller. Returns
    what the supervisor needs to know about it. With an external runtime
    (``cfg.runtime`` crun or runc, see :func:`_start_external`) the container is the
    caller's child only if the caller is a child subreaper (the shim is), and
    ``rundir`` (the container's runroot directory) holds the runtime's state."""
    from dockyard.runtime.bundle import read_config
    from dockyard.runtime.cgroups import Cgroup
    from dockyard.runtime.executor import start_container
    from dockyard.runtime.shim_process import read_oom_kills

    if cfg.runtime != "dockyard":
        return _start_external(cdir, cfg, child, rundir)
    spec = read_config(cdir)
    program = None
    if spec.linux.seccomp is not None:
        from dockyard.runtime.seccomp import read_filter

        program = read_filter(cfg.seccomp_filter, spec.linux.seccomp)
    path = cfg.cgroup_path or spec.linux.cgroups_path
    cg = oom = None
    if path:
        cg = Cgroup(path)
        created = not cg.exists()
        cg.create(cfg.resources() or spec.linux.resources)
        d = cg.controller_dir("memory")
        if d is not None:
            oom = d + ("/memory.events" if cg.version == 2 else "/memory.oom_control")
    try:
        oom_before = read_oom_kills(oom)
        stdio = (child[0], child[1], child[2])
        user = cfg.resolve_user
        pid = start_container(cdir, spec, rootfs_mounts=cfg.mounts(), stdio=stdio, cgroup=cg,
                              resolve_user=user, seccomp=program)  # fmt: skip
    except BaseException:
        if cg is not None and created:
            cg.remove(kill=True)
        raise
    dirs = cg.dirs if cg is not None else ()
    return {"pid": pid, "pid_start": st.proc_start_time(pid) or 0, "cgroup": path,
            "cgroup_dirs": dirs, "oom_file": oom, "oom_before": oom_before,
            "started_ns": time.time_ns(), "started_mono": time.monotonic()}  # fmt: skip


# -- external runtimes (crun, runc) ---------------------------------------------------


def _rootfs_of(cdir: str, spec: Any = None) -> str:
    from dockyard.runtime.bundle import read_config

    try:
        root = (spec or read_config(cdir)).root.path
    except DockyardError:
        root = "rootfs"
    return str(root if root.startswith("/") else os.path.join(cdir, root))


def _runtime(cfg: st.ShimConfig, rundir: str | None) -> Any:
    from dockyard.runtime.external import RUNTIMES, for_host

    if cfg.runtime not in RUNTIMES:
        raise Unsupported(f"unknown or invalid runtime name: {cfg.runtime}")
    if rundir is None:
        raise InvalidArgument(f"runtime {cfg.runtime} needs the container's run directory")
    return for_host(cfg.runtime, root=os.path.join(rundir, cfg.runtime))


def _external_spec(spec: Any, cfg: st.ShimConfig, rootfs: str) -> Any:
    """config.json as the external runtime gets it: what the built-in runtime decides
    at start is decided here (the ``-u`` user resolved in the mounted rootfs, with
    Docker's capability rule for non-root users; the current limits), the rootfs and
    cgroup paths absolute."""
    from dataclasses import replace

    from dockyard.oci.runtime_spec import Capabilities, Root, User

    proc = spec.process
    if cfg.resolve_user:
        from dockyard.runtime.users import resolve_user

        try:
            ru = resolve_user(rootfs, cfg.resolve_user)
        except DockyardError as e:
            raise ContainerStartError(str(e), exit_code=125) from e
        env = proc.env
        if not any(e.startswith("HOME=") for e in env):
            env = (*env, f"HOME={ru.home}")
        caps = proc.capabilities
        if caps is not None and ru.uid != 0:
            caps = Capabilities(bounding=caps.bounding)
        proc = replace(proc, user=User(ru.uid, ru.gid, ru.additional_gids), env=env,
                       capabilities=caps)  # fmt: skip
    cg_path = cfg.cgroup_path or spec.linux.cgroups_path
    linux = replace(
        spec.linux,
        cgroups_path="/" + cg_path.strip("/") if cg_path else None,
        resources=cfg.resources() or spec.linux.resources,
    )
    return replace(spec, process=proc, root=Root(rootfs, spec.root.readonly), linux=linux)


def _start_external(
    cdir: str, cfg: st.ShimConfig, child: tuple[int, ...], rundir: str | None
) -> dict[str, Any]:
    """The same bundle run by crun or runc (:mod:`dockyard.runtime.external`): the
    rootfs mounted on the host at ``<cdir>/rootfs``, config.json adjusted into
    ``<rundir>/bundle``, ``create`` with the container's stdio (or, with a tty,
    ``--console-socket``: the pty master comes back as ``console_fd``), then
    ``start``. The runtime makes the cgroup; its state lives in ``<rundir>/<runtime>``.
    :func:`stop_external` undoes all of it."""
    from dockyard.errors import ExternalToolFailed
    from dockyard.runtime import external as X
    from dockyard.runtime.bundle import read_config, write_config
    from dockyard.runtime.cgroups import Cgroup
    from dockyard.runtime.shim_process import read_oom_kills

    rt = _runtime(cfg, rundir)
    assert rundir is not None
    spec = read_config(cdir)
    rootfs = _rootfs_of(cdir, spec)
    bundle = os.path.join(rundir, "bundle")
    _teardown_external(rt, cfg.id, rootfs, bundle)  # what an earlier run left
    console = None
    console_fd = -1
    try:
        X.mount_rootfs(rootfs, cfg.mounts(), cdir)
        spec = _external_spec(spec, cfg, rootfs)
        path = spec.linux.cgroups_path
        os.makedirs(bundle, 0o700, exist_ok=True)
        write_config(bundle, spec)
        if spec.process.terminal:
            console = X.ConsoleSocket()
        stdio = (child[0], child[1], child[2])
        try:
            pid = rt.create(cfg.id, bundle, stdio=stdio,
                            console_socket=console.path if console else None)  # fmt: skip
            if console is not None:
                console_fd = console.receive()
            rt.start(cfg.id)
        except ExternalToolFailed as e:
            raise ContainerStartError(e.message, exit_code=X.start_error_code(e.message)) from e
        cg = Cgroup(path) if path else None
        oom = None
        d = cg.controller_dir("memory") if cg is not None else None
        if cg is not None and d is not None:
            oom = d + ("/memory.events" if cg.version == 2 else "/memory.oom_control")
        info = {"pid": pid, "pid_start": st.proc_start_time(pid) or 0, "cgroup": path,
                "cgroup_dirs": cg.dirs if cg is not None else (), "oom_file": oom,
                "oom_before": read_oom_kills(oom), "started_ns": time.time_ns(),
                "started_mono": time.monotonic(), "runtime": cfg.runtime}  # fmt: skip
    except BaseException:
        if console_fd >= 0:
            os.close(console_fd)
        _teardown_external(rt, cfg.id, rootfs, bundle)
        raise
    finally:
        if console is not None:
            console.close()
    if console_fd >= 0:
        info["console_fd"] = console_fd
    return info


def _teardown_external(rt: Any, cid: str, rootfs: str, bundle: str) -> None:
    import shutil

    from dockyard.runtime.external import unmount_rootfs

    try:
        if rt is not None and rt.root is not None and os.path.isdir(os.path.join(rt.root, cid)):
            rt.delete(cid, force=True)
    finally:
        unmount_rootfs(rootfs)
        shutil.rmtree(bundle, ignore_errors=True)


def stop_external(cdir: str, cfg: st.ShimConfig, rundir: str) -> None:
    """After an external runtime's container ended (or to clean up after a crash):
    ``delete --force`` it (what is left is killed, the cgroup removed), unmount the
    rootfs from the host, remove the adjusted bundle."""
    try:
        rt = _runtime(cfg, rundir)
    except DockyardError:  # uninstalled meanwhile: what is on the host still goes
        rt = None
    _teardown_external(rt, cfg.id, _rootfs_of(cdir), os.path.join(rundir, "bundle"))


def _report(fd: int, msg: dict[str, Any]) -> None:
    try:
        os.write(fd, json.dumps(msg).encode() + b"\n")
    except OSError:
        pass  # the spawner is gone; state.json tells the story


def _error_msg(e: BaseException) -> dict[str, Any]:
    kind = type(e).__name__ if type(e).__name__ in _ERRORS else "ContainerStartError"
    text = str(e) if isinstance(e, DockyardError) else f"{type(e).__name__}: {e}"
    return {"ok": False, "exit_code": getattr(e, "exit_code", 125), "kind": kind, "error": text}


def _exited_within(pid: int, seconds: float) -> bool:
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return False
    try:
        import select

        return bool(select.select([fd], [], [], seconds)[0])
    finally:
        os.close(fd)


FAST_EXIT = 0.01  # a container gone this soon is supervised by the bootstrap itself


def bootstrap(
    cdir: str, rundir: str, report: int, attach_fd: int, attach: dict[str, Any] | None, python: str
) -> NoReturn:
    """In the detached process: start the container as our child, write the state,
    report, and become the supervisor by execve (same pid, the container stays our
    child). Never returns; on failure nothing is left but state.json saying why."""
    import signal
    import socket

    from dockyard.runtime.shim import serve
    from dockyard.runtime.shim_process import remove_cgroup_dirs
    from dockyard.runtime.shim_stdio import Stdio

    sock_path = os.path.join(rundir, st.SOCKET_NAME)
    info: dict[str, Any] = {}
    try:
        for s in (signal.SIGINT, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)  # for good (ignored stays so across execve)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        # a SIGTERM stays pending across the execve until the supervisor handles it
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        from dockyard.runtime import linux

        linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)  # kept across execve: for restarts
        cfg = st.read_shim_config(cdir)
        me, shim_start = os.getpid(), st.proc_start_time(os.getpid()) or 0
        listener = listen_socket(sock_path)
        stdio = Stdio(cfg.tty, cfg.open_stdin)
        try:
            info = start_container_process(cdir, cfg, stdio.child, rundir)
        except BaseException as e:
            err = _error_msg(e)
            st.write_state(
                cdir, st.State(id=cfg.id, exit_code=err["exit_code"], error=err["error"])
            )
            raise
        stdio.close_child()
        if "console_fd" in info:  # an external runtime made the pty
            stdio.adopt_console(info.pop("console_fd"))
        started = st.rfc3339_nano(info["started_ns"])
        st.write_state(cdir, st.State(id=cfg.id, status="running", pid=info["pid"],
                                      pid_start=info["pid_start"], shim_pid=me,
                                      shim_start=shim_start, started_at=started))  # fmt: skip
        _report(report, {"ok": True, "pid": info["pid"], "shim_pid": me})
        os.close(report)
        report = -1
        att = None if attach_fd < 0 else (socket.socket(fileno=attach_fd), attach or {})
        if cfg.restart_policy == "no" and _exited_within(info["pid"], FAST_EXIT):
            serve(cdir, rundir, listener, info, stdio, att)
        for fd in (listener.fileno(), *stdio.outs, stdio.stdin, attach_fd):
            if fd >= 0:
                os.set_inheritable(fd, True)
        adopt = {**info, "listen_fd": listener.fileno(), "stdio": stdio.to_json(),
                 "attach_fd": None if att is None else attach_fd, "attach": attach}  # fmt: skip
        os.execv(python, shim_argv(python, "supervise", cdir, rundir, json.dumps(adopt)))
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


# -- spawning ----------------------------------------------------------------------


class ShimHandle:
    """A started container: ``pid`` (host pid of its init), ``shim_pid``, the
    pre-attached ``attach_socket`` (if asked for) and a ``client``."""

    def __init__(self, client: ShimClient, pid: int, shim_pid: int,
                 attach_socket: socket.socket | None, seconds: float) -> None:  # fmt: skip
        self.client, self.pid, self.shim_pid = client, pid, shim_pid
        self.attach_socket = attach_socket
        self.seconds = seconds  # spawn -> running, as measured here

    def wait(self, **kw: Any) -> int:
        return self.client.wait(**kw)


def _single_threaded() -> bool:
    threading = sys.modules.get("threading")
    return threading is None or threading.active_count() == 1


def _close_fds_except(keep: set[int]) -> None:
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if null > 2:
        os.close(null)


def spawn_shim(
    container_dir: str | os.PathLike[str],
    run_dir: str | os.PathLike[str],
    *,
    python: str = sys.executable,
    mode: str = "auto",
    attach: dict[str, bool] | None = None,
) -> ShimHandle:
    """Start the container of ``container_dir`` under a detached shim; return once it
    runs. ``attach`` (``{"stdin": .., "stdout": .., "stderr": .., "stdin_once": ..}``)
    attaches a socket before the container starts, so no output is missed (``run``
    without ``-d``). ``mode``: ``auto``, ``fork`` or ``exec`` (module docstring).
    Raises :class:`ContainerStartError` (the shim is gone then, nothing left)."""
    cdir, rundir = os.path.abspath(container_dir), os.path.abspath(run_dir)
    client = ShimClient(rundir, cdir)
    if client.shim_alive() or client.pid:
        raise Conflict(f"container {os.path.basename(cdir)} is already running",
                       hint="stop it first, or remove it with rm -f")  # fmt: skip
    if mode == "auto":
        mode = "fork" if _single_threaded() else "exec"
    if mode not in ("fork", "exec"):
        raise InvalidArgument(f"invalid shim spawn mode {mode!r}")
    import socket

    t0 = time.monotonic()
    r, w = os.pipe()
    mine = theirs = None
    if attach is not None:
        mine, theirs = socket.socketpair()
    tfd = theirs.fileno() if theirs is not None else -1
    try:
        if mode == "fork":
            import dockyard.runtime.bundle
            import dockyard.runtime.executor
            import dockyard.runtime.shim  # noqa: F401  (once here, not in every child)

            pid = os.fork()
            if pid == 0:
                try:
                    import gc

                    gc.disable()  # no finalizer may close an fd number we reuse
                    os.setsid()
                    if os.fork():
                        os._exit(0)
                    _close_fds_except({w, tfd})
                    bootstrap(cdir, rundir, w, tfd, attach, python)
                finally:
                    os._exit(1)
            os.waitpid(pid, 0)
        else:
            import subprocess

            opts = {"report_fd": w, "attach_fd": tfd, "attach": attach}
            argv = shim_argv(python, "start", cdir, rundir, json.dumps(opts))
            null = subprocess.DEVNULL
            fds = [fd for fd in (w, tfd) if fd >= 0]
            subprocess.run(argv, pass_fds=fds, check=False, stdin=null, stdout=null, stderr=null,
                           start_new_session=True)  # fmt: skip
    except BaseException:
        os.close(r)
        if mine is not None:
            mine.close()
        raise
    finally:
        os.close(w)
        if theirs is not None:
            theirs.close()
    data = b""
    try:
        while b"\n" not in data and (chunk := os.read(r, 4096)):
            data += chunk
    finally:
        os.close(r)
    try:
        msg = json.loads(data)
    except ValueError:
        msg = {"ok": False, "error": "the shim died while starting the container"}
    if not msg.get("ok"):
        if mine is not None:
            mine.close()
        cls = _ERRORS.get(msg.get("kind", ""))
        if cls is not None:
            raise cls(msg["error"])
        raise ContainerStartError(msg["error"], exit_code=msg.get("exit_code", 125))
    return ShimHandle(client, msg["pid"], msg["shim_pid"], mine, time.monotonic() - t0)


# -- talking to a shim ---------------------------------------------------------------


class ShimClient:
    """The engine's view of one container's shim (``run_dir``: its runroot directory,
    ``container_dir``: D). Holds no connection; every call is one request."""

    def __init__(self, run_dir: str | os.PathLike[str], container_dir: str | os.PathLike[str]):
        self.run_dir = os.fspath(run_dir)
        self.container_dir = os.fspath(container_dir)
        self.sock_path = os.path.join(self.run_dir, st.SOCKET_NAME)

    # -- state ---------------------------------------------------------------------

    def raw_state(self) -> st.State:
        """state.json as the shim wrote it."""
        return st.read_state(self.container_dir)

    def state(self) -> st.State:
        """The state, corrected if the shim died without writing the end (SIGKILL)."""
        s = self.raw_state()
        if s.status in st.FINAL or st.pid_alive(s.shim_pid, s.shim_start):
            return s
        why = f"shim (pid {s.shim_pid}) died"
        if s.pid and st.pid_alive(s.pid, s.pid_start):
            return s.replace(status="dead", error=f"{why}; process {s.pid} runs unsupervised")
        lost = f"{why}; the exit status is lost"
        return s.replace(status="exited", exit_code=137, pid=0, pid_start=0, error=lost)

    @property
    def pid(self) -> int:
        """Host pid of the container's init while it is alive (even unsupervised), else 0."""
        s = self.raw_state()
        return s.pid if s.pid and st.pid_alive(s.pid, s.pid_start) else 0

    def shim_alive(self) -> bool:
        s = self.raw_state()
        return s.status not in st.FINAL and st.pid_alive(s.shim_pid, s.shim_start)

    # -- requests ------------------------------------------------------------------

    def _connect(self, req: dict[str, Any], timeout: float | None = 10.0
                 ) -> tuple[dict[str, Any], socket.socket] | None:  # fmt: skip
        """Send ``req``; the reply and the open socket, or None when no shim listens."""
        import socket

        try:
            s = connect_socket(self.sock_path, timeout)
        except (FileNotFoundError, ConnectionRefusedError):
            return None
        try:
            s.sendall(json.dumps(req).encode() + b"\n")
            line = b""
            while not line.endswith(b"\n"):
                peek = s.recv(4096, socket.MSG_PEEK)
                if not peek:
                    raise ConnectionResetError("the shim closed the connection")
                i = peek.find(b"\n")
                line += s.recv(len(peek) if i < 0 else i + 1)
        except OSError:
            s.close()
            return None  # the shim exited meanwhile
        reply = json.loads(line)
        if not reply.get("ok"):
            s.close()
            raise _ERRORS.get(reply.get("kind", ""), DockyardError)(reply.get("error", "?"))
        return reply, s

    def _call(self, req: dict[str, Any], timeout: float | None = 10.0) -> dict[str, Any]:
        got = self._connect(req, timeout)
        if got is None:
            cid = os.path.basename(self.container_dir)
            raise Conflict(f"Container {cid} is not running", hint=self._hint())
        got[1].close()
        return got[0]

    def _hint(self) -> str | None:
        s = self.state()
        return "its shim died; remove it with rm -f" if s.status == "dead" else None

    def _until_final(self, req: dict[str, Any], timeout: float | None) -> int:
        """Send a request that is answered at an exit; the exit code."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.001, deadline - time.monotonic())
            got = self._connect(req, left)
            if got is not None:
                got[1].close()
                return int(got[0]["exit_code"])
            s = self.state()
            if s.status in st.FINAL:
                return s.exit_code
            if deadline is not None and time.monotonic() > deadline:
                raise Conflict("timed out waiting for the container to stop")
            # the shim is between two states (exiting), or dead and the container lives on
            time.sleep(0.05 if s.status == "dead" else 0.005)

    def wait(self, condition: str = "not-running", *, remove: bool = False,
             timeout: float | None = None) -> int:  # fmt: skip
        """Block until the container stops (``next-exit``: its next exit, even if it
        restarts); its exit code. ``remove``: the caller removes the container itself
        (the shim skips its auto-remove hook)."""
        return self._until_final({"op": "wait", "condition": condition, "remove": remove}, timeout)

    def stop(self, timeout: int | None = None, signal: int | str | None = None) -> int:
        """``docker stop``: no more restarts, the stop signal, SIGKILL after ``timeout``
        seconds (default: the container's stop timeout); returns the exit code."""
        if self.state().status == "dead":  # nobody else will stop it
            return self.cleanup().exit_code
        req = {"op": "stop", "timeout": timeout, "signal": signal}
        return self._until_final(req, None if timeout is None or timeout < 0 else timeout + 30)

    def signal(self, sig: int | str) -> None:
        self._call({"op": "signal", "sig": sig})

    def pause(self) -> None:
        self._call({"op": "pause"})

    def resume(self) -> None:
        self._call({"op": "unpause"})

    def resize(self, h: int, w: int) -> None:
        self._call({"op": "resize", "h": h, "w": w})

    def update(self, *, restart_policy: tuple[str, int] | None = None,
               resources: dict[str, Any] | None = None) -> None:  # fmt: skip
        """Change the restart policy ``(name, max_retries)`` and/or the cgroup limits
        (an OCI ``linux.resources`` object) of the running container. The engine keeps
        shim.json in step for the next start."""
        req: dict[str, Any] = {"op": "update"}
        if restart_policy is not None:
            req["restart_policy"] = {"name": restart_policy[0], "max_retries": restart_policy[1]}
        if resources is not None:
            req["resources"] = resources
        self._call(req)

    def attach(self, *, stdin: bool = False, stdout: bool = True, stderr: bool = True,
               stdin_once: bool = False) -> tuple[socket.socket, bool]:  # fmt: skip
        """A connected socket carrying the container's streams (multiplexed frames, or raw
        with a tty) and taking its stdin; and whether it is a tty."""
        req = {"op": "attach", "stdin": stdin, "stdout": stdout, "stderr": stderr,
               "stdin_once": stdin_once}  # fmt: skip
        got = self._connect(req, None)
        if got is None:
            raise Conflict("You cannot attach to a stopped container, start it first")
        return got[1], bool(got[0].get("tty"))

    # -- repair --------------------------------------------------------------------

    def cleanup(self, timeout: float = 10.0) -> st.State:
        """Make sure nothing of the container runs (``rm -f``): through the shim if it
        lives (SIGKILL, then its normal end), else by hand: kill the container's pid
        if it is still the one recorded, remove the cgroup (killing what is left in it)
        and the socket, and write the final state. Returns that state."""
        import signal

        if self.shim_alive():
            try:
                self.stop(timeout=0)
            except DockyardError:
                pass
            s = self.raw_state()
            deadline = time.monotonic() + timeout
            while st.pid_alive(s.shim_pid, s.shim_start) and time.monotonic() < deadline:
                time.sleep(0.002)
            if self.raw_state().status in st.FINAL:
                return self.raw_state()
        s = self.state()
        if s.status in st.FINAL and s == self.raw_state():
            if os.path.ismount(os.path.join(self.container_dir, "rootfs")):
                self._stop_external()  # an external runtime's shim died while ending
            return s
        if s.pid and st.pid_alive(s.pid, s.pid_start):
            try:
                os.kill(s.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        cfg = None
        try:
            cfg = st.read_shim_config(self.container_dir)
        except DockyardError:
            pass
        if cfg is not None and cfg.runtime != "dockyard":
            self._stop_external(cfg)  # delete: kills what is left, removes its cgroup
        if cfg is not None and cfg.cgroup_path:
            from dockyard.runtime.cgroups import Cgroup

            Cgroup(cfg.cgroup_path).remove(kill=True, timeout=timeout)
        deadline = time.monotonic() + timeout
        while s.pid and st.pid_alive(s.pid, s.pid_start) and time.monotonic() < deadline:
            time.sleep(0.002)
        try:
            os.unlink(self.sock_path)
        except FileNotFoundError:
            pass
        final = s.replace(status="exited", pid=0, pid_start=0, exit_code=137,
                          finished_at=st.rfc3339_nano(), error=s.error or "killed")  # fmt: skip
        st.write_state(self.container_dir, final)
        return final

    def _stop_external(self, cfg: st.ShimConfig | None = None) -> None:
        try:
            stop_external(self.container_dir, cfg or st.read_shim_config(self.container_dir),
                          self.run_dir)  # fmt: skip
        except DockyardError:
            from dockyard.runtime.external import unmount_rootfs

            unmount_rootfs(os.path.join(self.container_dir, "rootfs"))


# -- detach keys -----------------------------------------------------------------------


def parse_detach_keys(spec: str = "ctrl-p,ctrl-q") -> bytes:
    """Docker's ``--detach-keys``: ``ctrl-<a-z@[\\]^_>`` or single characters, comma
    separated."""
    out = bytearray()
    for key in spec.split(","):
        k = key.strip()
        c = k[5:].lower() if k.lower().startswith("ctrl-") else ""
        if len(k) == 1:
            out.append(ord(k))
        elif len(c) == 1 and ("a" <= c <= "z" or c in "@[\\]^_"):
            out.append(ord(c.upper()) & 0x1F)
        else:
            raise InvalidArgument(f"Unknown character: '{key}'")
    if not out:
        raise InvalidArgument("detach keys must not be empty")
    return bytes(out)


class DetachDetector:
    """Watches client input for the detach sequence (the CLI's job, as in Docker):
    bytes that may start the sequence are held back until it is complete (detach;
    they are dropped) or broken (they are passed on)."""

    def __init__(self, keys: bytes = DETACH_KEYS) -> None:
        self.keys = keys
        self.held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """The bytes to forward, and whether the sequence completed (then stop)."""
        out = bytearray()
        for b in data:
            held = self.held + bytes((b,))
            while not self.keys.startswith(held):
                out.append(held[0])
                held = held[1:]
            if held == self.keys:
                self.held = b""
                return bytes(out), True
            self.held = held
        return bytes(out), False
