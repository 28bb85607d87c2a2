"""The per-container supervisor ("shim"), in the spirit of conmon.

One shim per container. It holds the container's stdio (a pty master, or pipes),
copies output to the json-file log and to attached clients, serves a unix socket,
reaps the container, records every transition in ``state.json`` (the contract in
:mod:`dockyard.runtime.state`) and applies the restart policy. The engine talks to it
through :mod:`dockyard.runtime.shim_client`, whose ``spawn_shim`` starts it.

This module is the supervisor's entry point (:func:`main`, :func:`serve`); the loop
is :class:`~dockyard.runtime.shim_supervisor.Shim`, its streams are in
:mod:`~dockyard.runtime.shim_stdio` and its loop-free helpers in
:mod:`~dockyard.runtime.shim_process`. All of them stay small in what they import.

Process model::

    caller --fork/exec--> bootstrap: starts the container as its child, writes
        state "running", reports "started" on the spawner's pipe, then
    bootstrap --execve--> supervisor (this module): same pid, the container still
        its child, a fresh interpreter that never imports the executor, cgroups or
        the runtime-spec dataclasses (RSS ~10.5 MB instead of ~14 MB or more).

A container that exits within 10 ms of its start (``run --rm true``) is supervised
to its end by the bootstrap itself: no exec, the exit is known ~15 ms sooner.

The supervisor is a child subreaper (set before the execve, which keeps it). A
restart forks a starter that imports the executor and starts the container; the
starter exits, the container is reparented to the supervisor, which reaps it.
pause/unpause/update run in a short-lived forked helper for the same reason.

Protocol (``$RUNROOT/containers/<id>/shim.sock``), one request per connection: the
client sends one JSON line and gets one back, ``{"ok": true, ...}`` or ``{"ok":
false, "error": msg, "kind": "Conflict"}``.

- ``{"op":"attach","stdin":true,"stdout":true,"stderr":true,"stdin_once":false}``:
  then a raw stream until the container exits: output as Docker's multiplexed
  frames (8-byte header: stream 1 or 2, three zero bytes, big-endian uint32 length)
  or, with a tty, raw bytes; client bytes go to the container's stdin, which
  ``stdin_once`` closes when the client half-closes. A client with more than 4 MiB
  unread is dropped: a slow client never blocks the container or its log.
- ``{"op":"wait","condition":"not-running"|"next-exit","remove":false}``: answered
  with ``exit_code`` when the container stops for good (or exits next). ``remove``:
  the client removes the container itself, the auto-remove hook is skipped.
- ``{"op":"stop","timeout":10,"signal":"SIGTERM"}``: no more restarts, the signal,
  SIGKILL after the timeout; answered (``exit_code``) once stopped.
- ``{"op":"signal","sig":15}``: ``docker kill`` (Docker's rules: marks the container
  manually stopped; the stop signal, SIGKILL, or any signal when no stop signal is
  configured, also cancels restarts), ``{"op":"state"}``, ``{"op":"resize","h":24,
  "w":80}``, ``{"op":"pause"}``, ``{"op":"unpause"}``, ``{"op":"update",
  "restart_policy":{"name":..,"max_retries":..},"resources":{OCI resources}}``.

Signals: SIGINT and SIGHUP are ignored. SIGTERM (say, the system going down) stops
the container as ``stop`` would (stop signal, SIGKILL after stop_timeout), with no
restart and without marking it manually stopped (``unless-stopped`` containers
come back with the engine), then the shim exits: it never leaves a running
container without recording its end. Only SIGKILL can; see ShimClient.cleanup.

Auto-remove: when the container is gone for good, an ``auto_remove`` shim execs
``cleanup_command`` (e.g. ``dockyard rm -f ID``) unless a client said it removes
the container itself and heard the end: a ``wait`` with ``"remove":true`` that got
the exit code, or an attach with ``"remove":true`` whose stream ended (``run --rm``
in the foreground, as the Docker CLI registers its removing wait before it
attaches). ``run --rm -d`` needs nobody waiting; ``run --rm`` in the foreground
costs no extra process.
"""

from __future__ import annotations

import os
import sys

from dockyard._util import jsonlite
from dockyard._util.sock import Socket
from dockyard.runtime import state as st
from dockyard.runtime.shim_process import remove_cgroup_dirs
from dockyard.runtime.shim_stdio import Client, Stdio
from dockyard.runtime.shim_supervisor import Shim

__all__ = ["Shim", "main", "serve"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn


# -- process entry points ----------------------------------------------------------


def serve(cdir: str, rundir: str, listener: Socket, info: dict[str, Any], stdio: Stdio,
          attach: tuple[Socket, dict[str, Any]] | None = None, *,
          shim: Shim | None = None) -> NoReturn:  # fmt: skip
    """Supervise the running container ``info["pid"]`` (our child) to its end, then
    exit, or exec the auto-remove hook. A process boundary: never returns. Should the
    shim itself fail, it takes the container down with it rather than orphan it.
    ``shim``: made ahead (on ``listener``) by the caller."""
    try:
        if shim is None:
            shim = Shim(cdir, rundir, listener)
        shim.adopt(info, stdio)
        if attach is not None:
            shim.attach(shim.add_client(Client(attach[0])), attach[1])
        shim.run()
    except BaseException as e:
        try:
            adopted = shim is not None and bool(shim.info)
            pid = shim.pid if shim is not None and adopted else info["pid"]
            if pid:
                os.kill(pid, 9)  # SIGKILL
            if shim is not None and shim.cfg.runtime != "dockyard":
                shim._teardown_external()
            known = shim.info if shim is not None and adopted else info
            remove_cgroup_dirs(known.get("cgroup_dirs", ()))
            os.unlink(os.path.join(rundir, st.SOCKET_NAME))
        except BaseException:
            pass
        try:
            s = st.read_state(cdir)
            err = s.error or f"shim: {type(e).__name__}: {e}"
            st.write_state(cdir, s.replace(status="exited", pid=0, exit_code=137, error=err))
        except BaseException:
            pass
        os._exit(1)
    cfg = shim.cfg
    if cfg.auto_remove and cfg.cleanup_command and not shim.remove_claimed:
        try:
            os.execvp(cfg.cleanup_command[0], list(cfg.cleanup_command))
        except OSError:
            pass  # the container is gone; its directory stays for the engine to remove
    os._exit(0)


def main(argv: list[str] | None = None) -> NoReturn:
    """``python -c BOOT SRC supervise|start D RUN_DIR JSON`` (see shim_client.shim_argv)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 4 and args[0] == "supervise":
        a = jsonlite.loads(args[3])
        att = None
        if a.get("attach_fd") is not None:
            att = (Socket(fileno=a["attach_fd"]), a.get("attach") or {})
        listener = Socket(fileno=a["listen_fd"])
        serve(args[1], args[2], listener, a, Stdio.from_json(a["stdio"]), att)
    if len(args) == 4 and args[0] == "start":
        from dockyard.runtime.shim_bootstrap import exec_bootstrap

        exec_bootstrap(args[1], args[2], jsonlite.loads(args[3]))
    os._exit(2)


if __name__ == "__main__":
    main()
