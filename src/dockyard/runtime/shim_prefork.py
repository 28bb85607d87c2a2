"""A shim forked before its container exists, for ``run``.

``spawn_shim`` forks the shim once the container is made: the fork copies the whole
caller (every module of the create path), and the copy then still has the runtime to
import (executor, ctypes, the supervisor) before it can start anything -- all of it
on the critical path of a ``run``. A :class:`PendingShim` is forked right after
``run`` has parsed its flags, from a small process: while the caller makes the
container (records, snapshot, bundle), the shim imports the runtime in parallel, on
the other core, then waits. :meth:`PendingShim.start` hands it the container
(``spawn_shim(..., pending=)``); from there on it is the same
:func:`~dockyard.runtime.shim_bootstrap.bootstrap` and report as a spawned shim.

While it waits it also does what the caller asks of it ahead, on the control pipe:
:meth:`PendingShim.make_cgroup` (the container's cgroup, and the container's process
forked into it to wait for its plan: :class:`~dockyard.runtime.executor.ChildAhead`)
and :meth:`PendingShim.prepare` (the container's files, read while the caller
records the container: :class:`~dockyard.runtime.shim_bootstrap.StartFiles`).

If the caller gives up (:meth:`PendingShim.cancel`), or dies, the shim reads the end
of its control pipe and exits: what it made ahead goes (the process forked ahead, the
cgroup), nothing is left.
"""

from __future__ import annotations

import os
import sys
import time

from dockyard._util import jsonlite
from dockyard.runtime.shim_client import ShimClient, await_start, close_fds_except

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from dockyard._util.sock import Socket
    from dockyard.runtime.executor import ChildAhead
    from dockyard.runtime.shim_bootstrap import StartFiles
    from dockyard.runtime.shim_client import ShimHandle


class PendingShim:
    """A detached process, ready to become a container's shim (module docstring).
    ``attach``: it will get the pre-attached socket (``run`` without ``-d``)."""

    def __init__(self, *, attach: bool, python: str = sys.executable) -> None:
        from dockyard._util.sock import socketpair

        ctl_r, self._ctl_w = os.pipe()
        self._rep_r, rep_w = os.pipe()
        self._mine: Socket | None = None
        theirs = None
        if attach:
            self._mine, theirs = socketpair()
        tfd = theirs.fileno() if theirs is not None else -1
        self._middle = -1
        cpus = _cpus()
        try:
            pid = self._middle = os.fork()
            if pid == 0:
                try:
                    import gc

                    gc.disable()  # no finalizer may close an fd number we reuse
                    os.setsid()
                    if os.fork():
                        os._exit(0)
                    close_fds_except({ctl_r, rep_w, tfd, *_bundle_fd()})
                    if cpus:
                        os.sched_setaffinity(0, cpus)
                    _wait_then_bootstrap(ctl_r, rep_w, tfd, python)
                finally:
                    os._exit(1)
            _to_another_cpu(pid, cpus)
            # not waited for here: the middle process exits at once, but waiting for
            # it costs the caller 1-2 ms (its fork); start or cancel reaps it
        except BaseException:
            self.cancel()
            raise
        finally:
            os.close(ctl_r)
            os.close(rep_w)
            if theirs is not None:
                theirs.close()

    def make_cgroup(self, path: str) -> None:
        """Have the shim make the container's cgroup ``path`` (its directories and
        default device rules) now, while the caller still makes the container, and fork
        the container's process into it: the start then only applies the limits and
        hands that process its plan. Both go again if the start never comes. Only for
        the built-in runtime (crun and runc make their own)."""
        self._ask({"cgroup": path})

    def prepare(self, container_dir: str) -> None:
        """Have the shim read the container's files (its config, the spec, the seccomp
        program) now, while the caller still records the container; the start checks
        they were not replaced since."""
        self._ask({"prepare": container_dir})

    def _ask(self, msg: dict[str, str]) -> None:
        """One line on the control pipe, ahead of the start's (which ends it)."""
        if self._ctl_w >= 0:
            try:
                os.write(self._ctl_w, jsonlite.dumps(msg).encode() + b"\n")
            except OSError:
                pass  # the shim is gone: start reports it

    def start(
        self,
        client: ShimClient,
        attach: dict[str, bool] | None,
        meanwhile: Callable[[], object] | None = None,
    ) -> ShimHandle:
        """Hand the shim the container of ``client`` and return once it runs (as
        :func:`~dockyard.runtime.shim_client.spawn_shim`, ``meanwhile`` too)."""
        t0 = time.monotonic()
        if attach is None and self._mine is not None:
            self._mine.close()  # forked for a run that turned out detached
            self._mine = None
        msg = {"cdir": client.container_dir, "rundir": client.run_dir, "attach": attach}
        try:
            os.write(self._ctl_w, jsonlite.dumps(msg).encode() + b"\n")  # small: one write
        finally:
            os.close(self._ctl_w)
            self._ctl_w = -1
            self._reap_middle()
        r, self._rep_r = self._rep_r, -1
        mine, self._mine = self._mine, None
        return await_start(client, r, mine, t0, meanwhile)

    def cancel(self) -> None:
        """The container will not be started: the shim exits (idempotent)."""
        for fd in (self._ctl_w, self._rep_r):
            if fd >= 0:
                os.close(fd)
        self._ctl_w = self._rep_r = -1
        if self._mine is not None:
            self._mine.close()
            self._mine = None
        self._reap_middle()

    def _reap_middle(self) -> None:
        """Reap the process between us and the shim (it exited long ago)."""
        if self._middle > 0:
            try:
                os.waitpid(self._middle, 0)
            except ChildProcessError:
                pass
            self._middle = -1


# -- one per process, forked first thing (cli/main.py for run) ------------------------

