"""A container's lifecycle through the real CLI, as root: create/start/stop/kill/restart/
rm/wait/rename/pause, ps and its flags, prune, logs, exit codes, bad input leaving
nothing behind, and no mount, cgroup or process left after ``rm``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.runtime.state import parse_rfc3339
from tests.conftest import CLI
from tests.integration.test_run_flags import (
    CGROUP_V1,
    Site,
    assert_nothing_left,
    import_volume_image,
    inspect,
    make_cli,
    make_site,
    wait_until,
)
from tests.integration.test_runtime_helpers import mounts_under

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from make_site(tmp_path_factory)


@pytest.fixture
def dy(site: Site, capsys: pytest.CaptureFixture[str]) -> Iterator[CLI]:
    yield from make_cli(site, capsys)


def own_process(site: Site, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    """The command line in a process of its own: there ``run`` forks its shim ahead
    (cli/main.py does not in a process with threads, as pytest's own)."""
    argv = [sys.executable, "-m", "dockyard", "--root", str(site.root), "--runroot",
            str(site.runroot), *args]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, **kw)


def detached_sleeper(site: Site, name: str) -> int:
    """``run -d --name NAME busybox sleep 60`` in a process of its own: the pid."""
    run = own_process(site, "run", "-d", "--name", name, "busybox", "sleep", "60")
    assert run.returncode == 0, run.stderr
    return int(own_process(site, "inspect", "-f", "{{.State.Pid}}", name).stdout)


def status(cli: CLI, ref: str) -> str:
    return inspect(cli, ref, "{{.State.Status}}")


def ps_status(cli: CLI, name: str) -> str:
    return cli.ok("ps", "-a", "--filter", f"name={name}", "--format", "{{.Status}}").strip()


# -- create, start, stop, kill, restart ------------------------------------------------------


def test_create_then_start(dy: CLI) -> None:
    cid = dy.ok("create", "--name", "later", "busybox", "sh", "-c", "echo hello; sleep 30")
    cid = cid.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid)
    assert ps_status(dy, "later") == "Created"
    assert dy.ok("ps", "-q") == ""
    assert dy.ok("start", "later") == "later\n"
    assert status(dy, "later") == "running"
    assert ps_status(dy, "later").startswith("Up ")
    wait_until(lambda: dy.ok("logs", "later") == "hello\n", what="the greeting")
    assert dy.ok("start", "later") == "later\n"  # already running: a no-op, as in Docker


def test_stop_with_timeout(dy: CLI) -> None:
    dy.ok("run", "-d", "--name", "sleeper", "busybox", "sleep", "60")
    t0 = time.monotonic()
    assert dy.ok("stop", "-t", "1", "sleeper") == "sleeper\n"
    assert time.monotonic() - t0 < 5
    assert inspect(dy, "sleeper", "{{.State.Status}} {{.State.ExitCode}}") == "exited 137"
    assert re.fullmatch(r"Exited \(137\) .*ago", ps_status(dy, "sleeper"))
    assert dy.ok("stop", "sleeper") == "sleeper\n"  # stopped already: fine


def test_kill_with_signal(dy: CLI) -> None:
    script = 'trap "echo term; exit 7" TERM; echo ready; while true; do sleep 0.1; done'
    dy.ok("run", "-d", "--name", "trapper", "busybox", "sh", "-c", script)
    wait_until(lambda: "ready" in dy.ok("logs", "trapper"), what="the trap")
    assert dy.ok("kill", "-s", "TERM", "trapper") == "trapper\n"
    assert dy.ok("wait", "trapper") == "7\n"
    assert dy.ok("logs", "trapper") == "ready\nterm\n"
    r = dy("kill", "trapper")
    assert r.code == 1
    assert "is not running" in r.err


def test_restart(dy: CLI) -> None:
    dy.ok("run", "-d", "--name", "again", "busybox", "sh", "-c", "echo start; sleep 60")
    first = parse_rfc3339(inspect(dy, "again", "{{.State.StartedAt}}"))
    assert dy.ok("restart", "-t", "1", "again") == "again\n"
    assert status(dy, "again") == "running"
    assert parse_rfc3339(inspect(dy, "again", "{{.State.StartedAt}}")) > first
    wait_until(lambda: dy.ok("logs", "again") == "start\nstart\n", what="two starts")
    dy.ok("stop", "-t", "0", "again")
    dy.ok("restart", "again")  # a stopped container starts
    assert status(dy, "again") == "running"


