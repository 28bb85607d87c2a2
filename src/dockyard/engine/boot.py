"""After a reboot (or a crash): repair the store and bring back restartable containers.

Daemonless engines have no daemon start to hook this on, so ``dockyard system
restore`` runs it (from a boot script, a systemd unit, ``@reboot`` cron) and
``dockyard system service`` will run it when it starts. Docker's rules:

- ``always``: restarted, even if it had been stopped by hand;
- ``unless-stopped``: restarted unless it had been stopped by hand;
- ``on-failure``/``no``: left as they are;
- ``--rm`` containers that are not running are removed: they were to go when they
  stopped, and nothing a crash may have cut short is worth keeping (their files are
  written without fsync for that reason: see engine.container_create).

Repair first: a CLI killed in the middle of ``create`` can leave a container
directory and an overlay snapshot with no record; a reboot leaves state files
that say "running" with dead pids. Both are cleaned here.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field

from dockyard._util.fs import mark_top_dir
from dockyard.engine.containers import ContainerService
from dockyard.errors import DockyardError
from dockyard.runtime import state as st


@dataclass
class RestoreReport:
    removed_orphans: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    restarted: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


# A ``create`` running right now in another process has its directory and snapshot
# before its record: leave anything this young alone.
GRACE_SECONDS = 60.0


def repair(svc: ContainerService, report: RestoreReport) -> None:
    """Remove what no record owns; settle containers whose shim is gone."""
    known = {r.id for r in svc.records.all()}
    containers_dir = svc.config.root / "containers"
    for top in (containers_dir, svc.snapshots.root):  # roots made before they were
        mark_top_dir(os.fspath(top))  # (see dockyard._util.fs)
    for entry in _listdir(containers_dir):
        if entry not in known and len(entry) == 64 and _old(containers_dir / entry):
            shutil.rmtree(containers_dir / entry, ignore_errors=True)
            report.removed_orphans.append(entry)
    for key in svc.snapshots.keys():  # noqa: SIM118 (a method, not a dict)
        if key not in known and _old(svc.snapshots.root / key):
            try:
                svc.snapshots.remove(key)
            except (DockyardError, OSError):
                continue
            if key not in report.removed_orphans:
                report.removed_orphans.append(key)
    run_dir = svc.config.runroot / "containers"
    for entry in _listdir(run_dir):
        if entry not in known:
            shutil.rmtree(run_dir / entry, ignore_errors=True)
    for c in svc.all():
        raw = svc.client(c.id).raw_state()
        if raw.status not in st.FINAL and c.state.status in ("dead", "exited"):
            svc.client(c.id).cleanup()
            report.repaired.append(c.id)
    svc.snapshots.clean_stale(keep=known)
    # an external runtime's rootfs, mounted on the host by a shim that died (--runtime)
    from dockyard.storage.snapshots import clean_stale_mounts

    clean_stale_mounts(containers_dir, keep={c.id for c in svc.all() if c.state.running})
    # network leftovers: namespaces and addresses of containers that are gone, bridges
    # nobody uses; the nft table is made again from the records (a reboot emptied it)
    try:
        for cid in svc.networks.repair(known):
            if cid not in report.removed_orphans:
                report.removed_orphans.append(cid)
    except (DockyardError, OSError) as e:
        report.failed.append(("network", str(e)))


def remove_auto_removed(svc: ContainerService, report: RestoreReport) -> None:
    """Remove the ``--rm`` containers that stopped without being removed (a crash, a
    reboot). One still ``created`` may be a ``run`` starting it right now: left
    alone for :data:`GRACE_SECONDS`."""
    for c in svc.all():
        if c.state.running or not c.create_request().auto_remove:
            continue
        if c.state.status == "created" and not _old(svc.container_dir(c.id)):
            continue
        try:
            svc.remove(c.id, force=True, volumes=True)
        except (DockyardError, OSError) as e:
            report.failed.append((c.id, str(e)))
        else:
            report.removed_orphans.append(c.id)


def restore(svc: ContainerService) -> RestoreReport:
    report = RestoreReport()
    repair(svc, report)
    remove_auto_removed(svc, report)
    for c in svc.all():
        if c.state.running:
            continue
        try:
            policy = st.read_shim_config(str(svc.container_dir(c.id))).restart_policy
        except DockyardError:
            continue
        manual = c.state.manually_stopped
        if policy == "always" or (policy == "unless-stopped" and not manual):
            if c.state.status == "created" and c.state.started_at == st.ZERO_TIME:
                continue  # never started: nothing to bring back
            try:
                svc.start(c.id)
                report.restarted.append(c.id)
            except DockyardError as e:
                report.failed.append((c.id, e.message))
    return report


def _old(path: str | os.PathLike[str]) -> bool:
    try:
        return time.time() - os.stat(path).st_mtime > GRACE_SECONDS
    except FileNotFoundError:
        return False


def _listdir(path: os.PathLike[str]) -> list[str]:
    try:
        return os.listdir(path)
    except FileNotFoundError:
        return []
