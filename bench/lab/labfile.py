"""Reading a lab file: YAML in, a validated ``LabConfig`` out, or ONE error listing every problem.

PyYAML's node API is used instead of ``yaml.safe_load`` because the nodes keep the line of every
key and value (so each pydantic error can point at its line) and because ``safe_load`` silently
keeps the last of two duplicate keys. Every problem is reported as
``FILE:LINE: FIELD.PATH: what is wrong; allowed: ...``; no traceback ever reaches the user.
"""

from __future__ import annotations

import codecs
import difflib
import types
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bench.errors import LabFileError
from bench.lab.model import (
    CONSISTENCY_ERROR,
    LAB_DIR_CONTEXT,
    SECRET_ADVICE,
    SECRET_KEYS,
    LabConfig,
    Problem,
    dotted,
)

__all__ = ["LabFileProblem", "LabFileProblems", "load_lab", "parse_lab"]

Loc = tuple[Any, ...]

DOCS_HINT = "every field, its allowed values and defaults are described in docs/lab-file.md"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_NULL_TAG = "tag:yaml.org,2002:null"


@dataclass(frozen=True)
class LabFileProblem:
    """One problem in a lab file, located at a line and a field."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


class LabFileProblems(LabFileError):
    """Every problem found in one lab file, reported together."""

    def __init__(self, source: str, problems: list[LabFileProblem], *, fix: str) -> None:
        self.problems = problems
        if len(problems) == 1:
            only = problems[0]
            super().__init__(f"{only.field}: {only.message}", where=f"{only.file}:{only.line}", fix=fix)
        else:
            listing = "\n".join(f"  {problem}" for problem in problems)
            super().__init__(f"{len(problems)} problems in the lab file:\n{listing}", where=source, fix=fix)


def load_lab(path: Path | str | None = None) -> LabConfig:
    """Read and validate a lab file; None reads the packaged default (the embedded lab)."""
    if path is None:
        with resources.as_file(resources.files("bench.lab") / "default.yaml") as default:
            return _load_file(Path(default))
    return _load_file(Path(path).expanduser())


def parse_lab(text: str, source: str) -> LabConfig:
    """Validate lab-file text; ``source`` names it in messages and anchors relative paths."""
    lab = _parse(text, source, base_dir=Path(source).absolute().parent)
    lab._source = Path(source)
    return lab


# --- reading -----------------------------------------------------------------------------------


def _load_file(path: Path) -> LabConfig:
    label = str(path)
    fix_path = "check the path (a relative path starts from the current directory); without --lab the embedded lab is used"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise LabFileError("lab file not found", where=label, fix=fix_path) from None
    except IsADirectoryError:
        raise LabFileError("this is a directory, not a lab file", where=label, fix=fix_path) from None
    except OSError as exc:
        raise LabFileError(
            f"cannot read the lab file: {exc.strerror or type(exc).__name__}",
            where=label,
            fix="make the file readable by the user running the bench",
        ) from None
    lab = _parse(_decode(raw, label), label, base_dir=path.absolute().parent)
    lab._source = path.absolute()
    return lab


def _decode(raw: bytes, label: str) -> str:
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        line = raw.count(b"\n", 0, exc.start) + 1
        raise LabFileError(
            f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start - line_start + 1})",
            where=f"{label}:{line}",
            fix="save the lab file as UTF-8 (most editors: 'Save with encoding' > UTF-8)",
        ) from None


def _parse(text: str, label: str, *, base_dir: Path) -> LabConfig:
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)  # checks the characters already, so inside the try
        root = loader.get_single_node()
        _check_root(root, label)
        walk = _NodeWalk(label)
        walk.visit(root, (), None)  # before construction: constructing rewrites merge keys in place
        data = loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, label) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise LabFileError(
            f"character {exc.character!r} is not allowed in a YAML file",
            where=f"{label}:{line}",
            fix="remove the control character (often a stray paste) and save the file as plain text",
        ) from None
    except yaml.YAMLError as exc:  # any other PyYAML complaint, still without a traceback
        raise LabFileError(f"YAML error: {exc}", where=label, fix="check the file is valid YAML") from None
    except RecursionError:  # PyYAML composes nested collections recursively
        raise _too_deep(label) from None
    finally:
        if loader is not None:
            loader.dispose()

    for loc in walk.secret_locs:  # reported already; removed so the value is never echoed again
        _pop(data, loc)
    problems = list(walk.problems)
    lab: LabConfig | None = None
    try:
        lab = LabConfig.model_validate(data, context={LAB_DIR_CONTEXT: base_dir})
    except ValidationError as exc:
        problems += walk.translate(exc.errors(include_url=False))
    except RecursionError:
        raise _too_deep(label) from None
    if problems or lab is None:
        raise LabFileProblems(label, _sorted_unique(problems), fix=_fix_hint(label, walk))
    return lab


def _too_deep(label: str) -> LabFileError:
    return LabFileError(
        "the file nests lists or mappings too deeply to be a lab file",
        where=label,
        fix=f"a lab file nests at most a few levels; {DOCS_HINT}",
    )


def _check_root(root: Node | None, label: str) -> None:
    if root is None or (isinstance(root, ScalarNode) and root.tag == _NULL_TAG and not root.value):
        raise LabFileError(
            "the lab file is empty",
            where=f"{label}:1",
            fix="write at least 'kind: embedded', start from docs/examples/hardware-lab.yaml, "
            "or run without --lab for the embedded lab",
        )
    if not isinstance(root, MappingNode):
        got = "a list" if isinstance(root, SequenceNode) else f"a single value {_clip(root.value)!r}"
        raise LabFileError(
            f"the top level must be a mapping of 'field: value' lines, got {got}",
            where=f"{label}:{_line(root)}",
            fix=f"start the file with lines such as 'kind: embedded' at the left margin; {DOCS_HINT}",
        )


def _syntax_error(exc: yaml.MarkedYAMLError, label: str) -> LabFileError:
    mark = exc.problem_mark or exc.context_mark
    where = f"{label}:{mark.line + 1}:{mark.column + 1}" if mark else label
    syntax = isinstance(exc, (yaml.scanner.ScannerError, yaml.parser.ParserError, yaml.composer.ComposerError))
    what = f"YAML {'syntax error' if syntax else 'error'}: {exc.problem or exc.context}"
    if exc.context and exc.problem and exc.context_mark:
        what += f" ({exc.context} at line {exc.context_mark.line + 1})"
    return LabFileError(
        what,
        where=where,
        fix="check indentation and punctuation at that line: indent with spaces, not tabs, and put "
        "values containing ': ', '#', '[' or '{' in quotes",
    )


def _fix_hint(label: str, walk: _NodeWalk) -> str:
    hint = f"correct the lines listed in {label}; {DOCS_HINT}"
    if walk.secret_locs:
        hint = "remove the secret from the file (and change it if the file was ever shared); " + hint
    return hint


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _clip(value: object, limit: int = 40) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _pop(data: Any, loc: Loc) -> None:
    for part in loc[:-1]:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(data, dict):
        data.pop(loc[-1], None)


def _sorted_unique(problems: list[LabFileProblem]) -> list[LabFileProblem]:
    return sorted(dict.fromkeys(problems), key=lambda p: (p.line, p.field))


# --- node positions and pydantic error translation ----------------------------------------------


@dataclass(frozen=True)
class _Position:
    key_line: int | None  # line of the key whose value this is; None for list items and the root
    node: Node


class _NodeWalk:
    """Positions of every value by location, plus problems PyYAML itself would not report."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.positions: dict[Loc, _Position] = {}
        self.problems: list[LabFileProblem] = []
        self.secret_locs: list[Loc] = []
        self.bad_key_locs: set[Loc] = set()
        self._visited: set[int] = set()
        self._key_constructor = yaml.constructor.SafeConstructor()

    def visit(self, node: Node, loc: Loc, key_line: int | None) -> None:
        self.positions[loc] = _Position(key_line, node)
        if id(node) in self._visited:  # an alias to a node already walked (also stops cycles)
            return
        self._visited.add(id(node))
        if isinstance(node, MappingNode):
            self._visit_mapping(node, loc)
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                self.visit(item, loc + (index,), None)

    def _visit_mapping(self, node: MappingNode, loc: Loc) -> None:
        first_line: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:  # '<<: *anchor' merges; overriding merged keys is allowed
                continue
            line = _line(key_node)
            if not isinstance(key_node, ScalarNode):
                self._add(line, dotted(loc), "a field name must be a plain word, not a list or mapping")
                continue
            key = self._key_constructor.construct_object(key_node)
            child = loc + (key,)
            if not isinstance(key, str):  # e.g. 'yes:' or '8080:'; pydantic's own report is skipped
                self.bad_key_locs.add(child)
                self._add(
                    line,
                    f"{dotted(loc)}.{key_node.value}" if loc else str(key_node.value),
                    f"field names must be text, but YAML read {_clip(key_node.value)!r} as "
                    f"{_type_word(key)}; put it in quotes or correct the name",
                )
                continue
            if key in first_line:
                self._add(
                    line,
                    dotted(child),
                    f"duplicate key {key_node.value!r} (first at line {first_line[key]}); YAML would "
                    "silently keep only the last one",
                )
                continue
            first_line[key] = line
            if isinstance(key, str) and key.lower() in SECRET_KEYS:
                self._add(line, dotted(child), f"{key!r} is refused: {SECRET_ADVICE}")
                self.secret_locs.append(child)
                continue  # never look at, nor echo, the secret's value
            self.visit(value_node, child, line)

    def _add(self, line: int, field: str, message: str) -> None:
        self.problems.append(LabFileProblem(self.label, line, field, message))

    def line_for(self, loc: Loc, *, at_key: bool = False) -> int:
        """The line a problem at ``loc`` belongs to: the value's, or its nearest present parent's."""
        for depth in range(len(loc), -1, -1):
            position = self.positions.get(tuple(loc[:depth]))
            if position is None:
                continue
            node_line = _line(position.node)
            if depth < len(loc):  # the field is absent: blame the mapping that lacks it
                return position.key_line or node_line
            if position.key_line is not None and (at_key or not isinstance(position.node, ScalarNode)):
                return position.key_line
            return node_line
        return 1

    def translate(self, errors: list[Any]) -> list[LabFileProblem]:
        problems = []
        for error in errors:
            loc = tuple(error["loc"])
            if error["type"] == CONSISTENCY_ERROR:
                extra: list[Problem] = error["ctx"]["problems"]
                for problem in extra:
                    full = loc + problem.loc
                    problems.append(LabFileProblem(self.label, self.line_for(full), dotted(full), problem.message))
                continue
            if error["type"] == "invalid_key" and loc in self.bad_key_locs:
                continue
            at_key = error["type"] in ("extra_forbidden", "invalid_key")
            problems.append(
                LabFileProblem(self.label, self.line_for(loc, at_key=at_key), dotted(loc), self._message(error, loc))
            )
        return problems

    def _message(self, error: Any, loc: Loc) -> str:
        kind: str = error["type"]
        value = error.get("input")
        ctx = error.get("ctx") or {}
        shown = _show(value, secret="credentials" in loc)
        annotation = _annotation_at(loc)
        if kind == "extra_forbidden":
            return _unknown_field(loc)
        if kind == "invalid_key":
            return f"field names must be text, got {_show(value)}; put it in quotes or correct the name"
        if kind == "missing":
            allowed = _allowed_values(annotation)
            return "required field is missing" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
        if kind == "literal_error":
            allowed = _allowed_values(annotation)
            close = difflib.get_close_matches(str(value), allowed, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            return f"{shown} is not allowed{hint}; allowed: {', '.join(allowed)}"
        if kind == "value_error":
            return str(ctx.get("error", error["msg"]))
        if kind == "string_type":
            message = f"expected text, got {shown}"
            if isinstance(value, bool):
                message += "; YAML reads yes/no/on/off/true/false as booleans: put the value in quotes"
            return message
        if kind == "string_too_short":
            return "must not be empty"
        if kind in ("int_type", "int_parsing", "int_from_float"):
            message = f"expected a whole number, got {shown}"
            if isinstance(value, str) and value.strip().isdigit():
                message += "; write it without quotes"
            return message
        if kind in ("float_type", "float_parsing"):
            return f"expected a number, got {shown}"
        if kind in ("greater_than_equal", "greater_than"):
            bound = ctx.get("ge", ctx.get("gt"))
            return f"{shown} is too small; allowed: {'at least' if kind == 'greater_than_equal' else 'more than'} {bound}"
        if kind in ("less_than_equal", "less_than"):
            bound = ctx.get("le", ctx.get("lt"))
            return f"{shown} is too large; allowed: {'at most' if kind == 'less_than_equal' else 'less than'} {bound}"
        if kind in ("model_type", "model_attributes_type", "dict_type"):
            return f"expected a mapping of 'field: value' lines, got {shown}"
        if kind == "list_type":
            return f"expected a list (lines starting with '- '), got {shown}"
        if kind in ("tuple_type", "too_short", "too_long"):
            got = f"{len(value)} items" if isinstance(value, (list, tuple)) else shown
            return f"expected [min, max] (two numbers), got {got}"
        if kind in ("path_type", "path_parsing"):
            return f"expected a file path, got {shown}"
        return f"{error['msg']} (got {shown})"


def _show(value: Any, *, secret: bool = False) -> str:
    """How an offending value is quoted in a message (never echoed under credentials)."""
    if value is None:
        return "an empty value"
    if secret:
        return _type_word(value)
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return repr(_clip(value))
    return _type_word(value)


def _type_word(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return type(value).__name__


# --- what the model allows at a location -------------------------------------------------------


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            members = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _annotation_at(loc: Loc) -> Any:
    """The type the model expects at ``loc`` (None if the location is not in the model)."""
    current: Any = LabConfig
    for part in loc:
        current = _unwrap(current)
        if isinstance(part, str):
            if not (isinstance(current, type) and issubclass(current, BaseModel)) or part not in current.model_fields:
                return None
            current = current.model_fields[part].annotation
        elif get_origin(current) is list:
            current = get_args(current)[0]
        elif get_origin(current) is tuple and part < len(get_args(current)):
            current = get_args(current)[part]
        else:
            return None
    return _unwrap(current)


def _allowed_values(annotation: Any) -> list[str]:
    return [str(value) for value in get_args(annotation)] if get_origin(annotation) is Literal else []


def _model_fields(annotation: Any) -> list[str]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def _field_homes(model: type[BaseModel], prefix: str = "") -> dict[str, list[str]]:
    """Every field name in the lab model with the places it may appear: {'address': ['dut', ...]}."""
    homes: dict[str, list[str]] = {}
    for name, info in model.model_fields.items():
        homes.setdefault(name, []).append(prefix or "the top level")
        inner = _unwrap(info.annotation)
        suffix = ""
        if get_origin(inner) is list:
            inner, suffix = _unwrap(get_args(inner)[0]), "[]"
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            path = f"{prefix}.{name}{suffix}" if prefix else f"{name}{suffix}"
            for field, places in _field_homes(inner, path).items():
                homes.setdefault(field, []).extend(places)
    return homes


_HOMES = _field_homes(LabConfig)


def _unknown_field(loc: Loc) -> str:
    key = str(loc[-1])
    allowed = _model_fields(_annotation_at(loc[:-1]))
    message = f"unknown field {key!r}"
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        message += f" (did you mean {close[0]!r}?)"
    elif key in _HOMES:
        message += f" (it belongs under {' or '.join(_HOMES[key])})"
    return message + f"; allowed: {', '.join(allowed)}"
