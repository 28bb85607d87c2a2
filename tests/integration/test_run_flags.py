"""``dockyard run``/``create`` flags end to end, through the real CLI, as root.

busybox is bootstrapped once into a module-scoped root; each test removes the
containers and volumes it made (the ``dy`` fixture does, also on failure). The
runroot is short (``/tmp/dyXXXX``): the shims' unix sockets live there.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dockyard.cli.main import main
from dockyard.config import EngineConfig
from tests.conftest import CLI
from tests.integration.test_runtime_helpers import mounts_under, require_root

pytestmark = pytest.mark.root

CGROUP_V1 = Path("/sys/fs/cgroup")


# -- shared machinery (test_lifecycle imports it) ---------------------------------------


@dataclass(frozen=True)
class Site:
    """A module's engine: root (busybox bootstrapped) and a short runroot."""

    root: Path
    runroot: Path

    @property
    def config(self) -> EngineConfig:
        return EngineConfig(root=self.root, runroot=self.runroot)

    def entries(self) -> dict[str, set[str]]:
        """What the store holds per container: container and snapshot directories."""
        out = {}
        for sub in ("containers", "overlay"):
            d = self.root / sub
            out[sub] = {n for n in os.listdir(d) if n != "l"} if d.is_dir() else set()
        return out


def remove_everything(site: Site) -> None:
    """Every container (forced, with anonymous volumes) and every volume."""
    from dockyard.engine.wiring import Engine

    engine = Engine(site.config)
    try:
        for c in engine.containers.all():
            try:
                engine.containers.remove(c.id, force=True, volumes=True)
            except Exception:  # keep going: the rest must go too
                pass
        for v in engine.volumes.list():
            try:
                engine.volumes.remove(v.name, force=True)
            except Exception:
                pass
    finally:
        engine.close()


def make_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require_root()
    root = tmp_path_factory.mktemp("dyroot")
    runroot = Path(tempfile.mkdtemp(prefix="dy", dir="/tmp"))
    site = Site(root, runroot)
    try:
        code = main(["--root", str(root), "--runroot", str(runroot), "bootstrap", "-q", "busybox"])
        assert code == 0, "bootstrap busybox failed"
        yield site
    finally:
        remove_everything(site)
        parent = site.config.cgroup_parent
        for controller in CGROUP_V1.iterdir() if CGROUP_V1.is_dir() else ():
            try:
                (controller / parent).rmdir()
            except OSError:
                pass
        shutil.rmtree(runroot, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)


def make_cli(site: Site, capsys: pytest.CaptureFixture[str]) -> Iterator[CLI]:
    cli = CLI(site.root, capsys)
    cli.runroot = site.runroot
    try:
        yield cli
    finally:
        remove_everything(site)


def wait_until(pred: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or pred}")
        time.sleep(0.05)


def inspect(cli: CLI, ref: str, fmt: str) -> str:
    return cli.ok("inspect", "-f", fmt, ref).rstrip("\n")


def cap_eff(text: str) -> int:
    m = re.search(r"^CapEff:\s*([0-9a-f]+)$", text, re.M)
    assert m, text
    return int(m.group(1), 16)


def assert_nothing_left(cli: CLI, site: Site, before: dict[str, set[str]]) -> None:
    assert cli.ok("ps", "-a", "-q") == ""
    assert site.entries() == before
    assert not mounts_under(site.root)


def busybox_layer(site: Site) -> Path:
    from dockyard.engine.wiring import Engine

    engine = Engine(site.config)
    try:
        images = engine.images
        (layer,) = images.layer_paths(images.resolve("busybox"))
        return Path(layer)
    finally:
        engine.close()


def import_volume_image(cli: CLI, site: Site, tmp: Path, ref: str) -> None:
    """busybox plus ``/data/seed``, with ``VOLUME /data`` (as ``docker import -c``)."""
    tar_path = tmp / "withvol.tar"
    with tarfile.open(tar_path, "w") as tar:
        tar.add(busybox_layer(site), arcname=".")
        data = b"seeded\n"
        info = tarfile.TarInfo("data/seed")
        info.size = len(data)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(data))
    cli.ok("import", "--change", "VOLUME /data", str(tar_path), ref)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from make_site(tmp_path_factory)


@pytest.fixture
def dy(site: Site, capsys: pytest.CaptureFixture[str]) -> Iterator[CLI]:
    yield from make_cli(site, capsys)


# -- environment, user, working directory, entrypoint, hostname --------------------------


