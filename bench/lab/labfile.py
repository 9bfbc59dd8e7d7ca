"""Reading a lab file: YAML in, a validated ``LabConfig`` out, or ONE error listing every problem.

The reading, line keeping and error wording are ``bench.yamlfile``'s; what is the lab file's own
is here: the packaged default (the embedded lab), refusing secrets written in clear, pointing a
misplaced field at where it belongs, relative paths resolved against the file's directory, and
``LabFileProblems``. Every problem is reported as ``FILE:LINE: FIELD.PATH: what is wrong;
allowed: ...``; no traceback ever reaches the user.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from bench.errors import LabFileError
from bench.lab.model import LAB_DIR_CONTEXT, SECRET_ADVICE, SECRET_KEYS, LabConfig
from bench.yamlfile import FileKind, FileProblem, FileProblems, YamlDocument, check, field_homes, problems_error, read_text, read_yaml

__all__ = ["LAB_FILE", "LabFileProblem", "LabFileProblems", "load_lab", "parse_lab"]

DOCS_HINT = "every field, its allowed values and defaults are described in docs/lab-file.md"
_PATH_FIX = "check the path (a relative path starts from the current directory); without --lab the embedded lab is used"

LabFileProblem = FileProblem  # one problem at FILE:LINE: FIELD (nothing about it is lab-specific)


class LabFileProblems(LabFileError, FileProblems):
    """Every problem found in one lab file, reported together."""


LAB_FILE = FileKind(
    noun="lab file",
    error=LabFileError,
    problems_error=LabFileProblems,
    docs_hint=DOCS_HINT,
    path_fix=_PATH_FIX,
    directory_fix=_PATH_FIX,
    encoding_fix="save the lab file as UTF-8 (most editors: 'Save with encoding' > UTF-8)",
    empty_fix="write at least 'kind: embedded', start from docs/examples/hardware-lab.yaml, "
    "or run without --lab for the embedded lab",
    top_level_fix=f"start the file with lines such as 'kind: embedded' at the left margin; {DOCS_HINT}",
    too_deep_fix=f"a lab file nests at most a few levels; {DOCS_HINT}",
    refused_keys=SECRET_KEYS,
    refused_advice=SECRET_ADVICE,
    secret_fields=frozenset({"credentials"}),
    field_homes=field_homes(LabConfig),
)


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
    lab.profile  # noqa: B018 - read now, as load_lab does
    return lab


def _load_file(path: Path) -> LabConfig:
    lab = _parse(read_text(path, LAB_FILE), str(path), base_dir=path.absolute().parent)
    lab._source = path.absolute()
    lab.profile  # noqa: B018 - read now: a bad DUT profile is reported with its lab file, before any lab
    return lab


def _parse(text: str, label: str, *, base_dir: Path) -> LabConfig:
    doc = read_yaml(text, label, LAB_FILE)
    lab, problems = check(doc, LabConfig, context={LAB_DIR_CONTEXT: base_dir})
    if problems or lab is None:
        raise problems_error(LAB_FILE, label, problems, fix=_fix_hint(doc))
    return lab


def _fix_hint(doc: YamlDocument) -> str:
    hint = f"correct the lines listed in {doc.label}; {DOCS_HINT}"
    if doc.walk.refused_locs:
        hint = "remove the secret from the file (and change it if the file was ever shared); " + hint
    return hint
