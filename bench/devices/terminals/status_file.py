"""How the lab's feed (in the bench process) and a terminal's status server (in the terminal's
namespace) talk: a status file the feed replaces atomically, and a reboot-request file the server
creates. Files, because a network namespace does not separate the filesystem."""

from __future__ import annotations

import os
from pathlib import Path

from bench.devices.protocols import TerminalStatus


class StatusFiles:
    def __init__(self, directory: Path, name: str) -> None:
        self.status = directory / f"{name}.status.json"
        self.temporary = directory / f"{name}.status.tmp"
        self.reboot = directory / f"{name}.reboot"
        self.server_log = directory / f"{name}.serve.log"  # the status server's stderr

    @property
    def paths(self) -> list[Path]:
        return [self.status, self.temporary, self.reboot, self.server_log]

    def write(self, status: TerminalStatus) -> None:
        self.temporary.write_text(status.model_dump_json())
        os.replace(self.temporary, self.status)  # readers see the old or the new file, never half of one

    def read(self) -> TerminalStatus:
        return TerminalStatus.model_validate_json(self.status.read_text())

    def request_reboot(self) -> None:
        self.reboot.touch()

    def take_reboot_request(self) -> bool:
        try:
            self.reboot.unlink()
        except FileNotFoundError:
            return False
        return True
