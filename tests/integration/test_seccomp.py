"""Docker's default seccomp profile in containers, end to end through the CLI (root).

busybox is bootstrapped once into a module-scoped root (the ``test_run_flags``
machinery); each test removes what it made. Raw syscalls the busybox applets do not
make (add_key, keyctl) are tried by the host's python, bind-mounted read-only.
"""

from __future__ import annotations

import os
import re
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.runtime import seccomp
from tests.conftest import CLI
from tests.integration.test_run_flags import Site, make_cli, make_site, wait_until

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(not seccomp.available(), reason="libseccomp is not installed"),
]

STATUS = ("grep", "-E", "^(Seccomp|NoNewPrivs|CapEff):", "/proc/self/status")
HOST_PYTHON = ("-v", "/usr:/usr:ro", "-v", "/usr/lib:/lib:ro", "-v", "/usr/lib64:/lib64:ro")
KEYS = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
for name, nr in (("add_key", 248), ("keyctl", 250)):
    ctypes.set_errno(0)
    libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(0)] * 5)
    print(name, os.strerror(ctypes.get_errno()))
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from make_site(tmp_path_factory)


@pytest.fixture
def dy(site: Site, capsys: pytest.CaptureFixture[str]) -> Iterator[CLI]:
    yield from make_cli(site, capsys)


def status(out: str) -> dict[str, str]:
    return dict(re.findall(r"^(\w+):\s*(\S+)$", out, re.M))


def test_default_filter_blocks_namespaces_mounts_and_keys(dy: CLI) -> None:
    assert status(dy.ok("run", "--rm", "busybox", *STATUS))["Seccomp"] == "2"
    script = (
        "unshare -U true; echo user=$?; unshare -m true; echo mnt=$?; "
        "mount -t tmpfs none /mnt; echo mount=$?"
    )
    r = dy("run", "--rm", "busybox", "sh", "-c", script)
    assert r.code == 0 and r.out.split() == ["user=1", "mnt=1", "mount=1"], r
    assert r.err.count("Operation not permitted") == 2, r.err
    if not os.path.exists("/usr/bin/python3"):
        pytest.skip("no host python3 to try add_key and keyctl")
    keys = dy.ok("run", "--rm", *HOST_PYTHON, "busybox", "/usr/bin/python3", "-I", "-S", "-c", KEYS)
    assert keys.splitlines() == [
        "add_key Operation not permitted",
        "keyctl Operation not permitted",
    ]
    free = dy.ok("run", "--rm", "--security-opt", "seccomp=unconfined", *HOST_PYTHON, "busybox",
                 "/usr/bin/python3", "-I", "-S", "-c", KEYS)  # fmt: skip
    assert "Operation not permitted" not in free, free


def test_privileged_and_unconfined_lift_the_filter(dy: CLI) -> None:
    for flags in (("--privileged",), ("--security-opt", "seccomp=unconfined"),
                  ("--security-opt", "seccomp:unconfined")):  # fmt: skip
        assert status(dy.ok("run", "--rm", *flags, "busybox", *STATUS))["Seccomp"] == "0", flags
    out = dy.ok("run", "--rm", "--privileged", "busybox", "sh", "-c", "unshare -m true && echo ok")
    assert out == "ok\n"
    # a capability brings its syscalls back, the filter stays
    out = dy.ok("run", "--rm", "--cap-add", "SYS_ADMIN", "busybox", "sh", "-c",
                "grep ^Seccomp: /proc/self/status; unshare -m true && echo ok")  # fmt: skip
    assert out.split() == ["Seccomp:", "2", "ok"]


def test_ordinary_commands_work(dy: CLI) -> None:
    script = (
        "set -e; ls / >/dev/null; ps >/dev/null; sleep 0.1; "
        "mkdir -p /www; echo served > /www/index.html; httpd -p 127.0.0.1:8080 -h /www; "
        "wget -q -O - http://127.0.0.1:8080/index.html; "
        "sleep 30 & p=$!; kill $p; wait $p || echo killed=$?; "
        "chroot / true; echo done"
    )
    out = dy.ok("run", "--rm", "busybox", "sh", "-c", script)
    assert out.split() == ["served", "killed=143", "done"], out


def test_user_and_no_new_privileges_orders(dy: CLI) -> None:
    # non-root: installed before capabilities are dropped; NNP: installed last
    nobody = status(dy.ok("run", "--rm", "-u", "nobody", "busybox", *STATUS))
    assert (nobody["Seccomp"], nobody["CapEff"]) == ("2", "0000000000000000")
    nnp = status(dy.ok("run", "--rm", "--security-opt", "no-new-privileges", "busybox", *STATUS))
    assert (nnp["Seccomp"], nnp["NoNewPrivs"]) == ("2", "1")


