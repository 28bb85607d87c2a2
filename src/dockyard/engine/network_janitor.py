"""Cleaning up after the network service without making ``rm`` wait.

Deleting links is slow in the kernel (a bridge ~45 ms, a veth ~18 ms, an nft
transaction ~15 ms), so a teardown hands that work to a detached *finisher* (a
shell holding the network lock until done), and an idle bridge *lingers*
``DOCKYARD_NETWORK_LINGER`` seconds (default 5; 0: deleted at once, in the caller)
so that back-to-back ``run --rm`` reuse it. One *janitor* process per runroot
then deletes the idle bridges and the table (:meth:`NetworkService.collect`).
When the engine root itself is gone (a test's temporary root), the janitor
deletes what carries that root's name: bridges ``dy<tag>-*`` and the table
``dockyard_<tag>``, ours by name. :func:`collect_dead_roots` does the same for roots
deleted with containers still attached, found through their subnet claims.
"""

from __future__ import annotations

import os
import time

from dockyard.errors import DockyardError
from dockyard.network import bridge as br

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from dockyard.config import EngineConfig

LINGER_ENV = "DOCKYARD_NETWORK_LINGER"
DEFAULT_LINGER = 5.0

# The detached finisher of a teardown: deletes links, updates the table; it holds the
# network lock (an inherited fd) until done. Started through a shell that exits at once.
_FINISH = (
    '([ -z "$1" ] || printf %s "$1" | ip -force -batch -; '
    '[ -z "$2" ] || printf %s "$2" | nft -f -) </dev/null >/dev/null 2>&1 &'
)


def linger_seconds() -> float:
    """How long an idle bridge stays (``DOCKYARD_NETWORK_LINGER``; 0: removed at once)."""
    try:
        return max(0.0, float(os.environ.get(LINGER_ENV, DEFAULT_LINGER)))
    except ValueError:
        return DEFAULT_LINGER


def finish_later(lock: int, links: Sequence[str], nft_script: str) -> None:
    import subprocess

    ip_text = "".join(f"link del dev {n}\n" for n in links)
    if not ip_text and not nft_script:
        return
    subprocess.run(
        ["sh", "-c", _FINISH, "sh", ip_text, nft_script],
        check=False,
        pass_fds=(lock,),
        start_new_session=True,
    )


def _janitor_alive(pid_file: str) -> bool:
    try:
        with open(pid_file) as f:
            pid = int(f.read().split()[0])
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"janitor_main" in f.read()
    except (OSError, ValueError, IndexError):
        return False


def janitor_main(root: str, runroot: str, linger: float) -> None:
    """The janitor process: once no teardown happened for ``linger`` s, collect. When
    the root or runroot is gone meanwhile (a test's temporary engine), the bridges
    and table named after this root are deleted by name: they are ours by name."""
    from pathlib import Path

    from dockyard._util.db import Error, open_db
    from dockyard.config import EngineConfig

    config = EngineConfig(Path(root), Path(runroot))
    state = config.runroot / "network"
    pid_file = state / "janitor.pid"
    try:
        pid_file.write_text(f"{os.getpid()}\n")
    except OSError:
        pass
    try:
        while True:
            try:
                since = os.stat(state / "idle-since").st_mtime
            except FileNotFoundError:
                break
            wait = since + linger - time.time()
            if wait <= 0:
                break
            time.sleep(wait + 0.05)
        if state.is_dir() and os.path.isfile(config.state_db):
            db = open_db(config.state_db)
            try:
                from dockyard.engine.networks import NetworkService

                svc = NetworkService(
                    config, db, container_name=lambda _: None, is_running=lambda _: False
                )
                svc.collect()
            finally:
                db.close()
        else:
            collect_by_name(br.root_tag(config.root))
    except (DockyardError, OSError, Error):
        pass
    finally:
        pid_file.unlink(missing_ok=True)


def collect_dead_roots() -> list[str]:
    """Delete the bridges and tables of engine roots that were deleted with containers
    still attached (a killed test run): found through their subnet claims. Returns
    those roots."""
    from dockyard.network.claims import dead_roots, forget

    done: list[str] = []
    for net, root in dead_roots():
        if root not in done:
            collect_by_name(br.root_tag(root))
            done.append(root)
        forget(net, root)
    return done


def collect_by_name(tag: str) -> None:
    """Delete the bridges ``dy<tag>-*`` and the table ``dockyard_<tag>`` of an engine
    root whose records are gone."""
    try:
        names = [n for n in os.listdir(br.SYS_NET) if n.startswith(f"dy{tag}-")]
    except OSError:
        names = []
    br.delete_links([n for n in names if br.is_bridge(n)])
    from dockyard.network import firewall as fw

    try:
        fw.delete(fw.table_name(tag))
    except DockyardError:
        pass


def schedule_janitor(config: EngineConfig, linger: float) -> None:
    """Make sure a janitor collects ``linger`` s after the last teardown."""
    state = os.path.join(config.runroot_dir, "network")
    idle_since = os.path.join(state, "idle-since")  # the janitor waits from its mtime
    try:
        os.utime(idle_since)
    except FileNotFoundError:
        with open(idle_since, "a"):
            pass
    if _janitor_alive(os.path.join(state, "janitor.pid")):
        return
    import subprocess
    import sys

    boot = (
        "import sys;sys.path.insert(0,sys.argv[1]);"
        "from dockyard.engine.network_janitor import janitor_main;"
        "janitor_main(sys.argv[2],sys.argv[3],float(sys.argv[4]))"
    )
    src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    argv = [sys.executable, "-I", "-S", "-c", boot, src]
    argv += [config.root_dir, config.runroot_dir, str(linger)]
    subprocess.run(
        ["sh", "-c", '"$@" </dev/null >/dev/null 2>&1 &', "sh", *argv],
        check=False,
        start_new_session=True,
    )
