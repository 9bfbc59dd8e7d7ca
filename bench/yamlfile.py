"""Line-aware YAML for any pydantic model: YAML text in, a validated model or ONE located error out.

PyYAML's node API is used instead of ``yaml.safe_load`` because the nodes keep the line of every
key and value (so each pydantic error can point at its line) and because ``safe_load`` silently
keeps the last of two duplicate keys. Every problem is reported as
``FILE:LINE: FIELD.PATH: what is wrong; allowed: ...``; no traceback ever reaches the user.

What differs between kinds of file (the lab file, the requirement catalogue, ...) is a
``FileKind``: how messages name the file, which errors it raises, the fixes it suggests and the
few kind-specific checks (keys refused outright, fields whose values are never echoed, where a
misplaced field belongs). The model is given at each validation.
"""

from __future__ import annotations

import codecs
import difflib
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bench.errors import BenchError
from bench.lab.model import CONSISTENCY_ERROR, Problem, dotted

__all__ = [
    "FileKind",
    "FileProblem",
    "FileProblems",
    "NodeWalk",
    "YamlDocument",
    "allowed_values",
    "annotation_at",
    "check",
    "decode",
    "field_homes",
    "problems_error",
    "read_text",
    "read_yaml",
    "validate",
]

Loc = tuple[Any, ...]

_MERGE_TAG = "tag:yaml.org,2002:merge"
_NULL_TAG = "tag:yaml.org,2002:null"
_PATH_FIX = "check the path (a relative path starts from the current directory)"


@dataclass(frozen=True)
class FileProblem:
    """One problem in a file, located at a line and a field."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


class FileProblems(BenchError):
    """Every problem found in one file, reported together; ``problems`` lists them by line."""

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None, problems: list[FileProblem]) -> None:
        self.problems = problems
        super().__init__(what, where=where, fix=fix)


@dataclass(frozen=True)
class FileKind:
    """How messages name a kind of file, the errors it raises and what is specific to it.

    Each ``*_fix`` left as None falls back to a wording built from ``noun`` and ``docs_hint``."""

    noun: str  # "requirement catalogue"
    error: type[BenchError]  # raised when the file cannot be read or parsed at all
    problems_error: type[FileProblems]  # raised with every located problem of a parsed file
    docs_hint: str  # "every field ... is described in docs/requirements.md"
    path_fix: str = _PATH_FIX
    directory_fix: str = "give the path of the YAML file"
    encoding_fix: str | None = None
    empty_fix: str | None = None
    top_level_fix: str | None = None
    too_deep_fix: str | None = None
    refused_keys: frozenset[str] = frozenset()  # compared in lower case; the value is never read
    refused_advice: str = ""  # why a refused key is refused and what to write instead
    secret_fields: frozenset[str] = frozenset()  # values anywhere under these are never echoed
    field_homes: Mapping[str, Sequence[str]] = field(default_factory=dict)  # "it belongs under ..."


# --- reading -----------------------------------------------------------------------------------


def read_text(path: Path, kind: FileKind) -> str:
    """A file's text, or one error saying why it cannot be read."""
    label = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise kind.error(f"{kind.noun} not found", where=label, fix=kind.path_fix) from None
    except IsADirectoryError:
        raise kind.error(f"this is a directory, not a {kind.noun}", where=label, fix=kind.directory_fix) from None
    except OSError as exc:
        raise kind.error(
            f"cannot read the {kind.noun}: {exc.strerror or type(exc).__name__}",
            where=label,
            fix="make the file readable by the user running the bench",
        ) from None
    return decode(raw, label, kind)


def decode(raw: bytes, label: str, kind: FileKind) -> str:
    """UTF-8 bytes (a leading BOM tolerated) as text, or an error at the line of the first bad byte."""
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        line = raw.count(b"\n", 0, exc.start) + 1
        raise kind.error(
            f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start - line_start + 1})",
            where=f"{label}:{line}",
            fix=kind.encoding_fix or f"save the {kind.noun} as UTF-8 text",
        ) from None


