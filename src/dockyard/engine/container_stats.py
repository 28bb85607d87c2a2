"""``docker stats`` and ``docker top``: what a container's processes use and are.

Stats. One :class:`Sample` reads the container's cgroup (CPU time, memory, block
I/O, pids), its network namespace (``/proc/<pid>/net/dev``) and the host's CPU time
(``/proc/stat``). Two samples make a :class:`Stats` row, computed as the docker CLI
does:

- CPU % = container CPU time delta / host CPU time delta x online CPUs x 100;
- memory = usage minus the inactive file cache (``total_inactive_file`` on cgroup
  v1, ``inactive_file`` on v2: Docker 20+), limit = the cgroup's, or the host's
  memory when it has none (or a bigger one), as the daemon reports it;
- network = the sum over the namespace's interfaces but ``lo`` (none: 0), zero when
  the container shares the host's namespace (Docker has no per-container numbers);
- block I/O = bytes read and written (``blkio.throttle.io_service_bytes`` or
  ``io.stat``).

A container that is not running has an all-zero row (``stats --all``).

Top. :func:`top` lists the processes of the container's cgroup. Without ``ps``
options it builds Docker's default ``ps -ef`` table itself from ``/proc``; with
options it runs the host's ``ps`` and keeps the rows whose PID is the container's,
as the Docker daemon does.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dockyard.errors import Conflict, DockyardError, InvalidArgument, NotFound

if TYPE_CHECKING:
    from dockyard.engine.containers import Container, ContainerService

_NS = 1_000_000_000


def clock_ticks() -> int:
    return os.sysconf("SC_CLK_TCK")


def online_cpus() -> int:
    return os.sysconf("SC_NPROCESSORS_ONLN") or os.cpu_count() or 1


def system_cpu_ns(text: str | None = None) -> int:
    """The host's CPU time (``/proc/stat`` "cpu": user .. softirq) in nanoseconds, as
    the Docker daemon's ``getSystemCPUUsage`` counts it."""
    if text is None:
        with open("/proc/stat", encoding="ascii") as f:
            text = f.readline()
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0] == "cpu":
            if len(parts) < 8:
                raise DockyardError("invalid number of cpu fields in /proc/stat")
            return sum(int(x) for x in parts[1:8]) * _NS // clock_ticks()
    raise DockyardError("no cpu line in /proc/stat")


def host_memory() -> int:
    """MemTotal, in bytes."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def parse_net_dev(text: str) -> tuple[int, int]:
    """Received and transmitted bytes over every interface but ``lo``."""
    rx = tx = 0
    for line in text.splitlines()[2:]:
        name, colon, rest = line.partition(":")
        fields = rest.split()
        if not colon or name.strip() == "lo" or len(fields) < 9:
            continue
        rx += int(fields[0])
        tx += int(fields[8])
    return rx, tx


def parse_memory_stat(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            out[key] = int(value)
    return out


def usage_without_cache(usage: int, mem_stat: dict[str, int]) -> int:
    """The docker CLI's ``calculateMemUsageUnixNoCache``."""
    v1 = mem_stat.get("total_inactive_file")
    if v1 is not None and v1 < usage:
        return usage - v1
    v2 = mem_stat.get("inactive_file", 0)
    if v2 < usage:
        return usage - v2
    return usage


@dataclass(frozen=True)
class Sample:
    """One reading of a running container (counters; see the module docstring)."""

    cpu_ns: int
    system_ns: int
    online_cpus: int
    memory: int  # usage without the inactive file cache
    memory_limit: int
    net_rx: int
    net_tx: int
    block_read: int
    block_write: int
    pids: int


@dataclass(frozen=True)
class Stats:
    """One row of ``docker stats``. ``valid`` is false when the container could not
    be read (it stopped meanwhile): the CLI shows ``--`` then."""

    id: str
    name: str
    cpu_percent: float = 0.0
    memory: int = 0
    memory_limit: int = 0
    memory_percent: float = 0.0
    net_rx: int = 0
    net_tx: int = 0
    block_read: int = 0
    block_write: int = 0
    pids: int = 0
    valid: bool = True


def cpu_percent(prev: Sample | None, cur: Sample) -> float:
    """Docker's ``calculateCPUPercentUnix``: 0 without an earlier sample."""
    if prev is None:
        return 0.0
    cpu_delta = cur.cpu_ns - prev.cpu_ns
    system_delta = cur.system_ns - prev.system_ns
    if cpu_delta > 0 and system_delta > 0:
        return cpu_delta / system_delta * cur.online_cpus * 100.0
    return 0.0


def compute(cid: str, name: str, prev: Sample | None, cur: Sample | None) -> Stats:
    """A row from two samples (``cur`` None: the container is not running)."""
    if cur is None:
        return Stats(cid, name)
    mem_pct = cur.memory / cur.memory_limit * 100.0 if cur.memory_limit else 0.0
    return Stats(
        cid,
        name,
        cpu_percent=cpu_percent(prev, cur),
        memory=cur.memory,
        memory_limit=cur.memory_limit,
        memory_percent=mem_pct,
        net_rx=cur.net_rx,
        net_tx=cur.net_tx,
        block_read=cur.block_read,
        block_write=cur.block_write,
        pids=cur.pids,
    )


