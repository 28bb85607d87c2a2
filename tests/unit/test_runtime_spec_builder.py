"""The spec builder gives Docker's defaults and applies run options (pure, no root)."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidArgument
from dockyard.oci.runtime_spec import Mount, Namespace, Resources, User
from dockyard.runtime import caps
from dockyard.runtime.spec_builder import (
    DEFAULT_PATH,
    MASKED_PATHS,
    READONLY_PATHS,
    SpecOptions,
    bind_mount,
    build_spec,
    merge_env,
    tmpfs_mount,
    tweak_capabilities,
)

DOCKER_CAPEFF = 0x00000000A80425FB  # `grep CapEff /proc/self/status` in `docker run busybox`


def test_default_capabilities_are_dockers() -> None:
    spec = build_spec(SpecOptions(args=("sh",)))
    c = spec.process.capabilities
    assert c is not None
    assert caps.to_mask(c.effective) == DOCKER_CAPEFF
    assert c.bounding == c.effective == c.permitted == caps.DOCKER_DEFAULT_CAPS
    assert c.inheritable == () and c.ambient == ()


def test_non_root_user_gets_bounding_only() -> None:
    spec = build_spec(SpecOptions(args=("sh",), user=User(65534, 65534)))
    c = spec.process.capabilities
    assert c is not None
    assert caps.to_mask(c.bounding) == DOCKER_CAPEFF
    assert c.effective == c.permitted == ()
    assert spec.process.user == User(65534, 65534)


def test_cap_add_and_drop() -> None:
    got = tweak_capabilities(["net_admin", "CAP_SYS_TIME"], ["chown", "MKNOD"], False)
    assert "CAP_NET_ADMIN" in got and "CAP_SYS_TIME" in got
    assert "CAP_CHOWN" not in got and "CAP_MKNOD" not in got
    assert "CAP_KILL" in got


def test_cap_drop_all_keeps_only_adds() -> None:
    assert tweak_capabilities(["NET_BIND_SERVICE"], ["ALL"], False) == ("CAP_NET_BIND_SERVICE",)


def test_cap_add_all_minus_drops() -> None:
    got = tweak_capabilities(["ALL"], ["SYS_ADMIN"], False)
    assert len(got) == len(caps.CAPABILITIES) - 1 and "CAP_SYS_ADMIN" not in got


def test_privileged_and_host_bounding_set() -> None:
    host = tuple(c for c in caps.CAPABILITIES if c != "CAP_SYS_RESOURCE")
    got = tweak_capabilities([], [], True, host)
    assert got == host
    # a cap the host lacks cannot be added
    assert "CAP_SYS_RESOURCE" not in tweak_capabilities(["SYS_RESOURCE"], [], False, host)


def test_unknown_capability_is_an_error() -> None:
    with pytest.raises(InvalidArgument, match='unknown capability: "CAP_FOO"'):
        tweak_capabilities(["foo"], [], False)


def test_default_mounts_masked_and_readonly_paths() -> None:
    spec = build_spec(SpecOptions(args=("sh",)))
    dests = [m.destination for m in spec.mounts]
    assert dests == [
        "/proc",
        "/dev",
        "/dev/pts",
        "/sys",
        "/sys/fs/cgroup",
        "/dev/mqueue",
        "/dev/shm",
    ]
    by = {m.destination: m for m in spec.mounts}
    assert by["/dev"].options == ("nosuid", "strictatime", "mode=755", "size=65536k")
    assert by["/dev/pts"].options == (
        "nosuid",
        "noexec",
        "newinstance",
        "ptmxmode=0666",
        "mode=0620",
        "gid=5",
    )
    assert "ro" in by["/sys"].options and "ro" in by["/sys/fs/cgroup"].options
    assert "size=67108864" in by["/dev/shm"].options
    assert spec.linux.masked_paths == MASKED_PATHS and "/proc/kcore" in MASKED_PATHS
    assert spec.linux.readonly_paths == READONLY_PATHS and "/proc/sys" in READONLY_PATHS


def test_privileged_has_no_masks_and_rw_sys() -> None:
    spec = build_spec(SpecOptions(args=("sh",), privileged=True))
    assert spec.linux.masked_paths == () and spec.linux.readonly_paths == ()
    by = {m.destination: m for m in spec.mounts}
    assert "ro" not in by["/sys"].options and "ro" not in by["/sys/fs/cgroup"].options


def test_user_mounts_override_defaults_and_sort_by_depth() -> None:
    spec = build_spec(
        SpecOptions(
            args=("sh",),
            mounts=(
                bind_mount("/host/a", "/data/sub", readonly=True),
                tmpfs_mount("/dev/shm", "size=1m"),
                bind_mount("/host/b", "/data"),
            ),
        )
    )
    dests = [m.destination for m in spec.mounts]
    assert dests.count("/dev/shm") == 1
    assert dests.index("/data") < dests.index("/data/sub")
    by = {m.destination: m for m in spec.mounts}
    assert by["/data/sub"] == Mount("/data/sub", "bind", "/host/a", ("rbind", "rprivate", "ro"))
    assert by["/dev/shm"] == Mount(
        "/dev/shm", "tmpfs", "tmpfs", ("noexec", "nosuid", "nodev", "size=1m")
    )


def test_tmpfs_options_override_defaults() -> None:
    assert tmpfs_mount("/run", "exec,size=1m").options == ("nosuid", "nodev", "exec", "size=1m")


def test_namespaces() -> None:
    ns = build_spec(SpecOptions(args=("sh",))).linux.namespaces
    assert {n.type for n in ns} == {"mount", "pid", "ipc", "uts", "network", "cgroup"}
    assert all(n.path is None for n in ns)
    host = build_spec(SpecOptions(args=("sh",), network="host", pid_host=True, cgroupns=False))
    assert {n.type for n in host.linux.namespaces} == {"mount", "ipc", "uts"}
    joined = build_spec(SpecOptions(args=("sh",), network="/run/netns/n1"))
    assert Namespace("network", "/run/netns/n1") in joined.linux.namespaces
    with pytest.raises(InvalidArgument):
        build_spec(SpecOptions(args=("sh",), network="bridge"))


def test_ipc_host_drops_shm_and_mqueue() -> None:
    dests = [m.destination for m in build_spec(SpecOptions(args=("sh",), ipc_host=True)).mounts]
    assert "/dev/shm" not in dests and "/dev/mqueue" not in dests


def test_resources() -> None:
    spec = build_spec(
        SpecOptions(
            args=("sh",), memory=64 << 20, cpus=1.5, pids_limit=50, cgroups_path="/dockyard/x"
        )
    )
    assert spec.linux.resources == Resources(
        memory_limit=64 << 20, cpu_quota=150000, cpu_period=100000, pids_limit=50
    )
    assert spec.linux.cgroups_path == "/dockyard/x"
    assert build_spec(SpecOptions(args=("sh",), pids_limit=-1)).linux.resources is None
    with pytest.raises(InvalidArgument, match="Minimum memory limit"):
        build_spec(SpecOptions(args=("sh",), memory=1024))


def test_env_defaults_and_overrides() -> None:
    spec = build_spec(
        SpecOptions(
            args=("sh",),
            hostname="h1",
            terminal=True,
            env=("PATH=/x", "A=1", "A=2", "B"),
            home="/root",
        )
    )
    assert spec.process.env == ("PATH=/x", "HOSTNAME=h1", "TERM=xterm", "A=2", "HOME=/root")
    plain = build_spec(SpecOptions(args=("sh",)))
    assert plain.process.env == (f"PATH={DEFAULT_PATH}", "HOME=/")


def test_merge_env_removes_bare_keys() -> None:
    assert merge_env(["A=1", "B=2"], ["A", "C=3"]) == ("B=2", "C=3")


def test_process_fields() -> None:
    spec = build_spec(
        SpecOptions(
            args=("sh", "-c", "x"),
            cwd="/srv",
            hostname="h",
            readonly_rootfs=True,
            no_new_privileges=True,
            rootfs="r",
        )
    )
    assert spec.process.args == ("sh", "-c", "x") and spec.process.cwd == "/srv"
    assert spec.hostname == "h" and spec.root.readonly and spec.root.path == "r"
    assert spec.process.no_new_privileges
    with pytest.raises(InvalidArgument, match="needs to be an absolute path"):
        build_spec(SpecOptions(args=("sh",), cwd="srv"))
    with pytest.raises(InvalidArgument, match="no command"):
        build_spec(SpecOptions(args=()))


def test_host_bounding_set_reads_proc() -> None:
    names = caps.bounding_set()
    assert names and all(n in caps.CAP_NUMBERS for n in names)
    spec = build_spec(SpecOptions(args=("sh",), privileged=True, host_capabilities=names))
    assert spec.process.capabilities is not None
    assert spec.process.capabilities.bounding == names


@pytest.mark.parametrize(
    "key, kw, ok",
    [
        ("net.ipv4.ip_forward", {}, True),
        ("net.ipv4.ip_forward", {"network": "host"}, False),
        ("kernel.shmmax", {}, True),
        ("fs.mqueue.msg_max", {"ipc_host": True}, False),
        ("kernel.domainname", {}, True),
        ("kernel.panic", {}, False),
        ("vm.swappiness", {}, False),
    ],
)
def test_only_namespaced_sysctls(key: str, kw: dict[str, object], ok: bool) -> None:
    opts = SpecOptions(args=("sh",), sysctls=((key, "1"),), **kw)  # type: ignore[arg-type]
    if ok:
        assert build_spec(opts).linux.sysctl == ((key, "1"),)
    else:
        with pytest.raises(InvalidArgument, match=key):
            build_spec(opts)