# -- rm, wait, rename, pause ---------------------------------------------------------------


def test_rm_running_needs_force(dy: CLI) -> None:
    cid = dy.ok("run", "-d", "--name", "busy", "busybox", "sleep", "60").strip()
    r = dy("rm", "busy")
    assert r.code == 1
    assert f"You cannot remove a running container {cid}. Stop the container before" in r.err
    assert status(dy, "busy") == "running"
    assert dy.ok("rm", "-f", "busy") == "busy\n"
    assert dy.ok("ps", "-a", "-q") == ""
    r = dy("rm", "busy")
    assert r.code == 1
    assert "No such container: busy" in r.err


def test_rm_v_removes_anonymous_volumes_only(dy: CLI, site: Site, tmp_path: Path) -> None:
    import_volume_image(dy, site, tmp_path, "dyvolimg:2")
    try:
        cid = dy.ok("create", "-v", "keepme:/named", "-v", "/anon", "dyvolimg:2", "true")
        cid = cid.strip()
        names = set(dy.ok("volume", "ls", "-q").split())
        assert "keepme" in names and len(names) == 3  # keepme, /anon and the image's /data
        dy.ok("rm", "-v", cid)
        assert dy.ok("volume", "ls", "-q") == "keepme\n"
        cid = dy.ok("create", "dyvolimg:2", "true").strip()
        dy.ok("rm", cid)  # without -v the anonymous volume stays (dangling)
        assert len(dy.ok("volume", "ls", "-q", "--filter", "dangling=true").split()) == 2
    finally:
        dy("rmi", "dyvolimg:2")


def test_wait_prints_exit_code(dy: CLI) -> None:
    dy.ok("run", "-d", "--name", "four", "busybox", "sh", "-c", "sleep 0.3; exit 4")
    assert dy.ok("wait", "four") == "4\n"
    assert dy.ok("wait", "four") == "4\n"  # exited already
    r = dy("wait", "nosuch")
    assert r.code == 1
    assert "No such container: nosuch" in r.err


def test_rename(dy: CLI) -> None:
    cid = dy.ok("create", "--name", "before", "busybox").strip()
    dy.ok("rename", "before", "after")
    assert inspect(dy, cid, "{{.Name}}") == "/after"
    assert dy.ok("ps", "-a", "--format", "{{.Names}}") == "after\n"
    assert dy("inspect", "before").code == 1
    dy.ok("create", "--name", "other", "busybox")
    r = dy("rename", "after", "other")
    assert r.code == 1
    assert 'The container name "/other" is already in use' in r.err


def test_pause_unpause(dy: CLI) -> None:
    dy.ok("run", "-d", "--name", "frozen", "busybox", "sleep", "60")
    assert dy.ok("pause", "frozen") == "frozen\n"
    assert re.fullmatch(r"Up .* \(Paused\)", ps_status(dy, "frozen"))
    assert inspect(dy, "frozen", "{{.State.Status}} {{.State.Paused}}") == "paused true"
    r = dy("rm", "frozen")
    assert r.code == 1 and "You cannot remove a paused container" in r.err
    assert dy.ok("unpause", "frozen") == "frozen\n"
    assert inspect(dy, "frozen", "{{.State.Status}} {{.State.Paused}}") == "running false"
    assert dy("unpause", "frozen").code == 1


# -- ps and prune ---------------------------------------------------------------------------


