"""The same bundle run by an external OCI runtime (crun, runc; see
:mod:`dockyard.runtime.external`) instead of the built-in one: started from the
shim's bootstrap or a restart starter (:func:`start_external`), undone by
:func:`stop_external` (from the shim, or :meth:`ShimClient.cleanup
<dockyard.runtime.shim_client.ShimClient.cleanup>` after a crash). Heavy: never
imported by the long-lived supervisor, only by the forked helpers it runs.
"""

from __future__ import annotations

import os
import time

from dockyard._util.proc import proc_start_time
from dockyard.errors import DockyardError, InvalidArgument, Unsupported
from dockyard.runtime import state as st
from dockyard.runtime.errors import ContainerStartError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


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


def start_external(
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
        info = {"pid": pid, "pid_start": proc_start_time(pid) or 0, "cgroup": path,
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