@dataclass
class YamlDocument:
    """Parsed YAML plus the line of every value, ready to be validated against a model."""

    label: str
    data: Any
    walk: NodeWalk
    kind: FileKind


def read_yaml(text: str, label: str, kind: FileKind) -> YamlDocument:
    """Parse YAML keeping positions; syntax errors and an empty file raise at once, duplicate and
    refused keys become the document's own problems (reported with the model's)."""
    loader: yaml.SafeLoader | None = None
    walk = NodeWalk(label, kind)
    try:
        loader = yaml.SafeLoader(text)  # checks the characters already, so inside the try
        root = loader.get_single_node()
        _check_root(root, label, kind)
        walk.visit(root, (), None)  # before construction: constructing rewrites merge keys in place
        data = loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, label, kind) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise kind.error(
            f"character {exc.character!r} is not allowed in a YAML file",
            where=f"{label}:{line}",
            fix="remove the control character (often a stray paste) and save the file as plain text",
        ) from None
    except yaml.YAMLError as exc:  # any other PyYAML complaint, still without a traceback
        raise kind.error(f"YAML error: {exc}", where=label, fix="check the file is valid YAML") from None
    except RecursionError:  # PyYAML composes nested collections recursively
        raise _too_deep(label, kind) from None
    finally:
        if loader is not None:
            loader.dispose()
    for loc in walk.refused_locs:  # reported already; removed so the value is never echoed again
        _pop(data, loc)
    return YamlDocument(label, data, walk, kind)


def validate(doc: YamlDocument, model: type[BaseModel], *, data: Any = None, context: dict[str, Any] | None = None) -> Any:
    """Validate ``data`` (default: the document's own) against ``model``; every problem is located
    in ``doc`` (a location absent from it is blamed on its nearest present parent)."""
    result, problems = check(doc, model, data=data, context=context)
    if problems or result is None:
        raise problems_error(doc.kind, doc.label, problems)
    return result


def check(doc: YamlDocument, model: type[BaseModel], *, data: Any = None, context: dict[str, Any] | None = None) -> tuple[Any, list[FileProblem]]:
    """Like ``validate``, but returns (model or None, located problems) so a caller can gather the
    problems of several stages into one error. The document's own problems (duplicate keys, ...)
    are included."""
    problems = list(doc.walk.problems)
    try:
        return model.model_validate(doc.data if data is None else data, context=context), problems
    except ValidationError as exc:
        return None, problems + doc.walk.translate(exc.errors(include_url=False), model)
    except RecursionError:
        raise _too_deep(doc.label, doc.kind) from None


def problems_error(kind: FileKind, label: str, problems: list[FileProblem], *, fix: str | None = None) -> FileProblems:
    """One error for every problem in a file: located at the line itself when there is one."""
    problems = sorted(dict.fromkeys(problems), key=lambda p: (p.line, p.field))
    fix = fix or f"correct the lines listed in {label}; {kind.docs_hint}"
    if len(problems) == 1:
        only = problems[0]
        return kind.problems_error(f"{only.field}: {only.message}", where=f"{only.file}:{only.line}", fix=fix, problems=problems)
    listing = "\n".join(f"  {problem}" for problem in problems)
    return kind.problems_error(f"{len(problems)} problems in the {kind.noun}:\n{listing}", where=label, fix=fix, problems=problems)


def _check_root(root: Node | None, label: str, kind: FileKind) -> None:
    if root is None or (isinstance(root, ScalarNode) and root.tag == _NULL_TAG and not root.value):
        raise kind.error(f"the {kind.noun} is empty", where=f"{label}:1", fix=kind.empty_fix or kind.docs_hint)
    if not isinstance(root, MappingNode):
        got = "a list" if isinstance(root, SequenceNode) else f"a single value {_clip(root.value)!r}"
        raise kind.error(
            f"the top level must be a mapping of 'field: value' lines, got {got}",
            where=f"{label}:{_line(root)}",
            fix=kind.top_level_fix or kind.docs_hint,
        )