def test_ps_flags(dy: CLI) -> None:
    assert dy.ok("run", "--name", "done", "busybox", "sh", "-c", "echo x  y") == "x y\n"
    running = dy.ok("run", "-d", "--name", "running", "busybox", "sleep", "60").strip()
    done_id = inspect(dy, "done", "{{.Id}}")
    assert dy.ok("ps", "-q") == running[:12] + "\n"
    assert dy.ok("ps", "-a", "-q") == f"{running[:12]}\n{done_id[:12]}\n"
    assert dy.ok("ps", "-a", "-q", "--no-trunc") == f"{running}\n{done_id}\n"
    assert dy.ok("ps", "-q", "-n", "1") == running[:12] + "\n"
    assert dy.ok("ps", "-l", "--format", "{{.Names}}") == "running\n"
    assert dy.ok("ps", "-a", "--filter", "status=exited", "--format", "{{.Names}}") == "done\n"
    assert dy.ok("ps", "-a", "--filter", "name=runn", "--format", "{{.Names}}") == "running\n"
    assert dy.ok("ps", "-a", "--filter", "exited=0", "--format", "{{.Names}}") == "done\n"
    table = dy.ok("ps", "-a").splitlines()
    assert table[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS",
                                "PORTS", "NAMES"]  # fmt: skip
    assert "\"sh -c 'echo x  y'\"" in table[2]  # Docker quotes args with spaces
    sized = dy.ok("ps", "-a", "-s").splitlines()
    assert sized[0].split()[-1] == "SIZE"
    assert re.search(r"\d+(\.\d+)?k?B \(virtual \d+(\.\d+)?[kM]B\)$", sized[1])
    long_cmd = dy.ok("ps", "--no-trunc", "--format", "{{.ID}} {{.Command}}")
    assert long_cmd == f'{running} "sleep 60"\n'


def test_container_prune(dy: CLI) -> None:
    dy.ok("run", "--name", "gone1", "busybox", "true")
    dy.ok("create", "--name", "gone2", "busybox")
    keep = dy.ok("run", "-d", "--name", "keep", "busybox", "sleep", "60").strip()
    out = dy.ok("container", "prune", "-f")
    assert out.startswith("Deleted Containers:\n")
    assert out.rstrip().splitlines()[-1].startswith("Total reclaimed space: ")
    assert len(out.split("\n\n")[0].splitlines()) == 3  # header + 2 ids
    assert dy.ok("ps", "-a", "-q", "--no-trunc") == keep + "\n"


# -- logs ---------------------------------------------------------------------------------


def test_logs_tail_timestamps_since(dy: CLI) -> None:
    dy.ok("run", "--name", "talker", "busybox", "sh", "-c", "echo one; echo two; echo three")
    assert dy.ok("logs", "talker") == "one\ntwo\nthree\n"
    assert dy.ok("logs", "--tail", "2", "talker") == "two\nthree\n"
    assert dy.ok("logs", "-n", "0", "talker") == ""
    stamped = dy.ok("logs", "-t", "talker").splitlines()
    assert len(stamped) == 3
    for line, word in zip(stamped, ("one", "two", "three"), strict=True):
        stamp, text = line.split(" ", 1)
        assert text == word
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", stamp)
    assert dy.ok("logs", "--since", "1h", "talker") == "one\ntwo\nthree\n"
    assert dy.ok("logs", "--since", "2099-01-01T00:00:00Z", "talker") == ""
    assert dy.ok("logs", "--until", "2000-01-01T00:00:00Z", "talker") == ""


def test_logs_driver_none_cannot_be_read(dy: CLI) -> None:
    dy.ok("run", "--name", "silent", "--log-driver", "none", "busybox", "echo", "lost")
    r = dy("logs", "silent")
    assert r.code == 1
    assert "configured logging driver does not support reading" in r.err


def test_logs_stderr_is_separate(dy: CLI) -> None:
    dy.ok("run", "--name", "errs", "busybox", "sh", "-c", "echo out; echo err >&2")
    r = dy("logs", "errs")
    assert (r.code, r.out, r.err) == (0, "out\n", "err\n")


def test_logs_follow_ends_when_the_container_exits(dy: CLI, site: Site) -> None:
    script = "echo a; sleep 1; echo b; sleep 0.5; echo c"
    dy.ok("run", "-d", "--name", "follow", "busybox", "sh", "-c", script)
    t0 = time.monotonic()
    done = own_process(site, "logs", "-f", "follow")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "a\nb\nc\n"
    assert time.monotonic() - t0 >= 0.5  # it did follow


# -- exit codes and bad input -------------------------------------------------------------


def test_exit_code_of_the_process(dy: CLI) -> None:
    r = dy("run", "--rm", "busybox", "sh", "-c", "exit 3")
    assert r.code == 3
    r = dy("run", "--rm", "busybox", "sh", "-c", "echo to-out; echo to-err >&2; exit 0")
    assert (r.code, r.out, r.err) == (0, "to-out\n", "to-err\n")