def _same_netns(pid: int) -> bool:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat("/proc/self/ns/net").st_ino
    except OSError:
        return False


def sample(svc: ContainerService, c: Container) -> Sample | None:
    """A reading of ``c`` now; None if it is not running (or stopped meanwhile)."""
    from dockyard.runtime import state as st
    from dockyard.runtime.cgroups import Cgroup

    pid = c.state.pid
    if not c.state.running or not pid or not st.pid_alive(pid, c.state.pid_start):
        return None
    cg = Cgroup(svc.cgroup_path(c.id))
    try:
        cgs = cg.stats()
    except (NotFound, OSError):
        return None
    mem_stat: dict[str, int] = {}
    d = cg.controller_dir("memory")
    if d is not None:
        try:
            with open(f"{d}/memory.stat", encoding="ascii") as f:
                mem_stat = parse_memory_stat(f.read())
        except OSError:
            pass
    host_mem = host_memory()
    limit = cgs.memory_limit or host_mem
    if host_mem and limit > host_mem:
        limit = host_mem
    rx = tx = 0
    if not _same_netns(pid):
        try:
            with open(f"/proc/{pid}/net/dev", encoding="ascii") as f:
                rx, tx = parse_net_dev(f.read())
        except OSError:
            pass
    return Sample(
        cpu_ns=cgs.cpu_usage_ns,
        system_ns=system_cpu_ns(),
        online_cpus=online_cpus(),
        memory=usage_without_cache(cgs.memory_usage, mem_stat),
        memory_limit=limit,
        net_rx=rx,
        net_tx=tx,
        block_read=cgs.blkio_read_bytes,
        block_write=cgs.blkio_write_bytes,
        pids=cgs.pids_current,
    )


class StatsCollector:
    """Samples containers again and again; each :meth:`collect` gives rows computed
    against the previous call's samples (the first call: CPU 0)."""

    def __init__(self, svc: ContainerService) -> None:
        self.svc = svc
        self.prev: dict[str, Sample] = {}

    def collect(self, containers: Sequence[Container]) -> list[Stats]:
        rows: list[Stats] = []
        now: dict[str, Sample] = {}
        for c in containers:
            cur = sample(self.svc, c)
            if cur is not None:
                now[c.id] = cur
            rows.append(compute(c.id, c.name, self.prev.get(c.id), cur))
        self.prev = now
        return rows


def stats_once(
    svc: ContainerService, containers: Sequence[Container], interval: float = 1.0
) -> list[Stats]:
    """``stats --no-stream``: two samples ``interval`` seconds apart (for CPU %)."""
    collector = StatsCollector(svc)
    t0 = time.monotonic()
    collector.collect(containers)
    if any(c.state.running for c in containers):
        time.sleep(max(0.0, interval - (time.monotonic() - t0)))
    return collector.collect(containers)


# -- top ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessList:
    """Docker's ``ContainerTopOKBody``: column titles and one row per process."""

    titles: tuple[str, ...]
    processes: tuple[tuple[str, ...], ...]


PS_EF_TITLES = ("UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD")


def container_pids(svc: ContainerService, ref: str) -> list[int]:
    """Host pids of the processes in a running container's cgroup."""
    from dockyard.runtime.cgroups import Cgroup

    c = svc.get(ref)
    if c.state.status == "restarting":
        raise Conflict(f"Container {c.id} is restarting, wait until the container is running")
    if not c.state.running and c.state.status != "dead":
        raise Conflict(f"Container {c.id} is not running")
    pids = Cgroup(svc.cgroup_path(c.id)).pids()
    if not pids and c.state.pid:
        pids = [c.state.pid]
    return sorted(pids)


def top(svc: ContainerService, ref: str, ps_args: Sequence[str] = ()) -> ProcessList:
    """``docker top CONTAINER [ps OPTIONS]``."""
    pids = container_pids(svc, ref)
    if not ps_args or list(ps_args) == ["-ef"]:
        return ps_ef(pids)
    return run_ps(list(ps_args), pids)


def ps_ef(pids: Sequence[int], now: float | None = None) -> ProcessList:
    """The table ``ps -ef`` prints for ``pids``, read from /proc."""
    boot = _boot_time()
    hz = clock_ticks()
    now = time.time() if now is None else now
    rows: list[tuple[str, ...]] = []
    users: dict[int, str] = {}
    for pid in sorted(pids):
        row = _ps_ef_row(pid, boot, hz, now, users)
        if row is not None:
            rows.append(row)
    return ProcessList(PS_EF_TITLES, tuple(rows))


def _boot_time() -> float:
    with open("/proc/stat", encoding="ascii") as f:
        for line in f:
            if line.startswith("btime "):
                return float(line.split()[1])
    return 0.0


def user_name(uid: int, cache: dict[int, str] | None = None) -> str:
    """The host's name for ``uid`` (as Docker's ``ps`` shows it), else the number."""
    if cache is not None and uid in cache:
        return cache[uid]
    import pwd

    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = str(uid)
    if cache is not None:
        cache[uid] = name
    return name


