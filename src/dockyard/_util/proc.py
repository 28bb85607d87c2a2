"""Facts about host processes read from /proc."""

from __future__ import annotations


def proc_start_time(pid: int) -> int | None:
    """Start time (clock ticks after boot) of a live process; None if gone or a zombie.
    With the pid it names a process for good: a reused pid has another start time."""
    if pid <= 0:
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])
