"""The lexer: Go's ``text/template/parse`` items, with its error texts."""

from __future__ import annotations

from dockyard.cli.gotemplate.values import _quote

_SP = " \t\r\n"
_KEYWORDS = frozenset(
    {
        "block",
        "break",
        "continue",
        "define",
        "else",
        "end",
        "if",
        "nil",
        "range",
        "template",
        "with",
    }
)


class _Tok:
    __slots__ = ("kind", "line", "pos", "val")

    def __init__(self, kind: str, val: str, pos: int, line: int) -> None:
        self.kind, self.val, self.pos, self.line = kind, val, pos, line

    def __str__(self) -> str:  # Go's item.String()
        if self.kind in ("eof", "error"):
            return "EOF" if self.kind == "eof" else self.val
        if self.kind in _KEYWORDS or self.kind == "dot":
            return f"<{self.val}>"
        return _quote(self.val[:10]) + "..." if len(self.val) > 10 else _quote(self.val)


class _LexError(Exception):
    def __init__(self, msg: str, pos: int) -> None:
        super().__init__(msg)
        self.msg, self.pos = msg, pos


def _alnum(c: str) -> bool:
    return c == "_" or c.isalpha() or c.isdecimal()


def _uplus(c: str) -> str:
    return f"U+{ord(c):04X} {c!r}"


def _scan_number(src: str, p: int) -> tuple[int, bool]:
    n = len(src)
    if p < n and src[p] in "+-":
        p += 1
    digits = "0123456789_"
    if src.startswith("0", p):
        p += 1
        for prefix, ds in (("xX", "0123456789abcdefABCDEF_"), ("oO", "01234567_"), ("bB", "01_")):
            if p < n and src[p] in prefix:
                p, digits = p + 1, ds
                break
    while p < n and src[p] in digits:
        p += 1
    if src.startswith(".", p):
        p += 1
        while p < n and src[p] in digits:
            p += 1
    for exp, base in (("eE", 11), ("pP", 23)):
        if len(digits) == base and p < n and src[p] in exp:
            p += 1 + (p + 1 < n and src[p + 1] in "+-")
            while p < n and src[p] in "0123456789_":
                p += 1
    p += src.startswith("i", p)
    if p < n and _alnum(src[p]):
        return p + 1, False
    return p, True


def _lex(src: str) -> list[_Tok]:
    toks: list[_Tok] = []
    n, counted = len(src), [1, 0]

    def add(kind: str, val: str, at: int) -> None:
        counted[0] += src.count("\n", counted[1], at)
        counted[1] = at
        toks.append(_Tok(kind, val, at, counted[0]))

    def term(p: int) -> bool:  # Go's atTerminator
        return p >= n or src[p] in _SP or src[p] in ".,|:()" or src.startswith("}}", p)

    def rdelim(p: int) -> int:  # length of "}}" or " -}}" at p, else 0
        if src.startswith("}}", p):
            return 2
        trim = p + 1 < n and src[p] in _SP and src[p + 1] == "-" and src.startswith("}}", p + 2)
        return 4 if trim else 0

    def skip_space(p: int) -> int:
        while p < n and src[p] in _SP:
            p += 1
        return p

    pos = 0
    try:
        while pos < n:
            x = src.find("{{", pos)
            if x < 0:
                add("text", src[pos:], pos)
                break
            ltrim = src.startswith("-", x + 2) and x + 3 < n and src[x + 3] in _SP
            text = src[pos:x].rstrip(_SP) if ltrim else src[pos:x]
            if text:
                add("text", text, pos)
            p = x + (4 if ltrim else 2)
            if src.startswith("/*", p):  # comment
                end = src.find("*/", p + 2)
                if end < 0:
                    raise _LexError("unclosed comment", x)
                r = rdelim(end + 2)
                if not r:
                    raise _LexError("comment ends before closing delimiter", end)
                pos = end + 2 + r
                pos = skip_space(pos) if r == 4 else pos
                continue
            add("{{", "{{", x)
            depth = 0
            while True:
                r = rdelim(p)
                if r:
                    if depth:
                        raise _LexError("unclosed left paren", p)
                    add("}}", "}}", p)
                    pos = skip_space(p + r) if r == 4 else p + r
                    break
                if p >= n:
                    raise _LexError("unclosed action", p)
                c, start = src[p], p
                p += 1
                if c in _SP:
                    p = skip_space(p)
                    p -= rdelim(p - 1) == 4  # leave the space of " -}}"
                    if p > start:
                        add("space", src[start:p], start)
                elif c == ":":
                    if not src.startswith("=", p):
                        raise _LexError("expected :=", start)
                    p += 1
                    add(":=", ":=", start)
                elif c in "=|(":
                    depth += c == "("
                    add(c, c, start)
                elif c == ")":
                    depth -= 1
                    if depth < 0:
                        raise _LexError("unexpected right paren", start)
                    add(c, c, start)
                elif c in "\"'":
                    while True:
                        ch = src[p] if p < n else "\n"
                        esc = ch == "\\"
                        if esc:
                            p += 1
                            ch = src[p] if p < n else "\n"
                        if ch == "\n":
                            what = "quoted string" if c == '"' else "character constant"
                            raise _LexError(f"unterminated {what}", start)
                        p += 1
                        if ch == c and not esc:
                            break
                    add("string" if c == '"' else "rune", src[start:p], start)
                elif c == "`":
                    p = src.find("`", p) + 1
                    if not p:
                        raise _LexError("unterminated raw quoted string", start)
                    add("raw", src[start:p], start)
                elif c == "$" or (c == "." and not (p < n and "0" <= src[p] <= "9")):
                    if term(p):
                        add("var" if c == "$" else "dot", c, start)
                        continue
                    while p < n and _alnum(src[p]):
                        p += 1
                    if not term(p):
                        raise _LexError(f"bad character {_uplus(src[p])}", p)
                    add("var" if c == "$" else "field", src[start:p], start)
                elif c in "+-." or "0" <= c <= "9":
                    p, ok = _scan_number(src, start)
                    if ok and p < n and src[p] in "+-":  # Go's complex syntax
                        p, ok = _scan_number(src, p)
                        ok = ok and src[p - 1] == "i"
                    if not ok:
                        raise _LexError(f"bad number syntax: {_quote(src[start:p])}", start)
                    add("number", src[start:p], start)
                elif _alnum(c):
                    while p < n and _alnum(src[p]):
                        p += 1
                    if not term(p):
                        raise _LexError(f"bad character {_uplus(src[p])}", p)
                    word = src[start:p]
                    kind = "bool" if word in ("true", "false") else "ident"
                    add(word if word in _KEYWORDS else kind, word, start)
                elif c < "\x7f" and c.isprintable():
                    add("char", c, start)
                else:
                    raise _LexError(f"unrecognized character in action: {_uplus(c)}", start)
        add("eof", "", n)
    except _LexError as e:
        add("error", e.msg, e.pos)
    return toks