def test_exit_127_command_not_found(dy: CLI) -> None:
    r = dy("run", "--name", "nocmd", "busybox", "nosuchcmd")
    assert r.code == 127
    assert 'exec: "nosuchcmd": executable file not found in $PATH' in r.err
    # as Docker: the container stays, Created, with the exit code and the error
    fmt = "{{.State.Status}} {{.State.ExitCode}} {{.State.Error}}"
    assert inspect(dy, "nocmd", fmt).startswith("created 127 exec: ")
    r = dy("run", "--rm", "busybox", "/no/such/path")
    assert r.code == 127
    assert "no such file or directory" in r.err
    r = dy("run", "-d", "--rm", "busybox", "/no/such/path")
    assert r.code == 127
    assert "no such file or directory" in r.err
    assert dy.ok("ps", "-a", "--format", "{{.Names}}") == "nocmd\n"


def test_exit_126_not_executable(dy: CLI) -> None:
    r = dy("run", "--rm", "busybox", "/etc/passwd")
    assert r.code == 126
    assert "permission denied" in r.err
    assert dy.ok("ps", "-a", "-q") == ""


def test_unknown_image(dy: CLI, site: Site) -> None:
    before = site.entries()
    r = dy("run", "--rm", "nosuchimage", "true")
    assert r.code == 125
    assert "Unable to find image 'nosuchimage:latest' locally" in r.err
    assert_nothing_left(dy, site, before)
    r = dy("create", "nosuchimage:2")
    assert r.code == 125
    assert_nothing_left(dy, site, before)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--memory", "12q"), 'invalid argument "12q" for "-m, --memory" flag: '),
        (("-p", "garbage"), "invalid containerPort: garbage"),
        (("-v", "/missing/path:/x"), "bind source path does not exist: /missing/path"),
        (("--restart", "sometimes"), "invalid restart policy"),
        (("--cpus", "lots"), "--cpus"),
        (("--mount", "type=nosuch,dst=/x"), "nosuch"),
        (("--network", "nosuchnet"), "network nosuchnet not found"),
        (("--pids-limit", "x"), "x"),
        (("--rm", "--restart", "always"), "cannot specify both --restart and --rm"),
        (("--cpus", "1000"), "Range of CPUs is from 0.01 to"),
        (("--memory-swap", "10m"), "always set the Memory limit when using Memoryswap"),
        (("--network", "container:x", "-h", "h"), "conflicting options: hostname and the network"),
        (("-w", "relative"), "the working directory 'relative' is invalid"),
        (("--env-file", "/no/such/file"), "/no/such/file"),
        (("--memory", "1m"), "Minimum memory limit allowed is 6MB"),
        (("-v", "/tmp:/x", "--tmpfs", "/x/"), "Duplicate mount point: /x"),
    ],
)
def test_bad_flag_values(dy: CLI, site: Site, flags: tuple[str, ...], message: str) -> None:
    before = site.entries()
    for command in (("run", "--rm"), ("run", "-d"), ("create",)):
        r = dy(*command, "--name", "shouldnotexist", *flags, "busybox", "true")
        assert r.code == 125, (command, r)
        assert message.lower() in r.err.lower(), r.err
        assert_nothing_left(dy, site, before)
    assert dy.ok("volume", "ls", "-q") == ""


def test_name_conflict_leaves_nothing(dy: CLI, site: Site) -> None:
    dy.ok("run", "-d", "--name", "dup", "-v", "dupvol:/v", "busybox", "sleep", "60")
    before = site.entries()
    volumes = dy.ok("volume", "ls", "-q")
    r = dy("run", "-d", "--name", "dup", "-v", "newvol:/v", "busybox", "true")
    assert r.code == 125
    assert 'The container name "/dup" is already in use by container' in r.err
    assert site.entries() == before
    assert dy.ok("volume", "ls", "-q") == volumes


# -- cleanup after rm ---------------------------------------------------------------------