def _syntax_error(exc: yaml.MarkedYAMLError, label: str, kind: FileKind) -> BenchError:
    mark = exc.problem_mark or exc.context_mark
    where = f"{label}:{mark.line + 1}:{mark.column + 1}" if mark else label
    syntax = isinstance(exc, (yaml.scanner.ScannerError, yaml.parser.ParserError, yaml.composer.ComposerError))
    what = f"YAML {'syntax error' if syntax else 'error'}: {exc.problem or exc.context}"
    if exc.context and exc.problem and exc.context_mark:
        what += f" ({exc.context} at line {exc.context_mark.line + 1})"
    return kind.error(
        what,
        where=where,
        fix="check indentation and punctuation at that line: indent with spaces, not tabs, and put "
        "values containing ': ', '#', '[' or '{' in quotes",
    )


def _too_deep(label: str, kind: FileKind) -> BenchError:
    return kind.error(
        f"the file nests lists or mappings too deeply to be a {kind.noun}",
        where=label,
        fix=kind.too_deep_fix or kind.docs_hint,
    )


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


# --- node positions and pydantic error translation ----------------------------------------------


@dataclass(frozen=True)
class _Position:
    key_line: int | None  # line of the key whose value this is; None for list items and the root
    node: Node


class NodeWalk:
    """Positions of every value by location, plus problems PyYAML itself would not report."""

    def __init__(self, label: str, kind: FileKind) -> None:
        self.label = label
        self.kind = kind
        self.positions: dict[Loc, _Position] = {}
        self.problems: list[FileProblem] = []
        self.refused_locs: list[Loc] = []
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
            if key.lower() in self.kind.refused_keys:
                self._add(line, dotted(child), f"{key!r} is refused: {self.kind.refused_advice}")
                self.refused_locs.append(child)
                continue  # never look at, nor echo, the refused value
            self.visit(value_node, child, line)

    def _add(self, line: int, field: str, message: str) -> None:
        self.problems.append(FileProblem(self.label, line, field, message))

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

    def translate(self, errors: list[Any], model: type[BaseModel]) -> list[FileProblem]:
        """Pydantic's errors for ``model`` as located problems, worded for a person."""
        problems = []
        for error in errors:
            loc = tuple(error["loc"])
            if loc and loc[-1] == "[key]":  # a mapping key's own error: report it at the key
                loc = loc[:-1]
            if error["type"] == CONSISTENCY_ERROR:
                extra: list[Problem] = error["ctx"]["problems"]
                for problem in extra:
                    full = loc + problem.loc
                    problems.append(FileProblem(self.label, self.line_for(full), dotted(full), problem.message))
                continue
            if error["type"] == "invalid_key" and loc in self.bad_key_locs:
                continue
            at_key = error["type"] in ("extra_forbidden", "invalid_key")
            message = _message(error, loc, model, self.kind)
            problems.append(FileProblem(self.label, self.line_for(loc, at_key=at_key), dotted(loc), message))
        return problems


