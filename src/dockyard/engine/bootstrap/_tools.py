"""Running the external tools a bootstrap needs, and removing build trees safely."""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from dockyard.errors import ExternalToolFailed, Unsupported

TAIL_LINES = 30

# tool -> Debian package that has it
TOOL_PACKAGES = {
    "mmdebstrap": "mmdebstrap",
    "apt-get": "apt",
    "dpkg-deb": "dpkg",
    "tar": "tar",
    "umount": "mount",
    "rm": "coreutils",
}


def require_tools(*tools: str) -> None:
    """Raise :class:`Unsupported` naming the packages to install if a tool is missing."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        packages = sorted({TOOL_PACKAGES.get(t, t) for t in missing})
        raise Unsupported(
            f"dockyard bootstrap needs {', '.join(missing)}, which is not installed",
            hint=f"apt-get install -y --no-install-recommends {' '.join(packages)}",
        )


def run_tool(
    argv: Sequence[str],
    *,
    hint: str,
    what: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    on_line: Callable[[str], None] | None = None,
) -> str:
    """Run ``argv`` with stdout and stderr merged; return its output.

    Each line goes to ``on_line`` as it comes. A non-zero exit raises
    :class:`ExternalToolFailed` with the output's last lines and ``hint``.
    """
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    lines: list[str] = []
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
    except FileNotFoundError:
        require_tools(argv[0])
        raise
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            tail.append(line)
            lines.append(line)
            if on_line is not None:
                on_line(line)
        rc = proc.wait()
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    if rc != 0:
        detail = "\n".join(tail).strip()
        raise ExternalToolFailed(
            f"{what}: {argv[0]} failed (exit status {rc})" + (f":\n{detail}" if detail else ""),
            hint=hint,
        )
    return "\n".join(lines)


def _unescape_mountinfo(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as ``\\ooo``."""
    out: list[str] = []
    i = 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path``, deepest first."""
    root = os.path.realpath(path)
    found: list[str] = []
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
            for line in f:
                fields = line.split(" ")
                if len(fields) < 5:
                    continue
                point = _unescape_mountinfo(fields[4])
                if point == root or point.startswith(root.rstrip("/") + "/"):
                    found.append(point)
    except OSError:
        return []
    return sorted(set(found), key=lambda p: (-p.count("/"), p))


def remove_tree(path: Path) -> None:
    """``rm -rf`` a build tree, first unmounting anything a killed mmdebstrap
    left mounted in it (deleting through a bind mount of /dev would delete the
    host's). Refuses, with an error, while something stays mounted."""
    if not os.path.lexists(path):
        return
    for point in mounts_under(path):
        subprocess.run(
            ["umount", "--lazy", point],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
    left = mounts_under(path)
    if left:
        raise ExternalToolFailed(
            f"cannot remove {path}: {', '.join(left)} still mounted",
            hint=f"unmount them (umount -R {path}) and remove {path} by hand",
        )
    proc = subprocess.run(
        ["rm", "-rf", "--one-file-system", "--", str(path)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
    )
    if proc.returncode != 0:
        raise ExternalToolFailed(
            f"cannot remove {path}: {proc.stderr.strip()[-2000:]}",
            hint=f"remove {path} by hand",
        )