def test_rm_leaves_no_mount_cgroup_or_process(dy: CLI, site: Site, tmp_path: Path) -> None:
    cid = dy.ok("run", "-d", "--memory", "32m", "-v", f"{tmp_path}:/host", "-v", "cv:/v",
                "--tmpfs", "/scratch", "busybox", "sleep", "60").strip()  # fmt: skip
    pid = int(inspect(dy, cid, "{{.State.Pid}}"))
    assert os.path.exists(f"/proc/{pid}")
    parent = site.config.cgroup_parent
    memory = CGROUP_V1 / "memory" / parent / cid
    if (CGROUP_V1 / "memory").is_dir():
        assert memory.is_dir()
    dy.ok("rm", "-f", cid)
    wait_until(lambda: not os.path.exists(f"/proc/{pid}"), timeout=5, what="the process to go")
    assert not memory.exists()
    assert not [p for p in CGROUP_V1.glob(f"*/{parent}/{cid}")]
    if not dy.ok("ps", "-aq").strip():  # the root's last container: its parent goes too
        assert not [p for p in CGROUP_V1.glob(f"*/{parent}")]
    assert not mounts_under(site.root)
    assert not mounts_under(site.runroot)
    assert not (site.root / "containers" / cid).exists()
    assert not (site.root / "overlay" / cid).exists()
    assert not (site.runroot / "containers" / cid).exists()
    assert subprocess.run(["pgrep", "-f", cid], capture_output=True).returncode == 1


def test_run_rm_leaves_nothing(dy: CLI, site: Site) -> None:
    before = site.entries()
    assert dy.ok("run", "--rm", "-v", "/anon", "busybox", "echo", "bye") == "bye\n"
    assert_nothing_left(dy, site, before)
    assert dy.ok("volume", "ls", "-q") == ""  # --rm removes anonymous volumes too
    cid = dy.ok("run", "-d", "--rm", "busybox", "sh", "-c", "sleep 0.3").strip()
    wait_until(lambda: dy.ok("ps", "-a", "-q") == "", what=f"auto-removal of {cid}")
    wait_until(lambda: site.entries() == before, what="the directories to go")


def test_run_rm_root_is_volatile(dy: CLI) -> None:
    """A --rm container's root is an overlay without syncs (storage.overlay: its
    exit no longer waits for the upper filesystem's sync); a kept one's is not."""
    root = "awk '$5 == \"/\" {print $NF}' /proc/self/mountinfo"
    assert "volatile" in dy.ok("run", "--rm", "busybox", "sh", "-c", root)  # 6.x: fsync=volatile
    cid = dy.ok("run", "-d", "busybox", "sh", "-c", root).strip()
    dy.ok("wait", cid)
    assert "volatile" not in dy.ok("logs", cid)
    dy.ok("rm", cid)


# -- inspect ------------------------------------------------------------------------------


