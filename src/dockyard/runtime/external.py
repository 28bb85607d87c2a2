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
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

from dockyard.errors import ExternalToolFailed, NotFound, Unsupported
from dockyard.oci.runtime_spec import RuntimeSpec
from dockyard.runtime.bundle import write_config


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
        self, binary: str = "crun", *, root: str | None = None, global_args: Sequence[str] = ()
    ) -> None:
        self.binary = binary
        self.root = root
        self.global_args = tuple(global_args)

    def _argv(self, *args: str) -> list[str]:
        argv = [self.binary, *self.global_args]
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
    ) -> int:
        """(Write ``spec`` as config.json and) create the container; return its init PID.

        The process waits for :meth:`start`. ``stdio`` becomes its 0, 1, 2
        (default /dev/null)."""
        b = os.fspath(bundle)
        if spec is not None:
            write_config(b, spec)
        devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC) if stdio is None else -1
        try:
            with tempfile.TemporaryDirectory(prefix="dockyard-rt-") as tmp:
                pid_file = os.path.join(tmp, "pid")
                self._run(
                    "create",
                    "--bundle",
                    b,
                    "--pid-file",
                    pid_file,
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


def _last_message(text: str) -> str:
    """The useful line of a runtime's log (crun/runc write JSON lines or plain text)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    for ln in reversed(lines):
        try:
            obj = json.loads(ln)
        except ValueError:
            return ln.strip()
        if isinstance(obj, dict) and obj.get("level") in ("error", "fatal", None):
            return str(obj.get("msg", ln)).strip()
    return lines[-1].strip() if lines else ""
