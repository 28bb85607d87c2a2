"""The embedded DNS server process as the engine runs it.

:mod:`dockyard.network.dns_server` answers from the networks and endpoints in
state.db; whether a container runs is the runtime's knowledge (its state file),
which the network layer must not import. This entry point joins the two: a
stopped container's name is not answered (Docker removes its endpoint's DNS
entries at stop), so a lookup falls through to the host's resolvers and fails as
it does with Docker, instead of pointing at an address nobody holds.
"""

from __future__ import annotations

import os
import sys

from dockyard.network import dns_control

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

ENTRY = __name__


def liveness(root: str, runroot: str) -> Callable[[str], bool]:
    """container id -> whether its process runs (paused counts: it still holds its
    address), from the state file the shim keeps. One small file read per answer."""
    from dockyard.errors import DockyardError
    from dockyard.runtime.state import pid_alive, read_state

    containers = os.path.join(root, "containers")

    def alive(cid: str) -> bool:
        if not cid or "/" in cid:
            return False
        try:
            st = read_state(os.path.join(containers, cid))
        except (OSError, ValueError, DockyardError):  # a torn or foreign file
            return False
        return bool(st.pid) and pid_alive(st.pid, st.pid_start)

    return alive


def own_dns(root: str, runroot: str) -> Callable[[str], Sequence[str]]:
    """container id -> its ``--dns`` servers, from its record in state.db (they never
    change after create: remembered)."""
    import json
    import sqlite3

    path = os.path.join(root, "state.db")
    known: dict[str, tuple[str, ...]] = {}
    conn: list[sqlite3.Connection] = []

    def servers(cid: str) -> Sequence[str]:
        if cid in known:
            return known[cid]
        if not conn:
            conn.append(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1.0))
        row = conn[0].execute("SELECT config FROM containers WHERE id = ?", (cid,)).fetchone()
        if row is None:
            return ()  # not recorded yet: ask again next time
        dns = json.loads(row[0]).get("dns") or ()
        known[cid] = tuple(str(s) for s in dns)
        return known[cid]

    return servers


def ensure(
    root: str | os.PathLike[str],
    runroot: str | os.PathLike[str],
    *,
    upstreams: Sequence[str] | None = None,
) -> int:
    """:func:`dockyard.network.dns_control.ensure_dns_server` with this entry point
    (``upstreams``: replaces the host's resolvers, for tests)."""
    return dns_control.ensure_dns_server(root, runroot, upstreams=upstreams, entry=ENTRY)


def main(argv: Sequence[str] | None = None) -> int:
    from dockyard.network import dns_server

    return dns_server.main(sys.argv[1:] if argv is None else argv, alive=liveness, own_dns=own_dns)


if __name__ == "__main__":
    sys.exit(main())