def test_inspect_shape_and_templates(dy: CLI, tmp_path: Path) -> None:
    import json

    cid = dy.ok(
        "run", "-d", "--name", "shape", "-e", "GREETING=hi", "-l", "k=v", "--restart",
        "on-failure:3", "-v", f"{tmp_path}:/host:ro", "-v", "shapevol:/data", "--tmpfs", "/t",
        "--memory", "32m", "busybox", "sleep", "60",
    ).strip()  # fmt: skip
    (data,) = json.loads(dy.ok("inspect", "shape"))
    assert "SizeRw" not in data  # only with -s, as Docker
    dy.ok("exec", "shape", "sh", "-c", "head -c 5000 /dev/zero > /big")
    sized = json.loads(dy.ok("inspect", "-s", "shape"))[0]
    assert sized["SizeRw"] >= 5000 and sized["SizeRootFs"] > sized["SizeRw"]
    assert list(sized).index("SizeRw") == list(sized).index("GraphDriver") + 1
    docker_keys = {
        "Id", "Created", "Path", "Args", "State", "Image", "ResolvConfPath", "HostnamePath",
        "HostsPath", "LogPath", "Name", "RestartCount", "Driver", "Platform", "MountLabel",
        "ProcessLabel", "AppArmorProfile", "ExecIDs", "HostConfig", "GraphDriver", "Mounts",
        "Config", "NetworkSettings",
    }  # fmt: skip
    assert docker_keys <= set(data)
    state_keys = {"Status", "Running", "Paused", "Restarting", "OOMKilled", "Dead", "Pid",
                  "ExitCode", "Error", "StartedAt", "FinishedAt"}  # fmt: skip
    assert state_keys <= set(data["State"])
    assert data["Id"] == cid and data["Name"] == "/shape"
    assert (data["Path"], data["Args"]) == ("sleep", ["60"])
    assert data["Image"].startswith("sha256:")
    assert data["State"]["Running"] is True and data["State"]["Pid"] > 0
    host = data["HostConfig"]
    assert host["Binds"] == [f"{tmp_path}:/host:ro", "shapevol:/data"]
    assert host["Memory"] == 32 << 20 and host["MemorySwap"] == 64 << 20
    assert host["NetworkMode"] == "bridge"
    assert host["Tmpfs"] == {"/t": ""}
    assert host["LogConfig"] == {"Type": "json-file", "Config": {}}
    assert "/proc/kcore" in host["MaskedPaths"]
    cfg = data["Config"]
    assert cfg["Image"] == "busybox" and cfg["Cmd"] == ["sleep", "60"]
    assert cfg["Entrypoint"] is None and cfg["Labels"] == {"k": "v"}
    assert data["LogPath"].endswith(f"/containers/{cid}/{cid}-json.log")
    assert Path(data["GraphDriver"]["Data"]["UpperDir"]).is_dir()

    assert inspect(dy, cid, "{{.State.Status}}") == "running"
    assert "GREETING=hi" in inspect(dy, cid, "{{.Config.Env}}")
    mounts = json.loads(inspect(dy, cid, "{{json .Mounts}}"))
    by_dest = {m["Destination"]: m for m in mounts}
    assert by_dest["/host"] == {"Type": "bind", "Source": str(tmp_path), "Destination": "/host",
                                "Mode": "ro", "RW": False, "Propagation": "rprivate"}  # fmt: skip
    assert by_dest["/data"]["Type"] == "volume" and by_dest["/data"]["Name"] == "shapevol"
    assert by_dest["/data"]["Source"].endswith("/volumes/shapevol/_data")
    assert by_dest["/data"]["RW"] is True
    destinations = inspect(dy, cid, "{{range .Mounts}}{{.Destination}} {{end}}").split()
    assert set(destinations) == {"/host", "/data", "/t"}
    assert inspect(dy, cid, '{{index .Config.Labels "k"}}') == "v"
    assert inspect(dy, cid, "{{.HostConfig.RestartPolicy.Name}}") == "on-failure"
    assert inspect(dy, cid, "{{.RestartCount}}") == "0"
    assert inspect(dy, cid, '{{join .Args ","}} {{upper .State.Status}}') == "60 RUNNING"
    r = dy("inspect", "shape", "nosuch")
    assert r.code == 1 and "No such object: nosuch" in r.err


# -- volume commands and system df ----------------------------------------------------------


