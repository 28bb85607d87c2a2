"""OCI runtime spec value types: JSON field names, round trips, rejected input."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.errors import InvalidArgument
from dockyard.oci.runtime_spec import (
    Capabilities,
    Linux,
    Mount,
    Namespace,
    Process,
    Resources,
    Rlimit,
    Root,
    RuntimeSpec,
    User,
)

FULL = RuntimeSpec(
    process=Process(
        args=("sh", "-c", "echo hi"),
        env=("PATH=/bin", "HOME=/root"),
        cwd="/srv",
        user=User(1000, 1000, (10, 20)),
        terminal=True,
        capabilities=Capabilities(
            bounding=("CAP_KILL",), effective=("CAP_KILL",), permitted=("CAP_KILL",)
        ),
        no_new_privileges=True,
        rlimits=(Rlimit("RLIMIT_NOFILE", 1024, 512),),
        oom_score_adj=100,
    ),
    root=Root("rootfs", readonly=True),
    hostname="box",
    mounts=(Mount("/proc", "proc", "proc", ("nosuid",)), Mount("/data", "bind", "/srv", ())),
    linux=Linux(
        namespaces=(Namespace("pid"), Namespace("network", "/run/netns/x")),
        masked_paths=("/proc/kcore",),
        readonly_paths=("/proc/sys",),
        resources=Resources(
            memory_limit=1 << 26, cpu_quota=50000, cpu_period=100000, cpu_shares=512, pids_limit=100
        ),
        cgroups_path="/dockyard/abc",
        sysctl=(("net.ipv4.ip_forward", "1"),),
    ),
)


def test_json_field_names_follow_the_spec() -> None:
    d = FULL.to_dict()
    assert d["ociVersion"] == "1.0.2"
    p = d["process"]
    assert p["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [10, 20]}
    assert p["noNewPrivileges"] is True and p["oomScoreAdj"] == 100
    assert set(p["capabilities"]) == {
        "bounding",
        "effective",
        "inheritable",
        "permitted",
        "ambient",
    }
    assert p["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 512}]
    assert d["root"] == {"path": "rootfs", "readonly": True}
    assert d["mounts"][0] == {
        "destination": "/proc",
        "type": "proc",
        "source": "proc",
        "options": ["nosuid"],
    }
    lx = d["linux"]
    assert lx["namespaces"] == [{"type": "pid"}, {"type": "network", "path": "/run/netns/x"}]
    assert lx["maskedPaths"] == ["/proc/kcore"] and lx["readonlyPaths"] == ["/proc/sys"]
    assert lx["resources"] == {
        "memory": {"limit": 1 << 26},
        "cpu": {"quota": 50000, "period": 100000, "shares": 512},
        "pids": {"limit": 100},
    }
    assert lx["cgroupsPath"] == "/dockyard/abc"
    assert lx["sysctl"] == {"net.ipv4.ip_forward": "1"}


def test_round_trip_through_json() -> None:
    text = json.dumps(FULL.to_dict())
    assert RuntimeSpec.from_dict(json.loads(text)) == FULL


def test_minimal_spec_and_defaults() -> None:
    spec = RuntimeSpec.from_dict({"process": {"args": ["true"]}})
    assert spec.process.cwd == "/" and spec.process.user == User()
    assert spec.root == Root("rootfs") and spec.linux == Linux()
    assert spec.process.capabilities is None


def test_unknown_fields_are_ignored() -> None:
    d = FULL.to_dict()
    d["annotations"] = {"a": "b"}
    d["linux"]["intelRdt"] = {"closID": "guaranteed_group"}  # (seccomp is parsed now)
    assert RuntimeSpec.from_dict(d) == FULL


@pytest.mark.parametrize(
    "mutate, where",
    [
        (lambda d: d["process"].__setitem__("args", "sh"), "process.args"),
        (lambda d: d["process"]["user"].__setitem__("uid", "0"), "process.user.uid"),
        (lambda d: d["process"]["user"].__setitem__("uid", True), "process.user.uid"),
        (lambda d: d["process"].__setitem__("terminal", 1), "process.terminal"),
        (lambda d: d["linux"]["namespaces"].append({"type": "time2"}), "linux.namespaces.type"),
        (lambda d: d["linux"]["sysctl"].__setitem__("x", 1), "linux.sysctl.x"),
        (lambda d: d["mounts"].append("proc"), "mounts[2]"),
        (lambda d: d.pop("process"), "process"),
    ],
)
def test_bad_input_is_rejected_with_its_location(mutate: object, where: str) -> None:
    d = FULL.to_dict()
    mutate(d)  # type: ignore[operator]
    with pytest.raises(InvalidArgument, match=where.replace("[", r"\[").replace("]", r"\]")):
        RuntimeSpec.from_dict(d)


_text = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=12)
_texts = st.lists(_text, max_size=4).map(tuple)
_ints = st.integers(min_value=0, max_value=2**31 - 1)
_opt_int = st.none() | st.integers(min_value=-1, max_value=2**40)
_caps = st.builds(Capabilities, _texts, _texts, _texts, _texts, _texts)
_process = st.builds(
    Process,
    args=_texts,
    env=_texts,
    cwd=_text,
    user=st.builds(User, _ints, _ints, st.lists(_ints, max_size=3).map(tuple)),
    terminal=st.booleans(),
    capabilities=st.none() | _caps,
    no_new_privileges=st.booleans(),
    rlimits=st.lists(st.builds(Rlimit, _text, _ints, _ints), max_size=2).map(tuple),
    oom_score_adj=st.none() | st.integers(-1000, 1000),
)
_linux = st.builds(
    Linux,
    namespaces=st.lists(
        st.builds(Namespace, st.sampled_from(("pid", "network", "mount")), st.none() | _text),
        max_size=3,
    ).map(tuple),
    masked_paths=_texts,
    readonly_paths=_texts,
    resources=st.none() | st.builds(Resources, _opt_int, _opt_int, _opt_int, _opt_int, _opt_int),
    cgroups_path=st.none() | _text,
    sysctl=st.dictionaries(_text, _text, max_size=3).map(lambda d: tuple(d.items())),
)
_spec = st.builds(
    RuntimeSpec,
    process=_process,
    root=st.builds(Root, _text, st.booleans()),
    hostname=_text,
    mounts=st.lists(st.builds(Mount, _text, _text, _text, _texts), max_size=3).map(tuple),
    linux=_linux,
)


@given(_spec)
def test_round_trip_property(spec: RuntimeSpec) -> None:
    assert RuntimeSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
