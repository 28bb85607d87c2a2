"""Rows out: Docker's tables, ``--format`` Go templates, ``--format json``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from dockyard.cli.context import Context


def write_rows(
    ctx: Context,
    rows: Sequence[Mapping[str, Any]],
    fmt: str | None,
    *,
    default: str,
    headers: Mapping[str, str],
) -> None:
    """Print ``rows`` with the user's ``--format`` or the command's default table."""
    from dockyard.cli import gotemplate

    fmt = fmt or default
    if fmt == "json":
        for row in rows:
            ctx.print(json.dumps(row, separators=(",", ":")))
        return
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


def write_template(ctx: Context, obj: Any, fmt: str) -> None:
    from dockyard.cli import gotemplate

    if fmt == "json":
        ctx.print(json.dumps(obj, separators=(",", ":")))
        return
    ctx.print(gotemplate.render(gotemplate.expand_escapes(fmt), obj))


def write_json_list(ctx: Context, objs: Sequence[Any]) -> None:
    """``docker inspect`` output: a JSON array, 4-space indented."""
    ctx.print(json.dumps(list(objs), indent=4, ensure_ascii=False))