def test_volume_commands(dy: CLI, site: Site) -> None:
    import json

    assert dy.ok("volume", "create", "--label", "tier=db", "-o", "type=tmpfs", "-o",
                 "device=tmpfs", "-o", "o=size=1m", "first") == "first\n"  # fmt: skip
    assert dy.ok("volume", "create", "--name", "second") == "second\n"
    anon = dy.ok("volume", "create").strip()
    assert re.fullmatch(r"[0-9a-f]{64}", anon)
    assert dy.ok("volume", "create", "second") == "second\n"  # exists: fine, as Docker
    r = dy("volume", "create", "--name", "a1", "b1")
    assert r.code == 1 and "conflicting options" in r.err
    r = dy("volume", "create", "-d", "nosuchdriver", "x1")
    assert r.code == 1 and 'plugin "nosuchdriver" not found' in r.err

    table = dy.ok("volume", "ls").splitlines()
    assert table[0].split() == ["DRIVER", "VOLUME", "NAME"]
    assert [line.split() for line in table[1:]] == [
        ["local", anon],
        ["local", "first"],
        ["local", "second"],
    ]
    assert dy.ok("volume", "ls", "-q", "--filter", "label=tier=db") == "first\n"
    assert dy.ok("volume", "ls", "-q", "--filter", "name=sec") == "second\n"
    assert dy.ok("volume", "ls", "-q", "--filter", "driver=local").split() == [
        anon,
        "first",
        "second",
    ]
    assert dy.ok("volume", "ls", "--format", "{{.Name}}:{{.Labels}}", "-f", "name=first") == (
        "first:tier=db\n"
    )
    line = json.loads(dy.ok("volume", "ls", "--format", "json", "-f", "name=second"))
    assert line["Name"] == "second" and line["Driver"] == "local"

    (info,) = json.loads(dy.ok("volume", "inspect", "first"))
    assert info["Name"] == "first" and info["Labels"] == {"tier": "db"}
    assert info["Options"] == {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}
    assert set(info) == {"CreatedAt", "Driver", "Labels", "Mountpoint", "Name", "Options",
                         "Scope"}  # fmt: skip
    mountpoint = dy.ok("volume", "inspect", "-f", "{{.Mountpoint}}", "second").strip()
    assert mountpoint == str(site.root / "volumes" / "second" / "_data")
    r = dy("volume", "inspect", "nosuch")
    assert r.code == 1 and "no such volume" in r.err

    # in use: rm refuses with Docker's text, -f too; dangling filter excludes it
    cid = dy.ok("run", "-d", "-v", "second:/s", "busybox", "sleep", "60").strip()
    r = dy("volume", "rm", "second")
    assert r.code == 1
    assert f"remove second: volume is in use - [{cid}]" in r.err
    assert dy("volume", "rm", "-f", "second").code == 1
    assert "second" not in dy.ok("volume", "ls", "-q", "--filter", "dangling=true").split()
    assert dy.ok("volume", "ls", "-q", "--filter", "dangling=false") == "second\n"
    r = dy("volume", "rm", "nosuch")
    assert r.code == 1 and "no such volume" in r.err
    assert dy.ok("volume", "rm", "-f", "nosuch") == "nosuch\n"
    assert dy.ok("volume", "rm", anon) == anon + "\n"

    # prune: anonymous only by default, -a for all unused, never one in use
    dy.ok("run", "--name", "anonuser", "-v", "/anon", "busybox", "sh", "-c", "echo 12345 > /anon/f")
    dy.ok("rm", "anonuser")  # without -v: the anonymous volume stays
    out = dy.ok("volume", "prune", "-f")
    assert out.startswith("Deleted Volumes:\n")
    assert re.search(r"\nTotal reclaimed space: 6B\n$", out), out
    assert set(dy.ok("volume", "ls", "-q").split()) == {"first", "second"}
    assert dy.ok("volume", "prune", "-f", "--filter", "label=tier=nope", "-a") == (
        "Total reclaimed space: 0B\n"
    )
    out = dy.ok("volume", "prune", "-a", "-f")
    assert out.splitlines()[:2] == ["Deleted Volumes:", "first"]
    assert dy.ok("volume", "ls", "-q") == "second\n"
    dy.ok("rm", "-f", cid)
    assert dy.ok("volume", "rm", "second") == "second\n"


