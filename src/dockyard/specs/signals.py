"""Signal names and numbers: ``--stop-signal``, ``kill -s``, compose ``stop_signal:``.

``SIGTERM``, ``TERM``, ``term``, ``15``, ``SIGRTMIN+3`` (moby's
``signal.ParseSignal``, Linux numbering).
"""

from __future__ import annotations

from dockyard.specs._go import DIGITS, fail

SIGRTMIN, SIGRTMAX = 34, 64
# Linux (x86, arm, riscv...) numbers; the first name of a number is its canonical one.
_NUMBERS = {
    "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7,
    "FPE": 8, "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14,
    "TERM": 15, "STKFLT": 16, "CHLD": 17, "CLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20,
    "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27,
    "WINCH": 28, "IO": 29, "POLL": 29, "PWR": 30, "SYS": 31,
}  # fmt: skip
_NUMBERS.update({"RTMIN": SIGRTMIN, "RTMAX": SIGRTMAX})
_NUMBERS.update({f"RTMIN+{i}": SIGRTMIN + i for i in range(1, 16)})
_NUMBERS.update({f"RTMAX-{i}": SIGRTMAX - i for i in range(1, 15)})
_NAMES: dict[int, str] = {}
for _name, _number in _NUMBERS.items():
    _NAMES.setdefault(_number, "SIG" + _name)


def parse_signal(text: str, *, flag: str | None = None) -> int:
    """A signal's number from its name (any case, ``SIG`` optional) or number."""
    if text and all(c in DIGITS for c in text.lstrip("+-")) and text.lstrip("+-"):
        number = int(text)
        if number <= 0:
            fail(f"invalid signal: {text}", value=text, flag=flag)
        return number
    named = _NUMBERS.get(text.upper().removeprefix("SIG"))
    if named is None:
        fail(f"invalid signal: {text}", value=text, flag=flag, hint="for example SIGTERM or 15")
    return named


def signal_name(number: int) -> str:
    """``15`` -> ``SIGTERM``; an unnamed number as itself."""
    return _NAMES.get(number, str(number))
