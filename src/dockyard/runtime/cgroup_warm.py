"""Take the wait out of joining a cgroup: pay it in the background, ahead of time.

Moving a process into a cgroup (a write to ``cgroup.procs``) takes the kernel's
global ``cgroup_threadgroup_rwsem`` for writing. When nobody has done so for a
while, that costs an RCU grace period (``rcu_sync_enter``): 5-15 ms measured on
this machine's cgroup v1 hierarchies, spent asleep, on every container start and
every ``exec``. Within ~20 ms after any such write the next one is cheap (0.1 ms):
the semaphore is still in its writer-friendly state.

On cgroup v1 a process joins by writing ``0`` to ``tasks`` instead, which skips the
lock (see :func:`dockyard.runtime.cgroups.join_file_name`): nothing to warm. On
cgroup v2 it must write ``cgroup.procs``; there the commands that start a process
in a container call :func:`start` first: a
thread writes the CLI's own pid into the cgroup it already belongs to (a no-op
move: nothing changes on the machine) every 4 ms, while the main thread parses
flags, reads the image, writes the bundle and forks the shim. The first write pays
the wait, in the background, and the container's own join finds the semaphore
warm. :func:`settle` stops the thread once the process has started (the shim's
report, the exec'd process); it stops by itself after :data:`_LONGEST` anyway.

Forking while the thread runs is safe here: the thread only writes to an fd and
waits on its own lock; a forked child never touches either (``settle`` there is a
no-op). CLONE_INTO_CGROUP would avoid the lock, but only on cgroup v2 with its
controllers; this works on both.
"""

from __future__ import annotations

import _thread
import os
import time

# (our pid, the stop lock we hold, the lock the thread releases when done)
_pending: tuple[int, _thread.LockType, _thread.LockType] | None = None
_started = False
_EVERY = 0.004  # seconds between writes: well inside the ~20 ms the warm state lasts
_LONGEST = 2.0  # seconds: a start that takes longer does not need the few ms


def _own_procs_file() -> str | None:
    """``cgroup.procs`` of the cgroup v2 (or, failing that, v1 pids) group we are in."""
    try:
        with open("/proc/self/cgroup", "rb") as f:
            lines = f.read().decode().splitlines()
    except OSError:
        return None
    for want, bases in (("", ("/sys/fs/cgroup/unified", "/sys/fs/cgroup")),
                        ("pids", ("/sys/fs/cgroup/pids",))):  # fmt: skip
        for line in lines:
            _, ctrls, path = line.split(":", 2)
            if ctrls != want:
                continue
            for base in bases:
                procs = f"{base}{path.rstrip('/')}/cgroup.procs"
                if os.path.exists(procs):
                    return procs
    return None


def _warm(path: str, stop: _thread.LockType, done: _thread.LockType) -> None:
    """Write until told to stop (or for :data:`_LONGEST` at most)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            until = time.monotonic() + _LONGEST
            while time.monotonic() < until:
                os.write(fd, b"0")  # "0": the writer's own thread group
                if stop.acquire(timeout=_EVERY):
                    break
        finally:
            os.close(fd)
    except OSError:
        pass  # a cgroup we may not join (v2 inner node): nothing gained, nothing lost
    finally:
        done.release()


def start() -> None:
    """Keep the cgroup attach path warm from a background thread until
    :func:`settle` (once per process; root only)."""
    global _pending, _started
    if _started or os.geteuid() != 0:
        return
    _started = True
    if not os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        return  # cgroup v1 controllers: the container joins through "tasks", no wait
    path = _own_procs_file()
    if path is None:
        return
    stop, done = _thread.allocate_lock(), _thread.allocate_lock()
    stop.acquire()
    done.acquire()
    _thread.start_new_thread(_warm, (path, stop, done))
    _pending = (os.getpid(), stop, done)


def settle(timeout: float = 0.05) -> None:
    """Stop :func:`start`'s thread and wait (bounded) for it to end; a no-op when
    nothing was started, or in a forked child (the thread stayed in the parent)."""
    global _pending
    if _pending is not None:
        pid, stop, done = _pending
        _pending = None
        if pid == os.getpid():
            stop.release()
            if done.acquire(timeout=timeout):
                done.release()