def test_system_df_counts_containers_and_volumes(dy: CLI) -> None:
    dy.ok("run", "-d", "-v", "dfvol:/v", "busybox", "sh", "-c",
          "head -c 5000 /dev/zero > /v/f; head -c 3000 /dev/zero > /f; sleep 60")  # fmt: skip
    dy.ok("run", "busybox", "sh", "-c", "head -c 2000 /dev/zero > /g")
    dy.ok("volume", "create", "idle")

    def rows() -> dict[str, list[str]]:
        out = dy.ok(
            "system",
            "df",
            "--format",
            "{{.Type}}|{{.TotalCount}}|{{.Active}}|{{.Size}}|{{.Reclaimable}}",
        )
        return {r.split("|")[0]: r.split("|")[1:] for r in out.splitlines()}

    wait_until(lambda: rows()["Local Volumes"][2] == "5kB", what="the volume's data")
    got = rows()
    assert got["Containers"][:2] == ["2", "1"]
    assert got["Containers"][2] == "5kB"  # 3000 + 2000 bytes in the upper dirs
    assert got["Containers"][3] == "2kB (40%)"
    assert got["Local Volumes"] == ["2", "1", "5kB", "0B (0%)"]
    table = dy.ok("system", "df").splitlines()
    assert table[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert [line.split()[0] for line in table[1:]] == ["Images", "Containers", "Local", "Build"]
    verbose = dy.ok("system", "df", "-v")
    assert "Containers space usage:" in verbose and "dfvol" in verbose and "idle" in verbose


# -- the shim forked ahead of run (runtime/shim_prefork.py) --------------------------


def _processes_with(marker: str) -> list[int]:
    """Live processes whose environment holds ``marker`` (root reads every environ)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


@pytest.mark.parametrize(
    "args",
    [
        ("run", "--rm", "nosuchimage:1", "true"),  # create fails
        ("run", "-it", "busybox", "true"),  # stdin is not a tty: nothing is started
        ("run", "--rm", "--network", "container:nosuch", "busybox", "true"),
    ],
)
def test_run_that_fails_leaves_no_shim_behind(site: Site, args: tuple[str, ...]) -> None:
    """Nor the cgroup the shim made ahead (PendingShim.make_cgroup: -it without a tty
    fails after the container was made), nor the root's cgroup parent it made."""
    parent = site.config.cgroup_parent
    cgroups_before = {p for p in CGROUP_V1.glob(f"*/{parent}/*") if p.is_dir()}
    parent_before = {p for p in CGROUP_V1.glob(f"*/{parent}")}
    marker = f"DYTEST_PREFORK={os.getpid()}-{time.monotonic_ns()}"
    env = {**os.environ, marker.split("=")[0]: marker.split("=")[1]}
    done = own_process(site, *args, env=env, stdin=subprocess.DEVNULL)
    assert done.returncode != 0
    deadline = time.monotonic() + 2
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _processes_with(marker) == []
    assert {p for p in CGROUP_V1.glob(f"*/{parent}/*") if p.is_dir()} == cgroups_before
    assert {p for p in CGROUP_V1.glob(f"*/{parent}")} <= parent_before


def test_run_starts_through_the_shim_forked_ahead(site: Site) -> None:
    done = own_process(site, "run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (done.returncode, done.stdout, done.stderr) == (3, "out\n", "err\n")


def test_run_i_feeds_stdin_to_the_process_forked_ahead(site: Site) -> None:
    """The shim forks the container's process before the container exists
    (executor.ChildAhead) and hands it its stdio later: stdin must arrive."""
    done = own_process(site, "run", "--rm", "-i", "busybox", "tr", "a-z", "A-Z", input="hello\n")
    assert (done.returncode, done.stdout, done.stderr) == (0, "HELLO\n", "")


def test_limits_apply_to_the_process_forked_ahead(site: Site) -> None:
    """It joined the cgroup before the container existed; the limits are set before it
    gets its plan, and it sees its own cgroup (cgroup namespace)."""
    if not (CGROUP_V1 / "memory").is_dir():
        pytest.skip("cgroup v1 layout expected (this machine: hybrid)")
    script = (
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us "
        "/sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids/cgroup.procs"
    )
    done = own_process(site, "run", "--rm", "--memory", "32m", "--cpus", "0.5", "--pids-limit",
                       "20", "busybox", "sh", "-c", script)  # fmt: skip
    assert done.returncode == 0, done.stderr
    # (sh runs its last command by exec: cat is pid 1, alone in its cgroup)
    assert done.stdout.split() == [str(32 << 20), "50000", "20", "1"]


def test_run_network_container_joins_that_containers_namespace(site: Site) -> None:
    """Through the shim forked ahead, which reads the container's files before the
    start (the start rewrites config.json for --network container:, which makes the
    shim read it again: test_shim_start_files), and keeps a new namespace ready."""
    name = f"dyt-netns-{os.getpid()}"
    try:
        theirs = os.readlink(f"/proc/{detached_sleeper(site, name)}/ns/net")
        args = ("--network", f"container:{name}", "busybox", "readlink", "/proc/self/ns/net")
        done = own_process(site, "run", "--rm", *args)
        assert (done.returncode, done.stdout.strip()) == (0, theirs), done.stderr
    finally:
        own_process(site, "rm", "-f", name)


def test_a_containers_process_outlives_its_killed_shim(site: Site) -> None:
    """Forked ahead with a parent-death signal (it must not outlive a shim that dies
    before the start), the container's process drops it at the start: a container
    survives its shim, as with runc."""
    name = f"dyt-orphan-{os.getpid()}"
    pid = 0
    try:
        pid = detached_sleeper(site, name)
        stat = Path(f"/proc/{pid}/stat").read_text()
        shim = int(stat.rpartition(")")[2].split()[1])  # the container's parent: its shim
        os.kill(shim, 9)
        wait_until(lambda: not Path(f"/proc/{shim}").exists(), what="the shim's end")
        time.sleep(0.2)  # a parent-death signal would have landed by now
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        assert state in ("S", "R"), state
    finally:
        own_process(site, "rm", "-f", name)
    wait_until(lambda: not Path(f"/proc/{pid}").exists(), what="rm -f to end it (init reaps)")
