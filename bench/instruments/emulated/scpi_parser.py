"""The part of an emulated instrument that reads SCPI as a real one does.

Headers match in short or long form, case-insensitively (`VOLT`, `voltage`, `SOUR:VOLT:LEV`),
optional nodes in brackets may be left out (`[SOURce:]VOLTage[:LEVel]`), several commands share
one line separated by `;` with SCPI's relative-path rule, and the answers to several queries on
one line are joined with `;` into one response message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from bench.instruments.scpi_errors import (
    DATA_OUT_OF_RANGE,
    DATA_TYPE_ERROR,
    ILLEGAL_PARAMETER_VALUE,
    MISSING_PARAMETER,
    PARAMETER_NOT_ALLOWED,
    SYNTAX_ERROR,
    UNDEFINED_HEADER,
    ScpiError,
)


class CommandFailed(Exception):
    """Raised by a handler: the command is refused and `error` goes into the queue."""

    def __init__(self, error: ScpiError) -> None:
        super().__init__(error.reply())
        self.error = error


@dataclass(frozen=True)
class _Node:
    short: str
    long: str
    optional: bool

    def matches(self, word: str) -> bool:
        upper = word.upper()
        return upper == self.short or upper == self.long


def _node(word: str, optional: bool) -> _Node:
    # SCPI writes the short form in capitals: VOLTage -> VOLT / VOLTAGE.
    short = "".join(ch for ch in word if ch.isupper() or ch.isdigit() or ch == "*")
    return _Node(short=short or word.upper(), long=word.upper(), optional=optional)


def compile_header(pattern: str) -> tuple[_Node, ...]:
    """`[SOURce:]VOLTage[:LEVel]` -> its nodes, each required or optional."""
    nodes: list[_Node] = []
    for optional_part, required_part in re.findall(r"\[:?([^\]]+?):?\]|([^:\[\]]+)", pattern):
        if optional_part:
            nodes.extend(_node(w, True) for w in optional_part.split(":") if w)
        else:
            nodes.append(_node(required_part, False))
    return tuple(nodes)


def _match(nodes: tuple[_Node, ...], words: list[str]) -> bool:
    if not nodes:
        return not words
    head, rest = nodes[0], nodes[1:]
    if words and head.matches(words[0]) and _match(rest, words[1:]):
        return True
    return head.optional and _match(rest, words)


Handler = Callable[[list[str]], "str | None"]


@dataclass(frozen=True)
class Command:
    """One SCPI command or query the instrument understands and what it does."""

    nodes: tuple[_Node, ...]
    query: bool
    handler: Handler


class CommandSet:
    """The instrument's command tree: headers (patterns) to handlers."""

    def __init__(self) -> None:
        self._commands: list[Command] = []

    def add(self, pattern: str, handler: Handler) -> None:
        """`pattern` ends with `?` for a query (`MEASure[:SCALar]:VOLTage[:DC]?`)."""
        query = pattern.endswith("?")
        self._commands.append(Command(compile_header(pattern.rstrip("?")), query, handler))

    def find(self, words: list[str], query: bool) -> Command | None:
        for command in self._commands:
            if command.query == query and _match(command.nodes, words):
                return command
        return None


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts, current, quote = [], [], ""
    for ch in text:
        if quote:
            current.append(ch)
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
            current.append(ch)
        elif ch == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if quote:
        raise CommandFailed(SYNTAX_ERROR)
    parts.append("".join(current))
    return parts


def execute_line(commands: CommandSet, line: str, on_error: Callable[[ScpiError], None]) -> str | None:
    """Run every command of one program message; the joined query answers, or None if none.

    An error stops the rest of the line, as on a real instrument; it goes to `on_error` (the
    instrument's error queue) and the queries answered before it are still returned.
    """
    answers: list[str] = []
    path: list[str] = []  # the current path for SCPI's relative headers after ';'
    try:
        units = _split_outside_quotes(line.strip(), ";")
    except CommandFailed as failed:
        on_error(failed.error)
        return None
    for unit in units:
        unit = unit.strip()
        if not unit:
            continue
        header, _, raw_params = unit.partition(" ")
        query = header.endswith("?")
        header = header.rstrip("?")
        try:
            params = [p.strip() for p in _split_outside_quotes(raw_params, ",")] if raw_params.strip() else []
        except CommandFailed as failed:
            on_error(failed.error)
            break
        if header.startswith("*"):
            words = [header.upper()]
        elif header.startswith(":"):
            words = [w for w in header[1:].split(":")]
            path = []
        else:
            words = path + header.split(":")
        if not all(words) or not all(re.fullmatch(r"\*?[A-Za-z][A-Za-z0-9]*", w) for w in words):
            on_error(SYNTAX_ERROR)
            break
        command = commands.find(words, query)
        if command is None:
            on_error(UNDEFINED_HEADER)
            break
        if not header.startswith("*"):
            path = words[:-1]
        try:
            answer = command.handler(params)
        except CommandFailed as failed:
            on_error(failed.error)
            break
        if query and answer is not None:
            answers.append(answer)
    return ";".join(answers) if answers else None


# --- parameter helpers the handlers use ---------------------------------------------------------

_NUMBER = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z]*)")
_UNIT_SCALE = {"": 1.0, "V": 1.0, "MV": 1e-3, "KV": 1e3, "A": 1.0, "MA": 1e-3, "UA": 1e-6, "DB": 1.0}


def one_param(params: list[str]) -> str:
    if not params:
        raise CommandFailed(MISSING_PARAMETER)
    if len(params) > 1:
        raise CommandFailed(PARAMETER_NOT_ALLOWED)
    return params[0]


def no_params(params: list[str]) -> None:
    if params:
        raise CommandFailed(PARAMETER_NOT_ALLOWED)


def numeric(params: list[str], *, minimum: float, maximum: float, default: float,
            units: tuple[str, ...]) -> float:
    """A numeric parameter (with MIN/MAX/DEF and the allowed units); out of range gives -222."""
    text = one_param(params).upper()
    if text in ("MIN", "MINIMUM"):
        return minimum
    if text in ("MAX", "MAXIMUM"):
        return maximum
    if text in ("DEF", "DEFAULT"):
        return default
    match = _NUMBER.fullmatch(text)
    if not match:
        raise CommandFailed(DATA_TYPE_ERROR)
    unit = match[2]
    if unit and unit not in units:
        raise CommandFailed(ILLEGAL_PARAMETER_VALUE)
    value = float(match[1]) * _UNIT_SCALE.get(unit, 1.0)
    if not minimum <= value <= maximum:
        raise CommandFailed(DATA_OUT_OF_RANGE)
    return value


def boolean(params: list[str]) -> bool:
    text = one_param(params).upper()
    if text in ("ON", "1"):
        return True
    if text in ("OFF", "0"):
        return False
    raise CommandFailed(ILLEGAL_PARAMETER_VALUE)
