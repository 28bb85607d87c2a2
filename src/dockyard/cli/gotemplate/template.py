"""The public entry points: ``parse`` (cached), :class:`Template`, ``render``, and
the docker CLI's handling of a ``--format`` string."""

from __future__ import annotations

from functools import lru_cache

from dockyard.cli.gotemplate.execute import _State
from dockyard.cli.gotemplate.funcs import _FUNCS, _HEADER_FUNCS
from dockyard.cli.gotemplate.parser import _HINT, _Node, _ParseError, _Parser
from dockyard.cli.gotemplate.values import MISSING
from dockyard.errors import InvalidArgument


class Template:
    """A parsed format. Immutable: execute it as often as needed."""

    __slots__ = ("_root", "source")

    def __init__(self, source: str, root: list[_Node]) -> None:
        self.source, self._root = source, root

    def __repr__(self) -> str:
        return f"Template({self.source!r})"

    def execute(self, data: object, *, missingkey_error: bool = False, header: bool = False) -> str:
        """Render ``data``. ``missingkey_error`` is Go's ``missingkey=error`` option;
        ``header`` swaps in Docker's table-header functions (json, upper, ... return
        their first argument unchanged)."""
        dot = MISSING if data is None else data
        state = _State(self.source, missingkey_error, _HEADER_FUNCS if header else _FUNCS, dot)
        try:
            state.walk(dot, self._root)
        except RecursionError:
            state.fail("data or template nested too deeply")
        return "".join(state.out)


@lru_cache(maxsize=256)
def parse(text: str) -> Template:
    """Parse a Go template; raises InvalidArgument like Docker's ``template parsing error``."""
    try:
        return Template(text, _Parser(text).parse())
    except _ParseError as e:
        raise InvalidArgument(
            f"template parsing error: template: :{e.line}: {e.msg}", hint=_HINT
        ) from None


def render(text: str, data: object) -> str:
    return parse(text).execute(data)


def split_table(fmt: str) -> tuple[bool, str]:
    """Docker's ``table`` directive: (True, rest) when ``fmt`` starts with "table".
    Like the docker CLI, surrounding spaces are trimmed from the rest either way."""
    table = fmt.startswith("table")
    return table, (fmt[5:] if table else fmt).strip(" ")


def expand_escapes(fmt: str) -> str:
    r"""The docker CLI's replacement of the two-character ``\t`` and ``\n`` in a format."""
    return fmt.replace("\\t", "\t").replace("\\n", "\n")
