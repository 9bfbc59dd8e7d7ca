"""The DUT profile: what differs between routers and the bench cannot see on the wire by itself.

A lab file names it (`dut.profile: FILE`, default: the reference router's, `bench/devices/
reference/profile.yaml`). It is declarative: URLs, form fields and the answers to expect, read
and checked like the lab file (every problem located at FILE:LINE: FIELD):

- `portal`: how a passenger gets online, as phones do it: the connectivity check and what its
  answer looks like when online and when captive; the steps that accept the free tier; the steps
  that buy each package, with what the operator sells (the free tier's caps, each bundle's size:
  what POR-2 and POR-3 compare the wire with). A journey the steps cannot describe is a small
  plugin class named by `portal.journey: "module:Class"` (bench.traffic.journey.Journey);
- `wans`: the DUT's own name for each lab WAN (to compare what it says with what the wire shows);
- `claims`: how to recognise a WAN-down entry in the DUT's log (a regular expression with a `wan`
  group), for comparing its account of a failover with the wire's;
- `power`: how often the DUT persists sessions and quota counters (PWR-2 waits that long before
  it cuts the supply).
The management driver is the lab file's `dut.driver`.

Step URLs, form values and headers may use `{name}` placeholders: `{portal}` (where the captive
check was redirected), `{card}` (the bench's payment provider's accepted test card), `{package}`,
`{mac}` and `{ip}` (the passenger's), and every value an earlier step extracted.
"""

from __future__ import annotations

import importlib
import re
import string
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from bench.errors import BenchError
from bench.lab.model import dotted
from bench.yamlfile import FileKind, FileProblems, check, problems_error, read_text, read_yaml

DEFAULT_PROFILE = Path(__file__).parent / "reference" / "profile.yaml"
BUILTIN_PLACEHOLDERS = frozenset({"portal", "card", "package", "mac", "ip"})
DOCS_HINT = "every field of a DUT profile is described in docs/devices.md (DUT profile)"


class ProfileError(BenchError):
    """A DUT profile that cannot be read."""


class ProfileProblems(ProfileError, FileProblems):
    """Every problem found in one DUT profile, reported together."""


PROFILE_FILE = FileKind(
    noun="DUT profile",
    error=ProfileError,
    problems_error=ProfileProblems,
    docs_hint=DOCS_HINT,
    empty_fix=f"start from bench/devices/reference/profile.yaml; {DOCS_HINT}",
)


class ProfileModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_regex(value: str | None) -> str | None:
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"{value!r} is not a regular expression: {exc}") from None
    return value


def _placeholders(text: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}
    except ValueError as exc:
        raise ValueError(f"{text!r}: {exc} (write {{{{ and }}}} for a literal brace)") from None


Status = Annotated[int, Field(ge=100, le=599)]


class Expect(ProfileModel):
    """What a step's answer must be for the journey to go on."""

    status: list[Status] = Field(min_length=1, description="acceptable HTTP status codes")
    location: str | None = Field(None, description="regular expression the Location header must match")
    body_contains: str | None = None

    _location_is_regex = field_validator("location")(_check_regex)


