"""Execution: walks a parse tree over the data, Go's ``text/template`` exec."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from dockyard.cli.gotemplate.funcs import _ArgError, _CallError, _Fn
from dockyard.cli.gotemplate.parser import (
    _HINT,
    _Action,
    _Chain,
    _Command,
    _Control,
    _Field,
    _Lit,
    _Mark,
    _Node,
    _Pipe,
    _Text,
    _Var,
)
from dockyard.cli.gotemplate.values import (
    _SCALARS,
    MISSING,
    _gostr,
    _gotype,
    _quote,
    _sorted_keys,
    _truth,
)
from dockyard.errors import DockyardError, InvalidArgument

_NOARG: Any = object()  # no value piped in from the previous command


class _Jump(Exception):
    def __init__(self, kind: str) -> None:
        self.kind = kind


class _State:
    def __init__(self, src: str, strict: bool, funcs: dict[str, _Fn], data: object) -> None:
        self.src, self.strict, self.funcs = src, strict, funcs
        self.out: list[str] = []
        self.vars: list[tuple[str, object]] = [("$", data)]
        self.node: _Node = _Node(0)

    def fail(self, msg: str, hint: str | None = None) -> NoReturn:
        pos, ctx = self.node.pos, str(self.node)
        line, col = self.src.count("\n", 0, pos) + 1, pos - self.src.rfind("\n", 0, pos) - 1
        ctx = ctx[:20] + "..." if len(ctx) > 20 else ctx
        raise InvalidArgument(
            f'template: :{line}:{col}: executing "" at <{ctx}>: {msg}', hint=hint or _HINT
        )

    def walk(self, dot: object, nodes: list[_Node]) -> None:
        for node in nodes:
            if isinstance(node, _Text):
                self.out.append(node.text)
            elif isinstance(node, _Action):
                self.node = node
                value = self.pipeline(dot, node.pipe)
                if not node.pipe.decl:
                    self.out.append(_gostr(value))
            elif isinstance(node, _Control):
                mark = len(self.vars)
                if node.kind == "range":
                    self.range(dot, node)
                else:
                    value = self.pipeline(dot, node.pipe)
                    if _truth(value):
                        self.walk(value if node.kind == "with" else dot, node.body)
                    elif node.alt is not None:
                        self.walk(dot, node.alt)
                del self.vars[mark:]
            elif isinstance(node, _Mark):
                raise _Jump(node.kind)

    def range(self, dot: object, node: _Control) -> None:
        self.node = node
        value, decl = self.pipeline(dot, node.pipe), node.pipe.decl
        items: Any
        if value is None or value is MISSING:
            items = ()
        elif isinstance(value, int) and not isinstance(value, bool):
            if len(decl) > 1:
                self.fail("range over an int does not support two iteration variables")
            items = ((i, i) for i in range(value))
        elif isinstance(value, (list, tuple)):
            items = enumerate(value)
        elif isinstance(value, Mapping):
            items = ((k, value[k]) for k in _sorted_keys(value))
        elif isinstance(value, (str, bytes, bool, float)) or not hasattr(value, "__iter__"):
            self.fail(f"range can't iterate over {_gostr(value)}")
        else:
            items = enumerate(value)
        mark, ran = len(self.vars), False
        for key, elem in items:
            ran = True
            if node.pipe.assign:
                for name, v in zip(decl, (key, elem) if len(decl) > 1 else (elem,), strict=True):
                    self.set_var(name, v)
            elif decl:
                self.vars[-1] = (self.vars[-1][0], elem)
                if len(decl) > 1:
                    self.vars[-2] = (self.vars[-2][0], key)
            try:
                self.walk(elem, node.body)
            except _Jump as jump:
                if jump.kind == "break":
                    break
            finally:
                del self.vars[mark:]
        if not ran and node.alt is not None:
            self.walk(dot, node.alt)

    def pipeline(self, dot: object, pipe: _Pipe) -> object:
        self.node = pipe
        value = _NOARG
        for cmd in pipe.cmds:
            value = self.command(dot, cmd, value)
        for name in pipe.decl:
            if pipe.assign:
                self.set_var(name, value)
            else:
                self.vars.append((name, value))
        return value

    def var(self, name: str) -> object:
        for n, v in reversed(self.vars):
            if n == name:
                return v
        self.fail(f"undefined variable: {name}")

    def set_var(self, name: str, value: object) -> None:
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                self.vars[i] = (name, value)
                return
        self.fail(f"undefined variable: {name}")

    def command(self, dot: object, cmd: _Command, final: object) -> object:
        first, rest = cmd.args[0], cmd.args[1:]
        self.node = first
        if isinstance(first, _Field):
            return self.chain(dot, dot, first, first.idents, rest, final)
        if isinstance(first, _Chain):
            recv = self.arg(dot, first.node)
            self.node = first
            return self.chain(dot, recv, first, first.fields, rest, final)
        if isinstance(first, _Var) and len(first.idents) > 1:
            return self.chain(dot, self.var(first.idents[0]), first, first.idents[1:], rest, final)
        if isinstance(first, _Lit) and first.kind == "ident":
            return self.call(dot, first, cmd, final)
        if rest or final is not _NOARG:
            self.fail(f"can't give argument to non-function {first}")
        if isinstance(first, _Lit) and first.kind == "nil":
            self.fail("nil is not a command")
        return self.arg(dot, first)

    def arg(self, dot: object, node: _Node) -> object:
        self.node = node
        if isinstance(node, _Field):
            return self.chain(dot, dot, node, node.idents, [], _NOARG)
        if isinstance(node, _Var):
            value = self.var(node.idents[0])
            if len(node.idents) == 1:
                return value
            return self.chain(dot, value, node, node.idents[1:], [], _NOARG)
        if isinstance(node, _Pipe):
            return self.pipeline(dot, node)
        if isinstance(node, _Chain):
            recv = self.arg(dot, node.node)
            self.node = node
            return self.chain(dot, recv, node, node.fields, [], _NOARG)
        assert isinstance(node, _Lit)
        if node.kind == "ident":
            return self.call(dot, node, None, _NOARG)
        return dot if node.kind == "dot" else node.value

    def args(self, dot: object, nodes: list[_Node], final: object) -> list[object]:
        values = [self.arg(dot, n) for n in nodes]
        values += [] if final is _NOARG else [final]
        return [None if v is MISSING else v for v in values]

    def chain(
        self,
        dot: object,
        recv: object,
        node: _Node,
        idents: list[str],
        args: list[_Node],
        final: object,
    ) -> object:
        for name in idents[:-1]:
            recv = self.field(dot, name, node, [], _NOARG, recv)
        return self.field(dot, idents[-1], node, args, final, recv)

    def field(
        self, dot: object, name: str, node: _Node, args: list[_Node], final: object, recv: object
    ) -> object:
        self.node = node
        has_args = bool(args) or final is not _NOARG
        if recv is MISSING:
            if self.strict:
                self.fail(f"nil data; no entry for key {_quote(name)}")
            return MISSING
        if recv is None:
            self.fail(f"nil pointer evaluating interface {{}}.{name}")
        if isinstance(recv, Mapping):
            if name in recv:
                if has_args:
                    self.fail(f"{name} is not a method but has arguments")
                return recv[name]
            if type(recv) is dict or name.startswith("_") or not hasattr(recv, name):
                if self.strict:
                    keys = ", ".join(map(str, _sorted_keys(recv)[:30]))
                    self.fail(f"map has no entry for key {_quote(name)}", f"keys: {keys}")
                return MISSING
        elif isinstance(recv, _SCALARS) or name.startswith("_"):
            self.fail(f"can't evaluate field {name} in type {_gotype(recv)}")
        try:
            attr = getattr(recv, name)
        except AttributeError:
            known = ", ".join(sorted(n for n in dir(recv) if not n.startswith("_"))[:30])
            self.fail(
                f"can't evaluate field {name} in type {_gotype(recv)}",
                f"fields: {known}" if known else None,
            )
        if not callable(attr):
            if has_args:
                self.fail(f"{name} has arguments but cannot be invoked as function")
            return attr
        values = self.args(dot, args, final)
        self.node = node
        try:
            return attr(*values)
        except DockyardError:
            raise
        except Exception as e:
            self.fail(f"error calling {name}: {e}")

    def call(self, dot: object, ident: _Lit, cmd: _Command | None, final: object) -> object:
        self.node, name = ident, ident.text
        fn, lo, hi = self.funcs[name]
        nodes = cmd.args[1:] if cmd is not None else []
        n = len(nodes) + (final is not _NOARG)
        if n < lo or n > hi >= 0:
            want = f"at least {lo}" if hi < 0 else str(lo)
            self.fail(
                f"wrong number of args for {name}: want {want} got {len(nodes) if hi < 0 else n}"
            )
        if fn is None:  # and, or: evaluate lazily, return the deciding value
            value: object = MISSING
            for a in nodes:
                value = self.arg(dot, a)
                if _truth(value) == (name == "or"):
                    return value
            return value if final is _NOARG else final
        values = self.args(dot, nodes, final)
        try:
            return fn(*values)
        except _ArgError as e:
            self.fail(str(e))
        except _CallError as e:
            self.node = cmd or ident
            self.fail(f"error calling {name}: {e}")
