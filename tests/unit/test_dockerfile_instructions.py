"""Typed instructions: what ``expand`` touches (exactly what Docker expands),
``render`` round trips, mounts, healthchecks and ``--change``."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.dockerfile import DockerfileError, parse_dockerfile
from dockyard.dockerfile import instructions as ins
from dockyard.dockerfile.changes import apply_changes
from dockyard.dockerfile.mounts import RunMount
from dockyard.dockerfile.parser import parse
from dockyard.dockerfile.typed import instruction_from_node
from dockyard.errors import InvalidArgument
from dockyard.oci.image import ContainerConfig, Healthcheck

GOLDEN = Path(__file__).parent / "golden" / "dockerfile" / "parse"
ENV = {"A": "a", "B": "b c", "PORTS": "80 443/udp", "EMPTY": "", "DIR": "/srv", "UID": "1000"}


def one(line: str, *, escape: str = "\\") -> ins.Instruction:
    """The instruction after ``FROM scratch`` in a two-line Dockerfile."""
    head = f"# escape={escape}\n" if escape != "\\" else ""
    df = parse_dockerfile(f"{head}FROM scratch\n{line}\n")
    return df.stages[0].instructions[0]


def expanded(line: str, env: dict[str, str] = ENV) -> ins.Instruction:
    return one(line).expand(env)


# -- which arguments expand -------------------------------------------------------------


def test_env_expands_keys_and_values_with_the_env_before_the_instruction() -> None:
    env = expanded("ENV X=$A Y=\"$B\" Z='$A' A=new W=$A")
    assert isinstance(env, ins.Env)
    assert env.pairs == (("X", "a"), ("Y", "b c"), ("Z", "$A"), ("A", "new"), ("W", "a"))
    assert env.render() == "ENV X=a Y=b c Z=$A A=new W=a"


def test_env_legacy_form_value_is_one_word() -> None:
    env = expanded("ENV GREETING hello   $A  world")
    assert isinstance(env, ins.Env)
    assert env.pairs == (("GREETING", "hello   a  world"),)


def test_label_expands_like_env() -> None:
    label = expanded('LABEL "com.example/$A"="v $B" plain=${EMPTY:-default}')
    assert isinstance(label, ins.Label)
    assert label.pairs == (("com.example/a", "v b c"), ("plain", "default"))


def test_arg_expands_names_and_defaults() -> None:
    arg = expanded('ARG X=${A}1 Y Z="$B"')
    assert isinstance(arg, ins.Arg)
    assert arg.args == (ins.ArgDecl("X", "a1"), ins.ArgDecl("Y"), ins.ArgDecl("Z", "b c"))


@pytest.mark.parametrize(
    ("line", "field", "value"),
    [
        ("WORKDIR $DIR/app", "path", "/srv/app"),
        ('WORKDIR "$DIR/my app"', "path", "/srv/my app"),
        ("USER ${UID}:${GID:-$UID}", "user", "1000:1000"),
        ("STOPSIGNAL ${SIG:-SIGTERM}", "signal", "SIGTERM"),
        ("MAINTAINER $A", "name", "$A"),
    ],
)
def test_single_argument_instructions(line: str, field: str, value: str) -> None:
    assert getattr(expanded(line), field) == value


def test_expose_splits_expanded_words() -> None:
    expose = expanded("EXPOSE $PORTS 8080 ${EMPTY}")
    assert isinstance(expose, ins.Expose)
    assert expose.ports == ("80", "443/udp", "8080")


def test_volume_expands_each_path() -> None:
    assert expanded("VOLUME $DIR/a ${DIR}/b").paths == ("/srv/a", "/srv/b")  # type: ignore[attr-defined]
    assert expanded('VOLUME ["$DIR/data"]').paths == ("/srv/data",)  # type: ignore[attr-defined]


def test_copy_expands_sources_dest_and_flags() -> None:
    copy = expanded(
        "COPY --from=$A --chown=$UID:$UID --chmod=${MODE:-644} --exclude=*.$A $A/x ${DIR}/"
    )
    assert isinstance(copy, ins.Copy)
    assert (copy.from_, copy.chown, copy.chmod) == ("a", "1000:1000", "644")
    assert (copy.sources, copy.dest, copy.exclude) == (("a/x",), "/srv/", ("*.a",))


def test_add_expands_checksum() -> None:
    add = expanded("ADD --checksum=sha256:${SUM:-abc} https://example.com/$A.tgz /")
    assert isinstance(add, ins.Add)
    assert (add.checksum, add.sources) == ("sha256:abc", ("https://example.com/a.tgz",))


def test_copy_heredoc_body_expands_unless_the_delimiter_is_quoted() -> None:
    df = parse_dockerfile(
        'FROM scratch\nCOPY <<EOF <<"RAW" /dir/\nA=$A "quoted $B" \\$A\nEOF\nA=$A\nRAW\n'
    )
    copy = df.stages[0].instructions[0].expand(ENV)
    assert isinstance(copy, ins.Copy)
    assert [(c.path, c.data) for c in copy.contents] == [
        ("EOF", 'A=a "quoted b c" $A\n'),
        ("RAW", "A=$A\n"),
    ]


def test_from_expands_image_and_platform() -> None:
    df = parse_dockerfile("ARG V=3\nFROM --platform=$P python:${V}-slim AS b\n")
    stage = df.stages[0]
    assert stage.from_ is not None
    frm = stage.from_.expand({"V": "3.12", "P": "linux/arm64"})
    assert (frm.image, frm.platform, frm.name) == ("python:3.12-slim", "linux/arm64", "b")
    assert frm.render() == "FROM --platform=linux/arm64 python:3.12-slim AS b"


def test_from_blank_base_is_an_error() -> None:
    df = parse_dockerfile("ARG IMAGE\nFROM $IMAGE\n")
    assert df.stages[0].from_ is not None
    with pytest.raises(
        DockerfileError, match=r"^Dockerfile:2: base name \(\$IMAGE\) should not be blank"
    ):
        df.stages[0].from_.expand({})


@pytest.mark.parametrize(
    "line",
    [
        "RUN echo $A",
        'CMD ["echo", "$A"]',
        "CMD echo $A",
        "ENTRYPOINT $A",
        "HEALTHCHECK CMD echo $A",
        'SHELL ["/bin/$A", "-c"]',
        "ONBUILD RUN echo $A",
        "ONBUILD ENV X=$A",
    ],
)
def test_command_bodies_and_onbuild_do_not_expand(line: str) -> None:
    instruction = one(line)
    assert instruction.expand(ENV) == instruction


def test_onbuild_keeps_the_trigger_text() -> None:
    onbuild = one("ONBUILD   ENV X=$A")
    assert isinstance(onbuild, ins.Onbuild)
    assert onbuild.expression == "ENV X=$A"
    assert isinstance(onbuild.trigger, ins.Env)
    assert onbuild.trigger.pairs == (("X", "$A"),)


def test_run_expands_mounts_but_not_the_command() -> None:
    run = one("RUN --mount=type=cache,id=$A,target=${DIR}/cache,uid=$UID echo $A")
    assert isinstance(run, ins.Run)
    assert run.mounts == (
        RunMount("type=cache,id=$A,target=${DIR}/cache,uid=$UID", resolved=False),
    )
    run = run.expand(ENV)
    (mount,) = run.mounts
    assert (mount.type, mount.id, mount.target, mount.uid, mount.readonly) == (
        "cache",
        "a",
        "/srv/cache",
        1000,
        False,
    )
    assert run.command == ("echo $A",)


def test_expansion_error_names_the_line() -> None:
    df = parse_dockerfile("FROM scratch\nRUN true\nWORKDIR ${DIR:?set DIR}\n")
    with pytest.raises(DockerfileError) as info:
        df.stages[0].instructions[1].expand({})
    assert str(info.value) == ('Dockerfile:3: failed to process "${DIR:?set DIR}": DIR: set DIR')


def test_mount_error_after_expansion_names_the_line() -> None:
    run = one("RUN --mount=type=$T,target=/x true")
    with pytest.raises(DockerfileError, match=r'^Dockerfile:2: unsupported mount type "nope"'):
        run.expand({"T": "nope"})


def test_backtick_escape_applies_to_expansion() -> None:
    workdir = one("WORKDIR c:\\$A\\`$B", escape="`")
    assert workdir.expand(ENV).path == "c:\\a\\$B"  # type: ignore[attr-defined]


# -- render -----------------------------------------------------------------------------


def _good_goldens() -> list[Path]:
    return [p for p in sorted(GOLDEN.glob("*.Dockerfile")) if not p.name.startswith("error_")]


@pytest.mark.parametrize("case", _good_goldens(), ids=lambda p: p.stem)
def test_render_parses_back_to_the_same_instruction(case: Path) -> None:
    df = parse_dockerfile(case.read_text(encoding="utf-8"))
    head = f"# escape={df.escape}\n" if df.escape != "\\" else ""
    everything: list[ins.Instruction] = list(df.global_args)
    for stage in df.stages:
        assert stage.from_ is not None
        everything += [stage.from_, *stage.instructions]
    for instruction in everything:
        text = instruction.render()
        tree = parse(head + text + "\n")
        assert len(tree.nodes) == 1, text
        again = instruction_from_node(tree.nodes[0], escape=tree.escape)
        assert again == instruction, text


def test_render_canonical_forms() -> None:
    assert one("copy --link --from=build a b").render() == "COPY --from=build --link a b"
    assert one('COPY --chown="a b" x y').render() == 'COPY --chown="a b" x y'
    assert one('RUN ["a", "b c"]').render() == 'RUN ["a", "b c"]'
    assert one("HEALTHCHECK --interval=90s --retries=2 CMD true").render() == (
        "HEALTHCHECK --interval=1m30s --retries=2 CMD true"
    )
    assert one("ENV a b c").render() == "ENV a b c"


# -- mounts and healthchecks ------------------------------------------------------------


def test_mount_defaults_per_type() -> None:
    run = one(
        "RUN --mount=type=bind,target=/b --mount=type=cache,target=/c "
        "--mount=type=tmpfs,target=/t --mount=type=secret,id=s --mount=type=ssh true"
    )
    assert isinstance(run, ins.Run)
    assert [(m.type, m.readonly) for m in run.mounts] == [
        ("bind", True),
        ("cache", False),
        ("tmpfs", False),
        ("secret", True),
        ("ssh", True),
    ]


def test_healthcheck_to_config() -> None:
    hc = one("HEALTHCHECK --interval=5s --timeout=1s --retries=4 CMD curl -f localhost")
    assert isinstance(hc, ins.Healthcheck)
    assert hc.to_config() == Healthcheck(
        test=("CMD-SHELL", "curl -f localhost"),
        interval=5_000_000_000,
        timeout=1_000_000_000,
        retries=4,
    )


# -- import --change --------------------------------------------------------------------


def test_changes_apply_as_the_classic_builder() -> None:
    config = apply_changes(
        ContainerConfig(env=("PATH=/usr/bin",)),
        [
            "ENV PATH=/opt/bin:$PATH HOME=/root",
            'CMD ["/bin/hello"]',
            "ENTRYPOINT /entry.sh",
            "WORKDIR /srv",
            "WORKDIR app",
            "EXPOSE 80 9000-9001/udp",
            "VOLUME /data",
            'LABEL team="red team"',
            "USER nobody",
            "STOPSIGNAL SIGINT",
            "ONBUILD RUN echo $HOME",
            "HEALTHCHECK NONE",
        ],
    )
    assert config.env == ("PATH=/opt/bin:/usr/bin", "HOME=/root")
    assert config.cmd == ("/bin/hello",)
    assert config.entrypoint == ("/bin/sh", "-c", "/entry.sh")
    assert config.working_dir == "/srv/app"
    assert config.exposed_ports == ("80/tcp", "9000/udp", "9001/udp")
    assert config.volumes == ("/data",)
    assert config.labels == (("team", "red team"),)
    assert (config.user, config.stop_signal) == ("nobody", "SIGINT")
    assert config.on_build == ("RUN echo $HOME",)
    assert config.healthcheck == Healthcheck(test=("NONE",))


def test_entrypoint_clears_an_inherited_cmd() -> None:
    config = apply_changes(ContainerConfig(cmd=("sh",)), ['ENTRYPOINT ["/app"]'])
    assert (config.entrypoint, config.cmd) == (("/app",), None)


def test_shell_form_uses_the_config_shell() -> None:
    config = apply_changes(ContainerConfig(shell=("/bin/bash", "-lc")), ["CMD echo hi"])
    assert config.cmd == ("/bin/bash", "-lc", "echo hi")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("RUN echo hi", "RUN is not a valid change command"),
        ("FROM alpine", "FROM is not a valid change command"),
        ("ENV =x", "ENV names can not be blank"),
        ("CMD", None),
    ],
)
def test_change_errors(line: str, message: str | None) -> None:
    if message is None:  # Docker accepts a bare CMD: the shell alone
        assert apply_changes(ContainerConfig(), [line]).cmd == ("/bin/sh", "-c")
        return
    with pytest.raises(InvalidArgument) as info:
        apply_changes(ContainerConfig(), [line])
    assert str(info.value) == message


def test_no_changes_is_the_same_config() -> None:
    config = ContainerConfig(user="x")
    assert apply_changes(config, []) is config


# -- quoting round trip ------------------------------------------------------------------

_KEY = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,8}", fullmatch=True)
_VALUE = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\n\r"))


def _double_quoted(value: str) -> str:
    """A Dockerfile word that expands to ``value``: inside double quotes only
    ``"``, ``$`` and the escape character need escaping."""
    return '"' + "".join("\\" + c if c in '"$\\' else c for c in value) + '"'


@settings(max_examples=200, deadline=None)
@given(pairs=st.lists(st.tuples(_KEY, _VALUE), min_size=1, max_size=4))
def test_env_values_survive_quoting(pairs: list[tuple[str, str]]) -> None:
    line = "ENV " + " ".join(f"{k}={_double_quoted(v)}" for k, v in pairs)
    env = one(line)
    assert isinstance(env, ins.Env)
    assert env.expand({}).pairs == tuple(pairs)
    again = parse_dockerfile("FROM scratch\n" + env.render() + "\n").stages[0].instructions[0]
    assert again == env
