import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.errors import InvalidArgument
from dockyard.specs.ports import ExposedPort, PortBinding, parse_expose

P = PortBinding


@pytest.mark.parametrize(
    ("text", "bindings", "rendered"),
    [
        ("80", [P(80)], ["80"]),
        ("80/tcp", [P(80)], ["80"]),
        ("80/", [P(80)], ["80"]),
        ("8080:80", [P(80, host_port=8080)], ["8080:80"]),
        ("53:53/udp", [P(53, "udp", host_port=53)], ["53:53/udp"]),
        ("80/SCTP", [P(80, "sctp")], ["80/sctp"]),
        ("0:80", [P(80)], ["80"]),
        ("127.0.0.1:8080:80", [P(80, host_ip="127.0.0.1", host_port=8080)], ["127.0.0.1:8080:80"]),
        ("127.0.0.1::80", [P(80, host_ip="127.0.0.1")], ["127.0.0.1::80"]),
        (":8080:80", [P(80, host_port=8080)], ["8080:80"]),
        ("[::1]:8080:80", [P(80, host_ip="::1", host_port=8080)], ["[::1]:8080:80"]),
        ("::1:8080:80", [P(80, host_ip="::1", host_port=8080)], ["[::1]:8080:80"]),
        ("[::]::80/udp", [P(80, "udp", host_ip="::")], ["[::]::80/udp"]),
        (
            "8000-8002:80-82",
            [P(80, host_port=8000), P(81, host_port=8001), P(82, host_port=8002)],
            ["8000:80", "8001:81", "8002:82"],
        ),
        ("80-81", [P(80), P(81)], ["80", "81"]),
        ("8000-8010:80", [P(80, host_port=8000, host_port_end=8010)], ["8000-8010:80"]),
        ("8000-8000:80", [P(80, host_port=8000)], ["8000:80"]),
        (
            "published=8080,target=80,protocol=udp",
            [P(80, "udp", host_port=8080)],
            ["8080:80/udp"],
        ),
        ("target=80", [P(80)], ["80"]),
    ],
)
def test_parse(text: str, bindings: list[PortBinding], rendered: list[str]) -> None:
    got = PortBinding.parse(text)
    assert got == bindings
    assert [b.render() for b in got] == rendered


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x", "invalid containerPort: x"),
        ("8080:x", "invalid containerPort: x"),
        ("70000", "invalid containerPort: 70000"),
        ("-80", "invalid containerPort: -80"),
        ("90-80", "invalid containerPort: 90-80"),
        ("x:80", "invalid hostPort: x"),
        ("70000:80", "invalid hostPort: 70000"),
        ("80/xyz", "invalid proto: xyz"),
        ("8080:", "no port specified: 8080:<empty>"),
        ("/tcp", "no port specified: /tcp<empty>"),
        ("1.2.3.4.5:80:80", "invalid IP address: 1.2.3.4.5"),
        ("localhost:80:80", "invalid IP address: localhost"),
        ("[::1:80:80", "invalid IP address [::1: address [::1:: missing ']' in address"),
        (
            "8000-8002:80-81",
            "invalid ranges specified for container and host Ports: 80-81 and 8000-8002",
        ),
        ("8000:80-81", "invalid ranges specified for container and host Ports: 80-81 and 8000"),
        ("a,b=c", "invalid publish opts format (should be name=value but got 'a')"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        PortBinding.parse(text)
    assert str(e.value) == message


def test_port_key() -> None:
    assert PortBinding.parse("53:53/udp")[0].port_key == "53/udp"


@pytest.mark.parametrize(
    ("text", "ports"),
    [
        ("80", ["80/tcp"]),
        ("80/udp", ["80/udp"]),
        ("3000-3002", ["3000/tcp", "3001/tcp", "3002/tcp"]),
        ("3000-3001/udp", ["3000/udp", "3001/udp"]),
    ],
)
def test_expose(text: str, ports: list[str]) -> None:
    assert [p.render() for p in parse_expose(text)] == ports


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1:2", "invalid port format for --expose: 1:2"),
        (
            "abc",
            'invalid range format for --expose: abc, error: strconv.ParseUint: parsing "abc": '
            "invalid syntax",
        ),
        ("80/xyz", "invalid proto: xyz"),
    ],
)
def test_expose_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        parse_expose(text)
    assert str(e.value) == message


def test_exposed_port() -> None:
    assert ExposedPort.parse("80/udp") == ExposedPort(80, "udp")
    assert ExposedPort.parse("80") == ExposedPort(80, "tcp")
    with pytest.raises(InvalidArgument):
        ExposedPort.parse("80-81")


_ports = st.integers(min_value=1, max_value=65535)
_ips = st.one_of(
    st.just(""),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
)


@st.composite
def bindings(draw: st.DrawFn) -> PortBinding:
    host = draw(st.one_of(st.just(0), _ports))
    end = 0
    if host and host < 65535 and draw(st.booleans()):
        end = draw(st.integers(min_value=host + 1, max_value=65535))
    return PortBinding(
        container_port=draw(st.integers(min_value=0, max_value=65535)),
        proto=draw(st.sampled_from(["tcp", "udp", "sctp"])),
        host_ip=draw(_ips),
        host_port=host,
        host_port_end=end,
    )


@given(bindings())
def test_round_trip(binding: PortBinding) -> None:
    assert PortBinding.parse(binding.render()) == [binding]


@given(st.integers(min_value=0, max_value=65535), st.sampled_from(["tcp", "udp", "sctp"]))
def test_exposed_round_trip(port: int, proto: str) -> None:
    exposed = ExposedPort(port, proto)
    assert ExposedPort.parse(exposed.render()) == exposed
