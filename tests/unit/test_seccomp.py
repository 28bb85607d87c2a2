"""Seccomp profiles: Docker's default, moby's layout, resolution per container, the
OCI ``linux.seccomp`` round trip, and where the spec builder applies it (pure)."""

from __future__ import annotations

import json

import pytest

from dockyard.errors import InvalidArgument, Unsupported
from dockyard.oci.runtime_spec import RuntimeSpec, Seccomp, SeccompArg, SeccompSyscall
from dockyard.runtime import seccomp
from dockyard.runtime.seccomp_default import ALLOWED, CAP_GROUPS
from dockyard.runtime.spec_builder import SpecOptions, build_spec, tweak_capabilities
from dockyard.runtime.state import ShimConfig

DEFAULT = tweak_capabilities((), (), False)


def allowed(sc: Seccomp) -> set[str]:
    """Names allowed without argument conditions."""
    return {n for s in sc.syscalls if s.action == "SCMP_ACT_ALLOW" and not s.args for n in s.names}


def rules_for(sc: Seccomp, name: str) -> list[SeccompSyscall]:
    return [s for s in sc.syscalls if name in s.names]


@pytest.fixture(scope="module")
def profile() -> seccomp.SeccompProfile:
    return seccomp.default_profile()


def test_default_profile_shape(profile: seccomp.SeccompProfile) -> None:
    assert (profile.default_action, profile.default_errno_ret) == ("SCMP_ACT_ERRNO", 1)
    assert len(ALLOWED) > 300 and len(set(ALLOWED)) == len(ALLOWED)
    for dangerous in ("mount", "unshare", "setns", "keyctl", "add_key", "request_key",
                      "kexec_load", "init_module", "ptrace", "bpf", "io_uring_setup",
                      "userfaultfd", "pivot_root", "swapon", "reboot"):  # fmt: skip
        assert dangerous not in ALLOWED, dangerous
    assert dict((cap, names) for names, cap in CAP_GROUPS)["CAP_SYS_MODULE"] == (
        "delete_module", "init_module", "finit_module",
    )  # fmt: skip


def test_resolve_for_docker_default_caps(profile: seccomp.SeccompProfile) -> None:
    sc = profile.resolve(DEFAULT, arch="amd64", kernel=(6, 1))
    assert sc.architectures == ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32")
    names = allowed(sc)
    assert {"read", "execve", "clone3"} - names == {"clone3"}
    assert {"arch_prctl", "modify_ldt", "chroot", "ptrace"} <= names  # amd64, SYS_CHROOT, 4.8+
    for denied in ("mount", "umount2", "unshare", "setns", "sethostname", "bpf", "syslog",
                   "reboot", "init_module", "kcmp", "open_by_handle_at", "mbind"):  # fmt: skip
        assert denied not in names, denied
    (clone,) = rules_for(sc, "clone")
    assert clone.args == (SeccompArg(0, 0x7E020000, "SCMP_CMP_MASKED_EQ"),)
    (clone3,) = rules_for(sc, "clone3")
    assert (clone3.action, clone3.errno_ret) == ("SCMP_ACT_ERRNO", 38)
    (socket,) = rules_for(sc, "socket")
    assert socket.args == (SeccompArg(0, 40, "SCMP_CMP_NE"),)  # no AF_VSOCK
    assert sorted(r.args[0].value for r in rules_for(sc, "personality")) == [
        0, 8, 0x20000, 0x20008, 0xFFFFFFFF,
    ]  # fmt: skip
    assert not rules_for(sc, "s390_runtime_instr") and not rules_for(sc, "set_tls")


def test_capabilities_lift_their_groups(profile: seccomp.SeccompProfile) -> None:
    caps = (*DEFAULT, "CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_SYSLOG")
    sc = profile.resolve(caps, arch="amd64", kernel=(6, 1))
    names = allowed(sc)
    assert {"mount", "unshare", "setns", "clone", "clone3", "kcmp", "syslog", "bpf"} <= names
    assert all(not r.args for r in rules_for(sc, "clone"))  # the masked rule is excluded
    assert all(r.action == "SCMP_ACT_ALLOW" for r in rules_for(sc, "clone3"))
    privileged = profile.resolve(tweak_capabilities((), (), True), arch="amd64")
    assert {"init_module", "reboot", "iopl", "settimeofday", "vhangup", "acct"} <= allowed(
        privileged
    )
    no_chroot = profile.resolve([c for c in DEFAULT if c != "CAP_SYS_CHROOT"], arch="amd64")
    assert "chroot" not in allowed(no_chroot)


def test_arch_and_kernel_conditions(profile: seccomp.SeccompProfile) -> None:
    arm = profile.resolve(DEFAULT, arch="arm64", kernel=(6, 1))
    assert arm.architectures == ("SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM")
    assert "set_tls" in allowed(arm) and "arch_prctl" not in allowed(arm)
    s390 = profile.resolve(DEFAULT, arch="s390x")
    (clone,) = rules_for(s390, "clone")
    assert clone.args[0].index == 1  # s390 orders clone's arguments differently
    old = profile.resolve(DEFAULT, arch="amd64", kernel=(4, 4))
    assert "ptrace" not in allowed(old)
    assert "ptrace" in allowed(profile.resolve(DEFAULT, arch="amd64", kernel=None))


