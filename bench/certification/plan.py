"""The certification plan: a FIXED, versioned list of requirements and the exact trace windows
they are measured on (scenarios/certification/plan.yaml). Each trace file is named with its sha256:
a file that differs by one byte is refused before anything runs, so two certifications of the same
plan version replay the same bytes."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from bench.errors import BenchError
from bench.measure.catalogue import default_catalogue
from bench.traces.importers.common import sha256_file
from bench.yamlfile import FileKind, FileProblems, read_text, read_yaml, validate

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
WanName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]


class PlanError(BenchError):
    """The certification plan cannot be used."""


class PlanProblems(PlanError, FileProblems):
    """Every located problem of the plan file."""


PLAN_FILE = FileKind(noun="certification plan", error=PlanError, problems_error=PlanProblems,
                     docs_hint="the plan's fields are described in scenarios/certification/README.md")


class PlanTrace(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    file: str  # relative to the plan's directory
    sha256: Sha256  # of the file's bytes
    content_sha256: Sha256  # of the trace's table (what measurements carry as trace_hash)
    source: str
    window: str
    licence: str
    attribution: str
    links: dict[str, WanName | None] = Field(default_factory=dict, description="trace link -> lab WAN (null: left out)")
    speed: float = Field(1.0, gt=0)


class PlanRequirement(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    # The test that measures it: a function of the certification suite (`test_x`), or one of
    # another suite, by its path under scenarios/ (`nightly/test_portal.py::test_x`).
    test: Annotated[str, StringConstraints(pattern=r"^([a-z0-9_/]+\.py::)?test_[A-Za-z0-9_]+$")]
    trace: str | None = None  # a key of `traces`; None: a fixed link profile (the catalogue's method)

    @property
    def function(self) -> str:
        return self.test.split("::")[-1]

    @property
    def module(self) -> str | None:
        """The module of a test outside the certification suite, relative to scenarios/ (None: inside it)."""
        return self.test.split("::")[0] if "::" in self.test else None

    def node_id(self, scenarios_dir: Path) -> str | None:
        """The pytest node id of a test outside the certification suite (None: inside it)."""
        return None if self.module is None else f"{scenarios_dir / self.module}::{self.function}"


class CertificationPlan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    plan_version: str
    catalogue_version: str  # the default catalogue version the plan was written against
    traces: dict[str, PlanTrace]
    requirements: list[PlanRequirement] = Field(min_length=1)

    @model_validator(mode="after")
    def _traces_named(self) -> CertificationPlan:
        unknown = [r.trace for r in self.requirements if r.trace is not None and r.trace not in self.traces]
        if unknown:
            raise ValueError(f"requirements name traces not in `traces`: {', '.join(map(str, unknown))}")
        return self

    _dir: Path = Path(".")  # the plan file's directory: trace files are relative to it

    def trace_path(self, name: str) -> Path:
        return self._dir / self.traces[name].file

    def requirement(self, req_id: str) -> PlanRequirement:
        return next(r for r in self.requirements if r.id == req_id)


def scenarios_dir() -> Path:
    with resources.as_file(resources.files("scenarios")) as path:
        return Path(path)


def plan_node_ids(plan: CertificationPlan) -> list[str]:
    """What `pytest` runs for the plan: the certification suite and the plan's tests outside it."""
    root = scenarios_dir()
    ids = [str(root / "certification")]
    for r in plan.requirements:
        node = r.node_id(root)
        if node is not None and node not in ids:
            ids.append(node)
    return ids


def default_plan_path() -> Path:
    with resources.as_file(resources.files("scenarios") / "certification" / "plan.yaml") as path:
        return Path(path)


def load_plan(path: Path | None = None) -> CertificationPlan:
    """The plan (default: the suite's own), checked against the catalogue and its traces' hashes."""
    path = path or default_plan_path()
    doc = read_yaml(read_text(path, PLAN_FILE), str(path), PLAN_FILE)
    plan: CertificationPlan = validate(doc, CertificationPlan)
    plan._dir = path.parent
    catalogue = default_catalogue()
    if catalogue.version != plan.catalogue_version:
        raise PlanError(f"the plan was written against catalogue {plan.catalogue_version}, the bench has {catalogue.version}",
                        where=str(path), fix="review the plan against the new catalogue and bump plan_version")
    for r in plan.requirements:
        req = catalogue.requirements.get(r.id)
        if req is None or "certification" not in req.suites:
            raise PlanError(f"requirement {r.id} is not a certification requirement of catalogue {catalogue.version}",
                            where=f"{path} requirements", fix="list only catalogue ids whose suites include certification")
    root = scenarios_dir()
    for r in plan.requirements:
        if r.module is not None:
            source = root / r.module
            if not source.is_file() or f"def {r.function}(" not in source.read_text():
                raise PlanError(f"requirement {r.id}: test {r.test} does not exist", where=f"{path} requirements",
                                fix=f"name a test function of a module under {root}")
    for name in plan.traces:
        check_trace_file(plan, name)
    return plan


def check_trace_file(plan: CertificationPlan, name: str) -> Path:
    """The trace file's path if its bytes are the ones the plan names; else a PlanError."""
    spec = plan.traces[name]
    path = plan.trace_path(name)
    if not path.is_file():
        raise PlanError(f"trace {name}: file missing", where=str(path), fix="restore it from the repository (git checkout)")
    actual = sha256_file(path)
    if actual != spec.sha256:
        raise PlanError(f"trace {name}: sha256 {actual} is not the plan's {spec.sha256}", where=str(path),
                        fix="restore the file from the repository; a new window is a new plan version")
    return path
