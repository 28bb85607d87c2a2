"""The dispatcher: a Dockerfile's stages, step by step, into images.

As the classic builder does it: every step after FROM makes an image whose
parent is the previous step's (``docker images -a`` lists them), metadata steps
add a history entry marked ``empty_layer``, COPY/ADD/RUN/WORKDIR commit what
they changed in an overlay snapshot (the upper directory's diff, so the cost
follows the change, not the root filesystem). Before doing a step the cache is
asked (:mod:`dockyard.build.cache`); a hit reuses the image.

Stages the target does not need (neither its base chain nor a ``COPY --from``)
are skipped. ARGs: those before the first FROM are global (visible to FROM and
to an ``ARG name`` without a default in a stage); a stage sees only the ARGs it
declares; ``--build-arg`` overrides defaults; ENV wins over ARG in expansion
and in the RUN environment.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from pathlib import Path

from dockyard._util.litedc import dataclass, field, replace
from dockyard.build import events as ev
from dockyard.build.cache import BuildCache, StepInputs
from dockyard.build.context import BuildContext
from dockyard.build.hashing import HashMemo, combine
from dockyard.build.history import nop, nop_string, run_command
from dockyard.build.metadata import apply_metadata, shell_command, with_default_path
from dockyard.build.platform import check_platform, platform_args
from dockyard.build.remote import is_url
from dockyard.build.run_mounts import (
    MountInputs,
    MountPreparer,
    SecretSource,
    resolve_mounts,
    stage_refs,
)
from dockyard.build.sources import prepare_transfer
from dockyard.dockerfile import instructions as ins
from dockyard.dockerfile.errors import DockerfileError
from dockyard.dockerfile.stages import Dockerfile, Stage, parse_dockerfile
from dockyard.errors import DockyardError, InvalidArgument
from dockyard.oci.image import ContainerConfig, HistoryEntry, ImageConfig

# Build args every stage may use without declaring them (not recorded in history).
PREDEFINED_ARGS = frozenset(
    {
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "FTP_PROXY",
        "ftp_proxy",
        "NO_PROXY",
        "no_proxy",
        "ALL_PROXY",
        "all_proxy",
    }
)


class BuildFailed(DockyardError):
    """A RUN step exited non-zero: ``code`` is its exit code (the CLI's too)."""

    def __init__(self, message: str, code: int, command: str = "", line: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.command = command  # the step's command line, for BuildKit's wording
        self.line = line  # the RUN's line in the Dockerfile


@dataclass(frozen=True)
class BuildOptions:
    tags: tuple[str, ...] = ()
    build_args: tuple[tuple[str, str], ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    target: str = ""
    no_cache: bool = False
    pull: bool = False
    network: str = "default"
    explain: bool = False
    host_ca: bool = False  # the host's CA bundle in RUN steps (never in a layer)
    secrets: tuple[SecretSource, ...] = ()  # --secret, for RUN --mount=type=secret


@dataclass(frozen=True)
class BuildResult:
    image_id: str
    tags: tuple[str, ...]
    steps: int
    cached: int


@dataclass
class _State:
    """A stage being built: its current image, config and ARG scope."""

    image_id: str
    config: ImageConfig
    cmd_set: bool = False
    args: dict[str, str | None] = field(default_factory=dict)

    @property
    def container(self) -> ContainerConfig:
        return self.config.config


def _now() -> str:
    t = time.time_ns()
    seconds, nanos = divmod(t, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"


class Builder:
    def __init__(
        self,
        backend: ev.Backend,
        cache: BuildCache,
        context: BuildContext,
        options: BuildOptions,
        emit: ev.Emit,
        memo: HashMemo | None = None,
    ) -> None:
        self.backend = backend
        self.cache = cache
        self.context = context
        self.options = options
        self.emit = emit
        self.memo = memo
        self.build_args = dict(options.build_args)
        self.used_args: set[str] = set()
        self.stage_images: dict[int, _State] = {}
        self.step = 0
        self.total = 0
        self.cached = 0
        self.missed = False  # a step missed: later ones have a new parent
        self.dockerfile: Dockerfile | None = None
        self.stage_pos = -1  # the stage being built, in build order
        self.mounts = MountPreparer(backend, context, {s.id: s for s in options.secrets})

    # -- entry ------------------------------------------------------------------------
    def build(self) -> BuildResult:
        dockerfile = parse_dockerfile(
            self.context.dockerfile_text, name=self.context.dockerfile_name
        )
        self.dockerfile = dockerfile
        if not dockerfile.stages:
            raise DockerfileError("the Dockerfile has no instructions", file=dockerfile.name,
                                  hint="start it with FROM")  # fmt: skip
        meta = self._meta_args(dockerfile)
        target = self._target(dockerfile)
        stages = self._needed(dockerfile, target, meta)
        if self.options.labels:
            label = ins.Label(
                pairs=self.options.labels,
                original="LABEL " + " ".join(f"\"{k}\"='{v}'" for k, v in self.options.labels),
            )
            stages[-1] = replace(stages[-1], instructions=(*stages[-1].instructions, label))
        self.total = sum(1 + len(s.instructions) for s in stages)
        self.emit(self._planned(dockerfile, stages, meta))
        state: _State | None = None
        for stage in stages:
            try:
                state = self._stage(dockerfile, stage, meta)
            except DockerfileError as e:
                raise e.located(file=dockerfile.name) from None
            self.stage_images[stage.index] = state
        assert state is not None
        if not state.image_id:
            raise InvalidArgument("No image was generated. Is your Dockerfile empty?")
        unused = sorted(
            k for k in self.build_args if k not in self.used_args and k not in PREDEFINED_ARGS
        )
        if unused:
            self.emit(
                ev.Warning(
                    f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed"
                )
            )
        if self.options.tags:
            self.backend.tag(state.image_id, self.options.tags)
        return BuildResult(state.image_id, self.options.tags, self.total, self.cached)

    def _planned(
        self, dockerfile: Dockerfile, stages: list[Stage], meta: Mapping[str, str]
    ) -> ev.Planned:
        many = len(dockerfile.stages) > 1
        plan = []
        for stage in stages:
            label = (stage.name or f"stage-{stage.index}") if many else ""
            count = sum(1 for i in stage.instructions if i.KEYWORD in ev.VERTEX_KEYWORDS)
            plan.append((label, 1 + count))
        bases = (self._base_of(dockerfile, s, meta) for s in stages)
        return ev.Planned(tuple(plan), tuple(dict.fromkeys(b for b in bases if b)))

    def _base_of(self, dockerfile: Dockerfile, stage: Stage, meta: Mapping[str, str]) -> str:
        """The image ``stage`` starts from; "" for scratch or an earlier stage."""
        name = self._expand_silently(stage.base, meta)
        ref = dockerfile.stage(name)
        if name.lower() == "scratch" or (ref is not None and ref.index < stage.index):
            return ""
        return name

    def _meta_args(self, dockerfile: Dockerfile) -> dict[str, str]:
        meta: dict[str, str] = platform_args()  # BuildKit's, in the global scope
        for arg in dockerfile.global_args:
            expanded = arg.expand(meta)
            for decl in expanded.args:
                if decl.name in self.build_args:
                    meta[decl.name] = self.build_args[decl.name]
                    self.used_args.add(decl.name)
                elif decl.default is not None:
                    meta[decl.name] = decl.default
        return meta

    def _target(self, dockerfile: Dockerfile) -> Stage:
        if not self.options.target:
            return dockerfile.stages[-1]
        stage = dockerfile.stage(self.options.target)
        if stage is None:
            raise InvalidArgument(
                f"failed to reach build target {self.options.target} in Dockerfile"
            )
        return stage

    def _needed(
        self, dockerfile: Dockerfile, target: Stage, meta: Mapping[str, str]
    ) -> list[Stage]:
        needed: set[int] = set()
        todo = [target]
        while todo:
            stage = todo.pop()
            if stage.index in needed:
                continue
            needed.add(stage.index)
            refs = [self._expand_silently(stage.base, meta)]
            refs += [
                self._expand_silently(i.from_, meta)
                for i in stage.instructions
                if isinstance(i, ins.Copy) and i.from_
            ]
            refs += [
                ref
                for i in stage.instructions
                if isinstance(i, ins.Run)
                for m in i.mounts
                for ref in stage_refs(m.spec)
            ]
            for ref in refs:
                dep = dockerfile.stage(ref)
                if dep is not None and dep.index < stage.index:
                    todo.append(dep)
        return [s for s in dockerfile.stages if s.index in needed and s.index <= target.index]

    @staticmethod
    def _expand_silently(word: str, env: Mapping[str, str]) -> str:
        from dockyard.dockerfile.shell import Lexer, ShellError

        try:
            return Lexer().process_word(word, env)
        except ShellError:
            return word

    # -- stages ------------------------------------------------------------------------
    def _stage(self, dockerfile: Dockerfile, stage: Stage, meta: Mapping[str, str]) -> _State:
        assert stage.from_ is not None
        self.stage_pos += 1
        self._start_step(stage.from_, self._base_of(dockerfile, stage, meta))
        state = self._from(dockerfile, stage, meta)
        triggers = state.container.on_build
        if triggers:
            state.config = state.config.with_config(replace(state.container, on_build=()))
            self.emit(ev.TriggersStarted(len(triggers)))
            for expression in triggers:
                self._dispatch(state, _parse_trigger(expression, dockerfile.escape), dockerfile)
        self.emit(ev.StepDone(state.image_id))
        for instruction in stage.instructions:
            self._start_step(instruction)
            self._dispatch(state, instruction, dockerfile)
            self.emit(ev.StepDone(state.image_id))
        return state

    def _start_step(self, instruction: ins.Instruction, base: str = "") -> None:
        self.step += 1
        text = instruction.original or instruction.render()
        keyword = instruction.KEYWORD
        self.emit(ev.StepStarted(self.step, self.total, text, self.stage_pos, keyword, base))

    def _from(self, dockerfile: Dockerfile, stage: Stage, meta: Mapping[str, str]) -> _State:
        assert stage.from_ is not None
        expanded = stage.from_.expand(meta)
        name = expanded.image
        try:
            check_platform(expanded.platform)
        except InvalidArgument as e:
            raise DockerfileError(e.message, line=stage.from_.start, hint=e.hint) from None
        if name.lower() == "scratch":
            config = ImageConfig(config=with_default_path(ContainerConfig()))
            return _State("", config)
        ref = dockerfile.stage(name)
        if ref is not None and ref.index < stage.index and ref.index in self.stage_images:
            built = self.stage_images[ref.index]
            config = built.config.with_config(with_default_path(built.container))
            return _State(built.image_id, config)
        base = self.backend.base_image(name, pull=self.options.pull)
        return _State(base.id, base.config.with_config(with_default_path(base.config.config)))

    # -- one instruction ----------------------------------------------------------------
    def _env(self, state: _State) -> dict[str, str]:
        """The expansion environment: ARGs in scope, then ENV over them."""
        env = {k: v for k, v in state.args.items() if v is not None}
        env.update(state.container.env_dict())
        return env

    def _run_args(self, state: _State) -> list[tuple[str, str]]:
        """Build args a RUN sees (not shadowed by ENV), sorted: the ``|N`` prefix."""
        env_names = set(state.container.env_dict())
        values = {k: v for k, v in state.args.items() if v is not None and k not in env_names}
        for name in PREDEFINED_ARGS:
            if name in self.build_args and name not in env_names and name not in values:
                values[name] = self.build_args[name]
        return sorted(values.items())

    def _dispatch(
        self, state: _State, instruction: ins.Instruction, dockerfile: Dockerfile
    ) -> None:
        if isinstance(instruction, ins.Arg):
            instruction = instruction.expand(self._env(state))
            for decl in instruction.args:
                if decl.name in self.build_args:
                    state.args[decl.name] = self.build_args[decl.name]
                    self.used_args.add(decl.name)
                elif decl.default is not None:
                    state.args[decl.name] = decl.default
                else:
                    state.args[decl.name] = self._global(dockerfile, decl.name)
            self._metadata(state, instruction)
        elif isinstance(instruction, ins.Run):
            self._run(state, instruction)
        elif isinstance(instruction, ins.Copy | ins.Add):
            self._transfer(state, instruction.expand(self._env(state)))
        elif isinstance(instruction, ins.Workdir):
            self._workdir(state, instruction.expand(self._env(state)))
        elif isinstance(instruction, ins.From):
            raise DockerfileError("FROM cannot be an ONBUILD trigger", line=instruction.start)
        else:
            self._metadata(state, instruction.expand(self._env(state)))

    def _global(self, dockerfile: Dockerfile, name: str) -> str | None:
        meta = self._meta_args(dockerfile)
        return meta.get(name)

    # -- metadata -----------------------------------------------------------------------
    def _metadata(self, state: _State, instruction: ins.Instruction) -> None:
        change = apply_metadata(state.container, instruction, cmd_set=state.cmd_set)
        state.cmd_set = change.cmd_set
        created_by = nop(state.container.shell, change.comment)
        config = state.config.with_config(change.config)
        if change.author is not None:
            config = replace(config, author=change.author)
        inputs = StepInputs(state.image_id, created_by + "\n" + _config_json(config))
        if self._cached(state, inputs):
            return
        fake = os.urandom(32).hex()
        self.emit(ev.ContainerStarted(fake))
        self.emit(ev.ContainerRemoved(fake))
        history = HistoryEntry(
            created=_now(), created_by=created_by, author=config.author, empty_layer=True
        )
        image = self.backend.commit(state.image_id, config, history, None)
        self._made(state, inputs, image)

    def _workdir(self, state: _State, instruction: ins.Workdir) -> None:
        change = apply_metadata(state.container, instruction, cmd_set=state.cmd_set)
        created_by = nop_string(state.container.shell, change.comment)
        config = state.config.with_config(change.config)
        inputs = StepInputs(state.image_id, created_by + "\n" + _config_json(config))
        if self._cached(state, inputs):
            return
        fake = os.urandom(32).hex()
        self.emit(ev.ContainerStarted(fake))
        history = HistoryEntry(created=_now(), created_by=created_by, author=config.author)
        with self.backend.workspace(state.image_id) as ws:
            from dockyard.build.paths import scoped_path

            target = scoped_path(ws.root, change.config.working_dir)
            if not target.is_dir():
                from dockyard.build.copier import Owner, _make_dirs

                _make_dirs(ws.root, change.config.working_dir, Owner())
            image = self.backend.commit(state.image_id, config, history, ws)
        self.emit(ev.ContainerRemoved(fake))
        self._made(state, inputs, image)

    # -- cache --------------------------------------------------------------------------
    def _cached(self, state: _State, inputs: StepInputs) -> bool:
        if self.options.no_cache:
            if self.options.explain:
                self.emit(ev.StepExplained(self.step, False, "--no-cache"))
            return False
        image_id = self.cache.lookup(inputs)
        found = self.backend.image(image_id) if image_id else None
        if found is None:
            if self.options.explain:
                reason = self.cache.why_missed(inputs, parent_was_rebuilt=self.missed)
                self.emit(ev.StepExplained(self.step, False, reason.detail))
            self.missed = True
            return False
        if self.options.explain:
            self.emit(ev.StepExplained(self.step, True, "cache hit"))
        self.emit(ev.CacheHit(found.id))
        self.cached += 1
        state.image_id, state.config = found.id, found.config
        return True

    def _made(self, state: _State, inputs: StepInputs, image: ev.BaseImage) -> None:
        self.cache.record(inputs, image.id)
        state.image_id, state.config = image.id, image.config

    # -- COPY / ADD ---------------------------------------------------------------------
    def _transfer(self, state: _State, instruction: ins.Copy | ins.Add) -> None:
        from dockyard.build.copier import perform, resolve_chown

        remote = isinstance(instruction, ins.Add) and any(map(is_url, instruction.sources))
        with (
            self._source_root(instruction) as source_root,
            self._downloads() if remote else nullcontext(None) as downloads,
        ):
            try:
                workdir = state.container.working_dir
                prepared = prepare_transfer(
                    instruction, self.context, source_root, workdir, self.memo, downloads
                )
            except DockyardError as e:
                if isinstance(e, DockerfileError):
                    raise
                raise DockerfileError(e.message, line=instruction.start, hint=e.hint) from None
            created_by = nop_string(
                state.container.shell,
                f"{instruction.KEYWORD} {prepared.hash_text} in {instruction.dest} ",
            )
            config = state.config
            inputs = StepInputs(
                state.image_id,
                f"{instruction.KEYWORD} {' '.join(instruction.sources)} {instruction.dest} "
                f"chown={instruction.chown} chmod={instruction.chmod} from={prepared.from_id}\n"
                + _config_json(config),
                prepared.sources,
            )
            if self._cached(state, inputs):
                return
            history = HistoryEntry(created=_now(), created_by=created_by, author=config.author)
            with self.backend.workspace(state.image_id) as ws:
                plan = prepared.plan
                plan.owner = resolve_chown(instruction.chown, ws.root)
                perform(plan, ws.root)
                image = self.backend.commit(state.image_id, config, history, ws)
        self._made(state, inputs, image)

    @contextmanager
    def _source_root(self, instruction: ins.Copy | ins.Add) -> Iterator[tuple[str, Path] | None]:
        if not (isinstance(instruction, ins.Copy) and instruction.from_):
            yield None
            return
        image_id = self._image_for(instruction.from_)
        with self.backend.read_only_root(image_id) as path:
            yield (image_id, path)

    @contextmanager
    def _downloads(self) -> Iterator[Path]:
        """A private directory for ``ADD <url>`` downloads, removed after the step."""
        import shutil
        import tempfile

        base = self.backend.state_dir("tmp")
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix="add-", dir=base))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def _image_for(self, ref: str) -> str:
        """``--from=``/``from=``: a stage built before (name or index), else an image."""
        stage = self.dockerfile.stage(ref) if self.dockerfile else None
        if stage is not None and stage.index in self.stage_images:
            return self.stage_images[stage.index].image_id
        return self.backend.base_image(ref, pull=False).id

    # -- RUN ----------------------------------------------------------------------------
    def _run(self, state: _State, instruction: ins.Run) -> None:
        instruction = instruction.expand(self._env(state))
        argv = _run_argv(instruction, state.container)
        args = self._run_args(state)
        for name, _ in args:
            self.used_args.add(name)
        created_by = " ".join(run_command(argv, args))
        config = state.config
        mounts = MountInputs((), "", ())
        if instruction.mounts:
            try:
                mounts = resolve_mounts(instruction.mounts, state.container.working_dir,
                                        self.context, self._image_for, self.memo)  # fmt: skip
            except DockyardError as e:
                raise DockerfileError(e.message, line=instruction.start, hint=e.hint) from None
        key = created_by + "".join("\n" + t for t in (mounts.text,) if t)
        if instruction.network != "default":  # part of BuildKit's ExecOp too
            key += f"\nnetwork={instruction.network}"
        inputs = StepInputs(
            state.image_id,
            key + "\n" + _config_json(config),
            combine(mounts.files) if mounts.files else None,
            tuple(args),
        )
        if self._cached(state, inputs):
            return
        network = instruction.network if instruction.network != "default" else self.options.network
        env = tuple(state.container.env) + tuple(f"{k}={v}" for k, v in args)
        history = HistoryEntry(created=_now(), created_by=created_by, author=config.author)
        if not state.image_id:
            raise InvalidArgument(
                f"cannot RUN {' '.join(argv)!r} on an empty image (FROM scratch)",
                hint="start the stage from an image with a shell, or COPY in the files instead",
            )

        def commit(ws: ev.Workspace) -> ev.BaseImage:
            return self.backend.commit(state.image_id, config, history, ws)

        with self.mounts.mounted(mounts, instruction.start) as (step_mounts, secret_env):
            request = ev.RunRequest(
                parent_id=state.image_id,
                argv=argv,
                env=env + secret_env,
                working_dir=state.container.working_dir,
                user=state.container.user,
                network=network,
                host_ca=self.options.host_ca,
                mounts=step_mounts,
            )
            result, image = self.backend.run(request, self.emit, commit)
        if result.exit_code != 0 or image is None:
            raise BuildFailed(
                f"The command '{' '.join(argv)}' returned a non-zero code: {result.exit_code}",
                result.exit_code,
                " ".join(argv),
                instruction.start,
            )
        self._made(state, inputs, image)


def _run_argv(instruction: ins.Run, config: ContainerConfig) -> tuple[str, ...]:
    if not instruction.heredocs or not instruction.shell_form:
        return shell_command(instruction, config)
    text = instruction.command[0] if instruction.command else ""
    shell = config.shell or ("/bin/sh", "-c")
    if (
        len(instruction.heredocs) == 1
        and text.strip().lstrip("<-").strip("'\"") == instruction.heredocs[0].name
    ):
        return (*shell, instruction.heredocs[0].data())
    body = text + "".join("\n" + doc.content + doc.name for doc in instruction.heredocs)
    return (*shell, body)


def _parse_trigger(expression: str, escape: str) -> ins.Instruction:
    from dockyard.dockerfile.parser import parse
    from dockyard.dockerfile.typed import instruction_from_node

    prefix = f"# escape={escape}\n" if escape != "\\" else ""
    tree = parse(prefix + expression, name="ONBUILD")
    if len(tree.nodes) != 1:
        raise InvalidArgument(f"invalid ONBUILD trigger: {expression!r}")
    return instruction_from_node(tree.nodes[0], escape=tree.escape)


def _config_json(config: ImageConfig) -> str:
    import json

    return json.dumps(config.config.to_dict(), sort_keys=True, separators=(",", ":")) + (
        f"\nauthor={config.author}" if config.author else ""
    )


__all__ = ["BuildFailed", "BuildOptions", "BuildResult", "Builder"]
