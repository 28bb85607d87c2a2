"""cli/formatting.py: the default tables printed without the template engine are the
bytes the template gives."""

from __future__ import annotations

import io
from typing import Any

import pytest

from dockyard.cli import formatting, gotemplate
from dockyard.cli.commands.images import IMAGE_HEADERS, IMAGES_TABLE, IMAGES_TABLE_DIGESTS
from dockyard.cli.commands.ps import PS_HEADERS, PS_TABLE


class _Ctx:
    def __init__(self) -> None:
        self.out = io.StringIO()

    def print(self, text: str = "") -> None:
        self.out.write(text + "\n")


def _by_template(rows: list[dict[str, Any]], fmt: str, headers: dict[str, str]) -> str:
    """write_rows' template path (as before the plain-table path existed)."""
    _, body = gotemplate.split_table(gotemplate.expand_escapes(fmt))
    tpl = gotemplate.parse(body.strip())
    lines = [tpl.execute(dict(headers))] + [tpl.execute(row) for row in rows]
    return gotemplate.tabwrite("\n".join(lines) + "\n")


def _written(rows: list[dict[str, Any]], fmt: str | None, default: str, headers: Any) -> str:
    ctx = _Ctx()
    formatting.write_rows(ctx, rows, fmt, default=default, headers=headers)  # type: ignore[arg-type]
    return ctx.out.getvalue()


ODD = ["", " ", "a b", "tab\there", "ünïcödé ✓", "x" * 40, "<none>", "{{.ID}}", "line\nbreak"]


def _ps_rows(n: int) -> list[dict[str, Any]]:
    keys = list(PS_HEADERS)
    return [{k: ODD[(i + j) % len(ODD)] + str(i) for j, k in enumerate(keys)} for i in range(n)]


def _image_rows(n: int) -> list[dict[str, Any]]:
    keys = list(IMAGE_HEADERS)
    return [{k: ODD[(i * j) % len(ODD)] for j, k in enumerate(keys)} for i in range(n)]


@pytest.mark.parametrize("n", [0, 1, 7, 60])
def test_ps_default_table(n: int) -> None:
    rows = _ps_rows(n)
    for fmt in (PS_TABLE, PS_TABLE + "\t{{.Size}}"):
        assert formatting._plain_columns(fmt[5:].strip()) is not None
        assert _written(rows, None, fmt, PS_HEADERS) == _by_template(rows, fmt, PS_HEADERS)


@pytest.mark.parametrize("n", [0, 1, 7, 60])
def test_images_default_tables(n: int) -> None:
    rows = _image_rows(n)
    for fmt in (IMAGES_TABLE, IMAGES_TABLE_DIGESTS):
        assert _written(rows, None, fmt, IMAGE_HEADERS) == _by_template(rows, fmt, IMAGE_HEADERS)


@pytest.mark.parametrize(
    "fmt",
    [
        "table {{.ID}}\\t{{.Names}}",
        "table  {{.ID}}\t{{.Status}} ",
        "table",
        "table {{.ID}} {{.Names}}",  # not plain: the template engine's
        "table {{ .ID }}\t{{.Names}}",
        "table {{.ID}}\t{{.Nope}}",
        "table {{.ID | upper}}",
    ],
)
def test_user_table_formats(fmt: str) -> None:
    rows = _ps_rows(5)
    expected = _by_template(rows, fmt if fmt.strip() != "table" else PS_TABLE, PS_HEADERS)
    assert _written(rows, fmt, PS_TABLE, PS_HEADERS) == expected


def test_non_string_values_use_the_template() -> None:
    rows: list[dict[str, Any]] = [{"ID": 1, "Names": None}, {"ID": "x", "Names": ["a"]}]
    fmt = "table {{.ID}}\t{{.Names}}"
    assert _written(rows, fmt, fmt, PS_HEADERS) == _by_template(rows, fmt, PS_HEADERS)


def test_format_table_is_tabwrite() -> None:
    import random

    from dockyard.cli.tabwriter import format_table, tabwrite

    rnd = random.Random(7)
    cells = ["", "a", "abc", "x" * 9, "y" * 10, "z" * 17, "ü✓", " ", "a\tb", "c\nd"]
    for _ in range(500):
        ncols = rnd.randint(1, 6)
        ragged = rnd.random() < 0.2
        rows = [
            [rnd.choice(cells[:8] if rnd.random() < 0.95 else cells) for _ in range(ncols)]
            for _ in range(rnd.randint(0, 8))
        ]
        if ragged and rows:
            rows[-1] = rows[-1][: rnd.randint(1, ncols)]
        text = "".join("\t".join(row) + "\n" for row in rows)
        assert format_table(rows) == tabwrite(text), rows
