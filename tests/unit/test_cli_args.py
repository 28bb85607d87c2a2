"""cli/args.py: the command lines parsed without argparse give argparse's result.

Every command's parser is taken as the command builds it (the command is stopped right
after its ``parse`` call) and each command line below is parsed both ways: the simple
parser must give the same namespace, or leave the line to argparse.
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from dockyard.cli import args as cli_args
from dockyard.cli.main import COMMANDS

LINES: list[list[str]] = [
    [],
    ["-a"],
    ["-aq"],
    ["-a", "-q"],
    ["--all", "--quiet", "--no-trunc"],
    ["-q", "extra"],
    ["--format", "{{.ID}}"],
    ["--format={{.ID}}\t{{.Names}}"],
    ["--format="],
    ["-f", "status=running", "--filter", "name=x", "-f", "label=a=b"],
    ["-n", "3"],
    ["-n", "-1"],
    ["-n", "x"],
    ["--last=2"],
    ["--nosuch"],
    ["-h"],
    ["--help"],
    ["--", "x"],
    ["-"],
    ["busybox"],
    ["busybox", "true"],
    ["busybox", "sh", "-c", "echo hi"],
    ["--rm", "--network", "none", "busybox", "true"],
    ["--rm", "--network=none", "busybox", "true"],
    ["-d", "--name", "web", "-p", "8080:80", "-e", "A=1", "-e", "B", "nginx"],
    ["-it", "busybox", "sh"],
    ["-i", "-t", "--rm", "busybox", "sh"],
    ["--cpu-shares", "512", "--pids-limit", "10", "busybox"],
    ["--cpu-shares", "lots", "busybox"],
    ["--pull", "never", "busybox"],
    ["--pull", "sometimes", "busybox"],
    ["-h", "myhost", "busybox"],
    ["busybox", "--rm"],
    ["--rm"],
    ["-t", "5", "c1", "c2"],
    ["--time", "5", "c1"],
    ["--timeout=7", "c1"],
    ["-f", "c1", "c2"],
    ["c1", "-f"],
    ["-s", "KILL", "c1"],
    ["c1", "new"],
    ["c1"],
    ["-u", "0", "-w", "/tmp", "c1", "ls", "-l"],
    ["--detach-keys", "ctrl-x", "c1", "true"],
    ["-e", "A=1", "--env-file", "/dev/null", "c1", "env"],
    ["repo:tag"],
    ["--digests", "repo"],
    ["a", "b"],
]


class _Stop(Exception):
    pass


def _targets() -> list[str]:
    out = []
    for target, _ in COMMANDS.values():
        module_name, _func_name = target.split(":")
        if module_name in ("image_group", "container_group", "volume", "system"):
            continue  # groups: their subcommands are listed below
        out.append(target)
    return [*sorted(set(out)), "images:prune", "ps:prune", "volume:ls", "system:df"]


@pytest.mark.parametrize("target", _targets())
def test_simple_parse_is_argparse(target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    module_name, func_name = target.split(":")
    func = getattr(importlib.import_module(f"dockyard.cli.commands.{module_name}"), func_name)
    checked = 0

    def parse(self: cli_args.Parser, args: list[str]) -> Any:
        nonlocal checked
        try:
            simple = vars(self.parse_simple(args))
        except cli_args._Fallback:
            simple = None
        try:
            full: Any = vars(self.argparser().parse_args(list(args)))
        except (SystemExit, cli_args.UsageError) as e:
            full = type(e)
        if simple is not None:
            assert simple == full, f"{target} {args}"
            checked += 1
        raise _Stop

    monkeypatch.setattr(cli_args.Parser, "parse", parse)
    for line in LINES:
        try:
            func(None, line)
        except _Stop:
            pass
        except (AttributeError, cli_args.UsageError):
            pass  # the command needed its context (or stopped) before parsing this line
    # attach's --sig-proxy takes an optional value: argparse's always; top, network
    # parse only --help themselves (top hands the rest to ps, network to subcommands)
    assert checked > 0 or module_name in ("attach", "top", "network")


def test_plain_lines_do_not_need_argparse() -> None:
    from dockyard.cli.commands.ps import ps

    p = cli_args.Parser("ps", "[OPTIONS]")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("-n", "--last", type=int, default=-1)
    p.add_argument("names", nargs="*")
    assert vars(p.parse_simple(["-a", "-n", "2", "x", "y"])) == {
        "all": True,
        "last": 2,
        "names": ["x", "y"],
    }
    for line in (["-an", "2"], ["--all=1"], ["x", "-a"], ["-n", "-1"], ["--help"]):
        with pytest.raises(cli_args._Fallback):
            p.parse_simple(line)
    assert ps is not None


def test_errors_are_argparse_errors() -> None:
    p = cli_args.Parser("ps", "[OPTIONS]")
    p.add_argument("-a", "--all", action="store_true")
    with pytest.raises(cli_args.UsageError, match="unknown flag: --nope"):
        p.parse(["--nope"])
    with pytest.raises(cli_args.UsageError, match="accepts no argument"):
        p.parse(["x"])


@pytest.mark.parametrize(
    ("target", "line"),
    [
        ("ps:ps", []),
        ("ps:ps", ["-a", "-q"]),
        ("images:images", []),
        ("images:images", ["-a", "busybox"]),
        ("containers:run", ["--rm", "--network", "none", "busybox", "true"]),
        ("containers:run", ["-d", "--name", "web", "busybox", "sleep", "9"]),
        ("exec:exec_", ["c1", "true"]),
        ("exec:exec_", ["-i", "c1", "sh", "-c", "exit 3"]),
    ],
)
def test_hot_lines_skip_argparse(
    target: str, line: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    module_name, func_name = target.split(":")
    func = getattr(importlib.import_module(f"dockyard.cli.commands.{module_name}"), func_name)
    seen: list[cli_args.Parser] = []

    def parse(self: cli_args.Parser, args: list[str]) -> Any:
        seen.append(self)
        raise _Stop

    monkeypatch.setattr(cli_args.Parser, "parse", parse)
    with pytest.raises(_Stop):
        func(None, line)
    ns = seen[0].parse_simple(line)  # no _Fallback
    assert vars(ns) == vars(seen[0].argparser().parse_args(line))