def test_exec_gets_the_containers_filter(dy: CLI) -> None:
    cid = dy.ok("run", "-d", "busybox", "sleep", "60").strip()
    assert status(dy.ok("exec", cid, *STATUS))["Seccomp"] == "2"
    assert status(dy.ok("exec", "--privileged", cid, *STATUS))["Seccomp"] == "2"  # as Docker
    r = dy("exec", cid, "unshare", "-m", "true")
    assert r.code == 1 and "Operation not permitted" in r.err
    dy.ok("rm", "-f", cid)
    free = dy.ok("run", "-d", "--security-opt", "seccomp=unconfined", "busybox", "sleep", "60")
    assert status(dy.ok("exec", free.strip(), *STATUS))["Seccomp"] == "0"


def test_custom_profile_file(dy: CLI, tmp_path: Path) -> None:
    prof = tmp_path / "profile.json"
    prof.write_text(
        '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"],'
        ' "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}'
    )
    r = dy("run", "--rm", "--security-opt", f"seccomp={prof}", "busybox", "mkdir", "/x")
    assert r.code == 1 and "Permission denied" in r.err, r
    r = dy("run", "--rm", "--security-opt", f"seccomp={tmp_path}/none.json", "busybox", "true")
    assert r.code == 125 and "opening seccomp profile" in r.err
    (tmp_path / "bad.json").write_text('{"defaultAction": "SCMP_ACT_NOPE"}')
    r = dy("run", "--rm", "--security-opt", f"seccomp={tmp_path}/bad.json", "busybox", "true")
    assert r.code == 125 and "decoding seccomp profile failed" in r.err
    assert dy.ok("ps", "-a", "-q") == ""


def test_filter_compiled_once_per_capability_set(dy: CLI, site: Site) -> None:
    cache = site.root / "cache" / "seccomp"

    def files(suffix: str) -> set[str]:  # compiled filters (.bpf), resolutions (.json)
        return {n for n in os.listdir(cache) if n.endswith(suffix)}

    dy.ok("run", "--rm", "busybox", "true")
    first = set(os.listdir(cache))  # (other tests of the module may have added theirs)
    dy.ok("run", "--rm", "-u", "nobody", "busybox", "true")  # same bounding set
    assert set(os.listdir(cache)) == first
    dy.ok("run", "--rm", "--cap-add", "SYS_PTRACE", "busybox", "true")
    # one more program, and the default profile's resolution for that capability set
    assert len(files(".bpf") - first) == 1 and len(files(".json") - first) == 1
    # a lost cache file is compiled again at start
    cid = dy.ok("create", "busybox", "sh", "-c", "grep ^Seccomp: /proc/self/status").strip()
    for name in os.listdir(cache):
        os.unlink(cache / name)
    dy.ok("start", cid)
    wait_until(lambda: dy.ok("inspect", "-f", "{{.State.Status}}", cid).strip() == "exited")
    assert dy.ok("logs", cid).split() == ["Seccomp:", "2"]


def test_start_cost_of_the_cached_filter(site: Site, tmp_path: Path) -> None:
    """start_container with and without the filter (not a benchmark: a loose bound)."""
    import shutil

    from dockyard.runtime.executor import start_container
    from dockyard.runtime.spec_builder import SpecOptions, build_spec
    from tests.integration.test_run_flags import busybox_layer

    rootfs = tmp_path / "rootfs"
    shutil.copytree(busybox_layer(site), rootfs, symlinks=True)
    opts = dict(args=("true",), rootfs=str(rootfs), host_arch=seccomp.host_arch())
    plain = build_spec(SpecOptions(**opts))  # type: ignore[arg-type]
    filtered = build_spec(SpecOptions(**opts, seccomp=seccomp.default_profile()))  # type: ignore[arg-type]
    assert filtered.linux.seccomp is not None
    path = seccomp.cached_filter(filtered.linux.seccomp, tmp_path / "cache")
    null = os.open(os.devnull, os.O_RDWR)
    times: dict[str, list[float]] = {"plain": [], "filtered": []}
    try:
        for _ in range(15):
            for name, spec in (("plain", plain), ("filtered", filtered)):
                t = time.perf_counter()
                prog = (
                    seccomp.read_filter(path, filtered.linux.seccomp) if spec is filtered else None
                )
                pid = start_container(tmp_path, spec, stdio=(null, null, null), seccomp=prog)
                times[name].append(time.perf_counter() - t)
                assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    finally:
        os.close(null)
    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    print(f"start_container medians (ms): {med}")
    assert med["filtered"] - med["plain"] < 3.0, med