def _message(error: Any, loc: Loc, model: type[BaseModel], kind: FileKind) -> str:
    """What a person is told for one pydantic error at ``loc`` of ``model``."""
    error_type: str = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    shown = _show(value, secret=any(part in kind.secret_fields for part in loc))
    annotation = annotation_at(model, loc)
    if error_type == "extra_forbidden":
        return _unknown_field(loc, model, kind)
    if error_type == "invalid_key":
        return f"field names must be text, got {_show(value)}; put it in quotes or correct the name"
    if error_type == "missing":
        allowed = allowed_values(annotation)
        return "required field is missing" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
    if error_type == "literal_error":
        allowed = allowed_values(annotation)
        close = difflib.get_close_matches(str(value), allowed, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        listed = ", ".join(allowed) if allowed else str(ctx.get("expected", ""))
        return f"{shown} is not allowed{hint}; allowed: {listed}"
    if error_type == "value_error":
        return str(ctx.get("error", error["msg"]))
    if error_type == "string_type":
        message = f"expected text, got {shown}"
        if isinstance(value, bool):
            message += "; YAML reads yes/no/on/off/true/false as booleans: put the value in quotes"
        return message
    if error_type == "string_too_short":
        return "must not be empty"
    if error_type in ("int_type", "int_parsing", "int_from_float"):
        message = f"expected a whole number, got {shown}"
        if isinstance(value, str) and value.strip().isdigit():
            message += "; write it without quotes"
        return message
    if error_type in ("float_type", "float_parsing"):
        return f"expected a number, got {shown}"
    if error_type in ("greater_than_equal", "greater_than"):
        bound = ctx.get("ge", ctx.get("gt"))
        return f"{shown} is too small; allowed: {'at least' if error_type == 'greater_than_equal' else 'more than'} {bound}"
    if error_type in ("less_than_equal", "less_than"):
        bound = ctx.get("le", ctx.get("lt"))
        return f"{shown} is too large; allowed: {'at most' if error_type == 'less_than_equal' else 'less than'} {bound}"
    if error_type in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping of 'field: value' lines, got {shown}"
    if error_type == "list_type":
        return f"expected a list (lines starting with '- '), got {shown}"
    if error_type in ("tuple_type", "too_short", "too_long"):
        got = f"{len(value)} items" if isinstance(value, (list, tuple)) else shown
        return f"expected [min, max] (two numbers), got {got}"
    if error_type in ("path_type", "path_parsing"):
        return f"expected a file path, got {shown}"
    return f"{error['msg']} (got {shown})"


def _unknown_field(loc: Loc, model: type[BaseModel], kind: FileKind) -> str:
    key = str(loc[-1])
    parent = annotation_at(model, loc[:-1])
    allowed = list(parent.model_fields) if isinstance(parent, type) and issubclass(parent, BaseModel) else []
    message = f"unknown field {key!r}"
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        message += f" (did you mean {close[0]!r}?)"
    elif key in kind.field_homes:
        message += f" (it belongs under {' or '.join(kind.field_homes[key])})"
    return message + f"; allowed: {', '.join(allowed)}"


def _show(value: Any, *, secret: bool = False) -> str:
    """How an offending value is quoted in a message (never echoed under a secret field)."""
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


# --- what a model allows at a location ----------------------------------------------------------


def _unwrap(annotation: Any) -> Any:
    """The type inside ``Annotated[...]`` and ``X | None``."""
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


def annotation_at(model: type[BaseModel], loc: Loc) -> Any:
    """The type ``model`` expects at ``loc`` (None if the location is not in the model)."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(part, str) and isinstance(current, type) and issubclass(current, BaseModel):
            if part not in current.model_fields:
                return None
            current = current.model_fields[part].annotation
        elif get_origin(current) is dict:  # a mapping keyed by name: every value has one type
            current = get_args(current)[1]
        elif isinstance(part, int) and get_origin(current) is list:
            current = get_args(current)[0]
        elif isinstance(part, int) and get_origin(current) is tuple and part < len(get_args(current)):
            current = get_args(current)[part]
        else:
            return None
    return _unwrap(current)


def allowed_values(annotation: Any) -> list[str]:
    """The values a ``Literal[...]`` allows, as text (empty for any other type)."""
    return [str(value) for value in get_args(annotation)] if get_origin(annotation) is Literal else []


def field_homes(model: type[BaseModel], prefix: str = "") -> dict[str, list[str]]:
    """Every field name in ``model`` with the places it may appear: {'address': ['dut', ...]}."""
    homes: dict[str, list[str]] = {}
    for name, info in model.model_fields.items():
        homes.setdefault(name, []).append(prefix or "the top level")
        inner = _unwrap(info.annotation)
        suffix = ""
        if get_origin(inner) is list:
            inner, suffix = _unwrap(get_args(inner)[0]), "[]"
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            path = f"{prefix}.{name}{suffix}" if prefix else f"{name}{suffix}"
            for name_inside, places in field_homes(inner, path).items():
                homes.setdefault(name_inside, []).extend(places)
    return homes
