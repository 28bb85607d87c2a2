"""The parse tree and the parser: Go's ``text/template/parse``, minus templates."""

from __future__ import annotations

from typing import NoReturn, TypeVar

from dockyard.cli.gotemplate.funcs import _FUNCS
from dockyard.cli.gotemplate.lexer import _lex, _Tok
from dockyard.cli.gotemplate.values import _quote

_HINT = "--format takes a Go template, e.g. '{{.ID}}\\t{{.Names}}' or '{{json .}}'"


class _Node:
    __slots__ = ("pos",)

    def __init__(self, pos: int) -> None:
        self.pos = pos


class _Text(_Node):
    __slots__ = ("text",)
    text: str


class _Mark(_Node):  # {{else}} / {{end}} while parsing; {{break}} / {{continue}} in the tree
    __slots__ = ("kind",)
    kind: str

    def __str__(self) -> str:
        return "{{" + self.kind + "}}"


class _Pipe(_Node):
    __slots__ = ("assign", "cmds", "decl")
    decl: list[str]
    assign: bool
    cmds: list[_Command]

    def __str__(self) -> str:
        decl = ", ".join(self.decl) + (" = " if self.assign else " := ") if self.decl else ""
        return decl + " | ".join(map(str, self.cmds))


class _Action(_Node):
    __slots__ = ("pipe",)
    pipe: _Pipe


class _Control(_Node):  # if, with, range
    __slots__ = ("alt", "body", "kind", "pipe")
    kind: str
    pipe: _Pipe
    body: list[_Node]
    alt: list[_Node] | None


class _Command(_Node):
    __slots__ = ("args",)
    args: list[_Node]

    def __str__(self) -> str:
        return " ".join(f"({a})" if isinstance(a, _Pipe) else str(a) for a in self.args)


class _Field(_Node):
    __slots__ = ("idents",)
    idents: list[str]

    def __str__(self) -> str:
        return "." + ".".join(self.idents)


class _Var(_Node):
    __slots__ = ("idents",)
    idents: list[str]

    def __str__(self) -> str:
        return ".".join(self.idents)


class _Chain(_Node):
    __slots__ = ("fields", "node")
    node: _Node
    fields: list[str]

    def __str__(self) -> str:
        head = f"({self.node})" if isinstance(self.node, _Pipe) else str(self.node)
        return head + "".join("." + f for f in self.fields)


class _Lit(_Node):  # bool, number, string, nil, dot, identifier
    __slots__ = ("kind", "text", "value")
    kind: str
    text: str
    value: object

    def __str__(self) -> str:
        return self.text


_N = TypeVar("_N", bound=_Node)


def _mk(cls: type[_N], pos: int, **attrs: object) -> _N:
    node = cls(pos)
    for k, v in attrs.items():
        setattr(node, k, v)
    return node


class _Syntax(ValueError):
    """A literal's error whose text is already fit for the user."""


class _ParseError(Exception):
    def __init__(self, msg: str, line: int) -> None:
        super().__init__(msg)
        self.msg, self.line = msg, line


_ESC = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92}
_HEX = "0123456789abcdefABCDEF"


def _unquote(body: str, q: str) -> str:
    """Go's escape rules inside a "..." string or '...' rune literal."""
    if "\\" not in body:
        return body
    buf, i, n = bytearray(), 0, len(body)
    while i < n:
        c = body[i]
        i += 1
        if c != "\\":
            buf += c.encode("utf-8", "surrogatepass")
            continue
        e = body[i] if i < n else ""
        i += 1
        if e in _ESC and e:
            buf.append(_ESC[e])
        elif e == q:
            buf += q.encode()
        elif e and e in "xuU":
            k = {"x": 2, "u": 4, "U": 8}[e]
            h, i = body[i : i + k], i + k
            if len(h) != k or any(d not in _HEX for d in h):
                raise ValueError(e)
            v = int(h, 16)
            if e == "x":
                buf.append(v)
            elif v > 0x10FFFF or 0xD800 <= v < 0xE000:
                raise ValueError(h)
            else:
                buf += chr(v).encode()
        elif e and e in "01234567":
            o, i = body[i - 1 : i + 2], i + 2
            if len(o) != 3 or any(d not in "01234567" for d in o) or int(o, 8) > 255:
                raise ValueError(o)
            buf.append(int(o, 8))
        else:
            raise ValueError(e)
    return buf.decode("utf-8", "replace")


