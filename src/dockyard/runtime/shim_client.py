"""What the engine calls: spawn a container's shim, read its state, talk to it.

::

    write_shim_config(D, ShimConfig.build(cid, rootfs_mounts=..., cgroup_path=...))
    h = spawn_shim(D, RUN)            # returns once the container runs (or raises)
    c = ShimClient(RUN, D)            # any later process: the CLI, the API server
    c.state(); c.attach(...); c.wait(); c.stop(10); c.signal(9); c.cleanup()

Spawning. ``spawn_shim`` detaches a process (new session, stdio on /dev/null, not
our child) that starts the container as its own child, writes state.json, reports
on a pipe and then ``execve``s the small supervisor (:mod:`dockyard.runtime.shim`).
That detached process runs :mod:`dockyard.runtime.shim_bootstrap`; an external
runtime (crun, runc) is driven by :mod:`dockyard.runtime.shim_external`.
Two ways to get that detached process (``mode``):

- ``fork`` (default when the caller is single-threaded, as the CLI is): fork twice
  (:class:`~dockyard.runtime.shim_prefork.PendingShim`, started at once; ``run``
  forks it ahead, before its own imports); the copy of the caller has the
  interpreter, and imports the runtime itself.
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

import os
import sys
import time

from dockyard._util import jsonlite
from dockyard.errors import Conflict, DockyardError, InvalidArgument, NotFound, Unsupported
from dockyard.runtime import state as st
from dockyard.runtime.errors import ContainerStartError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from dockyard._util.sock import Socket
    from dockyard.runtime.shim_prefork import PendingShim

_BOOT = (
    "import sys;sys.path.insert(0,sys.argv.pop(1));from dockyard._util.bundle import install;"
    "install();from dockyard.runtime.shim import main;main()"
)  # install: the modules from the bundle make venv writes, if there is one (_util.bundle)
REPORTED_ERRORS: dict[str, type[DockyardError]] = {
    "NotFound": NotFound,
    "Conflict": Conflict,
    "InvalidArgument": InvalidArgument,
    "Unsupported": Unsupported,
}
DETACH_KEYS = b"\x10\x11"  # ctrl-p ctrl-q
_SIGKILL = 9  # signal.SIGKILL: every rm calls cleanup, and signal.py's enums cost 2 ms


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


def listen_socket(path: str) -> Socket:
    from dockyard._util.sock import unix_stream

    os.makedirs(os.path.dirname(path), 0o700, exist_ok=True)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    s = unix_stream()
    name, fd = _sun_path(path)
    try:
        s.bind(name)
    finally:
        if fd >= 0:
            os.close(fd)
    s.listen(64)
    return s


def connect_socket(path: str, timeout: float | None = None) -> Socket:
    from dockyard._util.sock import unix_stream

    s = unix_stream()
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


# -- spawning ----------------------------------------------------------------------


class ShimHandle:
    """A started container: ``pid`` (host pid of its init), ``shim_pid``, the
    pre-attached ``attach_socket`` (if asked for) and a ``client``."""

    def __init__(self, client: ShimClient, pid: int, shim_pid: int,
                 attach_socket: Socket | None, seconds: float) -> None:  # fmt: skip
        self.client, self.pid, self.shim_pid = client, pid, shim_pid
        self.attach_socket = attach_socket
        self.seconds = seconds  # spawn -> running, as measured here

    def wait(self, **kw: Any) -> int:
        return self.client.wait(**kw)


def _single_threaded() -> bool:
    threading = sys.modules.get("threading")
    return threading is None or threading.active_count() == 1


def close_fds_except(keep: set[int]) -> None:
    """Close every fd but ``keep`` (and 0-2, which become /dev/null)."""
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
    pending: PendingShim | None = None,
    meanwhile: Callable[[], object] | None = None,
) -> ShimHandle:
    """Start the container of ``container_dir`` under a detached shim; return once it
    runs. ``attach`` (``{"stdin": .., "stdout": .., "stderr": .., "stdin_once": ..}``)
    attaches a socket before the container starts, so no output is missed (``run``
    without ``-d``). ``mode``: ``auto``, ``fork`` or ``exec`` (module docstring);
    ``pending``: a shim forked ahead (:mod:`dockyard.runtime.shim_prefork`) takes
    the container instead of a new one. ``meanwhile``: the caller's own work, done
    while the shim starts it (the imports of what comes next, say).
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
    if pending is None and mode == "fork":
        from dockyard.runtime.shim_prefork import PendingShim

        pending = PendingShim(attach=attach is not None, python=python)
    if pending is not None:
        return pending.start(client, attach, meanwhile)
    import subprocess

    from dockyard._util.sock import socketpair

    t0 = time.monotonic()
    r, w = os.pipe()
    mine = theirs = None
    if attach is not None:
        mine, theirs = socketpair()
    tfd = theirs.fileno() if theirs is not None else -1
    try:
        opts = {"report_fd": w, "attach_fd": tfd, "attach": attach}
        argv = shim_argv(python, "start", cdir, rundir, jsonlite.dumps(opts))
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
    return await_start(client, r, mine, t0, meanwhile)


