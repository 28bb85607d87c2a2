"""What a command gets: the engine (built on first use) and the output streams."""

from __future__ import annotations

import sys

from dockyard.config import EngineConfig

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

    from dockyard.engine.wiring import Engine


class Context:
    def __init__(self, config: EngineConfig, command: str) -> None:
        self.config = config
        self.command = command
        self.out: TextIO = sys.stdout
        self.err: TextIO = sys.stderr
        self._engine: Engine | None = None

    @classmethod
    def from_options(cls, opts: dict[str, str], *, command: str) -> Context:
        config = EngineConfig.from_env(opts.get("root"), opts.get("runroot"), opts.get("ca-bundle"))
        return cls(config, command)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from dockyard.engine.wiring import Engine

            self._engine = Engine(self.config)
        return self._engine

    def print(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