class Extract(ProfileModel):
    """A value taken from a step's answer, for later steps: exactly one source."""

    json_field: str | None = Field(None, alias="json", description="a top-level field of a JSON body")
    header: str | None = Field(None, description="a response header (case does not matter)")
    body_regex: str | None = Field(None, description="the first group of a regular expression over the body")
    query_of: str | None = Field(None, description="a query parameter of a URL extracted earlier (with `param`)")
    param: str | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    _body_regex_is_regex = field_validator("body_regex")(_check_regex)

    @model_validator(mode="after")
    def _one_source(self) -> Extract:
        given = [k for k in ("json_field", "header", "body_regex", "query_of") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of json, header, body_regex, query_of")
        if (self.query_of is None) != (self.param is None):
            raise ValueError("query_of and param go together (query_of: an extracted URL, param: its query parameter)")
        return self


class HttpStep(ProfileModel):
    """One HTTP request of a passenger's journey (redirects are never followed: the next step
    says where to go)."""

    name: str = Field(min_length=1)
    method: Literal["GET", "POST", "PUT"] = "GET"
    url: str
    form: dict[str, str] | None = Field(None, description="sent as application/x-www-form-urlencoded")
    headers: dict[str, str] = {}
    expect: Expect
    extract: dict[str, Extract] = {}

    @model_validator(mode="after")
    def _placeholders_parse(self) -> HttpStep:
        texts = [self.url, *(self.form or {}).values(), *self.headers.values()]
        for text in texts:
            _placeholders(text)
        if not self.url.startswith(("http://", "https://", "{")):
            raise ValueError(f"url {self.url!r} must be absolute (http://...) or a placeholder such as {{portal}}")
        return self

    def uses(self) -> set[str]:
        return set().union(*(_placeholders(t) for t in [self.url, *(self.form or {}).values(), *self.headers.values()]))


class Detect(ProfileModel):
    """The captive-portal check a phone makes when it joins: one GET, two kinds of answer."""

    url: str = "http://connectivitycheck.gstatic.com/generate_204"
    online: Expect = Expect(status=[204])
    captive: Expect = Expect(status=[302, 303, 307])


class FreeTier(ProfileModel):
    """What the operator configured the free tier to allow (per passenger)."""

    down_kbit: Annotated[int, Field(gt=0)]
    up_kbit: Annotated[int, Field(gt=0)] | None = None


class PackageSpec(ProfileModel):
    """A package the operator sells and the steps that buy it (from the captive state)."""

    tier: Literal["bundle", "unlimited"]
    bytes: Annotated[int, Field(gt=0)] | None = Field(None, description="a bundle's volume, both directions")
    steps: list[HttpStep] = Field(min_length=1)

    @model_validator(mode="after")
    def _bundle_size(self) -> PackageSpec:
        if self.tier == "bundle" and self.bytes is None:
            raise ValueError("a bundle needs `bytes` (the volume the operator sells)")
        if self.tier == "unlimited" and self.bytes is not None:
            raise ValueError("an unlimited package has no `bytes`")
        return self


class PortalProfile(ProfileModel):
    detect: Detect = Detect()
    accept: list[HttpStep] = Field(default_factory=list, description="the steps to the free tier, after a captive check")
    free_tier: FreeTier | None = None
    packages: dict[str, PackageSpec] = {}
    journey: str | None = Field(None, description="module:Class of a journey plugin, instead of the steps")

    @field_validator("journey")
    @classmethod
    def _importable(cls, value: str | None) -> str | None:
        if value is None:
            return None
        module, _, name = value.partition(":")
        if not module or not name:
            raise ValueError(f"{value!r} is not module:Class (e.g. mycompany.portal:KlasJourney)")
        try:
            found = getattr(importlib.import_module(module), name)
        except ImportError as exc:
            raise ValueError(f"cannot import {module!r}: {exc}") from None
        except AttributeError:
            raise ValueError(f"module {module!r} has no {name!r}") from None
        if not isinstance(found, type):
            raise ValueError(f"{value!r} is not a class")
        return value

    @model_validator(mode="after")
    def _steps_use_known_values(self) -> PortalProfile:
        for where, steps in [("accept", self.accept), *((f"packages.{k}", p.steps) for k, p in self.packages.items())]:
            known = set(BUILTIN_PLACEHOLDERS)
            for i, step in enumerate(steps):
                unknown = step.uses() - known
                if unknown:
                    raise ValueError(f"{where}[{i}] ({step.name}) uses {', '.join(sorted('{' + u + '}' for u in unknown))} "
                                     f"before any step extracts it; known then: {', '.join(sorted(known))}")
                known |= set(step.extract)
        return self

    def bundles(self) -> dict[str, PackageSpec]:
        return {k: p for k, p in self.packages.items() if p.tier == "bundle"}

    def unlimited(self) -> str | None:
        """The id of a package with no volume limit (a whole-trip one), if the operator sells one."""
        return next((k for k, p in self.packages.items() if p.tier == "unlimited"), None)


class Claims(ProfileModel):
    """How to read the DUT's own account of events (evidence beside the wire, never a verdict)."""

    wan_down_log: str | None = Field(None, description="regular expression over a log message, with a (?P<wan>...) group")

    @field_validator("wan_down_log")
    @classmethod
    def _has_wan_group(cls, value: str | None) -> str | None:
        _check_regex(value)
        if value is not None and "wan" not in re.compile(value).groupindex:
            raise ValueError(f"{value!r} has no (?P<wan>...) group naming the WAN that went down")
        return value


class PowerProfile(ProfileModel):
    """What the operator configured the DUT to do about its supply."""

    persist_s: Annotated[float, Field(ge=0, le=3600)] = Field(
        0.0, description="how often the DUT writes sessions and quota counters to persistent storage: PWR-2 waits "
                         "this long after the traffic it checks before cutting the supply")


class DutProfile(ProfileModel):
    name: str = Field(min_length=1, description="what this profile describes, for reports")
    portal: PortalProfile
    wans: dict[str, str] = Field(default_factory=dict, description="lab WAN -> the DUT's name for it (default: the same)")
    claims: Claims = Claims()
    power: PowerProfile = PowerProfile()

    _source: str | None = PrivateAttr(default=None)
    _walk: Any = PrivateAttr(default=None)  # the YAML positions it was read with (bench.yamlfile.NodeWalk)

    def dut_wan(self, lab_wan: str) -> str:
        return self.wans.get(lab_wan, lab_wan)

    @property
    def source(self) -> str:
        """The file it was read from, for messages."""
        return self._source or "DUT profile"

    def where(self, loc: tuple[str | int, ...]) -> str:
        """`FILE:LINE: FIELD` of a place in the profile, for a message about what is there."""
        line = f":{self._walk.line_for(loc)}" if self._walk is not None else ""
        return f"{self.source}{line}: {dotted(loc)}"


def load_profile(path: Path | str | None = None) -> DutProfile:
    """Read and check a DUT profile (the reference router's by default)."""
    path = Path(path).expanduser() if path is not None else DEFAULT_PROFILE
    text = read_text(path, PROFILE_FILE)
    doc = read_yaml(text, str(path), PROFILE_FILE)
    profile, problems = check(doc, DutProfile)
    if problems or profile is None:
        raise problems_error(PROFILE_FILE, str(path), problems)
    profile._source = str(path)
    profile._walk = doc.walk
    return profile


def check_against_lab(profile: DutProfile, wan_names: list[str], where: str) -> None:
    """A profile's `wans` must name lab WANs only."""
    unknown = [w for w in profile.wans if w not in wan_names]
    if unknown:
        raise BenchError(f"the DUT profile maps WANs the lab does not have: {', '.join(unknown)}", where=where,
                         fix=f"use the lab file's WAN names as keys of `wans`: {', '.join(wan_names)}")
