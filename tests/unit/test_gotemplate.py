"""Go text/template subset for --format: golden cases, table-driven."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.cli.gotemplate import (
    expand_escapes,
    format_table,
    parse,
    render,
    split_table,
    tabwrite,
)
from dockyard.errors import InvalidArgument


@dataclass
class Port:
    Private: int
    Public: int


@dataclass
class Container:
    ID: str
    Names: list[str]
    Labels: dict[str, str] = field(default_factory=dict)
    State: Any = None
    Ports: list[Port] = field(default_factory=list)

    def Label(self, name: str) -> str:  # Go-style method names, as Docker exposes them
        return self.Labels.get(name, "")

    def ShortID(self) -> str:
        return self.ID[:4]

    def Boom(self) -> str:
        raise RuntimeError("kaput")

    @property
    def Size(self) -> int:
        return 42


class Stringy:
    def __str__(self) -> str:
        return "i am stringy"


CTR = Container("abcdef0123456789", ["/web"], {"com.x": "1", "env": "prod"}, Ports=[Port(80, 8080)])

INSPECT: dict[str, Any] = {
    "Id": "sha256:abc",
    "Name": "/web",
    "Config": {
        "Env": ["PATH=/usr/bin", "TERM=xterm"],
        "Labels": {"b": "2", "a": "1"},
        "Cmd": None,
        "ExposedPorts": {},
    },
    "State": {"Running": True, "Pid": 123, "Health": None, "Status": "running"},
    "NetworkSettings": {
        "Networks": {"bridge": {"IPAddress": "172.17.0.2"}, "app": {"IPAddress": "10.0.0.5"}}
    },
    "Size": 1.5,
    "Mounts": [],
}

# (template, data, expected output)
GOLDEN: list[tuple[str, object, str]] = [
    # text, fields, printing rules
    ("plain text", None, "plain text"),
    ("{{.Id}}", INSPECT, "sha256:abc"),
    ("{{.Config.Env}}", INSPECT, "[PATH=/usr/bin TERM=xterm]"),
    ("{{.Config.Labels}}", INSPECT, "map[a:1 b:2]"),
    ("{{.State.Running}} {{.State.Pid}}", INSPECT, "true 123"),
    ("{{.State.Health}}", INSPECT, "<nil>"),
    ("{{.Nope}}", INSPECT, "<no value>"),
    ("{{.Nope.Deeper}}", INSPECT, "<no value>"),
    ("{{.}}", None, "<no value>"),
    ("{{.Size}}", INSPECT, "1.5"),
    ("{{.}}", 1000000.0, "1e+06"),
    ("{{.}}", 123456.0, "123456"),
    ("{{.}}", 1234567.0, "1.234567e+06"),
    ("{{.}}", 0.00001, "1e-05"),
    ("{{.}}", 0.0001, "0.0001"),
    ("{{.}}", 3.0, "3"),
    ("{{.}}", -0.5, "-0.5"),
    ("{{.}}", 0.1 + 0.2, "0.30000000000000004"),
    ("{{.}}", float("inf"), "+Inf"),
    ("{{.}}", float("nan"), "NaN"),
    ("{{.}}", 2**70, "1180591620717411303424"),
    ("{{.}}", [[1, 2], [], ("x", None)], "[[1 2] [] [x <nil>]]"),
    ("{{.}}", {"b": 2, "a": {"c": [1, 2]}}, "map[a:map[c:[1 2]] b:2]"),
    ("{{.}}", {2: "b", 10: "a"}, "map[2:b 10:a]"),
    ("{{.}}", Port(80, 8080), "{80 8080}"),
    ("{{.}}", Stringy(), "i am stringy"),
    ("{{.}}", False, "false"),
    # literals
    ('{{"a\\tb\\u00e9\\x41\\101"}}', None, "a\tbéAA"),
    ("{{`raw\\n{{x}}`}}", None, "raw\\n{{x}}"),
    (
        "{{0x1F}} {{1e3}} {{'a'}} {{-5}} {{1_000}} {{0o17}} {{017}} {{.5}}",
        None,
        "31 1000 97 -5 1000 15 15 0.5",
    ),
    ("{{true}} {{false}}", None, "true false"),
    # trim markers and comments
    ("a  {{- .X -}}  b", {"X": 1}, "a1b"),
    ("a \n{{- .X}}\n b", {"X": 1}, "a1\n b"),
    ("{{-3}}", None, "-3"),
    ("{{- -3 -}}", None, "-3"),
    ("a{{/* comment */}}b", None, "ab"),
    ("a {{- /* spans\nlines */ -}} b", None, "ab"),
    ("{{.X\n}}", {"X": "multi-line action"}, "multi-line action"),
    # variables
    ("{{$x := .Name}}{{$x}}", INSPECT, "/web"),
    ("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", None, "2"),
    ("{{range .Config.Env}}{{$.Name}};{{end}}", INSPECT, "/web;/web;"),
    ("{{with $s := .State}}{{$s.Status}}{{end}}", INSPECT, "running"),
    ("{{$n := .NetworkSettings.Networks}}{{$n.bridge.IPAddress}}", INSPECT, "172.17.0.2"),
    # if / else if / with
    ("{{if .State.Running}}up{{else}}down{{end}}", INSPECT, "up"),
    ("{{if .A}}a{{else if .B}}b{{else}}c{{end}}", {"B": 1}, "b"),
    ("{{if .A}}a{{else if .B}}b{{else}}c{{end}}", {}, "c"),
    ("{{if .Mounts}}m{{else}}none{{end}}", INSPECT, "none"),
    ("{{if .Config.Cmd}}c{{else}}nil{{end}}", INSPECT, "nil"),
    ('{{if 0.0}}t{{else}}f{{end}}{{if "x"}}t{{end}}', None, "ft"),
    ("{{with .State}}{{.Status}}{{end}}", INSPECT, "running"),
    ("{{with .Config.Cmd}}{{.}}{{else}}no cmd{{end}}", INSPECT, "no cmd"),
    ("{{with .A}}{{.}}{{else with .B}}{{.}}!{{end}}", {"B": "b"}, "b!"),
    # range
    ("{{range .Config.Env}}[{{.}}]{{end}}", INSPECT, "[PATH=/usr/bin][TERM=xterm]"),
    (
        "{{range $i, $e := .Config.Env}}{{$i}}={{$e}} {{end}}",
        INSPECT,
        "0=PATH=/usr/bin 1=TERM=xterm ",
    ),
    ("{{range $e := .Config.Env}}{{$e}};{{end}}", INSPECT, "PATH=/usr/bin;TERM=xterm;"),
    ("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}},{{end}}", INSPECT, "a=1,b=2,"),
    ("{{range .Config.Labels}}{{.}}{{end}}", INSPECT, "12"),
    ("{{range $v := .Config.Labels}}{{$v}}{{end}}", INSPECT, "12"),
    (
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}:{{$v.IPAddress}} {{end}}",
        INSPECT,
        "app:10.0.0.5 bridge:172.17.0.2 ",
    ),
    ("{{range .Mounts}}m{{else}}no mounts{{end}}", INSPECT, "no mounts"),
    ("{{range .Config.Cmd}}x{{else}}null{{end}}", INSPECT, "null"),
    ("{{range .Nope}}x{{else}}missing{{end}}", INSPECT, "missing"),
    ("{{range .Config.ExposedPorts}}x{{else}}{}{{end}}", INSPECT, "{}"),
    ("{{range 3}}{{.}}{{end}}", None, "012"),
    (
        "{{range .}}{{if eq . 2}}{{continue}}{{end}}{{if eq . 4}}{{break}}{{end}}{{.}}{{end}}",
        [1, 2, 3, 4, 5],
        "13",
    ),
    ("{{$x := 0}}{{range .}}{{$x = .}}{{end}}{{$x}}", [1, 2, 3], "3"),
    ("{{range $i, $e := .}}{{$i}}{{end}}", ("a", "b"), "01"),
    # pipelines and parentheses
    ('{{.Name | printf "%q"}}', INSPECT, '"/web"'),
    ('{{"a" | printf "%s-%s" "b"}}', None, "b-a"),
    ('{{len .Config.Env | printf "%d vars"}}', INSPECT, "2 vars"),
    ("{{(index .Config.Env 1)}}", INSPECT, "TERM=xterm"),
    ('{{(index .NetworkSettings.Networks "app").IPAddress}}', INSPECT, "10.0.0.5"),
    ('{{printf "%s/%s" (index .Config.Labels "a") (upper "x")}}', INSPECT, "1/X"),
    # logic and comparison
    ('{{and 1 0 2}} {{and 1 2}} {{or 0 "" "x"}} {{or 0 false}}', None, "0 2 x false"),
    ('{{or .Nope "default"}}', INSPECT, "default"),
    ("{{and .Nope .Nope.X}}", INSPECT, "<no value>"),
    ("{{not .Mounts}} {{not 1}}", INSPECT, "true false"),
    ('{{eq .State.Status "running"}} {{eq 1 2 3 1}} {{eq "a" "b"}}', INSPECT, "true true false"),
    ('{{eq .Config.Cmd nil}} {{eq .Config.Cmd "x"}}', INSPECT, "true false"),
    (
        '{{ne 1 2}} {{lt 1 2}} {{le 2 2}} {{gt "b" "a"}} {{ge 1.5 1}} {{lt 2.5 1}}',
        None,
        "true true true true true false",
    ),
    # builtins
    (
        '{{len .Config.Env}} {{len .Config.Labels}} {{len "héllo"}} {{len .Config.Cmd}}',
        INSPECT,
        "2 2 6 0",
    ),
    ('{{index .Config.Labels "a"}}|{{index .Config.Labels "zz"}}|', INSPECT, "1||"),
    ('{{index .Config.Cmd "label"}}|', INSPECT, "|"),
    ('{{index .NetworkSettings.Networks "none"}}', INSPECT, "<no value>"),
    ("{{index . 1 0}}", [[1], [2, 3]], "2"),
    ('{{index . "a" 1}}', {"a": ["x", "y"]}, "y"),
    ('{{index "abc" 1}}', None, "98"),
    (
        '{{slice . 1}} {{slice . 1 2}} {{slice . 0 0}} {{slice "hello" 1 3}}',
        ["a", "b", "c"],
        "[b c] [b] [] el",
    ),
    ('{{print}}|{{print "a" "b"}}|{{print 1 2}}|{{print 1 "a" 2}}', None, "|ab|1 2|1a2"),
    ('{{println "a" 1}}', None, "a 1\n"),
    ('{{html "<a href=\'x\'>&\\""}}', None, "&lt;a href=&#39;x&#39;&gt;&amp;&#34;"),
    ('{{js "a\'b\\"<c>&=\\n"}}', None, "a\\'b\\\"\\u003Cc\\u003E\\u0026\\u003D\\u000A"),
    ('{{urlquery "a b&c=d/é"}}', None, "a+b%26c%3Dd%2F%C3%A9"),
    ("{{html 1 2}}", None, "1 2"),
    # printf
    (
        '{{printf "%5s|%-5s|%d|%q|%x|%t|%%|%v" "a" "b" 3 "q" 255 true 1.5}}',
        None,
        '    a|b    |3|"q"|ff|true|%|1.5',
    ),
    (
        '{{printf "%05d|%-5d|%+d|%X|%#x|%o|%b|%c|%U" 42 42 5 255 255 8 5 65 65}}',
        None,
        "00042|42   |+5|FF|0xff|10|101|A|U+0041",
    ),
    (
        '{{printf "%5.2f|%6.2f|%08.3f|%e|%g|%.3g|%G" 3.14159 -1.5 -3.14159 1234.5678 '
        "0.0000123 1234.5 1e21}}",
        None,
        " 3.14| -1.50|-003.142|1.234568e+03|1.23e-05|1.23e+03|1E+21",
    ),
    ('{{printf "%.3s|%x|%X|%q" "abcdef" "hi" "hi" "a\\nb"}}', None, 'abc|6869|6869|"a\\nb"'),
    ('{{printf "%d|%s|%t|%f" "x" 1 1 1}}', None, "%!d(string=x)|%!s(int=1)|%!t(int=1)|%!f(int=1)"),
    (
        '{{printf "%d %d" 1}}|{{printf "%d" 1 "x"}}|{{printf "%"}}',
        None,
        "1 %!d(MISSING)|1%!(EXTRA string=x)|%!(NOVERB)",
    ),
    ('{{printf "%v|%s|%T|%T" nil nil 1 "s"}}', None, "<nil>|%!s(<nil>)|int|string"),
    ('{{printf "%v|%d|%q" .L .L .L}}', {"L": [1, 2]}, "[1 2]|[1 2]|['\\x01' '\\x02']"),
    ('{{printf "%s" .L}}', {"L": ["a", 1]}, "[a %!s(int=1)]"),
    ('{{printf "%v" .}}', {"b": 1, "a": "x"}, "map[a:x b:1]"),
    # Docker's functions
    (
        "{{json .Config}}",
        INSPECT,
        '{"Env":["PATH=/usr/bin","TERM=xterm"],"Labels":{"b":"2","a":"1"},"Cmd":null,'
        '"ExposedPorts":{}}',
    ),
    (
        "{{json .}}",
        {"f": [1.0, 2.5, 1e21, 1e20, 1e-7, 0.000001, -0.0], "t": True},
        '{"f":[1,2.5,1e+21,100000000000000000000,1e-7,0.000001,-0],"t":true}',
    ),
    ("{{json .}}", '<&> "q" é \n \x01 \u2028', '"<&> \\"q\\" é \\n \\u0001 \\u2028"'),
    (
        "{{json .}}",
        CTR,
        '{"ID":"abcdef0123456789","Names":["/web"],"Labels":{"com.x":"1","env":"prod"},'
        '"State":null,"Ports":[{"Private":80,"Public":8080}]}',
    ),
    ("{{json .Nope}}|{{json .}}", {"x": float("nan")}, "null|"),
    ('{{join .Config.Env ", "}}|{{join .Config.Cmd ","}}', INSPECT, "PATH=/usr/bin, TERM=xterm|"),
    (
        '{{split "a:b:c" ":"}} {{index (split .Id ":") 1}} {{split "ab" ""}}',
        INSPECT,
        "[a b c] abc [a b]",
    ),
    (
        '{{title "hello-world foo_bar élan"}}|{{lower "AbC"}}|{{upper "abc"}}',
        None,
        "Hello-World Foo_bar Élan|abc|ABC",
    ),
    ('{{pad "x" 2 3}}|{{pad "" 2 3}}|', None, "  x   ||"),
    ('{{truncate "abcdef" 3}}|{{truncate "ab" 3}}|{{truncate "abc" 3}}', None, "abc|ab|abc"),
    # objects: attributes, properties, methods with and without arguments
    ("{{.ID}} {{.Names}} {{.Size}}", CTR, "abcdef0123456789 [/web] 42"),
    ('{{.ShortID}} {{.Label "com.x"}} {{.Label "missing"}}|', CTR, "abcd 1 |"),
    ('{{"env" | .Label}}', CTR, "prod"),
    ("{{range .Ports}}{{.Public}}->{{.Private}}{{end}}", CTR, "8080->80"),
    ("{{.State}}", CTR, "<nil>"),
    ("{{.Labels.env}} {{.Labels.nope}}", CTR, "prod <no value>"),
]


@pytest.mark.parametrize(
    ("tmpl", "data", "expected"),
    GOLDEN,
    ids=[f"{i}:{t[:40]}" for i, (t, _, _) in enumerate(GOLDEN)],
)
def test_golden(tmpl: str, data: object, expected: str) -> None:
    assert render(tmpl, data) == expected


# (template, data, message fragment); parse errors are checked for their prefix
PARSE_ERRORS: list[tuple[str, str]] = [
    ("{{.Foo", "template: :1: unclosed action"),
    ("line1\n{{.Foo", "template: :2: unclosed action"),
    ("{{foo}}", 'template: :1: function "foo" not defined'),
    ("a\nb\n{{bar 1}}", 'template: :3: function "bar" not defined'),
    ("{{if .A}}x", "unexpected EOF"),
    ("{{range .}}", "unexpected EOF"),
    ("{{end}}", "unexpected {{end}}"),
    ("{{else}}", "unexpected {{else}}"),
    ("{{if}}{{end}}", "missing value for if"),
    ("{{range}}{{end}}", "missing value for range"),
    ("{{}}", "missing value for command"),
    ("{{$x}}", 'undefined variable "$x"'),
    ("{{if $y := 1}}{{end}}{{$y}}", 'undefined variable "$y"'),
    ('{{"abc}}', "unterminated quoted string"),
    ("{{`abc}}", "unterminated raw quoted string"),
    ("{{'a}}", "unterminated character constant"),
    ("{{'ab'}}", "malformed character constant"),
    ("{{/* x }}", "unclosed comment"),
    ("{{/* x */ .A}}", "comment ends before closing delimiter"),
    ("{{(.A}}", "unclosed left paren"),
    ("{{.A)}}", "unexpected right paren"),
    ("{{.A | 1}}", "non executable command in pipeline stage 2"),
    ("{{break}}", "{{break}} outside {{range}}"),
    ("{{if true}}{{continue}}{{end}}", "{{continue}} outside {{range}}"),
    ("{{range $a, $b, $c := .}}{{end}}", "too many declarations in range"),
    ("{{$a, $b := 1}}", "too many declarations in command"),
    ('{{define "x"}}{{end}}', "{{define}} is not supported"),
    ('{{template "x"}}', "{{template}} is not supported"),
    ("{{3x}}", 'bad number syntax: "3x"'),
    ("{{1+2}}", 'bad number syntax: "1+2"'),
    ("{{1i}}", "complex numbers are not supported"),
    ("{{99999999999999999999}}", "99999999999999999999 overflows int"),
    ('{{"\\q"}}', "invalid syntax"),
    ("{{.A}x}}", "bad character U+007D '}'"),
    ("{{!}}", 'unexpected "!" in command'),
    ("{{.A !}}", 'unexpected "!" in operand'),
    ("{{nil.A}}", 'unexpected . after term "nil"'),
    ('{{.A "x"y}}', 'unexpected "y" in operand'),
    ("{{if .A}}{{else}}{{else}}{{end}}", "expected end; found {{else}}"),
    ("{{else foo}}", 'unexpected "foo" in else'),
    ("{{with .A}}{{else if .B}}{{end}}", "unexpected <if> in input"),
    ("{{:}}", "expected :="),
    ("{{\x00}}", "unrecognized character in action: U+0000"),
]


@pytest.mark.parametrize(("tmpl", "fragment"), PARSE_ERRORS, ids=[t for t, _ in PARSE_ERRORS])
def test_parse_errors(tmpl: str, fragment: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse(tmpl)
    assert info.value.message.startswith("template parsing error: template: :")
    assert fragment in info.value.message
    assert info.value.hint


EXEC_ERRORS: list[tuple[str, object, str]] = [
    ("{{range .}}{{end}}", "text", "range can't iterate over text"),
    ("{{range .}}{{end}}", 1.5, "range can't iterate over 1.5"),
    ("{{range .}}{{end}}", True, "range can't iterate over true"),
    ("{{range $i, $e := 3}}{{end}}", None, "does not support two iteration variables"),
    ("{{range .}}{{end}}", Port(1, 2), "range can't iterate over {1 2}"),
    ("{{index}}", None, "wrong number of args for index: want at least 1 got 0"),
    ("{{not 1 2}}", None, "wrong number of args for not: want 1 got 2"),
    ("{{1 | not 2}}", None, "wrong number of args for not: want 1 got 2"),
    ('{{pad "a" 1}}', None, "wrong number of args for pad: want 3 got 2"),
    ("{{index .L 5}}", {"L": [1]}, "error calling index: index out of range: 5"),
    ("{{index .L -1}}", {"L": [1]}, "error calling index: index out of range: -1"),
    ('{{index .L "a"}}', {"L": [1]}, "cannot index slice/array with type string"),
    ("{{index 3 1}}", None, "can't index item of type int"),
    ("{{index .Nope 1}}", {}, "index of untyped nil"),
    ("{{slice .L 2 1}}", {"L": [1, 2]}, "invalid slice index: 2 > 1"),
    ('{{slice "abc" 0 1 2}}', None, "cannot 3-index slice a string"),
    ("{{len 3}}", None, "error calling len: len of type int"),
    ('{{eq 1 "a"}}', None, "error calling eq: incompatible types for comparison"),
    ("{{eq .L .L}}", {"L": [1]}, "non-comparable type [1]"),
    ("{{eq 1}}", None, "missing argument for comparison"),
    ("{{lt true false}}", None, "invalid type for comparison"),
    ("{{lt .L 1}}", {"L": []}, "invalid type for comparison"),
    ("{{.A.B}}", {"A": None}, "nil pointer evaluating interface {}.B"),
    ("{{.S.X}}", {"S": "str"}, "can't evaluate field X in type string"),
    ("{{.L.X}}", {"L": [1]}, "can't evaluate field X in type []interface {}"),
    ("{{.Nope}}", CTR, "can't evaluate field Nope in type Container"),
    ("{{._private}}", CTR, "can't evaluate field _private in type Container"),
    ("{{.Boom}}", CTR, "error calling Boom: kaput"),
    ('{{.ID "x"}}', CTR, "ID has arguments but cannot be invoked as function"),
    ('{{.M.k "x"}}', {"M": {"k": 1}}, "k is not a method but has arguments"),
    ("{{1 2}}", None, "can't give argument to non-function 1"),
    ('{{"x" | 1}}', None, "non executable command"),  # parse-time, checked below too
    ("{{nil}}", None, "nil is not a command"),
    ("{{upper 1}}", None, "wrong type for value; expected string; got int"),
    ("{{upper .Nope}}", {}, "invalid value; expected string"),
    ("{{printf 1}}", None, "wrong type for value; expected string; got int"),
    ('{{join "a" ","}}', None, "expected []string; got string"),
    ('{{.Env | join ","}}', {"Env": ["a"]}, "expected []string; got string"),
    ('{{truncate "a" "b"}}', None, "expected int; got string"),
    ('{{pad "x" -1 0}}', None, "error calling pad"),
    ("{{$x := 1}}{{$x.Y}}", None, "can't evaluate field Y in type int"),
]


@pytest.mark.parametrize(
    ("tmpl", "data", "fragment"), EXEC_ERRORS, ids=[t for t, _, _ in EXEC_ERRORS]
)
def test_exec_errors(tmpl: str, data: object, fragment: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        render(tmpl, data)
    assert fragment in info.value.message
    assert info.value.message.startswith("template")


@pytest.mark.parametrize(
    ("tmpl", "data", "message"),
    [
        ("{{.Foo}}", {}, 'template: :1:2: executing "" at <.Foo>: map has no entry for key "Foo"'),
        (
            "x\n  {{.A.Foo}}",
            {"A": {}},
            'template: :2:6: executing "" at <.A.Foo>: map has no entry for key "Foo"',
        ),
        (
            "{{.State.Health.Status}}",
            INSPECT,
            'template: :1:8: executing "" at <.State.Health.Status>: '
            "nil pointer evaluating interface {}.Status",
        ),
        (
            "{{index .Config.Env 7}}",
            INSPECT,
            'template: :1:2: executing "" at <index .Config.Env 7>: '
            "error calling index: index out of range: 7",
        ),
        (
            '{{printf "%s %s %s %s" .Id .Id .Id .Nope.Nope}}',
            INSPECT,
            'template: :1:40: executing "" at <.Nope.Nope>: map has no entry for key "Nope"',
        ),
    ],
)
def test_exec_error_location(tmpl: str, data: object, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse(tmpl).execute(data, missingkey_error=True)
    assert info.value.message == message


def test_context_is_truncated_to_twenty_characters() -> None:
    with pytest.raises(InvalidArgument, match=r"at <index \.Config\.Env 12\.\.\.>"):
        render("{{index .Config.Env 12345}}", INSPECT)


def test_missing_field_hint_lists_fields() -> None:
    with pytest.raises(InvalidArgument) as info:
        render("{{.Nope}}", CTR)
    assert info.value.hint is not None and "Names" in info.value.hint


def test_missingkey_error_only_when_asked() -> None:
    tmpl = parse("{{.Nope}}")
    assert tmpl.execute({}) == "<no value>"
    with pytest.raises(InvalidArgument, match="map has no entry"):
        tmpl.execute({}, missingkey_error=True)


def test_header_functions_keep_column_names() -> None:
    tmpl = parse("{{upper .Name}}\t{{json .Labels}}\t{{truncate .ID 3}}\t{{pad .X 1 1}}")
    header = {"Name": "NAME", "Labels": "LABELS", "ID": "CONTAINER ID", "X": "X"}
    assert tmpl.execute(header, header=True) == "NAME\tLABELS\tCONTAINER ID\t X "


def test_parse_is_cached_and_template_is_reusable() -> None:
    tmpl = parse("{{.ID}}")
    assert parse("{{.ID}}") is tmpl
    assert [tmpl.execute({"ID": i}) for i in range(3)] == ["0", "1", "2"]


def test_variables_do_not_leak_between_executions() -> None:
    tmpl = parse("{{range .}}{{$x := .}}{{end}}{{$y := 1}}{{$y}}")
    assert tmpl.execute([1, 2]) == "1"
    assert tmpl.execute([]) == "1"


# ------------------------------------------------------------------ tabwriter
@pytest.mark.parametrize(
    ("text", "kwargs", "expected"),
    [
        # docker images, as the docker CLI prints it
        (
            "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\n"
            "nginx\tlatest\td2c94e258dcb\t7 months ago\t13.3kB\n",
            {},
            "REPOSITORY   TAG       IMAGE ID       CREATED        SIZE\n"
            "nginx        latest    d2c94e258dcb   7 months ago   13.3kB\n",
        ),
        (
            "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\n"
            "hello-world\tlatest\td2c94e258dcb\t7 months ago\t13.3kB\n",
            {},
            "REPOSITORY    TAG       IMAGE ID       CREATED        SIZE\n"
            "hello-world   latest    d2c94e258dcb   7 months ago   13.3kB\n",
        ),
        # empty cells are padded like the others
        (
            "ID\tPORTS\tNAMES\n1\t\tweb\n",
            {},
            "ID        PORTS     NAMES\n1                   web\n",
        ),
        # the last cell of a line is not in a column; a trailing tab makes it one
        ("a\t\nbb\tc\n", {}, "a         \nbb        c\n"),
        ("a\tb", {}, "a         b"),
        ("no tabs\nat all", {}, "no tabs\nat all"),
        ("é\tx\n", {}, "é         x\n"),
        # column blocks (Go's Example_elastic, left-aligned)
        (
            "a\tb\tc\naa\tbb\tcc\naaa\t\naaaa\tdddd\teeee\n",
            {"minwidth": 0, "padding": 1, "padchar": "."},
            "a....b..c\naa...bb.cc\naaa..\naaaa.dddd.eeee\n",
        ),
        # a line without tabs ends every column block
        ("a\tb\nheader\nccc\td\n", {"minwidth": 0, "padding": 1}, "a b\nheader\nccc d\n"),
        ("a\tb\nccc\td\n", {"minwidth": 0, "padding": 1}, "a   b\nccc d\n"),
        ("a\tb\fccc\td\n", {"minwidth": 0, "padding": 1}, "a b\nccc d\n"),
        # tab padding (Go's ExampleWriter_Init)
        (
            "a\tb\tc\td\t.\n123\t12345\t1234567\t123456789\t.\n\n",
            {"minwidth": 0, "tabwidth": 8, "padding": 0, "padchar": "\t"},
            "a\tb\tc\td\t\t.\n123\t12345\t1234567\t123456789\t.\n\n",
        ),
    ],
)
def test_tabwrite(text: str, kwargs: dict[str, Any], expected: str) -> None:
    assert tabwrite(text, **kwargs) == expected


def test_format_table_like_docker_ps() -> None:
    rows = [
        ["CONTAINER ID", "IMAGE", "COMMAND", "STATUS", "PORTS", "NAMES"],
        ["4c01db0b339c", "ubuntu", '"bash"', "Up 2 hours", "", "app"],
        [
            "d7886598dbe2",
            "nginx:alpine",
            '"/docker-entrypoint…"',
            "Up 3 hours",
            "0.0.0.0:80->80/tcp",
            "web",
        ],
    ]
    assert format_table(rows) == (
        "CONTAINER ID   IMAGE          COMMAND                 STATUS       "
        "PORTS                NAMES\n"
        '4c01db0b339c   ubuntu         "bash"                  Up 2 hours   '
        "                     app\n"
        'd7886598dbe2   nginx:alpine   "/docker-entrypoint…"   Up 3 hours   '
        "0.0.0.0:80->80/tcp   web\n"
    )


def test_table_format_end_to_end() -> None:
    is_table, fmt = split_table(expand_escapes("table {{.ID}}\\t{{.Names}}"))
    assert is_table and fmt == "{{.ID}}\t{{.Names}}"
    tmpl = parse(fmt)
    lines = [tmpl.execute({"ID": "CONTAINER ID", "Names": "NAMES"}, header=True)]
    lines += [tmpl.execute({"ID": "abc", "Names": "web"})]
    assert tabwrite("".join(line + "\n" for line in lines)) == (
        "CONTAINER ID   NAMES\nabc            web\n"
    )


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("table {{.ID}}\t{{.Image}}", (True, "{{.ID}}\t{{.Image}}")),
        ("table", (True, "")),
        ("{{.ID}}", (False, "{{.ID}}")),
        ("  {{.ID}} ", (False, "{{.ID}}")),
        (" table {{.ID}}", (False, "table {{.ID}}")),
    ],
)
def test_split_table(fmt: str, expected: tuple[bool, str]) -> None:
    assert split_table(fmt) == expected


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("{{.ID}}\\t{{.Names}}\\n", "{{.ID}}\t{{.Names}}\n"),
        ("no escapes", "no escapes"),
        ("\\\\t", "\\\t"),
        ("\\x", "\\x"),
    ],
)
def test_expand_escapes(fmt: str, expected: str) -> None:
    assert expand_escapes(fmt) == expected


# ------------------------------------------------------------------ properties
_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _same(got: object, want: object) -> bool:
    """Equal, except that Go writes integral floats below 1e21 without a fraction."""
    if isinstance(want, float):
        return isinstance(got, (int, float)) and float(got) == want
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(map(_same, got, want))
    if isinstance(want, dict):
        return (
            isinstance(got, dict)
            and list(got) == list(want)
            and all(_same(got[k], want[k]) for k in want)
        )
    return got == want and type(got) is type(want)


@given(_json_values)
def test_json_round_trips(value: object) -> None:
    assert _same(json.loads(render("{{json .}}", {"v": value}))["v"], value)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_printing_round_trips(value: float) -> None:
    text = render("{{.}}", value)
    assert float(text) == value
    assert ("e" in text) == (value != 0 and not 1e-4 <= abs(value) < 1e6)


@given(st.text().filter(lambda t: "{{" not in t))
def test_plain_text_is_copied(text: str) -> None:
    assert render(text, None) == text


@given(st.text().map(lambda t: t.translate({9: None, 10: None, 11: None, 12: None})))
def test_tabwrite_leaves_single_cells_alone(text: str) -> None:
    assert tabwrite(text) == text


_cell = st.text(
    st.characters(exclude_characters="\t\n\v\f\r", exclude_categories=["Cs"]), max_size=15
)


@given(
    st.integers(2, 5).flatmap(
        lambda n: st.lists(st.lists(_cell, min_size=n, max_size=n), min_size=1, max_size=6)
    )
)
def test_format_table_pads_every_column_to_its_widest_cell(rows: list[list[str]]) -> None:
    widths = [max(10, max(len(r[j]) for r in rows) + 3) for j in range(len(rows[0]) - 1)]
    expected = "".join(
        "".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + r[-1] + "\n"
        for r in rows
    )
    assert format_table(rows) == expected


@given(st.integers(-(2**63), 2**63 - 1))
def test_printf_integers_like_python(value: int) -> None:
    assert render('{{printf "%d|%x|%5d" . . .}}', value) == f"{value}|{value:x}|{value:5d}"
    assert not math.isnan(float(render("{{.}}", value)))