def test_env_and_env_file(dy: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DY_FROM_HOST", "hostvalue")
    monkeypatch.delenv("DY_UNSET", raising=False)
    env_file = tmp_path / "env"
    env_file.write_text(
        "# a comment\n"
        "\n"
        "FOO=bar\n"
        "EMPTY=\n"
        "   LEADING=spaces kept in the value \n"
        'QUOTED="kept"\n'
        "DY_FROM_HOST\n"
        "DY_UNSET\n"
        "OVERRIDDEN=file\n"
    )
    out = dy.ok(
        "run", "--rm", "--env-file", str(env_file), "-e", "A=1", "-e", "OVERRIDDEN=flag",
        "-e", "DY_FROM_HOST", "busybox", "env",
    )  # fmt: skip
    lines = out.splitlines()
    for expected in (
        "FOO=bar",
        "EMPTY=",
        "LEADING=spaces kept in the value ",
        'QUOTED="kept"',
        "DY_FROM_HOST=hostvalue",
        "A=1",
        "OVERRIDDEN=flag",
    ):
        assert expected in lines, out
    assert not any(line.startswith("DY_UNSET") for line in lines)
    assert any(line.startswith("PATH=") for line in lines)


def test_env_file_bad_line(dy: CLI, site: Site, tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("export X=1\n")
    before = site.entries()
    r = dy("run", "--rm", "--env-file", str(env_file), "busybox", "true")
    assert r.code == 125
    assert "poorly formatted environment: variable 'export X' contains whitespaces" in r.err
    assert_nothing_left(dy, site, before)


def test_workdir_created_when_missing(dy: CLI) -> None:
    assert dy.ok("run", "--rm", "-w", "/new/work/dir", "busybox", "pwd") == "/new/work/dir\n"


def test_user_by_name_and_number(dy: CLI) -> None:
    assert dy.ok("run", "--rm", "-u", "nobody", "busybox", "id", "-u") == "65534\n"
    out = dy.ok("run", "--rm", "-u", "nobody:nogroup", "busybox", "id")
    assert out.startswith("uid=65534(nobody) gid=65534(nogroup)"), out
    assert dy.ok("run", "--rm", "-u", "1234:4321", "busybox", "sh", "-c", "id -u; id -g") == (
        "1234\n4321\n"
    )
    r = dy("run", "--rm", "-u", "nosuchuser", "busybox", "true")
    assert r.code != 0
    assert "nosuchuser" in r.err


def test_home_from_passwd(dy: CLI) -> None:
    """HOME as Docker sets it: the user's home from /etc/passwd, root's without -u."""
    assert dy.ok("run", "--rm", "busybox", "sh", "-c", "echo $HOME") == "/root\n"
    assert dy.ok("run", "--rm", "-u", "nobody", "busybox", "sh", "-c", "echo $HOME") == "/home\n"
    assert dy.ok("run", "--rm", "-e", "HOME=/x", "busybox", "sh", "-c", "echo $HOME") == "/x\n"


def test_entrypoint(dy: CLI) -> None:
    assert dy.ok("run", "--rm", "--entrypoint", "echo", "busybox", "hi", "there") == "hi there\n"
    assert dy.ok("run", "--rm", "--entrypoint", "", "busybox", "echo", "plain") == "plain\n"
    cid = dy.ok("create", "--entrypoint", "echo", "busybox", "x").strip()
    assert inspect(dy, cid, "{{json .Config.Entrypoint}} {{json .Config.Cmd}}") == (
        '["echo"] ["x"]'
    )
    assert inspect(dy, cid, "{{.Path}} {{.Args}}") == "echo [x]"


def test_hostname(dy: CLI) -> None:
    out = dy.ok("run", "--rm", "-h", "myhost", "busybox", "sh", "-c", "hostname; cat /etc/hostname")
    assert out == "myhost\nmyhost\n"
    cid = dy.ok("create", "busybox").strip()
    assert inspect(dy, cid, "{{.Config.Hostname}}") == cid[:12]


def test_name_and_name_conflict(dy: CLI, site: Site) -> None:
    cid = dy.ok("create", "--name", "taken", "busybox", "true").strip()
    assert inspect(dy, "taken", "{{.Name}} {{.Id}}") == f"/taken {cid}"
    before = site.entries()
    r = dy("run", "--name", "taken", "busybox", "true")
    assert r.code == 125
    assert (
        f'Conflict. The container name "/taken" is already in use by container "{cid}". '
        "You have to remove (or rename) that container to be able to reuse that name."
    ) in r.err
    assert site.entries() == before
    assert dy.ok("ps", "-a", "-q", "--no-trunc") == cid + "\n"
    r = dy("create", "--name", "bad/name", "busybox")
    assert r.code == 125
    assert "Invalid container name (bad/name)" in r.err
    assert site.entries() == before


# -- mounts --------------------------------------------------------------------------------


def test_bind_absolute_relative_and_readonly(
    dy: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "app.txt").write_text("from the host\n")
    assert dy.ok("run", "--rm", "-v", f"{src}:/b", "busybox", "cat", "/b/app.txt") == (
        "from the host\n"
    )
    monkeypatch.chdir(src)
    out = dy.ok("run", "--rm", "-v", ".:/usr/src/app", "-w", "/usr/src/app", "busybox",
                "sh", "-c", "cat app.txt; echo new > made.txt")  # fmt: skip
    assert out == "from the host\n"
    assert (src / "made.txt").read_text() == "new\n"
    r = dy("run", "--rm", "-v", f"{src}:/b:ro", "busybox", "sh", "-c", "cat /b/app.txt; touch /b/x")
    assert r.code == 1
    assert r.out == "from the host\n"
    assert "Read-only file system" in r.err
    assert not (src / "x").exists()


def test_bind_missing_source(dy: CLI, site: Site) -> None:
    before = site.entries()
    r = dy("run", "--rm", "-v", "/missing/path:/x", "busybox", "true")
    assert r.code == 125
    assert "bind source path does not exist: /missing/path" in r.err
    assert_nothing_left(dy, site, before)
    assert dy.ok("volume", "ls", "-q") == ""


def test_named_volume_created_and_filled_from_image(dy: CLI) -> None:
    dy.ok("run", "--rm", "-v", "etcvol:/etc", "busybox", "true")
    assert dy.ok("volume", "ls", "-q") == "etcvol\n"
    out = dy.ok("run", "--rm", "-v", "etcvol:/data", "busybox", "cat", "/data/passwd")
    assert "nobody:x:65534:65534" in out
    # a volume with content is not filled again; an existing empty one is
    dy.ok("volume", "create", "emptyvol")
    out = dy.ok("run", "--rm", "-v", "emptyvol:/etc", "busybox", "ls", "/etc")
    assert "passwd" in out.split()
    out = dy.ok("run", "--rm", "--mount", "type=volume,src=nocopyvol,dst=/etc,volume-nocopy",
                "busybox", "ls", "-A", "/etc")  # fmt: skip
    assert "passwd" not in out.split()


def test_anonymous_volume_for_image_volume(dy: CLI, site: Site, tmp_path: Path) -> None:
    import_volume_image(dy, site, tmp_path, "dyvolimg:1")
    try:
        cid = dy.ok("run", "-d", "dyvolimg:1", "sh", "-c", "cat /data/seed; sleep 30").strip()
        wait_until(lambda: dy.ok("logs", cid) == "seeded\n", what="the seed in the log")
        assert inspect(dy, cid, "{{json .Config.Volumes}}") == '{"/data":{}}'
        (name,) = dy.ok("volume", "ls", "-q").split()
        assert re.fullmatch(r"[0-9a-f]{64}", name)
        mounts = inspect(dy, cid, "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}}{{end}}")
        assert mounts == f"volume {name} /data"
        assert inspect(dy, cid, '{{index .Config.Labels "none"}}') == ""
        dy.ok("rm", "-f", "-v", cid)
        assert dy.ok("volume", "ls", "-q") == ""
    finally:
        dy("rmi", "dyvolimg:1")


def test_mount_flag_bind_volume_tmpfs(dy: CLI, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("bound\n")
    out = dy.ok(
        "run", "--rm",
        "--mount", f"type=bind,source={tmp_path},target=/b,readonly",
        "--mount", "type=volume,src=mvol,dst=/v",
        "--mount", "type=tmpfs,dst=/t,tmpfs-size=1m",
        "busybox", "sh", "-c", "cat /b/f; grep -E ' /(b|v|t) ' /proc/mounts",
    )  # fmt: skip
    lines = out.splitlines()
    assert lines[0] == "bound"
    mounts = {f[1]: (f[2], f[3].split(",")) for f in (line.split() for line in lines[1:])}
    assert mounts["/t"][0] == "tmpfs" and "size=1024k" in mounts["/t"][1]
    assert "ro" in mounts["/b"][1]
    assert "rw" in mounts["/v"][1]
    assert dy.ok("volume", "ls", "-q") == "mvol\n"


def test_tmpfs_and_read_only(dy: CLI) -> None:
    out = dy.ok(
        "run", "--rm", "--tmpfs", "/run:size=1m", "busybox", "grep", " /run ", "/proc/mounts"
    )
    assert out.split()[2] == "tmpfs" and "size=1024k" in out, out
    r = dy("run", "--rm", "--read-only", "--tmpfs", "/tmp", "busybox", "sh", "-c",
           "touch /tmp/ok && echo tmp-ok; touch /nope")  # fmt: skip
    assert r.code == 1
    assert r.out == "tmp-ok\n"
    assert "Read-only file system" in r.err
    cid = dy.ok("create", "--read-only", "busybox").strip()
    assert inspect(dy, cid, "{{.HostConfig.ReadonlyRootfs}}") == "true"


# -- privileges and limits -------------------------------------------------------------------

DOCKER_DEFAULT_CAPS = 0xA80425FB
CAP_CHOWN, CAP_NET_ADMIN = 0, 12


def test_capabilities(dy: CLI) -> None:
    status = "/proc/self/status"
    assert cap_eff(dy.ok("run", "--rm", "busybox", "cat", status)) == DOCKER_DEFAULT_CAPS
    add_drop = ("--cap-add", "NET_ADMIN", "--cap-drop", "chown")
    tweaked = cap_eff(dy.ok("run", "--rm", *add_drop, "busybox", "cat", status))
    assert tweaked == (DOCKER_DEFAULT_CAPS | 1 << CAP_NET_ADMIN) & ~(1 << CAP_CHOWN)
    assert cap_eff(dy.ok("run", "--rm", "--cap-drop", "ALL", "busybox", "cat", status)) == 0


def test_privileged_gets_every_host_capability(dy: CLI) -> None:
    host = Path("/proc/self/status").read_text()
    bounding = int(re.search(r"^CapBnd:\s*([0-9a-f]+)$", host, re.M).group(1), 16)  # type: ignore[union-attr]
    out = dy.ok("run", "--rm", "--privileged", "busybox", "cat", "/proc/self/status")
    assert cap_eff(out) == bounding


def test_no_new_privileges(dy: CLI) -> None:
    cmd = ("busybox", "grep", "NoNewPrivs", "/proc/self/status")
    assert dy.ok("run", "--rm", *cmd).split() == ["NoNewPrivs:", "0"]
    out = dy.ok("run", "--rm", "--security-opt", "no-new-privileges", *cmd)
    assert out.split() == ["NoNewPrivs:", "1"]


def test_memory_cpus_pids_limits(dy: CLI, site: Site) -> None:
    script = (
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us "
        "/sys/fs/cgroup/pids/pids.max"
    )
    if not (CGROUP_V1 / "memory").is_dir():
        pytest.skip("cgroup v1 layout expected (this machine: hybrid)")
    out = dy.ok("run", "--rm", "--memory", "32m", "--cpus", "0.5", "--pids-limit", "20",
                "busybox", "sh", "-c", script)  # fmt: skip
    assert out.split() == [str(32 << 20), "50000", "20"]
    cid = dy.ok("run", "-d", "--memory", "32m", "--cpus", "0.5", "--pids-limit", "20",
                "busybox", "sleep", "30").strip()  # fmt: skip
    host = CGROUP_V1 / "memory" / site.config.cgroup_parent / cid
    assert (host / "memory.limit_in_bytes").read_text().strip() == str(32 << 20)
    cpu = CGROUP_V1 / "cpu" / site.config.cgroup_parent / cid
    assert (cpu / "cpu.cfs_quota_us").read_text().strip() == "50000"
    fmt = "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}"
    assert inspect(dy, cid, fmt) == f"{32 << 20} 500000000 20"
    dy.ok("rm", "-f", cid)
    assert not host.exists() and not cpu.exists()


def test_memory_swap(dy: CLI, site: Site) -> None:
    """--memory-swap is memory + swap (Docker): set at run, -1 unlimited, default 2x
    memory, changed by update."""
    memsw = CGROUP_V1 / "memory" / "memory.memsw.limit_in_bytes"
    if not memsw.exists():
        pytest.skip("no swap accounting in this kernel (memory.memsw.* missing)")

    def limit(cid: str) -> int:
        path = CGROUP_V1 / "memory" / site.config.cgroup_parent / cid
        return int((path / "memory.memsw.limit_in_bytes").read_text())

    a = dy.ok("run", "-d", "-m", "32m", "--memory-swap", "48m", "busybox", "sleep", "30")
    assert limit(a.strip()) == 48 << 20
    b = dy.ok("run", "-d", "-m", "32m", "busybox", "sleep", "30")
    assert limit(b.strip()) == 64 << 20
    c = dy.ok("run", "-d", "-m", "32m", "--memory-swap", "-1", "busybox", "sleep", "30")
    assert limit(c.strip()) > 1 << 40
    dy.ok("update", "--memory-swap", "96m", b.strip())
    assert limit(b.strip()) == 96 << 20
    assert inspect(dy, b.strip(), "{{.HostConfig.MemorySwap}}") == str(96 << 20)
    r = dy("run", "-d", "-m", "32m", "--memory-swap", "16m", "busybox", "true")
    assert r.code == 125 and "Minimum memoryswap limit should be larger than memory limit" in r.err
    dy.ok("rm", "-f", a.strip(), b.strip(), c.strip())


def test_init(dy: CLI) -> None:
    if not any(os.path.exists(p) for p in ("/usr/bin/tini", "/usr/bin/tini-static")):
        pytest.skip("tini is not installed (make deps installs it)")
    out = dy.ok(
        "run", "--rm", "--init", "busybox", "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '"
    )
    assert out.startswith("/sbin/docker-init -- sh -c"), out
    cid = dy.ok("create", "--init", "busybox").strip()
    assert inspect(dy, cid, "{{.HostConfig.Init}}") == "true"


# -- restart policies ------------------------------------------------------------------------


def test_restart_on_failure_max_retries(dy: CLI) -> None:
    cid = dy.ok("run", "-d", "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 1").strip()
    fmt = "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}"
    wait_until(lambda: inspect(dy, cid, fmt) == "exited 2 1", timeout=20, what="2 restarts")
    time.sleep(0.5)
    assert inspect(dy, cid, fmt) == "exited 2 1"
    assert inspect(dy, cid, "{{.HostConfig.RestartPolicy.Name}}") == "on-failure"
    assert inspect(dy, cid, "{{.HostConfig.RestartPolicy.MaximumRetryCount}}") == "2"


def test_restart_always_not_after_stop(dy: CLI) -> None:
    cid = dy.ok("run", "-d", "--restart", "always", "busybox", "sleep", "60").strip()
    dy.ok("stop", "-t", "1", cid)
    time.sleep(1.0)
    assert inspect(dy, cid, "{{.State.Status}} {{.RestartCount}}") == "exited 0"


def test_restart_unless_stopped(dy: CLI) -> None:
    cid = dy.ok("run", "-d", "--restart", "unless-stopped", "busybox", "sh", "-c",
                "sleep 0.2; exit 3").strip()  # fmt: skip
    wait_until(lambda: int(inspect(dy, cid, "{{.RestartCount}}")) >= 1, what="a restart")
    dy.ok("stop", "-t", "1", cid)
    time.sleep(0.8)
    assert inspect(dy, cid, "{{.State.Status}}") == "exited"
    assert inspect(dy, cid, "{{.HostConfig.RestartPolicy.Name}}") == "unless-stopped"


# -- labels, logging, stop signal and timeout --------------------------------------------------


def test_labels(dy: CLI) -> None:
    cid = dy.ok("run", "-d", "--name", "labelled", "-l", "tier=web", "-l", "flag",
                "--label", "k=v=w", "busybox", "sleep", "30").strip()  # fmt: skip
    dy.ok("run", "-d", "--name", "other", "-l", "tier=db", "busybox", "sleep", "30")
    assert inspect(dy, cid, '{{index .Config.Labels "tier"}}') == "web"
    assert inspect(dy, cid, '{{index .Config.Labels "k"}}') == "v=w"
    assert inspect(dy, cid, "{{json .Config.Labels}}") == '{"flag":"","k":"v=w","tier":"web"}'
    names = "{{.Names}}"
    assert dy.ok("ps", "--filter", "label=tier=web", "--format", names) == "labelled\n"
    assert dy.ok("ps", "--filter", "label=flag", "--format", names) == "labelled\n"
    assert set(dy.ok("ps", "--filter", "label=tier", "--format", names).split()) == {
        "labelled",
        "other",
    }
    assert dy.ok("ps", "--filter", "label=tier=none", "--format", names) == ""


def test_log_opts_rotation(dy: CLI, site: Site) -> None:
    cid = dy.ok("run", "-d", "--log-opt", "max-size=1k", "--log-opt", "max-file=2", "busybox",
                "sh", "-c", "i=0; while [ $i -lt 200 ]; do echo line$i; i=$((i+1)); done"
                ).strip()  # fmt: skip
    dy.ok("wait", cid)
    logs = sorted(
        p.name for p in (site.root / "containers" / cid).iterdir() if "json.log" in p.name
    )
    assert logs == [f"{cid}-json.log", f"{cid}-json.log.1"]
    for name in logs:
        # 1k is 1000 bytes here, as Docker reads max-size (go-units FromHumanSize)
        assert (site.root / "containers" / cid / name).stat().st_size <= 1000 + 200
    lines = dy.ok("logs", cid).splitlines()
    assert lines[-1] == "line199"
    assert "line0" not in lines and len(lines) < 200
    assert inspect(dy, cid, "{{json .HostConfig.LogConfig}}") == (
        '{"Type":"json-file","Config":{"max-file":"2","max-size":"1k"}}'
    )


def test_stop_signal(dy: CLI) -> None:
    script = 'trap "echo got-usr1; exit 5" USR1; echo ready; while true; do sleep 0.1; done'
    cid = dy.ok("run", "-d", "--stop-signal", "USR1", "busybox", "sh", "-c", script).strip()
    wait_until(lambda: "ready" in dy.ok("logs", cid), what="the trap")
    t0 = time.monotonic()
    dy.ok("stop", cid)
    assert time.monotonic() - t0 < 5
    assert inspect(dy, cid, "{{.State.ExitCode}} {{.Config.StopSignal}}") == "5 USR1"
    assert "got-usr1" in dy.ok("logs", cid)


def test_stop_timeout(dy: CLI) -> None:
    cid = dy.ok("run", "-d", "--stop-timeout", "1", "busybox", "sleep", "60").strip()
    assert inspect(dy, cid, "{{.Config.StopTimeout}}") == "1"
    t0 = time.monotonic()
    dy.ok("stop", cid)  # sleep as pid 1 ignores SIGTERM: killed after 1 s, not 10
    assert time.monotonic() - t0 < 5
    assert inspect(dy, cid, "{{.State.ExitCode}}") == "137"


# -- networks --------------------------------------------------------------------------------


def _interfaces(proc_net_dev: str) -> set[str]:
    return {line.split(":")[0].strip() for line in proc_net_dev.splitlines()[2:] if ":" in line}


def test_network_none(dy: CLI) -> None:
    out = dy.ok("run", "--rm", "--network", "none", "busybox", "cat", "/proc/net/dev")
    assert _interfaces(out) == {"lo"}
    cid = dy.ok("create", "--network", "none", "busybox").strip()
    assert inspect(dy, cid, "{{.HostConfig.NetworkMode}}") == "none"
    # each gets a namespace of its own (made ahead by the pending shim), lo up in it
    both = [dy.ok("run", "-d", "--network", "none", "busybox", "sleep", "30").strip()
            for _ in range(2)]  # fmt: skip
    seen = {os.readlink(f"/proc/{inspect(dy, c, '{{.State.Pid}}')}/ns/net") for c in both}
    assert len(seen) == 2 and os.readlink("/proc/self/ns/net") not in seen
    for c in both:
        assert "UP" in dy.ok("exec", c, "ip", "-o", "link", "show", "lo")
    dy.ok("rm", "-f", *both)


def test_network_host(dy: CLI) -> None:
    before = _interfaces(Path("/proc/net/dev").read_text())
    out = dy.ok("run", "--rm", "--network", "host", "busybox", "cat", "/proc/net/dev")
    after = _interfaces(Path("/proc/net/dev").read_text())
    # the host's own links (other engines and tests may add or delete some meanwhile)
    assert before & after <= _interfaces(out) <= before | after


def test_network_container(dy: CLI) -> None:
    cid = dy.ok("run", "-d", "--name", "netowner", "busybox", "sleep", "30").strip()
    pid = int(inspect(dy, cid, "{{.State.Pid}}"))
    theirs = os.readlink(f"/proc/{pid}/ns/net")
    assert theirs != os.readlink("/proc/self/ns/net")
    out = dy.ok("run", "--rm", "--network", "container:netowner", "busybox", "readlink",
                "/proc/self/ns/net")  # fmt: skip
    assert out.strip() == theirs
    r = dy("run", "--rm", "--network", "container:nosuchcontainer", "busybox", "true")
    assert r.code == 125
    assert "No such container: nosuchcontainer" in r.err
