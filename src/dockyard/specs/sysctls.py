"""``--sysctl key=value`` and compose ``sysctls:`` (docker CLI's ``ValidateSysctl``).

Only namespaced sysctls are allowed: the IPC ones (``kernel.msgmax``,
``kernel.sem``, ``kernel.shm*``...), ``fs.mqueue.*`` and ``net.*``.
"""

from __future__ import annotations

from dockyard.specs._go import fail

ALLOWED = frozenset(
    (
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    )
)
ALLOWED_PREFIXES = ("net.", "fs.mqueue.")


def parse_sysctl(text: str, *, flag: str | None = None) -> tuple[str, str]:
    """``net.ipv4.ip_forward=1`` -> ``("net.ipv4.ip_forward", "1")``."""
    key, eq, value = text.partition("=")
    if not eq or not (key in ALLOWED or key.startswith(ALLOWED_PREFIXES)):
        fail(
            f"sysctl '{text}' is not allowed",
            value=text,
            flag=flag,
            hint="only namespaced sysctls (kernel IPC ones, fs.mqueue.*, net.*) can be set",
        )
    return key, value
