"""Every driver call is a recorded step, refusals included (outcome error, with the message)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.instruments import InstrumentError, PowerSupply
from bench.instruments.emulated.server import ScpiSocketServer
from bench.steps import set_step_log
from tests.instruments.conftest import supply_config


def test_driver_calls_land_in_the_step_log(tmp_path: Path, supply_server: ScpiSocketServer) -> None:
    log = tmp_path / "steps.jsonl"
    set_step_log(log)
    try:
        with PowerSupply(supply_config(supply_server.resource, volts=(0.0, 28.0))) as psu:
            psu.set_voltage(26.0)
            with pytest.raises(InstrumentError):
                psu.set_voltage(40.0)
            psu.interrupt(0.01)
    finally:
        set_step_log(None)
    steps = [json.loads(line) for line in log.read_text().splitlines()]
    by_title = [(s["step"], s["outcome"]) for s in steps]
    assert ("psu: connect", "ok") in by_title and ("psu: disconnect", "ok") in by_title
    assert ("psu: set voltage", "ok") in by_title and ("psu: interrupt", "ok") in by_title
    refused = [s for s in steps if s["step"] == "psu: set voltage" and s["outcome"] == "error"]
    assert refused and refused[0]["args"] == {"volts": 40.0} and "voltage_range_v" in refused[0]["error"]
    interrupt = next(s for s in steps if s["step"] == "psu: interrupt")
    assert interrupt["args"] == {"duration_ms": 10.0} and interrupt["result"].startswith("achieved ")
