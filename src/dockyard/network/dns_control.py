"""Starting, finding and stopping the embedded DNS server process (one per runroot).

``RUNROOT/dns.pid`` holds ``PID STARTTIME`` (the start time from /proc/PID/stat,
so that a reused pid is not taken for the server); ``RUNROOT/dns.lock`` (flock)
orders starters against each other and against a server about to exit, so that
:func:`ensure_dns_server` never returns the pid of a server that is leaving. The
process itself is :mod:`dockyard.network.dns_server`.
"""

from __future__ import annotations

import os
import sys
import time

# the signal module's numbers from its C part: ``signal`` wraps them in enums (~1 ms)
from _signal import SIGHUP, SIGKILL, SIGTERM  # type: ignore[import-not-found]

from dockyard._util.proc import proc_start_time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

PID_FILE = "dns.pid"
LOCK_FILE = "dns.lock"
LOG_FILE = "dns.log"
START_TIMEOUT = 10.0

#: the module whose ``main(argv)`` runs the server: the engine's
#: (:mod:`dockyard.engine.dns_service`) adds what this layer cannot know, whether a
#: container runs
ENTRY = "dockyard.network.dns_server"
_BOOT = (
    "import sys;sys.path.insert(0,sys.argv.pop(1));"
    "from {entry} import main;sys.exit(main(sys.argv[1:]))"
)

# -- the pid file ------------------------------------------------------------------------


def running_pid(runroot: str | os.PathLike[str]) -> int | None:
    """The pid of this runroot's DNS server if it runs (pid file and /proc agree)."""
    try:
        with open(os.path.join(runroot, PID_FILE)) as f:
            pid_s, start_s = f.read().split()[:2]
        pid, start = int(pid_s), int(start_s)
    except (OSError, ValueError):
        return None
    return pid if proc_start_time(pid) == start else None


class Lock:
    def __init__(self, runroot: str | os.PathLike[str], *, block: bool = True) -> None:
        self.path = os.path.join(runroot, LOCK_FILE)
        self.block = block
        self.fd = -1

    def acquire(self) -> bool:
        import fcntl

        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | (0 if self.block else fcntl.LOCK_NB))
        except BlockingIOError:
            self.release()
            return False
        return True

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Lock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _src_dir() -> str:
    import dockyard

    return os.path.dirname(os.path.dirname(os.path.abspath(dockyard.__file__)))


def server_argv(
    python: str,
    root: str | os.PathLike[str],
    runroot: str | os.PathLike[str],
    *args: str,
    entry: str = ENTRY,
) -> list[str]:
    """``python -I -S -c BOOT SRC --root R --runroot RR ...``: isolated, no site (the
    server needs only the stdlib and this package)."""
    flags = ["-I", "-S"] + (["-B"] if sys.dont_write_bytecode else [])
    boot = _BOOT.format(entry=entry)
    return [python, *flags, "-c", boot, _src_dir(),
            "--root", os.fspath(root), "--runroot", os.fspath(runroot), *args]  # fmt: skip


def ensure_dns_server(
    root: str | os.PathLike[str],
    runroot: str | os.PathLike[str],
    *,
    upstreams: Sequence[str] | None = None,
    log: bool | None = None,
    python: str = sys.executable,
    entry: str = ENTRY,
) -> int:
    """The pid of the DNS server of this root, started if it does not run; a running
    one is told to look for new networks now. ``upstreams`` (``"127.0.0.1:5353"``...)
    replaces the host's resolv.conf servers (for tests; ignored when the server runs
    already). ``log``: write ``RUNROOT/dns.log`` (default: ``DOCKYARD_DNS_LOG=1``).
    Raises :class:`dockyard.errors.ExternalToolFailed` if it cannot start."""
    os.makedirs(runroot, mode=0o755, exist_ok=True)
    with Lock(runroot):
        pid = running_pid(runroot)
        if pid is not None:
            try:
                os.kill(pid, SIGHUP)
            except ProcessLookupError:
                pid = None
        if pid is not None:
            return pid
        return _spawn(root, runroot, upstreams, log, python, entry)


def _spawn(
    root: str | os.PathLike[str],
    runroot: str | os.PathLike[str],
    upstreams: Sequence[str] | None,
    log: bool | None,
    python: str,
    entry: str,
) -> int:
    import select
    import subprocess

    from dockyard.errors import ExternalToolFailed

    if log is None:
        log = os.environ.get("DOCKYARD_DNS_LOG", "") not in ("", "0")
    r, w = os.pipe()
    args = ["--report-fd", str(w)]
    for up in upstreams or ():
        args += ["--upstream", up]
    if upstreams is not None and not upstreams:
        args.append("--no-upstreams")
    if log:
        args += ["--log", os.path.join(runroot, LOG_FILE)]
    try:
        null = subprocess.DEVNULL
        argv = server_argv(python, root, runroot, *args, entry=entry)
        subprocess.run(argv, pass_fds=(w,), check=False, stdin=null, stdout=null, stderr=null,
                       start_new_session=True)  # fmt: skip
    finally:
        os.close(w)
    data = b""
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([r], [], [], left)[0]:
                break
            chunk = os.read(r, 4096)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(r)
    line = data.decode(errors="replace").strip()
    if line.startswith("ok "):
        return int(line.split()[1])
    raise ExternalToolFailed(
        f"the DNS server did not start: {line or 'no report'}",
        hint=f"run it by hand to see why: python -m dockyard.network.dns_server "
        f"--root {os.fspath(root)} --runroot {os.fspath(runroot)} --log /dev/stderr",
    )


def stop_dns_server(runroot: str | os.PathLike[str], timeout: float = 5.0) -> None:
    """Stop this runroot's DNS server (SIGTERM, SIGKILL after ``timeout`` s) and
    remove its pid file. Nothing happens if none runs."""
    if not os.path.isdir(runroot):
        return
    with Lock(runroot):
        pid = running_pid(runroot)
        if pid is not None:
            start = proc_start_time(pid)
            try:
                os.kill(pid, SIGTERM)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + timeout
            while proc_start_time(pid) == start and time.monotonic() < deadline:
                time.sleep(0.01)
            if proc_start_time(pid) == start:
                try:
                    os.kill(pid, SIGKILL)
                except ProcessLookupError:
                    pass
                while proc_start_time(pid) == start:
                    time.sleep(0.01)
        try:
            os.unlink(os.path.join(runroot, PID_FILE))
        except FileNotFoundError:
            pass


def remove_pid_file(runroot: str) -> None:
    path = os.path.join(runroot, PID_FILE)
    try:
        with open(path) as f:
            mine = f.read().split()[:1] == [str(os.getpid())]
        if mine:
            os.unlink(path)
    except (OSError, ValueError):
        pass


def write_pid_file(runroot: str) -> None:
    path = os.path.join(runroot, PID_FILE)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(f"{os.getpid()} {proc_start_time(os.getpid())}\n")
    os.replace(tmp, path)