def test_parse_moby_layout_and_errors() -> None:
    p = seccomp.parse_profile(
        '{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],'
        ' "syscalls": [{"name": "mkdir", "action": "SCMP_ACT_ERRNO", "errnoRet": 13},'
        ' {"names": ["chmod"], "action": "SCMP_ACT_LOG", "excludes": {"minKernel": "4.0"}}]}'
    )
    sc = p.resolve((), arch="amd64", kernel=(6, 1))
    assert sc.architectures == ("SCMP_ARCH_X86_64",)
    assert sc.syscalls == (SeccompSyscall(("mkdir",), "SCMP_ACT_ERRNO", 13),)
    bad = [
        {"defaultAction": "SCMP_ACT_BOGUS"},
        {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["x"], "archMap": [
            {"architecture": "SCMP_ARCH_X86_64"}]},
        {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"name": "a", "names": ["b"],
                                                          "action": "SCMP_ACT_ALLOW"}]},
        {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"], "action": "X"}]},
        {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["a"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "op": "LIKE"}]}]},
        {"defaultAction": "SCMP_ACT_ERRNO", "flags": ["SECCOMP_FILTER_FLAG_NOPE"]},
    ]  # fmt: skip
    for data in bad:
        with pytest.raises(InvalidArgument, match="decoding seccomp profile failed"):
            seccomp.parse_profile(json.dumps(data))
    with pytest.raises(InvalidArgument):
        seccomp.parse_profile("{not json")


def test_oci_round_trip(profile: seccomp.SeccompProfile) -> None:
    sc = profile.resolve(DEFAULT, arch="amd64", kernel=(6, 1))
    d = sc.to_dict()
    assert d["defaultAction"] == "SCMP_ACT_ERRNO" and d["defaultErrnoRet"] == 1
    assert Seccomp.from_dict(json.loads(json.dumps(d))) == sc
    spec = build_spec(SpecOptions(args=("true",), seccomp=profile, kernel=(6, 1)))
    assert spec.linux.seccomp == sc
    again = RuntimeSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    with pytest.raises(InvalidArgument, match=r"linux\.seccomp"):
        Seccomp.from_dict({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["x"], "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 0, "value": 1, "op": "SCMP_CMP_BAD"}]}]})  # fmt: skip


def test_spec_builder_privileged_and_unconfined(profile: seccomp.SeccompProfile) -> None:
    assert build_spec(SpecOptions(args=("true",))).linux.seccomp is None
    assert (
        build_spec(SpecOptions(args=("true",), seccomp=profile, privileged=True)).linux.seccomp
        is None
    )
    added = build_spec(SpecOptions(args=("true",), seccomp=profile, cap_add=("SYS_ADMIN",)))
    assert added.linux.seccomp is not None and "mount" in allowed(added.linux.seccomp)
    assert "seccomp" not in build_spec(SpecOptions(args=("true",))).to_dict()["linux"]


def test_select_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    assert seccomp.select_profile("unconfined") is None
    custom = '{"defaultAction": "SCMP_ACT_ALLOW"}'
    monkeypatch.setattr(seccomp, "available", lambda: True)
    assert seccomp.select_profile("") == seccomp.select_profile("builtin")
    assert seccomp.select_profile("") == seccomp.default_profile()
    assert seccomp.select_profile(custom) == seccomp.SeccompProfile("SCMP_ACT_ALLOW")
    # without libseccomp: no filter by default (as Docker), a custom profile is an error
    monkeypatch.setattr(seccomp, "available", lambda: False)
    assert seccomp.select_profile("") is None
    with pytest.raises(Unsupported, match="seccomp is not enabled"):
        seccomp.select_profile(custom)


def test_host_facts() -> None:
    assert seccomp.host_arch() in ("amd64", "arm64", "ppc64le", "s390x", "riscv64", "386", "arm")
    k = seccomp.host_kernel()
    assert k is None or k >= (3, 0)


def test_shim_config_carries_the_filter() -> None:
    cfg = ShimConfig("abc", runtime="crun", seccomp_filter="/r/cache/seccomp/x.bpf")
    again = ShimConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg and again.seccomp_filter == "/r/cache/seccomp/x.bpf"
    assert ShimConfig.from_dict({"id": "abc"}).seccomp_filter is None


def test_external_runtime_messages() -> None:
    from dockyard.runtime.external import _last_message, needs_hybrid_workaround, start_error_code

    runc = (
        'time="2024-01-01T00:00:00Z" level=error msg="runc create failed: unable to start '
        'container process: exec: \\"nosuch\\": executable file not found in $PATH"'
    )
    assert _last_message(runc).endswith('exec: "nosuch": executable file not found in $PATH')
    crun = '{"msg": "executable file `nosuch` not found in $PATH: No such file", "level": "error"}'
    assert _last_message(crun).startswith("executable file `nosuch`")
    assert start_error_code(_last_message(runc)) == 127
    assert start_error_code("open /x: Permission denied") == 126
    assert start_error_code("cgroup: device or resource busy") == 125
    assert not needs_hybrid_workaround("/usr/sbin/runc")
