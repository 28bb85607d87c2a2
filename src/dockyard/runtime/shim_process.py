"""Helpers of the supervisor (:mod:`dockyard.runtime.shim`) that know nothing of its
loop: request errors, signal names, the OOM counter, cgroup removal and forked
helpers. Imported by the long-lived supervisor: only small stdlib modules here (see
test_the_supervisor_imports_nothing_heavy).
"""

from __future__ import annotations

import errno
import os
import time

from dockyard._util import jsonlite
from dockyard.runtime import state as st

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
    from collections.abc import Callable, Sequence
    from typing import Any
else:
    import _signal as signal  # signal.py's enums cost the shim 2 ms at start


class OpError(Exception):
    """A request failed; ``kind`` names the dockyard.errors class for the client."""

    def __init__(self, kind: str, message: str, exit_code: int = 125) -> None:
        super().__init__(message)
        self.kind, self.exit_code = kind, exit_code


def parse_signal(sig: object) -> int:
    """15, "15", "TERM", "SIGTERM" -> 15."""
    if isinstance(sig, str) and sig.isdigit():
        sig = int(sig)
    if isinstance(sig, int) and not isinstance(sig, bool) and 0 < sig < signal.NSIG:
        return sig
    num = getattr(signal, "SIG" + str(sig).upper().removeprefix("SIG"), None)
    if isinstance(num, int):
        return num
    raise OpError("InvalidArgument", f"invalid signal: {sig}")


def read_oom_kills(path: str | None) -> int:
    """The ``oom_kill`` counter in memory.oom_control (v1) or memory.events (v2)."""
    try:
        with open(path or "", "rb") as f:
            return next((int(ln.split()[1]) for ln in f if ln.startswith(b"oom_kill ")), 0)
    except (OSError, ValueError, IndexError):
        return 0


def _write_file(path: str, data: bytes) -> None:
    try:
        with open(path, "wb") as f:
            f.write(data)
    except OSError:
        pass


def remove_cgroup_dirs(dirs: Sequence[str], timeout: float = 5.0) -> None:
    """``Cgroup.remove(kill=True)`` without importing it (and dataclasses) into the shim:
    rmdir; while busy, thaw and SIGKILL what is left and retry."""
    deadline = time.monotonic() + timeout
    for d in dirs:
        delay = 0.0005
        while True:
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError as e:
                if e.errno != errno.EBUSY or time.monotonic() > deadline:
                    raise
            _write_file(f"{d}/freezer.state", b"THAWED")
            _write_file(f"{d}/cgroup.freeze", b"0")
            try:
                with open(f"{d}/cgroup.procs", "rb") as f:
                    for pid in f.read().split():
                        os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


def write_state_nosync(cdir: str, state: st.State) -> None:
    """``state.write_state`` without its fsync: as atomic for readers (temp file,
    rename), durable only once :func:`sync_state` returns. For the transitions a run
    waits for (the start, the end): their fsync (0.5-1.5 ms) comes after the report."""
    st.write_json_atomic(os.path.join(cdir, st.STATE_FILE), state.to_dict(), fsync=False)


def sync_state(cdir: str) -> None:
    """Make ``state.json`` durable (data and, on a journaling filesystem, the rename
    that installed it): fsync through a fresh descriptor of the same file."""
    try:
        fd = os.open(os.path.join(cdir, st.STATE_FILE), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def run_in_child(fn: Callable[[], dict[str, Any] | None]) -> dict[str, Any]:
    """``fn()`` in a forked child, so what it imports (the executor, cgroups) never
    loads into the long-lived shim. Its result comes back as JSON; its error as an
    OpError. Blocks (the few ops that use it are rare: restart, pause, update)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        out: dict[str, Any] = {"kind": "DockyardError", "error": "failed"}
        try:
            os.close(r)
            signal.set_wakeup_fd(-1)
            for s in (signal.SIGCHLD, signal.SIGTERM):
                signal.signal(s, signal.SIG_DFL)
            out = {"ok": True, "value": fn()}
        except BaseException as e:
            out = {"kind": type(e).__name__, "error": str(e), "code": getattr(e, "exit_code", 125)}
        finally:
            os.write(w, jsonlite.dumps(out).encode())
            os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    res = jsonlite.loads(data or b"{}")
    if not res.get("ok"):
        raise OpError(res.get("kind", "DockyardError"), res.get("error", "?"), res.get("code", 125))
    return res["value"] or {}


def merged_resources(old: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """``change`` over ``old``, object by object (an OCI linux.resources update)."""
    out = dict(old)
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged_resources(out[key], value)
        else:
            out[key] = value
    return out
