"""pyvisa-sim definitions of both instruments, for fast driver tests without any connection.

    PowerSupply(config_with(resource="ASRL1::INSTR"), backend=SIM_BACKEND)

ASRL1::INSTR is a supply (0-30 V, 0-5 A), ASRL2::INSTR an attenuator (0-95 dB). Their setters
accept exactly the strings of commands.py; an out-of-range or unknown command puts
-113 "Undefined header" in the error queue (pyvisa-sim has one error kind per device).
"""

from pathlib import Path

SIM_DEFINITIONS = Path(__file__).with_name("instruments.yaml")
SIM_BACKEND = f"{SIM_DEFINITIONS}@sim"
SIM_SUPPLY_RESOURCE = "ASRL1::INSTR"
SIM_ATTENUATOR_RESOURCE = "ASRL2::INSTR"
SIM_SUPPLY_MODEL = "SIM-PSU-3005"
SIM_ATTENUATOR_MODEL = "SIM-ATT-95"