def tty_name(tty_nr: int) -> str:
    """procps' name of a controlling terminal (``?`` for none)."""
    if tty_nr == 0:
        return "?"
    major, minor = os.major(tty_nr), os.minor(tty_nr)
    if 136 <= major <= 143:
        return f"pts/{minor + (major - 136) * 256}"
    if major == 4:
        return f"tty{minor}" if minor < 64 else f"ttyS{minor - 64}"
    if major == 5 and minor == 1:
        return "console"
    return "?"


def cpu_time(seconds: int) -> str:
    """procps' TIME column: ``00:01:02``, ``2-03:04:05``."""
    days, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    return f"{days}-{h:02d}:{m:02d}:{s:02d}" if days else f"{h:02d}:{m:02d}:{s:02d}"


def start_time(started: float, now: float) -> str:
    """procps' STIME: ``HH:MM`` today, ``MonDD`` this year, else the year."""
    p, n = time.localtime(started), time.localtime(now)
    if p.tm_year != n.tm_year:
        return time.strftime("%Y", p)
    if p.tm_yday != n.tm_yday:
        return time.strftime("%b%d", p)
    return time.strftime("%H:%M", p)


def _ps_ef_row(
    pid: int, boot: float, hz: int, now: float, users: dict[int, str]
) -> tuple[str, ...] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
        with open(f"/proc/{pid}/status", encoding="utf-8", errors="replace") as f:
            status = f.read()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except OSError:
        return None  # gone meanwhile
    lpar, rpar = raw.find(b"("), raw.rfind(b")")
    comm = raw[lpar + 1 : rpar].decode(errors="replace")
    fields = raw[rpar + 2 :].split()
    state, ppid, tty_nr = fields[0].decode(), int(fields[1]), int(fields[4])
    utime, stime, start = int(fields[11]), int(fields[12]), int(fields[19])
    euid = 0
    for line in status.splitlines():
        if line.startswith("Uid:"):
            euid = int(line.split()[2])
            break
    started = boot + start / hz
    elapsed = max(0, int(now - started))
    total = utime + stime
    pcpu = min(99, (total * 100 // hz) // elapsed) if elapsed else 0
    args = [a.decode(errors="replace") for a in cmdline.split(b"\0") if a]
    cmd = " ".join(args) if args else f"[{comm}]"
    if state == "Z":
        cmd = f"[{comm}] <defunct>"
    return (
        user_name(euid, users),
        str(pid),
        str(ppid),
        str(pcpu),
        start_time(started, now),
        tty_name(tty_nr),
        cpu_time(total // hz),
        cmd,
    )


_PS_ARG_RE = re.compile(r"\s+([^\s]*)=\s*(PID[^\s]*)")


def validate_ps_args(args: Sequence[str]) -> None:
    """The Docker daemon's ``validatePSArgs``."""
    for key, value in _PS_ARG_RE.findall(" " + " ".join(args)):
        if key != "pid":
            raise InvalidArgument(f'specifying "{key}={value}" is not allowed')


def run_ps(args: list[str], pids: Sequence[int]) -> ProcessList:
    """The host's ``ps`` with ``args``, its rows filtered to ``pids`` (the daemon's
    ``ContainerTop``: ``-q PIDS`` first, without it if ps refuses the mix)."""
    import subprocess

    validate_ps_args(args)
    try:
        r = subprocess.run(
            ["ps", *args, "-q", ",".join(str(p) for p in pids)],
            capture_output=True,
            check=False,
        )
        if r.returncode != 0:
            r = subprocess.run(["ps", *args], capture_output=True, check=False)
    except FileNotFoundError:
        raise DockyardError("ps: the host has no ps command", hint="apt-get install procps")
    if r.returncode != 0:
        first = r.stderr.decode(errors="replace").split("\n", 1)[0]
        raise DockyardError(f"ps: {first or f'exit status {r.returncode}'}")
    return parse_ps_output(r.stdout.decode(errors="replace"), pids)


def parse_ps_output(output: str, pids: Sequence[int]) -> ProcessList:
    """The daemon's ``parsePSOutput``: the PID column picks the rows; a thread line
    (PID ``-``) follows its process; the last column keeps its spaces."""
    lines = output.split("\n")
    titles = tuple(lines[0].split())
    if "PID" not in titles:
        raise DockyardError("Couldn't find PID field in ps output")
    index = titles.index("PID")
    wanted = set(pids)
    rows: list[tuple[str, ...]] = []
    keep = False
    for line in lines[1:]:
        if not line:
            continue
        fields = line.split()
        if index >= len(fields):
            continue
        if fields[index] == "-":
            if keep:
                rows.append(_fold(fields, len(titles)))
            continue
        try:
            pid = int(fields[index])
        except ValueError:
            raise DockyardError(f"Unexpected pid '{fields[index]}'") from None
        keep = pid in wanted
        if keep:
            rows.append(_fold(fields, len(titles)))
    return ProcessList(titles, tuple(rows))


def _fold(fields: list[str], n: int) -> tuple[str, ...]:
    return (*fields[: n - 1], " ".join(fields[n - 1 :]))
