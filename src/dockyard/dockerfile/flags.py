"""Instruction flags (``--from=stage``, ``--link``, ``--mount=...``) as BuildKit's
``BFlags`` reads them: each instruction declares the flags it takes, then the
words the parser split off are checked against them."""

from __future__ import annotations

from collections.abc import Sequence

from dockyard.dockerfile.errors import DockerfileError, with_suggestion


class Flags:
    """Declare with :meth:`string`, :meth:`boolean`, :meth:`strings`; then
    :meth:`parse`; then read values with :meth:`get`, :meth:`is_true`, :meth:`all`."""

    def __init__(self, words: Sequence[str]) -> None:
        self.words = tuple(words)
        self._kinds: dict[str, str] = {}
        self._values: dict[str, str] = {}
        self._lists: dict[str, list[str]] = {}
        self.used: list[str] = []

    def string(self, name: str, default: str = "") -> None:
        self._kinds[name] = "string"
        self._values[name] = default

    def boolean(self, name: str) -> None:
        self._kinds[name] = "bool"
        self._values[name] = "false"

    def strings(self, name: str) -> None:
        self._kinds[name] = "strings"
        self._lists[name] = []

    def get(self, name: str) -> str:
        return self._values[name]

    def is_true(self, name: str) -> bool:
        return self._values[name] == "true"

    def all(self, name: str) -> tuple[str, ...]:
        return tuple(self._lists[name])

    def parse(self) -> None:
        for word in self.words:
            if word == "--":
                return
            if not word.startswith("--"):
                raise DockerfileError(f"arg should start with -- : {word}")
            flag, has_value, value = word.partition("=")
            name = flag[2:]
            kind = self._kinds.get(name)
            if kind is None:
                raise DockerfileError(
                    with_suggestion(
                        f"unknown flag: {flag}", name, self._kinds, case_sensitive=True
                    ),
                    hint=_known(self._kinds),
                )
            if name in self.used and kind != "strings":
                raise DockerfileError(
                    f"duplicate flag specified: {flag}", hint=f"give {flag} only once"
                )
            self.used.append(name)
            if kind == "bool":
                if has_value and value == "":
                    raise DockerfileError(
                        f"missing a value on flag: {flag}", hint=f"write {flag} or {flag}=true"
                    )
                lowered = value.lower()
                if lowered not in ("", "true", "false"):
                    raise DockerfileError(
                        f"expecting boolean value for flag {flag}, not: {value}",
                        hint=f"write {flag}, {flag}=true or {flag}=false",
                    )
                self._values[name] = lowered or "true"
            elif not has_value:
                raise DockerfileError(
                    f"missing a value on flag: {flag}", hint=f"write {flag}=VALUE"
                )
            elif kind == "string":
                self._values[name] = value
            else:
                self._lists[name].append(value)


def _known(kinds: dict[str, str]) -> str:
    if not kinds:
        return "this instruction takes no flags"
    return "flags here: " + ", ".join("--" + k for k in sorted(kinds))