def _number(text: str) -> int | float:
    if text.endswith("i"):
        raise _Syntax("complex numbers are not supported")
    if text.startswith("'"):
        body = text[1:-1]
        if len(body) == 4 and body[0] == "\\" and body[1] in "x0123":
            return int(body[2:], 16) if body[1] == "x" else int(body[1:], 8)
        ch = _unquote(body, "'")
        if len(ch) != 1:
            raise _Syntax(f"malformed character constant: {text}")
        return ord(ch)
    t = text.replace("_", "")
    sign, body = (-1 if t.startswith("-") else 1), t.lstrip("+-").lower()
    try:
        if body.startswith("0x") and "p" in body:
            return float.fromhex(t)
        if "." in body or ("e" in body and not body.startswith("0x")):
            return float(t)
        base = {"0x": 16, "0o": 8, "0b": 2}.get(body[:2])
        octal = body[:1] == "0" and len(body) > 1
        value = sign * (int(body[2:], base) if base else int(body, 8 if octal else 10))
    except ValueError:
        raise _Syntax(f"illegal number syntax: {_quote(text)}") from None
    if not -(2**63) <= value < 2**63:
        raise _Syntax(f"{text} overflows int")
    return value


class _Parser:
    def __init__(self, src: str) -> None:
        self.toks = _lex(src)
        self.i, self.vars, self.range_depth, self.action_line = 0, ["$"], 0, 0

    def fail(self, msg: str) -> NoReturn:
        raise _ParseError(msg, self.toks[max(0, min(self.i, len(self.toks)) - 1)].line)

    def next(self) -> _Tok:
        tok = self.toks[min(self.i, len(self.toks) - 1)]
        self.i += 1
        if tok.kind == "error":
            extra = ""
            if self.action_line and self.action_line != tok.line:
                extra = f" in action started at :{self.action_line}"
                extra = extra[10:] if tok.val.endswith(" action") else extra
            self.fail(tok.val + extra)
        return tok

    def next_ns(self) -> _Tok:
        tok = self.next()
        while tok.kind == "space":
            tok = self.next()
        return tok

    def peek(self, skip_space: bool = False) -> _Tok:
        tok = self.next_ns() if skip_space else self.next()
        self.i -= 1
        return tok

    def unexpected(self, tok: _Tok, context: str) -> NoReturn:
        self.fail(f"unexpected {tok} in {context}")

    def expect(self, kind: str, context: str) -> _Tok:
        tok = self.next_ns()
        if tok.kind != kind:
            self.unexpected(tok, context)
        return tok

    def parse(self) -> list[_Node]:
        root: list[_Node] = []
        while self.peek().kind != "eof":
            node = self.text_or_action()
            if isinstance(node, _Mark):
                self.fail(f"unexpected {node}")
            root.append(node)
        return root

    def item_list(self) -> tuple[list[_Node], _Mark]:
        items: list[_Node] = []
        while self.peek(True).kind != "eof":
            node = self.text_or_action()
            if isinstance(node, _Mark) and node.kind in ("else", "end"):
                return items, node
            items.append(node)
        self.fail("unexpected EOF")

    def text_or_action(self) -> _Node:
        tok = self.next_ns()
        if tok.kind == "text":
            return _mk(_Text, tok.pos, text=tok.val)
        if tok.kind != "{{":
            self.unexpected(tok, "input")
        self.action_line = tok.line
        tok = self.next_ns()
        kind = tok.kind
        if kind in ("if", "with", "range"):
            return self.control(kind, tok.pos)
        if kind == "else":
            if self.peek(True).kind not in ("if", "with"):
                self.expect("}}", "else")
            return _mk(_Mark, tok.pos, kind="else")
        if kind in ("end", "break", "continue"):
            self.expect("}}", f"{{{{{kind}}}}}" if kind != "end" else kind)
            if kind != "end" and not self.range_depth:
                self.fail(f"{{{{{kind}}}}} outside {{{{range}}}}")
            return _mk(_Mark, tok.pos, kind=kind)
        if kind in ("define", "template", "block"):
            self.fail(f"{{{{{kind}}}}} is not supported in format templates")
        self.i -= 1
        return _mk(_Action, tok.pos, pipe=self.pipeline("command", "}}"))

    def control(self, kind: str, pos: int) -> _Control:
        mark = len(self.vars)
        pipe = self.pipeline(kind, "}}")
        self.range_depth += kind == "range"
        body, nxt = self.item_list()
        self.range_depth -= kind == "range"
        alt: list[_Node] | None = None
        if nxt.kind == "else":
            if kind != "range" and self.peek().kind == kind:  # {{else if}}, {{else with}}
                alt = [self.control(kind, self.next().pos)]
            else:
                alt, nxt = self.item_list()
                if nxt.kind != "end":
                    self.fail(f"expected end; found {nxt}")
        del self.vars[mark:]
        return _mk(_Control, pos, kind=kind, pipe=pipe, body=body, alt=alt)

    def pipeline(self, context: str, end: str) -> _Pipe:
        pipe = _mk(_Pipe, self.peek(True).pos, decl=[], assign=False, cmds=[])
        while self.peek(True).kind == "var":
            var, save = self.next_ns(), self.i
            nxt = self.next_ns()
            if nxt.kind in (":=", "="):
                pipe.assign = nxt.kind == "="
                pipe.decl.append(var.val)
                self.vars.append(var.val)
                break
            if nxt.kind == "char" and nxt.val == ",":
                pipe.decl.append(var.val)
                self.vars.append(var.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek(True).kind in ("var", "}}", ")"):
                        continue
                    self.fail("range can only initialize variables")
                self.fail(f"too many declarations in {context}")
            self.i = save - 1
            break
        while True:
            tok = self.next_ns()
            if tok.kind == end:
                if not pipe.cmds:
                    self.fail(f"missing value for {context}")
                for i, cmd in enumerate(pipe.cmds[1:]):
                    if isinstance(cmd.args[0], _Lit) and cmd.args[0].kind != "ident":
                        self.fail(f"non executable command in pipeline stage {i + 2}")
                return pipe
            if tok.kind not in (
                "bool",
                "rune",
                "dot",
                "field",
                "ident",
                "number",
                "nil",
                "raw",
                "string",
                "var",
                "(",
            ):
                self.unexpected(tok, context)
            self.i -= 1
            pipe.cmds.append(self.command())

    def command(self) -> _Command:
        cmd = _mk(_Command, self.peek(True).pos, args=[])
        while True:
            self.peek(True)
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            tok = self.next()
            if tok.kind == "space":
                continue
            if tok.kind in ("}}", ")"):
                self.i -= 1
            elif tok.kind != "|":
                self.unexpected(tok, "operand")
            break
        if not cmd.args:
            self.fail("empty command")
        return cmd

    def operand(self) -> _Node | None:
        node = self.term()
        if node is None or self.peek().kind != "field":
            return node
        pos, fields = self.peek().pos, []
        while self.peek().kind == "field":
            fields.append(self.next().val[1:])
        if isinstance(node, (_Field, _Var)):
            return _mk(type(node), pos, idents=[*node.idents, *fields])
        if isinstance(node, _Lit) and node.kind != "ident":
            self.fail(f"unexpected . after term {_quote(str(node))}")
        return _mk(_Chain, pos, node=node, fields=fields)

    def term(self) -> _Node | None:
        tok = self.next_ns()
        k, v, pos = tok.kind, tok.val, tok.pos
        if k == "ident" and v not in _FUNCS:
            self.fail(f"function {_quote(v)} not defined")
        if k == "var":
            if v not in self.vars:
                self.fail(f"undefined variable {_quote(v)}")
            return _mk(_Var, pos, idents=[v])
        if k == "field":
            return _mk(_Field, pos, idents=[v[1:]])
        if k == "(":
            return self.pipeline("parenthesized pipeline", ")")
        value: object = None
        try:
            if k in ("number", "rune"):
                value = _number(v)
            elif k in ("string", "raw"):
                value = _unquote(v[1:-1], '"') if k == "string" else v[1:-1].replace("\r", "")
        except _Syntax as e:
            self.fail(str(e))
        except ValueError:
            self.fail(f"invalid syntax in quoted string {v}")
        if k in ("ident", "dot", "nil", "bool", "number", "rune", "string", "raw"):
            value = v == "true" if k == "bool" else value
            return _mk(_Lit, pos, kind=k, text=v, value=value)
        self.i -= 1
        return None
