"""docs/requirements.md says what the code does: its table is the catalogue, its examples load."""

from __future__ import annotations

import re
from pathlib import Path

from bench.measure.catalogue import default_catalogue, parse_catalogue
from bench.measure.doctable import BEGIN, END, catalogue_table
from bench.measure.errors import CatalogueError

DOC = Path(__file__).resolve().parents[2] / "docs" / "requirements.md"


def test_the_table_is_generated_from_the_catalogue() -> None:
    text = DOC.read_text()
    table = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert table == catalogue_table(default_catalogue()), "run: python -m bench.measure.doctable --write docs/requirements.md"


def yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)


def test_the_override_example_loads_as_documented() -> None:
    example = next(block for block in yaml_blocks() if "acme-7" in block)
    catalogue = parse_catalogue(example, "acme.yaml")
    assert catalogue.version == "1.1+acme-7"
    assert catalogue.requirements["FO-1"].quantities["detection"].limit.max == 3
    assert "ACME-1" in catalogue.requirements


def test_the_documented_error_is_the_real_one() -> None:
    documented = re.search(r"^ERROR: (ops\.yaml:6: .*)$", DOC.read_text(), flags=re.M)
    assert documented is not None
    text = "version: ops-3\nrequirements:\n  FO-3:\n    quantities:\n      restore:\n        limit: {maximum: 2}\n"
    try:
        parse_catalogue(text, "ops.yaml")
    except CatalogueError as exc:
        assert exc.message.splitlines()[0] == documented.group(1)
    else:
        raise AssertionError("the documented error was not raised")
