"""The requirement catalogue: the default, an operator's override, and located errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.measure.catalogue import default_catalogue, load_catalogue, parse_catalogue
from bench.measure.errors import CatalogueError

REPO = Path(__file__).resolve().parents[2]
TRACEBACK_MARKS = ("Traceback", 'File "', "validation error for", "errors.pydantic.dev", "input_value")


def error_of(text: str, name: str = "ops.yaml") -> CatalogueError:
    with pytest.raises(CatalogueError) as caught:
        parse_catalogue(text, name)
    message = caught.value.message
    assert not any(mark in message for mark in TRACEBACK_MARKS), message
    return caught.value


# --- the default -------------------------------------------------------------------------------


def test_default_catalogue_has_the_domain_requirements_and_limits() -> None:
    catalogue = default_catalogue()
    assert list(catalogue.requirements) == [
        "THR-1", "THR-2", "FO-1", "FO-2", "FO-3", "OPS-1", "OPS-2", "OPS-3",
        "POR-1", "POR-2", "POR-3", "POR-4", "PWR-1", "PWR-2",
    ]
    limits = {
        (req_id, name): (q.units, q.limit.describe(q.units))
        for req_id, req in catalogue.requirements.items()
        for name, q in req.quantities.items()
    }
    # the starting values of ../shared/domain.md
    assert limits == {
        ("THR-1", "goodput_ratio"): ("%", ">= 95 %"),
        ("THR-2", "goodput_ratio"): ("%", ">= 95 %"),
        ("FO-1", "detection"): ("s", "<= 5 s"),
        ("FO-1", "switch"): ("s", "<= 10 s"),
        ("FO-2", "failback"): ("s", "<= 30 s"),
        ("FO-2", "switches"): ("count", "= 1"),
        ("FO-3", "restore"): ("s", "<= 10 s"),
        ("OPS-1", "latency_p95"): ("s", "<= 1.5 s"),
        ("OPS-2", "loss"): ("%", "<= 1 %"),
        ("OPS-3", "success"): ("%", ">= 99.5 %"),
        ("POR-1", "login_p95"): ("s", "<= 3 s"),
        ("POR-2", "cap_error"): ("%", "in [-10 %, 10 %]"),
        ("POR-3", "cut_error"): ("%", "in [-2 %, 2 %]"),
        ("POR-4", "bypasses"): ("count", "= 0"),
        ("PWR-1", "reboots"): ("count", "= 0"),
        ("PWR-1", "sessions_lost"): ("count", "= 0"),
        ("PWR-2", "recovery"): ("s", "<= 120 s"),
        ("PWR-2", "state_kept"): ("bool", "= true"),
    }
    assert catalogue.version == "1.1" and catalogue.sources == ("scenarios/requirements.yaml",)
    assert set(catalogue.for_suite("certification")) == set(catalogue.requirements)
    assert "FO-1" in catalogue.for_suite("repro") and "POR-4" not in catalogue.for_suite("repro")


def test_no_path_is_the_default() -> None:
    assert load_catalogue(None) == default_catalogue()


# --- an operator's file ------------------------------------------------------------------------

OVERRIDE = """\
version: acme-7
requirements:
  FO-1:
    quantities:
      detection:
        limit: {max: 3}
        marginal: null
  OPS-2:
    title: CCTV loss (ACME fleet)
  ACME-1:
    title: Onboard media server answers
    method: HTTP GET to the media server from a passenger client, 100 times.
    suites: [nightly]
    quantities:
      success:
        title: media requests answered
        units: "%"
        limit: {min: 99}
"""


def test_override_merges_per_requirement_and_quantity(tmp_path: Path) -> None:
    path = tmp_path / "acme.yaml"
    path.write_text(OVERRIDE)
    catalogue = load_catalogue(path)
    default = default_catalogue()
    detection = catalogue.requirements["FO-1"].quantities["detection"]
    assert detection.limit.max == 3 and detection.marginal is None  # limit replaced, band removed
    assert catalogue.requirements["FO-1"].quantities["switch"] == default.requirements["FO-1"].quantities["switch"]
    assert catalogue.requirements["FO-1"].title == default.requirements["FO-1"].title
    assert catalogue.requirements["OPS-2"].title == "CCTV loss (ACME fleet)"
    assert catalogue.requirements["OPS-2"].quantities == default.requirements["OPS-2"].quantities
    assert catalogue.requirements["ACME-1"].quantities["success"].limit.min == 99
    assert set(catalogue.requirements) == set(default.requirements) | {"ACME-1"}
    assert catalogue.version == "1.1+acme-7"
    assert catalogue.sources == ("scenarios/requirements.yaml", str(path))


def test_a_limit_is_replaced_whole_not_merged() -> None:
    catalogue = parse_catalogue("version: 2\nrequirements:\n  OPS-1:\n    quantities:\n      latency_p95:\n        limit: {range: [0.1, 2]}\n", "x.yaml")
    limit = catalogue.requirements["OPS-1"].quantities["latency_p95"].limit
    assert limit.kind == "range" and limit.max is None and catalogue.version == "1.1+2"


def test_base_none_makes_the_file_the_whole_catalogue() -> None:
    text = """\
