"""The supervisor loop (:class:`Shim`): the container's output to the log and to
attached clients, its stdin, the requests of the shim socket, the reaping and the
restarts. The process model and the protocol are described in
:mod:`dockyard.runtime.shim`, which runs it. Imported by the long-lived supervisor:
only small stdlib modules here.
"""

from __future__ import annotations

import errno
import os
import time

from dockyard._util import jsonlite
from dockyard._util.poll import EVENT_READ, EVENT_WRITE, EpollSelector
from dockyard._util.sock import Socket, socketpair
from dockyard.runtime import logs, restart
from dockyard.runtime import state as st
from dockyard.runtime.shim_process import (
    OpError,
    merged_resources,
    parse_signal,
    read_oom_kills,
    remove_cgroup_dirs,
    run_in_child,
    sync_state,
    write_state_nosync,
)
from dockyard.runtime.shim_stdio import Client, Stdio, frame

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
    from collections.abc import Callable
    from typing import Any
else:
    import _signal as signal  # signal.py's enums cost the shim 2 ms at start

MAX_CLIENT_BUFFER = 4 << 20
STDIN_HIGH_WATER = 1 << 20
DRAIN_TIMEOUT = 2.0  # after the exit, how long the output pipes may stay open
READ, WRITE = EVENT_READ, EVENT_WRITE


