"""Line-aware YAML for any pydantic model: YAML text in, a validated model or ONE located error out.

The machinery is the lab file's (``bench.lab.labfile``): its node walk keeps the line of every key
and value, refuses duplicate keys and secrets, and translates pydantic errors into
``FILE:LINE: FIELD: what is wrong; allowed: ...``. That module is written for ``LabConfig``
only (the allowed fields and values it quotes come from the lab model, its messages say "lab
file"), so this module generalises the few parts that are model-specific and reuses the rest
as is. Other bench files (the requirement catalogue, ...) read their YAML through here.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from bench.errors import BenchError
from bench.lab.labfile import (
    LabFileProblem,
    _allowed_values,
    _clip,
    _decode,
    _line,
    _model_fields,
    _NodeWalk,
    _pop,
    _sorted_unique,
    _syntax_error,
    _unwrap,
)

__all__ = ["FileProblem", "check", "YamlDocument", "annotation_at", "problems_error", "read_text", "read_yaml", "validate"]

FileProblem = LabFileProblem  # one problem at FILE:LINE: FIELD (the dataclass is not lab-specific)
Loc = tuple[Any, ...]
_NULL_TAG = "tag:yaml.org,2002:null"


@dataclass(frozen=True)
class FileKind:
    """How messages name a kind of file and where its fields are documented."""

    noun: str  # "requirement catalogue"
    error: type[BenchError]  # raised for every problem in such a file
    docs_hint: str  # "every field ... is described in docs/requirements.md"


class ModelNodeWalk(_NodeWalk):
    """The lab file's node walk, quoting allowed fields and values from any model."""

    def __init__(self, label: str, model: type[BaseModel]) -> None:
        super().__init__(label)
        self.model = model

    def translate(self, errors: list[Any]) -> list[FileProblem]:
        # A mapping key's own error is located at ('...', key, '[key]'): report it at the key.
        for error in errors:
            if error["loc"] and error["loc"][-1] == "[key]":
                error["loc"] = tuple(error["loc"][:-1])
        return super().translate(errors)

    def _message(self, error: Any, loc: Loc) -> str:
        kind: str = error["type"]
        annotation = annotation_at(self.model, loc)
        if kind == "extra_forbidden":
            key = str(loc[-1])
            allowed = _model_fields(annotation_at(self.model, loc[:-1]))
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            return f"unknown field {key!r}{hint}; allowed: {', '.join(allowed)}"
        if kind == "missing":
            allowed = _allowed_values(annotation)
            return "required field is missing" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
        if kind == "literal_error":
            allowed = _allowed_values(annotation)
            value = error.get("input")
            close = difflib.get_close_matches(str(value), allowed, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            listed = ", ".join(allowed) if allowed else str((error.get("ctx") or {}).get("expected", ""))
            return f"{_clip(value)!r} is not allowed{hint}; allowed: {listed}"
        return super()._message(error, loc)  # the rest does not depend on the model


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


@dataclass
class YamlDocument:
    """Parsed YAML plus the line of every value, ready to be validated against a model."""

    label: str
    data: Any
    walk: ModelNodeWalk


def read_text(path: Path, kind: FileKind) -> str:
    """A file's text, or one error saying why it cannot be read."""
    label = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise kind.error(f"{kind.noun} not found", where=label, fix="check the path (a relative path starts from the current directory)") from None
    except IsADirectoryError:
        raise kind.error(f"this is a directory, not a {kind.noun}", where=label, fix="give the path of the YAML file") from None
    except OSError as exc:
        raise kind.error(f"cannot read the {kind.noun}: {exc.strerror or type(exc).__name__}", where=label, fix="make the file readable by the user running the bench") from None
    try:
        return _decode(raw, label)
    except BenchError as exc:  # the lab file's decoder, re-raised as this kind of file's error
        raise kind.error(exc.what, where=exc.where, fix=f"save the {kind.noun} as UTF-8 text") from None


def read_yaml(text: str, label: str, model: type[BaseModel], kind: FileKind) -> YamlDocument:
    """Parse YAML keeping positions; syntax errors, duplicate keys and an empty file raise at once."""
    loader: yaml.SafeLoader | None = None
    walk = ModelNodeWalk(label, model)
    try:
        loader = yaml.SafeLoader(text)
        root = loader.get_single_node()
        if root is None or (isinstance(root, ScalarNode) and root.tag == _NULL_TAG and not root.value):
            raise kind.error(f"the {kind.noun} is empty", where=f"{label}:1", fix=kind.docs_hint)
        if not isinstance(root, MappingNode):
            got = "a list" if isinstance(root, SequenceNode) else f"a single value {_clip(root.value)!r}"
            raise kind.error(f"the top level must be a mapping of 'field: value' lines, got {got}", where=f"{label}:{_line(root)}", fix=kind.docs_hint)
        walk.visit(root, (), None)  # before construction: constructing rewrites merge keys in place
        data = loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        located = _syntax_error(exc, label)
        raise kind.error(located.what, where=located.where, fix=located.fix) from None
    except yaml.YAMLError as exc:
        raise kind.error(f"YAML error: {exc}", where=label, fix="check the file is valid YAML") from None
    except RecursionError:
        raise kind.error(f"the file nests lists or mappings too deeply to be a {kind.noun}", where=label, fix=kind.docs_hint) from None
    finally:
        if loader is not None:
            loader.dispose()
    for loc in walk.secret_locs:  # reported already; never echoed again
        _pop(data, loc)
    return YamlDocument(label, data, walk)


def validate(doc: YamlDocument, model: type[BaseModel], kind: FileKind, *, data: Any = None, context: dict[str, Any] | None = None) -> Any:
    """Validate ``data`` (default: the document's own) against ``model``; every problem is located
    in ``doc`` (a location absent from it is blamed on its nearest present parent)."""
    result, problems = check(doc, model, data=data, context=context)
    if problems or result is None:
        raise problems_error(kind, doc.label, problems)
    return result


def check(doc: YamlDocument, model: type[BaseModel], *, data: Any = None, context: dict[str, Any] | None = None) -> tuple[Any, list[FileProblem]]:
    """Like ``validate``, but returns (model or None, located problems) so a caller can gather the
    problems of several stages into one error. The document's own problems (duplicate keys, ...)
    are included."""
    doc.walk.model = model
    problems = list(doc.walk.problems)
    try:
        return model.model_validate(doc.data if data is None else data, context=context), problems
    except ValidationError as exc:
        return None, problems + doc.walk.translate(exc.errors(include_url=False))


def problems_error(kind: FileKind, label: str, problems: list[FileProblem]) -> BenchError:
    """One error for every problem in a file: located at the line itself when there is one."""
    problems = _sorted_unique(problems)
    fix = f"correct the lines listed in {label}; {kind.docs_hint}"
    if len(problems) == 1:
        only = problems[0]
        error = kind.error(f"{only.field}: {only.message}", where=f"{only.file}:{only.line}", fix=fix)
    else:
        listing = "\n".join(f"  {problem}" for problem in problems)
        error = kind.error(f"{len(problems)} problems in the {kind.noun}:\n{listing}", where=label, fix=fix)
    error.problems = problems  # type: ignore[attr-defined]
    return error
