"""One measurement: a value recorded against a requirement, judged, and located in the run.

``evaluate`` turns (requirement id, value, units, where in the trace) into a ``Measurement``: the
value converted to the limit's units (or refused: never compared across units), the verdict, and
a message a person reads at a glance, e.g.
``FO-1 failover detection time: 7.4 s > limit 5 s (+2.4 s, +48 %) at trace astana-almaty 02:13:05, km 431.2``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bench.measure.model import Catalogue, Quantity
from bench.measure.units import as_number, convert, format_value
from bench.measure.verdict import Judgement, Verdict, judge


@dataclass(frozen=True)
class RunInfo:
    """What every measurement of one run shares."""

    run_id: str
    suite: str = ""
    dut: str = ""
    firmware: str = ""
    link_backend: str = ""


class Measurement(BaseModel):
    """A judged measurement, as stored (one row of the results store) and attached to reports."""

    model_config = ConfigDict(frozen=True)

    measurement_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    run_id: str
    time: datetime
    suite: str
    test: str
    requirement: str
    quantity: str
    title: str
    value: float  # in `units`, the limit's units
    units: str
    recorded_value: float  # as the test gave it, in `recorded_units`
    recorded_units: str
    limit: str  # as read: '<= 5 s'
    limit_kind: str  # min / max / range / equals
    limit_low: float | None
    limit_high: float | None
    marginal: str | None  # the band as read: 'within 10 % of the limit'
    verdict: Verdict
    message: str
    trace: str | None = None
    trace_hash: str | None = None
    trace_time_s: float | None = None
    km: float | None = None
    dut: str = ""
    firmware: str = ""
    link_backend: str = ""
    catalogue_version: str = ""
    context: dict[str, Any] = Field(default_factory=dict)
    invalid_reason: str | None = None  # why the value is not judged (verdict 'invalid'): the checks that did not hold

    @property
    def failed(self) -> bool:
        """It fails its test: beyond the limit, or invalid (an invalid measurement never passes)."""
        return self.verdict in ("fail", "invalid")

    @property
    def valid(self) -> bool:
        return self.verdict != "invalid"


def evaluate(
    catalogue: Catalogue,
    requirement: str,
    value: float | bool,
    *,
    units: str,
    quantity: str | None = None,
    run: RunInfo,
    test: str = "",
    trace: str | None = None,
    trace_hash: str | None = None,
    trace_time_s: float | None = None,
    km: float | None = None,
    context: dict[str, Any] | None = None,
    time: datetime | None = None,
    invalid_reason: str | None = None,
) -> Measurement:
    """Judge ``value`` (in ``units``) against the catalogue's limit for the requirement's quantity.

    With ``invalid_reason`` (a check that makes the value meaningful did not hold) the value is
    kept but not judged: the verdict is 'invalid' and the message says why.

    Raises ``MeasurementError`` (unknown requirement or quantity) or ``UnitsError`` (units that
    cannot be compared with the limit's); a measurement that merely fails is returned, not raised.
    """
    name, spec = catalogue.quantity(requirement, quantity)
    what = f"{requirement} {spec.title}"
    recorded = as_number(value, units, what=what)
    converted = _clean(convert(recorded, units, spec.units, what=what))
    judgement = judge(converted, spec.limit, spec.marginal) if invalid_reason is None else Judgement("invalid", None, None, None)
    return Measurement(
        run_id=run.run_id,
        time=time or datetime.now(timezone.utc),
        suite=run.suite,
        test=test,
        requirement=requirement,
        quantity=name,
        title=spec.title,
        value=converted,
        units=spec.units,
        recorded_value=recorded,
        recorded_units=units,
        limit=spec.limit.describe(spec.units),
        limit_kind=spec.limit.kind,
        limit_low=spec.limit.low,
        limit_high=spec.limit.high,
        marginal=spec.marginal.describe(spec.units) if spec.marginal else None,
        verdict=judgement.verdict,
        message=describe(requirement, spec, converted, judgement, trace=trace, trace_time_s=trace_time_s, km=km,
                         invalid_reason=invalid_reason),
        trace=trace,
        trace_hash=trace_hash,
        trace_time_s=trace_time_s,
        km=km,
        dut=run.dut,
        firmware=run.firmware,
        link_backend=run.link_backend,
        catalogue_version=catalogue.version,
        context=dict(context or {}),
        invalid_reason=invalid_reason,
    )


def describe(
    requirement: str,
    spec: Quantity,
    value: float,
    judgement: Judgement,
    *,
    trace: str | None = None,
    trace_time_s: float | None = None,
    km: float | None = None,
    invalid_reason: str | None = None,
) -> str:
    """The one line a person reads: which requirement, the value, the verdict, by how much, where."""
    units = spec.units
    shown = format_value(value, units)
    head = f"{requirement} {spec.title}: "
    if judgement.verdict == "invalid":
        text = f"{head}{shown}, INVALID, not judged: {invalid_reason}"
    elif judgement.verdict == "pass":
        text = f"{head}{shown}, pass (limit {spec.limit.describe(units)})"
    elif judgement.side == "equals":
        text = f"{head}{shown}, required {format_value(judgement.bound, units)}"  # type: ignore[arg-type]
    elif judgement.verdict == "fail":
        sign = ">" if judgement.side == "high" else "<"
        bound = format_value(judgement.bound, units)  # type: ignore[arg-type]
        of_range = f" of range {spec.limit.describe(units)[3:]}" if spec.limit.kind == "range" else ""
        text = f"{head}{shown} {sign} limit {bound}{of_range} ({_by_how_much(judgement, units)})"
    else:
        margin = _magnitude(abs(judgement.deviation), units)  # type: ignore[arg-type]
        bound = format_value(judgement.bound, units)  # type: ignore[arg-type]
        band = spec.marginal.describe(units) if spec.marginal else ""
        text = f"{head}{shown}, marginal: {margin} from limit {bound} (band: {band})"
    where = position(trace, trace_time_s, km)
    return f"{text} at {where}" if where else text


def position(trace: str | None, trace_time_s: float | None, km: float | None) -> str:
    """'trace astana-almaty 02:13:05, km 431.2' (whichever parts are known), or ''."""
    parts = []
    if trace is not None or trace_time_s is not None:
        clock = f" {clock_text(trace_time_s)}" if trace_time_s is not None else ""
        parts.append(f"trace{' ' + trace if trace else ''}{clock}")
    if km is not None:
        parts.append(f"km {km:.1f}")
    return ", ".join(parts)


def clock_text(seconds: float) -> str:
    """Trace time as hh:mm:ss (hours may exceed 24 on a long trace)."""
    total = int(round(seconds))
    sign = "-" if total < 0 else ""
    total = abs(total)
    return f"{sign}{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


def _by_how_much(judgement: Judgement, units: str) -> str:
    deviation = judgement.deviation or 0.0
    absolute = f"{'+' if deviation >= 0 else '-'}{_magnitude(abs(deviation), units)}"
    if not judgement.bound:
        return absolute
    relative = deviation / abs(judgement.bound) * 100
    return f"{absolute}, {relative:+.0f} %"


def _magnitude(amount: float, units: str) -> str:
    if units == "%":
        number = format_value(amount, units)[:-2]
        return f"{number} percentage point{'' if number == '1' else 's'}"
    return format_value(amount, units)


def _clean(value: float) -> float:
    """Drop binary noise from a unit conversion (7400 ms * 1e-3 -> 7.4, not 7.4000000000000004)."""
    return float(f"{value:.12g}")
