"""Run a bundle with an external OCI runtime (crun, runc): ``--runtime crun``.

The same config.json the built-in runtime executes, handed to another
implementation, gives a cross-check. Differences from the built-in runtime the
engine must handle:

- The rootfs must already be mounted at ``root.path`` on the host (e.g. the
  overlay the snapshotter described); the runtime does not take rootfs mounts.
  Unmount it after :meth:`ExternalRuntime.delete`.
- The runtime manages the cgroup itself from ``linux.cgroupsPath`` and
  ``linux.resources`` (and removes it on delete; it leaves parent directories).
- After ``create`` the container's init is *not* a child of the caller: the
  runtime process exits and the init is reparented. A shim that wants to
  ``waitpid`` it must be a child subreaper (``prctl(PR_SET_CHILD_SUBREAPER)``,
  :func:`dockyard.runtime.linux.prctl`) before calling :meth:`create`.
- With ``process.terminal`` the runtime makes the pty inside the container and
  sends its master over ``--console-socket`` (:class:`ConsoleSocket`).

:func:`for_host` picks the binary and works around crun's refusal of hybrid
cgroups: crun 1.8 fails ("cgroups in hybrid mode not supported, drop all
controllers from cgroupv2") when the cgroup2 hierarchy mounted at
``/sys/fs/cgroup/unified`` has controllers. Rather than change the host, crun
then runs in a private mount namespace where that hierarchy is not mounted, and
sees (and manages) the v1 controllers only, the ones Dockyard's own cgroup code
uses on such hosts.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

from dockyard.errors import ExternalToolFailed, NotFound, Unsupported
from dockyard.oci.runtime_spec import Mount, RuntimeSpec
from dockyard.runtime.bundle import write_config

RUNTIMES = ("crun", "runc")  # the names --runtime accepts besides the built-in "dockyard"
_UNIFIED = "/sys/fs/cgroup/unified"
_HYBRID_WRAP = (
    "unshare",
    "-m",
    "sh",
    "-c",
    f'umount -l {_UNIFIED} 2>/dev/null; exec "$0" "$@"',
)


@dataclass(frozen=True)
class ExternalState:
    """``<runtime> state <id>``."""

    id: str
    status: str  # creating, created, running, paused, stopped
    pid: int
    bundle: str


class ExternalRuntime:
    """Drive ``binary`` (``crun``/``runc`` or a wrapper) with its state under ``root``."""

    def __init__(
        self,
        binary: str = "crun",
        *,
        root: str | None = None,
        global_args: Sequence[str] = (),
        wrapper: Sequence[str] = (),
    ) -> None:
        self.binary = binary
        self.root = root
        self.global_args = tuple(global_args)
        self.wrapper = tuple(wrapper)  # argv before the binary (see for_host)

    def _argv(self, *args: str) -> list[str]:
        argv = [*self.wrapper, self.binary, *self.global_args]
        if self.root is not None:
            argv += ["--root", self.root]
        return argv + list(args)

    def _run(
        self, *args: str, stdio: tuple[int, int, int] | None = None, not_found_ok: bool = False
    ) -> str:
        """Run the runtime; stdout returned; errors (from a log file, so that the
        container may own stdio) raised as ExternalToolFailed / NotFound."""
        with tempfile.NamedTemporaryFile(prefix="dockyard-rt-", suffix=".log") as log:
            argv = self._argv(f"--log={log.name}", *args)
            try:
                if stdio is None:
                    p = subprocess.run(
                        argv, stdin=subprocess.DEVNULL, capture_output=True, check=False
                    )
                    out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
                else:
                    p = subprocess.run(
                        argv, stdin=stdio[0], stdout=stdio[1], stderr=stdio[2], check=False
                    )
                    out, err = "", ""
            except FileNotFoundError:
                raise Unsupported(
                    f"OCI runtime {self.binary!r} is not installed",
                    hint="apt-get install crun, or choose another --runtime",
                )
            if p.returncode == 0:
                return out
            msg = (log.read().decode(errors="replace") + err).strip()
        text = _last_message(msg) or f"exit status {p.returncode}"
        if not_found_ok and ("does not exist" in text or "No such file or directory" in text):
            raise NotFound(f"{self.binary}: {text}")
        raise ExternalToolFailed(f"{self.binary} {args[0]}: {text}")

    # -- lifecycle -----------------------------------------------------------

    def create(
        self,
        container_id: str,
        bundle: str | os.PathLike[str],
        spec: RuntimeSpec | None = None,
        *,
        stdio: tuple[int, int, int] | None = None,
        console_socket: str | None = None,
    ) -> int:
        """(Write ``spec`` as config.json and) create the container; return its init PID.

        The process waits for :meth:`start`. ``stdio`` becomes its 0, 1, 2
        (default /dev/null); with a terminal, the pty's master is sent to
        ``console_socket`` (see :class:`ConsoleSocket`)."""
        b = os.fspath(bundle)
        if spec is not None:
            write_config(b, spec)
        devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC) if stdio is None else -1
        try:
            with tempfile.TemporaryDirectory(prefix="dockyard-rt-") as tmp:
                pid_file = os.path.join(tmp, "pid")
                console = ["--console-socket", console_socket] if console_socket else []
                self._run(
                    "create",
                    "--bundle",
                    b,
                    "--pid-file",
                    pid_file,
                    *console,
                    container_id,
                    stdio=stdio or (devnull, devnull, devnull),
                )
                with open(pid_file) as f:
                    return int(f.read().strip())
        finally:
            if devnull >= 0:
                os.close(devnull)

    def start(self, container_id: str) -> None:
        self._run("start", container_id, not_found_ok=True)

    def run(
        self,
        container_id: str,
        bundle: str | os.PathLike[str],
        spec: RuntimeSpec | None = None,
        *,
        stdio: tuple[int, int, int] | None = None,
    ) -> int:
        """create + start (``run --detach``); return the init's PID."""
        pid = self.create(container_id, bundle, spec, stdio=stdio)
        try:
            self.start(container_id)
        except BaseException:
            self.delete(container_id, force=True)
            raise
        return pid

    def state(self, container_id: str) -> ExternalState:
        data = json.loads(self._run("state", container_id, not_found_ok=True))
        return ExternalState(
            str(data.get("id", container_id)),
            str(data.get("status", "")),
            int(data.get("pid") or 0),
            str(data.get("bundle", "")),
        )

    def kill(self, container_id: str, sig: int = signal.SIGTERM, *, all: bool = False) -> None:
        args = ["kill"] + (["--all"] if all else []) + [container_id, str(int(sig))]
        self._run(*args, not_found_ok=True)

    def pause(self, container_id: str) -> None:
        self._run("pause", container_id, not_found_ok=True)

    def resume(self, container_id: str) -> None:
        self._run("resume", container_id, not_found_ok=True)

    def delete(self, container_id: str, *, force: bool = False) -> None:
        """Remove the container (``force``: kill it first). Missing is not an error."""
        try:
            self._run("delete", *(["--force"] if force else []), container_id, not_found_ok=True)
        except NotFound:
            pass


