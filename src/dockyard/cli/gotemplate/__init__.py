"""Go ``text/template`` for ``--format``: the subset Docker and Podman users write.

``parse`` (cached) turns a format into a :class:`Template`; ``execute`` runs it on
one object.  Data are dicts keyed by Go field names, lists, scalars and objects:
``.Field`` is a dict key, else an attribute, else a method (called, with any
arguments).  Printing, builtins, Docker's extra functions and error texts follow
Go 1.24; ``tabwrite`` is Go's ``text/tabwriter`` as the docker CLI configures it.
"""

from dockyard.cli.gotemplate.tabwriter import format_table, tabwrite
from dockyard.cli.gotemplate.template import (
    Template,
    expand_escapes,
    parse,
    render,
    split_table,
)
from dockyard.cli.gotemplate.values import MISSING

__all__ = [
    "MISSING",
    "Template",
    "expand_escapes",
    "format_table",
    "parse",
    "render",
    "split_table",
    "tabwrite",
]
