"""Start-up is a feature: what ``run`` and ``exec`` import (root: they start processes).

As tests/unit/test_startup_imports.py does for the listing commands: each command runs
in a fresh ``python -X importtime -m dockyard`` and the modules it imported are checked
against the ones it has no use for.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.unit.test_startup_imports import BOOT, LEAN, SRC, launcher

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
]

# Neither command extracts layers, prints templates, nor runs programs besides the
# container's; exec does not build a create request either. The stdlib's convenience
# layers cost ~15 ms of every command here; these paths use what they wrap instead:
# _util.jsonlite (_json), _util.db (_sqlite3), _util.sock (_socket), _signal, os.path,
# _util.lazy.Regex for patterns a flag may need.
NEVER = (
    *LEAN,
    "argparse",  # the flags parse without it (cli/args.py)
    "typing",
    "threading",
    "subprocess",
    "tarfile",
    "dockyard.image.layers",
    "dockyard.image.tarstream",
    "dockyard.cli.gotemplate",
)
# run's records (runtime spec, image config, create request) are _util.record.DataRecord
# (exec still makes its process with dataclasses.replace and runtime.users' dataclasses);
# ids come from _util.ids, trees go with _util.fs; --network none never needs the
# network stack
RUN_NEVER = (
    *NEVER,
    "dockyard.engine.container_list",
    "dockyard.runtime.executor",
    "dockyard.runtime.linux",
    "dockyard.runtime.mounts",
    "dockyard.runtime.shim_supervisor",
    "dataclasses",
    "inspect",
    "ast",
    "secrets",
    "hashlib",
    "shutil",
    "socket",
    "dockyard.network",
    "dockyard.engine.networks",
    "dockyard.engine.network_attachments",
)
EXEC_NEVER = (
    *NEVER,
    "socket",
    "secrets",
    "shutil",
    "dockyard.engine.container_config",
    "dockyard.engine.container_create",
    "dockyard.oci.image",
    "dockyard.specs",
    "dockyard.storage",  # the container is found from its record (engine.container_list)
    "dockyard.image",
    "dockyard.engine.containers",
    "dockyard.engine.images",
)


def imported(argv: list[str], *args: str) -> set[str]:
    """What ``argv ARGS`` imports when started as bin/dockyard starts it (``argv`` is
    ``python -m dockyard GLOBAL-OPTIONS``; the launcher runs ``python -I -S`` without
    runpy, which would import importlib.util and contextlib itself)."""
    assert argv[1:3] == ["-m", "dockyard"]
    cmd = launcher(*argv[3:], *args)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return {
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def assert_none_of(names: set[str], never: tuple[str, ...]) -> None:
    found = sorted(n for n in names for p in never if n == p or n.startswith(p + "."))
    assert not found, f"imported on a hot path: {found}"


def test_run_rm(dockyard: list[str]) -> None:
    from dockyard.runtime.seccomp_cache import library_file

    args = ("run", "--rm", "--network", "none", "busybox", "true")
    imported(dockyard, *args)  # the root's seccomp cache has this capability set now
    names = imported(dockyard, *args)
    # the shim forked ahead imports the runtime, in parallel, not the CLI
    assert "dockyard.runtime.shim_prefork" in names
    assert_none_of(names, RUN_NEVER)
    if library_file() is not None:  # the default profile came from the cache, resolved
        assert_none_of(names, ("dockyard.runtime.seccomp", "dockyard.runtime.seccomp_profile",
                               "dockyard.runtime.seccomp_default"))  # fmt: skip


SHIM_IMPORTS = """
import os, sys
CLI = os.getpid()
def hook(event, args):
    if event == "import" and os.getpid() != CLI:
        fd = os.open(os.environ["DY_IMPORTS"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        os.write(fd, args[0].encode() + b"\\n")
        os.close(fd)
sys.addaudithook(hook)
"""


def test_the_shim_imports_no_convenience_layers(dockyard: list[str], tmp_path: Path) -> None:
    """The shim forked ahead imports the runtime while the CLI makes the container;
    once the CLI is done that import is the start's critical path. ctypes (the runtime's
    syscalls go through runtime.libc on _ctypes) and collections were 4 ms of it."""
    log = tmp_path / "imports"
    boot = SHIM_IMPORTS + BOOT.format(SRC).replace("; ", "\n")
    cmd = [dockyard[0], "-I", "-S", "-c", boot, *dockyard[3:]]
    proc = subprocess.run([*cmd, "run", "--rm", "--network", "none", "busybox", "echo", "hi"],
                          capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "DY_IMPORTS": str(log)})  # fmt: skip
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "hi\n", "")
    names = set(log.read_text().split())
    assert "dockyard.runtime.executor" in names  # the shim's imports were seen
    assert_none_of(names, ("ctypes", "collections", "struct", "socket", "typing", "re"))


def test_exec(dockyard: list[str]) -> None:
    cid = subprocess.run(
        [*dockyard, "run", "-d", "--network", "none", "busybox", "sleep", "60"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    try:
        names = imported(dockyard, "exec", cid, "true")
        assert "dockyard.runtime.executor" in names
        assert_none_of(names, EXEC_NEVER)
    finally:
        subprocess.run([*dockyard, "rm", "-f", cid], capture_output=True, check=False)


# Raises in the shim and in the container's process (forked from it) for any module
# loaded once bootstrap() has the container: from there to the exec everything is on
# the start's critical path, and an import in the child runs after every fork. An
# audit hook that raises aborts the import, so the start fails with its message.
NO_IMPORT_AFTER_HANDOFF = """
import os, sys
CLI = os.getpid()
def hook(event, args):
    if event != "import" or os.getpid() == CLI:
        return
    f = sys._getframe(1)
    while f is not None:
        code = f.f_code
        if (code.co_name, os.path.basename(code.co_filename)) in (
            ("bootstrap", "shim_bootstrap.py"),  # the shim, once it has the container
            ("_child_main", "executor.py"),  # a container's or an exec's process
        ):
            raise RuntimeError(f"imported {args[0]} after the handoff")
        f = f.f_back
sys.addaudithook(hook)
"""


@pytest.mark.parametrize("network", ["none", "host"])
def test_nothing_is_imported_from_the_handoff_to_the_exit(
    dockyard: list[str], network: str
) -> None:
    """``run --rm true`` is supervised to its end by the shim's first process: from the
    handoff to the reply, what the shim and the container's process import is paid on
    every run (``socket`` in the child's loopback setup was 6 ms, ``re`` for the log
    size 5 ms). The shim forked ahead imports all of it before the handoff."""
    boot = NO_IMPORT_AFTER_HANDOFF + BOOT.format(SRC).replace("; ", "\n")
    cmd = [dockyard[0], "-I", "-S", "-c", boot, *dockyard[3:]]
    proc = subprocess.run([*cmd, "run", "--rm", "--network", network, "busybox", "echo", "hi"],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "hi\n", "")


def test_nothing_is_imported_in_an_exec_process(dockyard: list[str]) -> None:
    """exec forks the process from the CLI: what that child imports before its execve
    is paid on every exec."""
    cid = subprocess.run([*dockyard, "run", "-d", "--network", "none", "busybox", "sleep", "60"],
                         capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    try:
        boot = NO_IMPORT_AFTER_HANDOFF + BOOT.format(SRC).replace("; ", "\n")
        cmd = [dockyard[0], "-I", "-S", "-c", boot, *dockyard[3:]]
        proc = subprocess.run([*cmd, "exec", "-u", "nobody", cid, "id", "-un"],
                              capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, "nobody\n", "")
    finally:
        subprocess.run([*dockyard, "rm", "-f", cid], capture_output=True, check=False)