def needs_hybrid_workaround(binary: str) -> bool:
    """crun on a hybrid host whose cgroup2 hierarchy has controllers (module docstring)."""
    if os.path.basename(binary) != "crun":
        return False
    try:
        with open(f"{_UNIFIED}/cgroup.controllers") as f:
            return bool(f.read().strip())
    except OSError:
        return False


def for_host(name: str, *, root: str | None = None) -> ExternalRuntime:
    """The runtime ``name`` (crun, runc) as this host needs it run; Unsupported if it
    is not installed."""
    import shutil

    binary = shutil.which(name)
    if binary is None:
        raise Unsupported(
            f"OCI runtime {name!r} is not installed",
            hint=f"apt-get install {name}, or choose another --runtime",
        )
    wrap = _HYBRID_WRAP if needs_hybrid_workaround(binary) else ()
    return ExternalRuntime(name, root=root, wrapper=wrap)


class ConsoleSocket:
    """A listening unix socket for ``--console-socket`` (in a private directory under
    /tmp: sockaddr_un paths are short); :meth:`receive` takes the pty master the
    runtime sent during ``create``."""

    def __init__(self) -> None:
        import socket

        self.dir = tempfile.mkdtemp(prefix="dyconsole-")
        self.path = os.path.join(self.dir, "sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(1)

    def receive(self, timeout: float = 10.0) -> int:
        import socket

        self.sock.settimeout(timeout)
        try:
            conn, _ = self.sock.accept()
        except OSError as e:
            raise ExternalToolFailed(f"the runtime sent no console: {e}") from e
        with conn:
            conn.settimeout(timeout)
            _, fds, _, _ = socket.recv_fds(conn, 4096, 1)
        if not fds:
            raise ExternalToolFailed("the runtime sent no console")
        os.set_inheritable(fds[0], False)
        return fds[0]

    def close(self) -> None:
        self.sock.close()
        import shutil

        shutil.rmtree(self.dir, ignore_errors=True)


def mount_rootfs(rootfs: str, rootfs_mounts: Sequence[Mount], bundle: str) -> None:
    """Perform the snapshotter's rootfs mounts (destination ``/``: ``rootfs`` itself)
    on the host, where an external runtime expects the rootfs. Nothing is left
    mounted if one fails."""
    from dockyard.runtime import linux as L
    from dockyard.runtime import mounts
    from dockyard.runtime.paths import secure_join

    done: list[str] = []
    try:
        for dest, fstype, src, flags, _, data, _ in mounts.plan(rootfs_mounts, bundle):
            d = dest.strip("/")
            target = rootfs if not d else secure_join(rootfs, d)
            L.mount(src, target, fstype, flags, data or None)
            done.append(target)
    except OSError as e:
        for target in reversed(done):
            unmount_rootfs(target)
        raise ExternalToolFailed(f"mounting the rootfs at {rootfs}: {e.strerror}") from e


def unmount_rootfs(rootfs: str) -> None:
    """Unmount everything mounted at ``rootfs`` (detaching what is busy)."""
    from dockyard.runtime import linux as L

    for _ in range(16):
        if not os.path.ismount(rootfs):
            return
        try:
            L.umount2(rootfs, 0)
        except OSError:
            L.umount2(rootfs, L.MNT_DETACH)


_NOT_FOUND = ("executable file not found", "No such file or directory")


def start_error_code(message: str) -> int:
    """Docker's exit code for a runtime's start error: 127 not found, 126 cannot
    invoke, else 125."""
    if any(s in message for s in _NOT_FOUND):
        return 127
    if "Permission denied" in message or "permission denied" in message:
        return 126
    return 125


_LOGFMT_MSG = re.compile(r'\bmsg="((?:[^"\\]|\\.)*)"')


def _last_message(text: str) -> str:
    """The useful line of a runtime's log (crun/runc write JSON lines or plain text)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    for ln in reversed(lines):
        try:
            obj = json.loads(ln)
        except ValueError:
            m = _LOGFMT_MSG.search(ln)  # runc: time=... level=error msg="..."
            if m is not None:
                return str(json.loads(f'"{m.group(1)}"')).strip()
            return ln.strip()
        if isinstance(obj, dict) and obj.get("level") in ("error", "fatal", None):
            return str(obj.get("msg", ln)).strip()
    return lines[-1].strip() if lines else ""