class Shim:
    """The supervisor loop: single-threaded, ``selectors`` over the container's output,
    its stdin, the clients, the listener and a signal wakeup pipe."""

    def __init__(
        self,
        cdir: str,
        rundir: str,
        listener: Socket,
        *,
        cfg: st.ShimConfig | None = None,
        state: st.State | None = None,
    ) -> None:
        """``cfg``, ``state``: as read from ``cdir``, if the caller has them."""
        self.cdir = cdir
        self.cfg = st.read_shim_config(cdir) if cfg is None else cfg
        self.state = st.read_state(cdir) if state is None else state
        self.rundir = rundir
        self.sock_path = os.path.join(rundir, st.SOCKET_NAME)
        self.listener = listener
        listener.setblocking(False)
        self.sel = EpollSelector()
        self.sel.register(listener, READ, self._accept)
        cfg = self.cfg
        self.log: logs.JsonFileWriter | None = None
        if cfg.log_driver == "json-file":
            size = logs.parse_max_size(cfg.log_max_size)
            files = logs.parse_max_file(cfg.log_max_file)
            self.log = logs.JsonFileWriter(
                logs.log_path(cdir, cfg.id), max_size=size, max_file=files
            )
        policy = restart.RestartPolicy(cfg.restart_policy, cfg.max_retries)
        self.rm = restart.RestartManager(policy, self.state.restart_count)
        self.clients: dict[int, Client] = {}
        self.waiters: list[tuple[Client, str, bool]] = []  # (client, condition, removes)
        self.stdio = Stdio.from_json({"tty": cfg.tty, "stdin": -1, "outs": []})
        self.inbuf = bytearray()
        self.pid = 0
        self.info: dict[str, Any] = {}
        self.exit_code: int | None = None  # set from the exit to the end of the drain
        self.kill_at = self.restart_at = self.drain_until = 0.0
        self.stopping = self.remove_claimed = self.done = self.sigterm = False

    def _save(self, **changes: Any) -> None:
        self.state = self.state.replace(**changes)
        st.write_state(self.cdir, self.state)

    def adopt(self, info: dict[str, Any], stdio: Stdio) -> None:
        """The container ``info["pid"]`` runs, our child, with ``stdio``."""
        self.info, self.pid, self.stdio = info, info["pid"], stdio
        for fd, stream in stdio.outs.items():
            self.sel.register(fd, READ, self._output_cb(fd, stream))
        if self.state.status != "running" or self.state.pid != self.pid:
            started = st.rfc3339_nano(info["started_ns"])
            self._save(status="running", pid=self.pid, pid_start=info["pid_start"], error="",
                       started_at=started, restart_count=self.rm.restart_count)  # fmt: skip

    # -- the loop ----------------------------------------------------------------

    def run(self) -> None:
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        self.sel.register(wake_r, READ, lambda: self._on_wakeup(wake_r))
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, self._on_sigterm)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})  # see bootstrap()
        self._reap()  # an exit before the handler was there
        while not self.done:
            deadlines = [t for t in (self.kill_at, self.restart_at, self.drain_until) if t]
            timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            for key, _ in self.sel.select(timeout):
                if not self.done:
                    key.data()
            if not self.done:
                self._timers()

    def _timers(self) -> None:
        if self.sigterm:
            self.sigterm, self.stopping = False, True  # no restart, not "manual"
            self._stop(parse_signal(self.cfg.stop_signal or "SIGTERM"), self.cfg.stop_timeout)
        now = time.monotonic()
        if self.kill_at and now >= self.kill_at:
            self.kill_at = 0.0
            self._kill(signal.SIGKILL)
        if self.drain_until and now >= self.drain_until:
            self._end_run()
        if self.restart_at and now >= self.restart_at and not self.done:
            self._restart()

    def _on_wakeup(self, fd: int) -> None:
        try:
            while os.read(fd, 512):
                pass
        except BlockingIOError:
            pass
        self._reap()

    def _on_sigterm(self, *_: object) -> None:
        self.sigterm = True  # handled in the loop, never in the middle of something

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.pid and self.exit_code is None:
                code = os.waitstatus_to_exitcode(status)
                self.exit_code = 128 - code if code < 0 else code
                self.kill_at = 0.0
                self.state = self.state.replace(finished_at=st.rfc3339_nano())
                if self.stdio.outs:
                    self.drain_until = time.monotonic() + DRAIN_TIMEOUT
                else:
                    self._end_run()

    # -- container output and input ------------------------------------------------

    def _output_cb(self, fd: int, stream: str) -> Callable[[], None]:
        return lambda: self._on_output(fd, stream)

    def _on_output(self, fd: int, stream: str) -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError as e:  # EIO: the pty's last slave fd closed
            if e.errno != errno.EIO:
                raise
            data = b""
        if not data:
            self.sel.unregister(fd)
            os.close(fd)
            del self.stdio.outs[fd]
            if self.log is not None:
                self.log.flush(stream)
            if not self.stdio.outs and self.exit_code is not None:
                self._end_run()
            return
        if self.log is not None:
            self.log.write(stream, data)
        out = data if self.stdio.tty else frame(1 if stream == "stdout" else 2, data)
        for c in list(self.clients.values()):
            if c.attached and (c.out if stream == "stdout" else c.err):
                self._send(c, out)

    def _feed_stdin(self, data: bytes) -> None:
        if self.stdio.stdin >= 0:
            if not self.inbuf:
                self.sel.register(self.stdio.stdin, WRITE, self._write_stdin)
            self.inbuf += data
            self._write_stdin()

    def _write_stdin(self) -> None:
        try:
            del self.inbuf[: os.write(self.stdio.stdin, self.inbuf)]
        except BlockingIOError:
            pass
        except OSError:  # EPIPE: the container closed its stdin
            self.inbuf.clear()
        if not self.inbuf:
            self.sel.unregister(self.stdio.stdin)
        for c in self.clients.values():  # back-pressure on the writers
            if c.attached and c.inp:
                self._set_events(c)

    def _close_stdin(self) -> None:
        fd = self.stdio.stdin
        if fd >= 0:
            if self.inbuf:
                self.sel.unregister(fd)
                self.inbuf.clear()
            if self.stdio.tty:  # the pty stays open: end the input as a terminal does
                try:
                    os.write(fd, b"\x04")
                except OSError:
                    pass
            os.close(fd)
            self.stdio.stdin = -1

    # -- clients -------------------------------------------------------------------

    def _accept(self) -> None:
        try:
            self.add_client(Client(self.listener.accept()[0]))
        except BlockingIOError:
            pass

    def add_client(self, c: Client) -> Client:
        self.clients[c.sock.fileno()] = c
        self.sel.register(c.sock, READ, lambda: self._on_client(c))
        return c

    def attach(self, c: Client, req: dict[str, Any]) -> None:
        c.attached = True
        c.inp, c.out, c.err = (bool(req.get(k)) for k in ("stdin", "stdout", "stderr"))
        c.stdin_once = bool(req.get("stdin_once"))
        c.removes = bool(req.get("remove"))
        if c.inp and c.rbuf:
            self._feed_stdin(c.rbuf)
        c.rbuf = b""
        self._set_events(c)

    def _set_events(self, c: Client) -> None:
        full = c.inp and len(self.inbuf) > STDIN_HIGH_WATER
        ev = (0 if c.eof or full else READ) | (WRITE if c.wbuf else 0)
        key = self.sel.get_map().get(c.sock.fileno())
        if key is None and ev:
            self.sel.register(c.sock, ev, lambda: self._on_client(c))
        elif key is not None and not ev:
            self.sel.unregister(c.sock)
        elif key is not None and key.events != ev:
            self.sel.modify(c.sock, ev, key.data)

    def _on_client(self, c: Client) -> None:
        if c.wbuf:
            self._send(c, b"")
        if c.eof or c.sock.fileno() < 0:
            return
        try:
            data = c.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # the client closed (or half-closed) its side
            c.eof = True
            if c.attached and c.inp and c.stdin_once and not self.stdio.tty:
                self._close_stdin()  # with a tty, a client that leaves is a detach (Docker)
            waiting = any(w[0] is c for w in self.waiters)
            if (c.attached and (c.out or c.err)) or waiting:
                self._set_events(c)
            else:
                self._drop(c)
        elif c.attached:
            if c.inp:
                self._feed_stdin(data)
        elif b"\n" in (buf := c.rbuf + data):
            line, _, c.rbuf = buf.partition(b"\n")  # the rest: stdin of an attach
            try:
                req = jsonlite.loads(line)
                if not isinstance(req, dict):
                    raise OpError("InvalidArgument", "a request is one JSON object")
                self._request(c, req)
            except (OpError, ValueError, TypeError, KeyError) as e:
                kind = e.kind if isinstance(e, OpError) else "InvalidArgument"
                self._reply(c, {"ok": False, "error": str(e), "kind": kind})
        elif len(buf) > 65536:
            self._drop(c)
        else:
            c.rbuf = buf

    def _send(self, c: Client, data: bytes) -> None:
        """Stream to an attached client; what the socket does not take waits in wbuf."""
        c.wbuf += data
        try:
            del c.wbuf[: c.sock.send(c.wbuf)]
        except BlockingIOError:
            pass
        except OSError:
            self._drop(c)
            return
        if len(c.wbuf) > MAX_CLIENT_BUFFER:
            self._drop(c)
        else:
            self._set_events(c)

    def _reply(self, c: Client, obj: dict[str, Any] | None, *, close: bool = True) -> bool:
        """Flush pending output and a reply line (blocking but bounded: replies are
        small, and an ending stream's rest is capped), then close unless told not to.
        Whether it was sent."""
        sent = False
        if c.sock.fileno() >= 0:
            try:
                c.sock.settimeout(1.0)
                c.sock.sendall(
                    bytes(c.wbuf) + (b"" if obj is None else jsonlite.dumps(obj).encode() + b"\n")
                )
                c.wbuf.clear()
                c.sock.setblocking(False)
                sent = True
            except OSError:
                close = True
        if close:
            self._drop(c)
        return sent

    def _drop(self, c: Client) -> None:
        fd = c.sock.fileno()
        if fd >= 0:
            if self.sel.get_map().get(fd) is not None:
                self.sel.unregister(fd)
            self.clients.pop(fd, None)
            c.sock.close()
        self.waiters = [w for w in self.waiters if w[0] is not c]

    # -- requests ------------------------------------------------------------------

    def _request(self, c: Client, req: dict[str, Any]) -> None:
        op, status = req.get("op"), self.state.status
        if op == "attach":
            if status != "running" or self.exit_code is not None:
                word = {"paused": "a paused", "restarting": "a restarting"}.get(status, "a stopped")
                raise OpError("Conflict", f"You cannot attach to {word} container")
            self._reply(c, {"ok": True, "tty": self.cfg.tty}, close=False)
            self.attach(c, req)
            return
        if op in ("wait", "stop"):
            cond = req.get("condition") or "not-running"
            if cond not in ("not-running", "next-exit"):
                raise OpError("InvalidArgument", f"invalid wait condition {cond!r}")
            self.waiters.append((c, cond, bool(req.get("remove"))))
            if op == "stop":
                timeout = req.get("timeout")
                if not self.state.manually_stopped:
                    self._save(manually_stopped=True)
                self.stopping = True
                sig = parse_signal(req.get("signal") or self.cfg.stop_signal or "SIGTERM")
                self._stop(sig, self.cfg.stop_timeout if timeout is None else int(timeout))
            return
        if op == "signal":
            self._signal(parse_signal(req.get("sig")))
        elif op == "resize":
            self._resize(int(req["h"]), int(req["w"]))
        elif op in ("pause", "unpause"):
            self._pause(op == "pause")
        elif op == "update":
            self._update(req.get("restart_policy"), req.get("resources"))
        elif op != "state":
            raise OpError("InvalidArgument", f"unknown op {op!r}")
        self._reply(c, {"ok": True, "state": self.state.to_dict()})

    def _check_running(self) -> None:
        if self.state.status not in ("running", "paused") or self.exit_code is not None:
            raise OpError("Conflict", f"Container {self.cfg.id} is not running")

    def _kill(self, sig: int) -> None:
        if self.pid and self.exit_code is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def _stop(self, sig: int, timeout: int) -> None:
        self.rm.cancel()
        if self.restart_at:  # waiting out the backoff: stop right here
            self.restart_at = 0.0
            self._final()
        elif self.exit_code is None:  # (else it exited already and _end_run finishes)
            self._kill(sig)
            if self.state.status == "paused":
                self._thaw()
            if timeout == 0 or sig == signal.SIGKILL:
                self._kill(signal.SIGKILL)
            elif timeout > 0:
                self.kill_at = time.monotonic() + timeout

    def _signal(self, sig: int) -> None:
        self._check_running()
        stop_sig = self.cfg.stop_signal
        if stop_sig is None or sig in (signal.SIGKILL, parse_signal(stop_sig)):
            self.rm.cancel()  # as Docker: no restart after this exit
        self._save(manually_stopped=True)
        self._kill(sig)
        if sig == signal.SIGKILL and self.state.status == "paused":
            self._thaw()

    def _resize(self, h: int, w: int) -> None:
        import fcntl
        import struct
        import termios

        self._check_running()
        if not self.stdio.tty:
            raise OpError("Conflict", "the container has no TTY")
        fd = next(iter(self.stdio.outs), self.stdio.stdin)
        if fd >= 0:
            fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", h, w, 0, 0))

    def _cgroup_op(self, op: str, arg: Any = None) -> None:
        """freeze, thaw or set_resources on the cgroup, in a forked helper."""
        path = self.info.get("cgroup")
        if not path:
            raise OpError("Unsupported", f"container {self.cfg.id} has no cgroup")

        def body() -> None:
            from dockyard.oci.runtime_spec import Resources
            from dockyard.runtime.cgroups import Cgroup

            cg = Cgroup(path)
            cg.set_resources(Resources.from_dict(arg)) if arg is not None else getattr(cg, op)()

        run_in_child(body)

    def _pause(self, on: bool) -> None:
        self._check_running()
        if on == (self.state.status == "paused"):
            raise OpError("Conflict", f"Container {self.cfg.id} is {'' if on else 'not '}paused")
        self._cgroup_op("freeze" if on else "thaw")
        self._save(status="paused" if on else "running")

    def _thaw(self) -> None:
        try:
            self._cgroup_op("thaw")
        except OpError:
            pass
        self._save(status="running")

    def _update(self, policy: dict[str, Any] | None, resources: dict[str, Any] | None) -> None:
        if policy is not None:
            try:
                name, retries = policy.get("name") or "no", policy.get("max_retries", 0)
                self.rm.policy = restart.RestartPolicy(str(name), int(retries))
            except Exception as e:
                raise OpError("InvalidArgument", str(e)) from None
        if resources is not None:
            self._cgroup_op("set_resources", resources)
            # a later policy restart re-applies self.cfg's limits: keep them current
            self.cfg = self.cfg.replace(
                resources_json=merged_resources(dict(self.cfg.resources_json or {}), resources)
            )
        if policy is not None:
            self.cfg = self.cfg.replace(
                restart_policy=self.rm.policy.name, max_retries=self.rm.policy.max_retries
            )

    # -- the end of a run ----------------------------------------------------------

    def _end_run(self) -> None:
        """The container exited and its output is drained: record, then restart or end."""
        code = self.exit_code
        assert code is not None
        self.drain_until = 0.0
        for fd in self.stdio.outs:
            self.sel.unregister(fd)
        self._close_stdin()
        self.stdio.close()
        if self.log is not None:
            self.log.flush()
        oom = read_oom_kills(self.info.get("oom_file")) > self.info.get("oom_before", 0)
        ran = time.monotonic() - self.info.get("started_mono", 0.0)
        delay = self.rm.should_restart(code, manually_stopped=self.stopping, ran_for=ran)
        self.exit_code, self.pid = None, 0
        count = self.rm.restart_count
        self.state = self.state.replace(exit_code=code, oom_killed=oom, pid=0, pid_start=0,
                                        restart_count=count)  # fmt: skip
        if delay is None:
            # the final state first, then the streams end: a foreground run reads the
            # exit code the moment its attach stream ends, without polling for it
            self._final()
        else:
            for c in [c for c in self.clients.values() if c.attached]:
                self._reply(c, None)  # the attach stream ends with the run
            self._save(status="restarting")
            self._answer("next-exit")
            self.restart_at = time.monotonic() + delay

    def _teardown_external(self) -> None:
        """``<runtime> delete``, unmount the rootfs (in a forked helper)."""
        cdir, cfg, rundir = self.cdir, self.cfg, self.rundir

        def body() -> None:
            from dockyard.runtime.shim_external import stop_external

            stop_external(cdir, cfg, rundir)

        run_in_child(body)

    def _answer(self, cond: str | None) -> None:
        s = self.state
        for c, _, removes in [w for w in self.waiters if cond is None or w[1] == cond]:
            sent = self._reply(c, {"ok": True, "exit_code": s.exit_code, "error": s.error})
            # auto-remove is left to a waiter only if it is there to hear the end
            self.remove_claimed = self.remove_claimed or (sent and removes and cond is None)

    def _restart(self) -> None:
        """Start the container again, from a forked starter (the executor is imported
        there, never here); it exits and the container becomes our child (subreaper)."""
        self.restart_at = 0.0
        stdio = Stdio(self.cfg.tty, self.cfg.open_stdin)
        mine, theirs = socketpair()  # an external runtime's pty master comes back

        def start() -> dict[str, Any]:
            from dockyard.runtime.shim_bootstrap import start_container_process

            info = start_container_process(self.cdir, self.cfg, stdio.child, self.rundir)
            if "console_fd" in info:
                import socket

                socket.send_fds(theirs, [b"c"], [info.pop("console_fd")])  # type: ignore[arg-type]
                info["console"] = True
            return info

        try:
            info = run_in_child(start)
            if info.pop("console", False):
                stdio.close_child()
                import socket

                stdio.adopt_console(socket.recv_fds(mine, 16, 1)[1][0])  # type: ignore[arg-type]
        except OpError as e:  # a failed start counts as a run that exited with its code
            stdio.close()
            self.stdio, self.exit_code = stdio, e.exit_code
            self.info = {"started_mono": time.monotonic()}
            self.state = self.state.replace(error=str(e), finished_at=st.rfc3339_nano())
            self._end_run()
            return
        finally:
            mine.close()
            theirs.close()
        stdio.close_child()
        self.adopt(info, stdio)
        self._reap()  # it may be gone already

    def _final(self) -> None:
        """No more restarts: remove the cgroup and the socket, write the final state,
        answer the waiters."""
        err = self.state.error
        if self.cfg.runtime != "dockyard":
            try:
                self._teardown_external()
            except OpError as e:
                err = err or f"removing the container from {self.cfg.runtime}: {e}"
        try:
            remove_cgroup_dirs(self.info.get("cgroup_dirs") or ())
        except OSError as e:
            err = err or f"removing the cgroup: {e}"
        if self.log is not None:
            self.log.close()
        self.sel.unregister(self.listener)  # first: a final state means "no socket"
        self.listener.close()
        try:
            os.unlink(self.sock_path)
        except FileNotFoundError:
            pass
        # whole for readers at once (rename); on disk (fsync) once the waiters have it:
        # they are what a run waits for, the fsync only what a power loss needs
        self.state = self.state.replace(status="exited", error=err)
        write_state_nosync(self.cdir, self.state)
        self._answer(None)
        for c in list(self.clients.values()):
            sent = self._reply(c, None)  # attach streams end here, after the final state
            # an attach that removes the container (run --rm, foreground) heard the end
            self.remove_claimed = self.remove_claimed or (sent and c.attached and c.removes)
        if not self.cfg.auto_remove:  # moot after a crash: restore removes the container
            sync_state(self.cdir)
        self.done = True
