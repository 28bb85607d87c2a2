"""Go's ``text/tabwriter``, as the docker CLI configures it for tables.

Outside the template package so that the default tables of ``ps`` and ``images``
(:func:`dockyard.cli.formatting.write_rows`) need not import the template engine.
"""

from __future__ import annotations


def tabwrite(
    text: str, minwidth: int = 10, tabwidth: int = 1, padding: int = 3, padchar: str = " "
) -> str:
    """Go's text/tabwriter (flags 0): cells are tab-terminated, the last cell of a
    line is not in a column, and a column block is a run of consecutive lines
    that have that cell; its width is max(cell width + padding, minwidth)."""
    out: list[str] = []
    lines: list[list[str]] = [[]]

    def write_lines(line0: int, line1: int, widths: list[int]) -> None:
        for i in range(line0, line1):
            for j, cell in enumerate(lines[i]):
                out.append(cell)
                if j < len(widths):
                    if padchar != "\t":
                        out.append(padchar * (widths[j] - len(cell)))
                    elif tabwidth:
                        cellw = -(-widths[j] // tabwidth) * tabwidth
                        out.append("\t" * -(-(cellw - len(cell)) // tabwidth))
            if i + 1 < len(lines):
                out.append("\n")

    def format_block(line0: int, line1: int, widths: list[int]) -> None:
        column, this = len(widths), line0
        while this < line1:
            if column < len(lines[this]) - 1:
                write_lines(line0, this, widths)
                line0, width = this, minwidth
                while this < line1 and column < len(lines[this]) - 1:
                    width = max(width, len(lines[this][column]) + padding)
                    this += 1
                format_block(line0, this, [*widths, width])
                line0 = this
            this += 1
        write_lines(line0, line1, widths)

    start = 0
    for i, ch in enumerate(text):
        if ch not in "\t\v\n\f":
            continue
        lines[-1].append(text[start:i])
        start = i + 1
        if ch in "\n\f":
            ncells = len(lines[-1])
            lines.append([])
            if ch == "\f" or ncells == 1:
                format_block(0, len(lines), [])
                lines[:] = [[]]
    if start < len(text):
        lines[-1].append(text[start:])
    format_block(0, len(lines), [])
    return "".join(out)


_BREAKS = ("\t", "\v", "\n", "\f")


def format_table(rows: list[list[str]]) -> str:
    """Rows of cells aligned as ``docker ps``/``docker images`` print them
    (tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)); every row ends with a newline.

    When every row has the same number of cells and no cell holds a tab or a line
    break (a table's usual shape), each column is one block of the whole table, as
    wide as its widest cell plus the padding (at least minwidth): computed directly,
    the same bytes as :func:`tabwrite` gives, in a fraction of its time."""
    if not rows or any(len(row) != len(rows[0]) for row in rows):
        return tabwrite("".join("\t".join(row) + "\n" for row in rows))
    for row in rows:
        for cell in row:
            if any(c in cell for c in _BREAKS):
                return tabwrite("".join("\t".join(row) + "\n" for row in rows))
    minwidth, padding = 10, 3
    widths = [
        max(minwidth, *(len(row[j]) + padding for row in rows)) for j in range(len(rows[0]) - 1)
    ]
    out: list[str] = []
    for row in rows:
        out.extend(
            cell + " " * (width - len(cell)) for cell, width in zip(row[:-1], widths, strict=True)
        )
        out.append(row[-1] + "\n")
    return "".join(out)
