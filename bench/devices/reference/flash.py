"""The reference router's flash: the state it keeps across a power loss.

What a rail router's firmware keeps in flash, and nothing else (everything in RAM, the kernel's
tables included, is gone after a power loss):
- every portal session: MAC, IP, tier, package, start time, purchases;
- each bundle's size and the bytes its quota had counted *at the last write*.

When it is written: at once on every change of the sessions (terms accepted, package granted,
sessions ended), because a passenger's payment must never be lost; and every
`power.flash_save_s` (60 s by default) for the quota counters, which change with every packet:
writing them on each change would wear the flash out. Bytes counted since the last write are
lost on a power loss (the passenger gets them back), as on a real router.

A write goes to a temporary file that is then renamed over the old one (after fsync), so a power
loss in the middle of a write leaves the previous state, never a torn file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

FORMAT = 1


class FlashSession(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mac: str
    ip: str
    tier: str  # free | bundle | unlimited
    started: float
    package: str | None = None
    bundle_bytes: int | None = None
    quota_used_bytes: int | None = None  # bundles: as counted at the last write
    purchases: int = 0


class FlashState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: int = FORMAT
    written: float  # unix time of the write
    sessions: list[FlashSession] = []


def write(path: Path, state: FlashState) -> None:
    """Replace the flash contents atomically (temporary file, fsync, rename)."""
    tmp = path.with_name(path.name + ".tmp")
    data = state.model_dump_json(indent=1).encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read(path: Path) -> FlashState | None:
    """The last state written, or None on a router that never wrote one (first boot)."""
    try:
        raw: Any = json.loads(path.read_text())
        return FlashState.model_validate(raw)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, ValidationError):
        # A corrupt flash boots as a factory-fresh router (and says so in its event log).
        return None
