"""Go's ``text/tabwriter``, as the docker CLI configures it for tables (it lives in
:mod:`dockyard.cli.tabwriter`, which tables can import without the template engine)."""

from dockyard.cli.tabwriter import format_table, tabwrite

__all__ = ["format_table", "tabwrite"]