def await_start(
    client: ShimClient,
    r: int,
    mine: Socket | None,
    t0: float,
    meanwhile: Callable[[], object] | None = None,
) -> ShimHandle:
    """Read the shim's report on ``r`` (closed here) and return the started
    container's handle (``mine``: our end of the attach socket), or raise what the
    shim reported (the shim is gone then, nothing left). ``meanwhile`` runs first,
    while the shim works (should it raise, the report is still read)."""
    data = b""
    try:
        if meanwhile is not None:
            meanwhile()
        while b"\n" not in data and (chunk := os.read(r, 4096)):
            data += chunk
    finally:
        os.close(r)
        from dockyard.runtime import cgroup_warm

        cgroup_warm.settle()  # the container has joined its cgroup (or failed to)
    try:
        msg = jsonlite.loads(data)
    except ValueError:
        msg = {"ok": False, "error": "the shim died while starting the container"}
    if not msg.get("ok"):
        if mine is not None:
            mine.close()
        cls = REPORTED_ERRORS.get(msg.get("kind", ""))
        if cls is not None:
            raise cls(msg["error"])
        raise ContainerStartError(msg["error"], exit_code=msg.get("exit_code", 125))
    return ShimHandle(client, msg["pid"], msg["shim_pid"], mine, time.monotonic() - t0)


def wait_gone(pid: int, start: int | None, timeout: float) -> bool:
    """Whether ``pid`` is gone within ``timeout`` seconds (exited: a child not yet
    reaped counts). ``start``: its recorded start time, if known (a pid that is now
    another process's is gone). Woken by its pidfd the moment it exits (a shim's last
    milliseconds are on every ``run --rm``'s path), not by polling."""
    if not pid:
        return True
    try:
        fd = os.pidfd_open(pid)
    except OSError:  # gone already
        return True
    try:
        if start and not st.pid_alive(pid, start):  # checked with the fd open: no reuse
            return True
        import select

        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


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
        # the shim may have written its end and exited between the read and the check
        s = self.raw_state()
        if s.status in st.FINAL:
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
                 ) -> tuple[dict[str, Any], Socket] | None:  # fmt: skip
        """Send ``req``; the reply and the open socket, or None when no shim listens."""
        from dockyard._util.sock import MSG_PEEK

        try:
            s = connect_socket(self.sock_path, timeout)
        except (FileNotFoundError, ConnectionRefusedError):
            return None
        try:
            s.sendall(jsonlite.dumps(req).encode() + b"\n")
            line = b""
            while not line.endswith(b"\n"):
                peek = s.recv(4096, MSG_PEEK)
                if not peek:
                    raise ConnectionResetError("the shim closed the connection")
                i = peek.find(b"\n")
                line += s.recv(len(peek) if i < 0 else i + 1)
        except OSError:
            s.close()
            return None  # the shim exited meanwhile
        reply = jsonlite.loads(line)
        if not reply.get("ok"):
            s.close()
            raise REPORTED_ERRORS.get(reply.get("kind", ""), DockyardError)(reply.get("error", "?"))
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
               stdin_once: bool = False) -> tuple[Socket, bool]:  # fmt: skip
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
        if self.shim_alive():
            try:
                self.stop(timeout=0)
            except DockyardError:
                pass
            s = self.raw_state()
            wait_gone(s.shim_pid, s.shim_start, timeout)
            if self.raw_state().status in st.FINAL:
                return self.raw_state()
        s = self.state()
        if s.status in st.FINAL and s == self.raw_state():
            if os.path.ismount(os.path.join(self.container_dir, "rootfs")):
                self._stop_external()  # an external runtime's shim died while ending
            return s
        if s.pid and st.pid_alive(s.pid, s.pid_start):
            try:
                os.kill(s.pid, _SIGKILL)
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
        wait_gone(s.pid, s.pid_start, timeout)
        try:
            os.unlink(self.sock_path)
        except FileNotFoundError:
            pass
        final = s.replace(status="exited", pid=0, pid_start=0, exit_code=137,
                          finished_at=st.rfc3339_nano(), error=s.error or "killed")  # fmt: skip
        st.write_state(self.container_dir, final)
        return final

    def _stop_external(self, cfg: st.ShimConfig | None = None) -> None:
        from dockyard.runtime.shim_external import stop_external

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
