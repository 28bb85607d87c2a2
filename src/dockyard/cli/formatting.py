"""Rows out: Docker's tables, ``--format`` Go templates, ``--format json``."""

from __future__ import annotations

from dockyard._util import jsonlite
from dockyard.cli.context import Context

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any


def write_rows(
    ctx: Context,
    rows: Sequence[Mapping[str, Any]],
    fmt: str | None,
    *,
    default: str,
    headers: Mapping[str, str],
) -> None:
    """Print ``rows`` with the user's ``--format`` or the command's default table."""
    fmt = fmt or default
    if fmt == "json":
        for row in rows:
            ctx.print(jsonlite.dumps(row, separators=(",", ":")))
        return
    if _write_plain_table(ctx, rows, fmt, default, headers):
        return
    from dockyard.cli import gotemplate

    is_table, body = gotemplate.split_table(gotemplate.expand_escapes(fmt))
    if not is_table:
        tpl = gotemplate.parse(body)
        for row in rows:
            ctx.print(tpl.execute(row))
        return
    body = body.strip() or default.removeprefix("table").strip()
    tpl = gotemplate.parse(body)
    lines = [tpl.execute(dict(headers))]
    lines.extend(tpl.execute(row) for row in rows)
    ctx.out.write(gotemplate.tabwrite("\n".join(lines) + "\n"))


def _plain_columns(body: str) -> list[str] | None:
    """The field names of a table body that is only ``{{.Field}}`` cells separated by
    tabs (the default tables), else None."""
    names = []
    for cell in body.split("\t"):
        name = cell[3:-2]
        if not (cell.startswith("{{.") and cell.endswith("}}") and name.isidentifier()):
            return None
        names.append(name)
    return names


def _write_plain_table(
    ctx: Context,
    rows: Sequence[Mapping[str, Any]],
    fmt: str,
    default: str,
    headers: Mapping[str, str],
) -> bool:
    """A table of plain ``{{.Field}}`` columns of string values, printed without the
    template engine (which ``ps`` and ``images`` would otherwise import and run for
    every row): the same bytes, as the template would give a string as it is.
    False (nothing printed) for any other format or value."""
    text = fmt.replace("\\t", "\t").replace("\\n", "\n")  # gotemplate.expand_escapes
    if not text.startswith("table"):
        return False
    body = text[5:].strip(" ").strip() or default.removeprefix("table").strip()
    names = _plain_columns(body)
    if names is None:
        return False
    for source in (headers, *rows):
        for name in names:
            if type(source.get(name)) is not str:
                return False
    from dockyard.cli.tabwriter import format_table

    ctx.out.write(format_table([[source[n] for n in names] for source in (headers, *rows)]))
    return True


def write_template(ctx: Context, obj: Any, fmt: str) -> None:
    from dockyard.cli import gotemplate

    if fmt == "json":
        ctx.print(jsonlite.dumps(obj, separators=(",", ":")))
        return
    ctx.print(gotemplate.render(gotemplate.expand_escapes(fmt), obj))


def write_json_list(ctx: Context, objs: Sequence[Any]) -> None:
    """``docker inspect`` output: a JSON array, 4-space indented."""
    ctx.print(jsonlite.dumps(list(objs), indent=4, ensure_ascii=False))
