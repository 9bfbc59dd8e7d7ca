"""`skybench instruments`: identity and state of each lab-file instrument, or what to check."""

from __future__ import annotations

import socket
from pathlib import Path

from bench.instruments.emulated.attenuator import EmulatedAttenuator
from bench.instruments.emulated.server import ScpiSocketServer
from bench.instruments.emulated.supply import EmulatedPowerSupply
from tests.conftest import skybench


def _free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _lab(tmp_path: Path, instruments: str) -> Path:
    path = tmp_path / "lab.yaml"
    path.write_text("kind: embedded\nname: instruments-test\ninstruments:\n" + instruments)
    return path


def test_lists_identity_and_state_and_each_unreachable_instrument(
        tmp_path: Path, supply_server: ScpiSocketServer, attenuator_server: ScpiSocketServer,
        emulated_supply: EmulatedPowerSupply, emulated_attenuator: EmulatedAttenuator) -> None:
    emulated_attenuator.execute("ATT 7.5")
    dead = f"TCPIP0::127.0.0.1::{_free_loopback_port()}::SOCKET"
    lab = _lab(tmp_path, f"""
  - {{name: psu, kind: power_supply, resource: "{supply_server.resource}", model: EMU-PSU,
      voltage_range_v: [0, 30], current_range_a: [0, 3]}}
  - {{name: fader, kind: rf_attenuator, resource: "{attenuator_server.resource}",
      attenuation_range_db: [0, 60], acts_on: starlink}}
  - {{name: spare-psu, kind: power_supply, resource: "{dead}", voltage_range_v: [0, 30], current_range_a: [0, 3]}}
""")
    before = len(emulated_supply.received)
    result = skybench("instruments", "--lab", str(lab), "--timeout-ms", "500")
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "SKYBENCH,EMU-PSU-6010,SB0001,1.0" in out and "SKYBENCH,EMU-ATT-90" in out
    assert "output on, set 24 V / 2 A limit, measured 24.000 V 0.5000 A" in out
    assert "attenuation 7.5 dB (fades WAN starlink)" in out
    assert f"spare-psu unreachable: instrument spare-psu ({dead})" in out
    assert "how to fix: check that the instrument is switched on" in out
    assert "1 of 3 instrument(s) unreachable" in out
    # Read-only: queries only, nothing that changes the instrument (not even *CLS).
    sent = list(emulated_supply.received)[before:]
    assert sent and all(line.endswith("?") for line in sent), sent


def test_a_wrong_model_is_reported_as_such(tmp_path: Path, supply_server: ScpiSocketServer) -> None:
    lab = _lab(tmp_path, f"""
  - {{name: psu, kind: power_supply, resource: "{supply_server.resource}", model: HMP4040,
      voltage_range_v: [0, 30], current_range_a: [0, 3]}}
""")
    result = skybench("instruments", "--lab", str(lab))
    assert result.returncode == 1
    assert "psu unreachable" in result.stdout and "expects model 'HMP4040'" in result.stdout


def test_sim_backend_and_a_lab_without_instruments(tmp_path: Path) -> None:
    lab = _lab(tmp_path, """
  - {name: psu, kind: power_supply, resource: "ASRL1::INSTR", model: SIM-PSU, voltage_range_v: [0, 30], current_range_a: [0, 3]}
  - {name: fader, kind: rf_attenuator, resource: "ASRL2::INSTR", attenuation_range_db: [0, 60], acts_on: lte}
""")
    result = skybench("instruments", "--lab", str(lab), "--backend", "sim")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SIM-PSU-3005" in result.stdout and "output off, set 24 V / 1 A limit" in result.stdout
    assert "attenuation 0 dB (fades WAN lte)" in result.stdout
    empty = skybench("instruments")
    assert empty.returncode == 0 and "lists no instruments" in empty.stdout
