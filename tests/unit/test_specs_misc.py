"""Labels, --add-host, signals, ulimits, sysctls and log options."""

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.errors import InvalidArgument
from dockyard.specs.hosts import ExtraHost
from dockyard.specs.labels import parse_label, parse_labels
from dockyard.specs.logopts import LogOptions, parse_log_opts
from dockyard.specs.signals import parse_signal, signal_name
from dockyard.specs.sysctls import parse_sysctl
from dockyard.specs.ulimits import RLIMITS, Ulimit


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("k=v", ("k", "v")),
        ("k", ("k", "")),
        ("k=", ("k", "")),
        ("k==v", ("k", "=v")),
        (" k=v ", ("k", "v ")),
        ("com.example.x=a b", ("com.example.x", "a b")),
    ],
)
def test_label(text: str, label: tuple[str, str]) -> None:
    assert parse_label(text) == label


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("=v", 'invalid argument "=v" for "-l, --label" flag: invalid label \'=v\': empty name'),
        (
            "a b=c",
            'invalid argument "a b=c" for "-l, --label" flag: label \'a b\' contains whitespaces',
        ),
    ],
)
def test_label_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        parse_label(text, flag="-l, --label")
    assert str(e.value) == message


def test_labels_files_then_flags(tmp_path: Path) -> None:
    path = tmp_path / "labels"
    path.write_text("# labels\na=1\nb=2\nbare\n")
    assert parse_labels(["b=3", "c"], [path]) == {"a": "1", "b": "3", "c": ""}


@pytest.mark.parametrize(
    ("text", "name", "ip"),
    [
        ("db:10.0.0.2", "db", "10.0.0.2"),
        ("db=10.0.0.2", "db", "10.0.0.2"),
        ("db:::1", "db", "::1"),
        ("db=::1", "db", "::1"),
        ("db:[::1]", "db", "::1"),
        ("db:[10.0.0.2]", "db", "10.0.0.2"),
        ("gw:host-gateway", "gw", "host-gateway"),
        ("my.host-1:2001:db8::1", "my.host-1", "2001:db8::1"),
    ],
)
def test_extra_host(text: str, name: str, ip: str) -> None:
    host = ExtraHost.parse(text)
    assert (host.name, host.ip) == (name, ip)
    assert ExtraHost.parse(host.render()) == host


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x", 'bad format for add-host: "x"'),
        (":1.2.3.4", 'bad format for add-host: ":1.2.3.4"'),
        ("db:300.1.1.1", 'invalid IP address in add-host: "300.1.1.1"'),
        ("db:", 'invalid IP address in add-host: ""'),
        ("db:example.com", 'invalid IP address in add-host: "example.com"'),
    ],
)
def test_extra_host_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        ExtraHost.parse(text, flag="--add-host")
    assert str(e.value) == f'invalid argument "{text}" for "--add-host" flag: {message}'


def test_host_gateway() -> None:
    assert ExtraHost.parse("gw:host-gateway").is_host_gateway


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("SIGTERM", 15),
        ("TERM", 15),
        ("term", 15),
        ("sigkill", 9),
        ("15", 15),
        ("9", 9),
        ("SIGUSR1", 10),
        ("SIGCHLD", 17),
        ("SIGRTMIN", 34),
        ("rtmin+3", 37),
        ("SIGRTMAX-2", 62),
        ("SIGRTMAX", 64),
    ],
)
def test_signal(text: str, number: int) -> None:
    assert parse_signal(text) == number