version: acme-7
base: none
requirements:
  ACME-1:
    title: Onboard media server answers
    method: HTTP GET to the media server, 100 times.
    suites: [nightly]
    quantities:
      success: {title: answered, units: "%", limit: {min: 99}}
"""
    catalogue = parse_catalogue(text, "acme.yaml")
    assert list(catalogue.requirements) == ["ACME-1"] and catalogue.version == "acme-7"
    assert catalogue.sources == ("acme.yaml",)


# --- located errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "where", "expected"),
    [
        (  # misspelt field, with the suggestion
            "version: 1\nrequirements:\n  FO-1:\n    quantites:\n      detection: {}\n",
            "ops.yaml:4",
            "requirements.FO-1.quantites: unknown field 'quantites' (did you mean 'quantities'?)",
        ),
        (  # a unit outside the vocabulary
            "version: 1\nrequirements:\n  FO-1:\n    quantities:\n      detection:\n        units: sec\n",
            "ops.yaml:6",
            "requirements.FO-1.quantities.detection.units: 'sec' is not allowed; allowed: %, s, ms, Mbit/s, bit/s, count, bool, ratio",
        ),
        (  # two limits at once
            "version: 1\nrequirements:\n  FO-1:\n    quantities:\n      detection:\n        limit: {max: 3, min: 1}\n",
            "ops.yaml:6",
            "requirements.FO-1.quantities.detection.limit: give exactly one of min, max, range, equals (got min and max)",
        ),
        (  # a reversed range, at the range's own line
            "version: 1\nrequirements:\n  POR-2:\n    quantities:\n      cap_error:\n        limit:\n          range: [10, -10]\n",
            "ops.yaml:7",
            "requirements.POR-2.quantities.cap_error.limit.range: the range's low end must be below its high end, got [10, -10]",
        ),
        (  # a change of units that no longer fits the default's limit: blamed on the operator's quantity
            "version: 1\nrequirements:\n  FO-1:\n    quantities:\n      detection:\n        units: bool\n",
            "ops.yaml:5",
            "a quantity in bool needs 'equals: true' or 'equals: false'",
        ),
        (  # a badly written id
            "version: 1\nrequirements:\n  fo-1:\n    title: x\n",
            "ops.yaml:3",
            "requirements.fo-1: 'fo-1' is not a requirement id",
        ),
        (  # duplicate id: YAML alone would keep the last silently
            "version: 1\nrequirements:\n  FO-1:\n    title: a\n  FO-1:\n    title: b\n",
            "ops.yaml:5",
            "duplicate key 'FO-1' (first at line 3)",
        ),
        (  # a marginal band on an equals limit
            "version: 1\nrequirements:\n  POR-4:\n    quantities:\n      bypasses:\n        marginal: {within: 1}\n",
            "ops.yaml:6",
            "requirements.POR-4.quantities.bypasses.marginal: a limit given by equals has no marginal band",
        ),
        (  # YAML syntax
            "version: 1\nrequirements:\n  FO-1:\n    title: [x\n",
            "ops.yaml:5:1",
            "YAML syntax error",
        ),
        (  # a requirement that is not a mapping
            "version: 1\nrequirements:\n  FO-1: 5\n",
            "ops.yaml:3",
            "requirements.FO-1: expected a mapping of 'field: value' lines, got 5",
        ),
        ("", "ops.yaml:1", "the requirement catalogue is empty"),
        ("- a\n- b\n", "ops.yaml:1", "the top level must be a mapping"),
    ],
)
def test_one_problem_is_located_at_file_line_and_field(text: str, where: str, expected: str) -> None:
    error = error_of(text)
    assert error.where == where, error.message
    assert expected in error.message
    assert "docs/requirements.md" in error.message or "YAML syntax" in error.message


def test_every_problem_is_listed_with_its_line() -> None:
    text = """\
version: 1
base: nothing
requirements:
  ACME-1:
    title: x
    suites: [nighty]
"""
    error = error_of(text)
    problems = {(p.line, p.field) for p in error.problems}  # type: ignore[attr-defined]
    assert problems == {(2, "base"), (4, "requirements.ACME-1.method"), (4, "requirements.ACME-1.quantities"), (6, "requirements.ACME-1.suites")}, error.message
    assert "ops.yaml: 4 problems in the requirement catalogue" in error.message
    assert "ops.yaml:6: requirements.ACME-1.suites: unknown suite 'nighty'; allowed: nightly, certification, repro" in error.message


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="requirement catalogue not found"):
        load_catalogue(tmp_path / "missing.yaml")
    binary = tmp_path / "latin1.yaml"
    binary.write_bytes(b"version: 1\nrequirements:\n  FO-1:\n    title: caf\xe9\n")
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(binary)
    assert caught.value.where == f"{binary}:4" and "not UTF-8" in caught.value.message
    assert isinstance(caught.value, BenchError)


def test_the_shipped_default_file_is_valid_yaml_with_a_version() -> None:
    text = (REPO / "scenarios" / "requirements.yaml").read_text()
    assert text.count("\nversion: ") == 1