_ahead: tuple[int, PendingShim] | None = None


def fork_ahead() -> None:
    """Fork a :class:`PendingShim` now, before the caller imports anything more (the
    smaller the process, the cheaper the fork); :func:`take` hands it over. With an
    attach socket either way (a detached run closes it). Single-threaded callers only."""
    global _ahead
    if _ahead is None and "threading" not in sys.modules:
        _ahead = (os.getpid(), PendingShim(attach=True))


def take() -> PendingShim | None:
    """The shim :func:`fork_ahead` made in this process, once (None if none)."""
    global _ahead
    ahead, _ahead = _ahead, None
    if ahead is None or ahead[0] != os.getpid():
        return None
    return ahead[1]


def discard() -> None:
    """Cancel a shim forked ahead that nobody took (the command failed before)."""
    pending = take()
    if pending is not None:
        pending.cancel()


def _cpus() -> set[int]:
    """The CPUs we may run on, if more than one."""
    try:
        cpus = os.sched_getaffinity(0)
    except OSError:
        return set()
    return cpus if len(cpus) > 1 else set()


def _to_another_cpu(pid: int, cpus: set[int]) -> None:
    """Move the child ``pid``, just forked, off our CPU for its first steps (it puts
    ``cpus`` back itself).

    The kernel queues a forked child on its parent's CPU; the parent goes on
    working, and the child waits a slice (~1.5-3 ms here) before it first runs,
    while the other CPU idles. The shim's imports are on the start's critical
    path."""
    try:
        with open("/proc/self/stat", "rb") as f:
            here = int(f.read().rpartition(b")")[2].split()[36])  # field 39: processor
        if here in cpus:
            os.sched_setaffinity(pid, cpus - {here})
    except (OSError, ValueError, IndexError):
        pass  # it runs where the kernel puts it


def _bundle_fd() -> tuple[int, ...]:
    """The descriptor of the module bundle this process loads from (_util.bundle), kept
    so that the shim's imports come from it too; close-on-exec."""
    from dockyard._util.bundle import installed

    finder = installed()
    return (finder.fd,) if finder is not None else ()


def _wait_then_bootstrap(ctl: int, report: int, attach_fd: int, python: str) -> None:
    """In the detached process: import the runtime, wait for the container, start it."""
    import dockyard.runtime.bundle
    import dockyard.runtime.executor
    import dockyard.runtime.shim  # (the point: all of them imported while we wait)
    from dockyard.runtime.shim_bootstrap import Prepared, bootstrap

    try:  # the kernel's part of a --network none start, made while we wait
        spare = dockyard.runtime.executor.spare_netns()
    except OSError:
        spare = -1

    prepared = Prepared()  # what make_cgroup and prepare ask for, made and read now
    msg: dict[str, Any] = {}
    data = b""
    while "cdir" not in msg and (chunk := os.read(ctl, 65536)):
        data += chunk
        while b"\n" in data and "cdir" not in msg:
            line, data = data.split(b"\n", 1)
            msg = jsonlite.loads(line)
            if "cgroup" in msg and prepared.cgroup is None:
                prepared.cgroup = _make_cgroup(msg["cgroup"])
                if prepared.cgroup is not None:
                    prepared.child = _fork_ahead_in(prepared.cgroup)
            elif "prepare" in msg:
                prepared.files = _read_ahead(msg["prepare"])
    if "cdir" not in msg:  # cancelled, or the caller is gone: leave nothing behind
        if prepared.child is not None:
            prepared.child.cancel()
        if prepared.cgroup is not None:
            _remove_cgroup(prepared.cgroup)
        os._exit(0)
    os.close(ctl)
    attach = msg.get("attach")
    if attach is None and attach_fd >= 0:
        os.close(attach_fd)
        attach_fd = -1
    bootstrap(msg["cdir"], msg["rundir"], report, attach_fd, attach, python, spare, prepared)


def _read_ahead(cdir: str) -> StartFiles | None:
    """The container's files, read now (:meth:`PendingShim.prepare`); None if that
    fails (the start reads them, and reports what is wrong)."""
    from dockyard.runtime.shim_bootstrap import StartFiles

    try:
        return StartFiles(cdir)
    except Exception:
        return None


def _fork_ahead_in(cgroup: str) -> ChildAhead | None:
    """The container's process, forked now into ``cgroup`` (made ahead), to wait for
    its plan (:class:`~dockyard.runtime.executor.ChildAhead`); None if that fails
    (the start forks it then)."""
    from dockyard.runtime.cgroups import Cgroup
    from dockyard.runtime.executor import ChildAhead

    try:
        return ChildAhead(Cgroup(cgroup))
    except OSError:
        return None


def _make_cgroup(path: str) -> str | None:
    """Make the cgroup ``path`` (no limits yet); its path if this made it."""
    from dockyard.errors import DockyardError
    from dockyard.runtime.cgroups import Cgroup

    try:
        cg = Cgroup(path)
        if cg.exists():
            return None  # not ours to remove; the start applies what it needs
    except (DockyardError, OSError):
        return None  # the start makes it, and reports what fails
    try:
        cg.create(None)
    except (DockyardError, OSError):
        _remove_cgroup(path)  # what was made of it
        return None
    return path


def _remove_cgroup(path: str) -> None:
    """Remove the cgroup ``path`` made ahead, and the root's parent if now empty."""
    from dockyard.runtime.cgroups import Cgroup, remove_if_empty
    from dockyard.runtime.shim_process import remove_cgroup_dirs

    try:
        remove_cgroup_dirs(Cgroup(path).dirs)
        remove_if_empty(os.path.dirname(path))
    except Exception:  # best effort, in a process about to exit or to start anyway
        pass
