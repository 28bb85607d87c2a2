"""A stable text dump of a parsed Dockerfile, one line per instruction.

Used by the golden tests (``tests/unit/golden/dockerfile/parse``) and handy when
debugging a build::

    directives escape="\\\\" syntax="docker/dockerfile:1"
    global 1-1 ARG args=[{name="PY" default="3.11"}]
    stage 0 name="builder" base="python:${PY}" line=2
    2-2 FROM image="python:${PY}" name="builder"
    3-3 WORKDIR path="/usr/src/app"

Fields equal to their default are left out; strings are JSON-quoted.
"""

from __future__ import annotations

import dataclasses
import json

from dockyard.dockerfile.instructions import Instruction
from dockyard.dockerfile.stages import Dockerfile

_LOCATION_FIELDS = frozenset({"start", "end", "original", "escape"})


def dump_dockerfile(df: Dockerfile) -> str:
    d = df.directives
    head = [f"escape={dump_value(d.escape)}"]
    head += [
        f"{key}={dump_value(value)}"
        for key, value in (("syntax", d.syntax), ("check", d.check))
        if value
    ]
    lines = ["directives " + " ".join(head)]
    lines += [f"global {dump_instruction(arg)}" for arg in df.global_args]
    for stage in df.stages:
        parts = [f"stage {stage.index}"]
        if stage.name:
            parts.append(f"name={dump_value(stage.name)}")
        parts.append(f"base={dump_value(stage.base)}")
        if stage.platform:
            parts.append(f"platform={dump_value(stage.platform)}")
        parts.append(f"line={stage.line}")
        lines.append(" ".join(parts))
        if stage.from_ is not None:
            lines.append(dump_instruction(stage.from_))
        lines += [dump_instruction(i) for i in stage.instructions]
    lines += [f"warning {dump_value(w)}" for w in df.warnings]
    return "\n".join(lines) + "\n"


def dump_instruction(instruction: Instruction) -> str:
    return f"{instruction.start}-{instruction.end} {_fields(instruction)}"


def _fields(obj: object) -> str:
    assert dataclasses.is_dataclass(obj) and not isinstance(obj, type)
    parts = [obj.KEYWORD] if isinstance(obj, Instruction) else []
    for f in dataclasses.fields(obj):
        if f.name in _LOCATION_FIELDS and isinstance(obj, Instruction):
            continue
        value = getattr(obj, f.name)
        if f.default is not dataclasses.MISSING and value == f.default:
            continue
        parts.append(f"{f.name}={dump_value(value)}")
    return " ".join(parts)


def dump_value(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, tuple):
        return "[" + ", ".join(dump_value(v) for v in value) + "]"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return "{" + _fields(value) + "}"
    return repr(value)
