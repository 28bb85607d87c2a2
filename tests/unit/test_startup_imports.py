"""Start-up is a feature: the hot commands must not import what they do not use.

Each test runs ``python -X importtime -m dockyard ...`` in a fresh interpreter, as a
shell would, and checks which modules it imported. Timings vary from machine to
machine, what a command imports does not: a heavy module that comes back on one of
these paths (by a new import at a module's top, say) fails here.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from dockyard.engine.container_records import ContainerRecord, ContainerRecords
from tests.conftest import CLI

# Never needed by listing commands: heavy stdlib modules and the engine's other parts.
LISTING_NEVER = (
    "argparse",  # flags are parsed without it (cli/args.py)
    "dataclasses",  # and inspect, ast: the records are _util.record.Record
    "inspect",
    "typing",
    "threading",
    "subprocess",
    "socket",
    "ctypes",
    "tarfile",
    "zlib",
    "secrets",
    "shutil",
    "dockyard.cli.gotemplate",  # default tables are printed without the template engine
    "dockyard.engine.containers",  # ps lists without building the container service
    "dockyard.engine.container_create",
    "dockyard.engine.container_config",
    "dockyard.image.layers",
    "dockyard.image.tarstream",
    "dockyard.oci.image",
    "dockyard.oci.runtime_spec",
    "dockyard.runtime.executor",
    "dockyard.runtime.shim",
    "dockyard.runtime.cgroups",
    "dockyard.storage.snapshots",
    "dockyard.storage.volumes",
    "dockyard.specs",
)


# ps in particular: the stdlib's convenience layers cost ~15 ms of a 25 ms ps here; it
# reads its records with _util.db (_sqlite3) and _util.jsonlite (_json) instead
LEAN = (
    "re",  # and enum with it
    "enum",
    "json",
    "pathlib",
    "datetime",
    "sqlite3",
    "contextlib",
    "ipaddress",
    "urllib",
    "signal",
)
PS_NEVER = (*LISTING_NEVER, *LEAN)


# as bin/dockyard starts (scripts/write_launcher.py): python -I -S, no runpy (``-m``
# imports importlib.util and contextlib before dockyard does anything)
SRC = str(Path(__file__).resolve().parents[2] / "src")
BOOT = "import sys; sys.path.insert(0, {!r}); from dockyard.cli.main import main; sys.exit(main())"


def launcher(*args: str) -> list[str]:
    """``dockyard ARGS`` as the installed launcher runs it, with ``-X importtime``."""
    return [sys.executable, "-X", "importtime", "-I", "-S", "-c", BOOT.format(SRC), *args]


def imported(root: Path, *args: str) -> set[str]:
    """The modules ``dockyard --root ROOT ARGS`` imports (its exit code must be 0)."""
    cmd = launcher("--root", str(root), "--runroot", str(root / "run"), *args)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    assert "dockyard.cli.main" in names  # the output was importtime's
    return names


def assert_none_of(names: set[str], never: tuple[str, ...]) -> None:
    found = sorted(n for n in names for p in never if n == p or n.startswith(p + "."))
    assert not found, f"imported on a hot path: {found}"


def test_version_imports_nearly_nothing(tmp_path: Path) -> None:
    names = imported(tmp_path, "--version")
    assert sorted(n for n in names if n.startswith("dockyard")) == [
        "dockyard",
        "dockyard.cli",
        "dockyard.cli.main",
    ]
    assert_none_of(names, ("json", "sqlite3", "pathlib", *LISTING_NEVER))


def test_images(cli: CLI, rootfs_tar: Path) -> None:
    cli.ok("import", str(rootfs_tar), "mini:1")
    cli.ok("tag", "mini:1", "localhost:5000/mini:2")
    names = imported(cli.root, "images")
    assert_none_of(names, LISTING_NEVER)
    assert_none_of(imported(cli.root, "images", "-a", "--digests"), LISTING_NEVER)


def test_ps(cli: CLI, rootfs_tar: Path) -> None:
    assert_none_of(imported(cli.root, "ps"), PS_NEVER)
    cli.ok("import", str(rootfs_tar), "mini:1")
    image_id = cli.ok("images", "-q", "--no-trunc").strip()
    # a created container's record, as create writes it (no state.json: "Created")
    from dockyard._util.db import open_db

    conn = open_db(cli.root / "state.db")
    try:
        now = time.time_ns()
        ContainerRecords(conn).add(
            ContainerRecord(
                id="c" * 64,
                name="quiet_turing",
                image_id=image_id,
                image_name="mini:1",
                command='["/bin/hello"]',
                created="2024-01-02T03:04:05.000000000Z",
                created_ns=now,
                labels="{}",
                config='{"image":"mini:1","network":"none"}',
            )
        )
    finally:
        conn.close()
    names = imported(cli.root, "ps", "-a")
    assert_none_of(names, PS_NEVER)


@pytest.mark.parametrize("args", [["ps", "-q"], ["images", "-q"]])
def test_quiet_listings(cli: CLI, args: list[str]) -> None:
    assert_none_of(imported(cli.root, *args), LISTING_NEVER)


def test_only_the_program_skips_interpreter_shutdown(tmp_path: Path) -> None:
    """``dockyard`` itself ends with os._exit once the command is done (cli/runner.py);
    a program calling main() goes on, and atexit handlers run either way."""
    root = ["--root", str(tmp_path), "--runroot", str(tmp_path / "run")]
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('atexit ran'))\n"
        "from dockyard.cli.main import main\n"
        f"rc = main({[*root, 'ps', '-q']!r})\n"
        "print('after main', rc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert out == "after main 0\natexit ran\n"
    proc = subprocess.run(
        [sys.executable, "-m", "dockyard", *root, "ps"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.startswith("CONTAINER ID")
    proc = subprocess.run(
        [sys.executable, "-m", "dockyard", *root, "rm", "nosuch"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr == "Error response from daemon: No such container: nosuch\n"