@pytest.mark.parametrize("text", ["0", "-1", "FOO", "", "SIG", "RTMIN+16"])
def test_signal_errors(text: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        parse_signal(text)
    assert str(e.value) == f"invalid signal: {text}"


@pytest.mark.parametrize(
    ("number", "name"),
    [
        (15, "SIGTERM"),
        (6, "SIGABRT"),
        (17, "SIGCHLD"),
        (29, "SIGIO"),
        (37, "SIGRTMIN+3"),
        (99, "99"),
    ],
)
def test_signal_name(number: int, name: str) -> None:
    assert signal_name(number) == name


@given(st.integers(min_value=1, max_value=64).filter(lambda n: n not in (32, 33)))
def test_signal_name_round_trip(number: int) -> None:
    assert parse_signal(signal_name(number)) == number


@pytest.mark.parametrize(
    ("text", "ulimit", "rendered"),
    [
        ("nofile=1024:2048", Ulimit("nofile", 1024, 2048), "nofile=1024:2048"),
        ("nofile=1024", Ulimit("nofile", 1024, 1024), "nofile=1024:1024"),
        ("nproc=infinity", Ulimit("nproc", -1, -1), "nproc=-1:-1"),
        ("core=-1", Ulimit("core", -1, -1), "core=-1:-1"),
        ("memlock=100:-1", Ulimit("memlock", 100, -1), "memlock=100:-1"),
    ],
)
def test_ulimit(text: str, ulimit: Ulimit, rendered: str) -> None:
    assert Ulimit.parse(text) == ulimit
    assert ulimit.render() == rendered
    assert Ulimit.parse(rendered) == ulimit


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nofile", "invalid ulimit argument: nofile"),
        ("foo=1", "invalid ulimit type: foo"),
        ("as=1", "invalid ulimit type: as"),
        (
            "nofile=1:2:3",
            "too many limit value arguments - 1:2:3, can only have up to two, `soft[:hard]`",
        ),
        ("nofile=x", 'strconv.ParseInt: parsing "x": invalid syntax'),
        ("nofile=10:5", "ulimit soft limit must be less than or equal to hard limit: 10 > 5"),
        (
            "nofile=-1:5",
            "ulimit soft limit must be less than or equal to hard limit: soft: -1 (unlimited), "
            "hard: 5",
        ),
    ],
)
def test_ulimit_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        Ulimit.parse(text, flag="--ulimit")
    assert str(e.value) == f'invalid argument "{text}" for "--ulimit" flag: {message}'


@given(
    st.sampled_from(sorted(RLIMITS)),
    st.integers(min_value=0, max_value=1 << 40),
    st.integers(min_value=0, max_value=1 << 40),
)
def test_ulimit_round_trip(name: str, a: int, b: int) -> None:
    ulimit = Ulimit(name, min(a, b), max(a, b))
    assert Ulimit.parse(ulimit.render()) == ulimit


@pytest.mark.parametrize(
    ("text", "pair"),
    [
        ("net.ipv4.ip_forward=1", ("net.ipv4.ip_forward", "1")),
        ("kernel.shmmax=1", ("kernel.shmmax", "1")),
        ("fs.mqueue.msg_max=64", ("fs.mqueue.msg_max", "64")),
        ("net.core.somaxconn=a=b", ("net.core.somaxconn", "a=b")),
    ],
)
def test_sysctl(text: str, pair: tuple[str, str]) -> None:
    assert parse_sysctl(text) == pair


@pytest.mark.parametrize("text", ["kernel.hostname=x", "net.a", "vm.swappiness=1"])
def test_sysctl_errors(text: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        parse_sysctl(text, flag="--sysctl")
    assert (
        str(e.value)
        == f'invalid argument "{text}" for "--sysctl" flag: sysctl \'{text}\' is not allowed'
    )


def test_log_opts() -> None:
    opts = parse_log_opts(["max-size=10m", "max-file=3", "tag={{.Name}}"])
    assert opts == LogOptions(
        "json-file",
        (("max-file", "3"), ("max-size", "10m"), ("tag", "{{.Name}}")),
        max_size=10_000_000,
        max_file=3,
    )
    assert opts.get("tag") == "{{.Name}}"
    assert opts.render() == ["max-file=3", "max-size=10m", "tag={{.Name}}"]
    assert parse_log_opts([]) == LogOptions()
    compressed = parse_log_opts(["max-size=1m", "max-file=2", "compress=true"])
    assert compressed.compress


def test_log_opts_other_drivers() -> None:
    assert parse_log_opts(["a=b"], "syslog") == LogOptions("syslog", (("a", "b"),))
    with pytest.raises(InvalidArgument, match=r"^invalid logging opts for driver none$"):
        parse_log_opts(["a=b"], "none")


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["x=1"], "unknown log opt 'x' for json-file log driver"),
        (["max-file=0"], "max-file cannot be less than 1"),
        (["max-file=x"], 'strconv.Atoi: parsing "x": invalid syntax'),
        (["max-size=0"], "max-size must be a positive number"),
        (["max-size=12q"], "invalid suffix: 'q'"),
        (["max-size"], "invalid size: ''"),
        (["compress=yes"], 'strconv.ParseBool: parsing "yes": invalid syntax'),
        (
            ["compress=true"],
            "compress cannot be true when max-file is less than 2 or max-size is not set",
        ),
        (
            ["max-size=1m", "compress=1"],
            "compress cannot be true when max-file is less than 2 or max-size is not set",
        ),
    ],
)
def test_log_opts_errors(items: list[str], message: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        parse_log_opts(items)
    assert str(e.value) == message
