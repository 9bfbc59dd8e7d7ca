"""The bench's one error type for problems a user can fix.

Every error the bench raises for bad input or a missing host feature says *what* is wrong,
*where* (file, line, field, device, namespace) and *how to fix it*. The CLI and the pytest plugin
print it as one message, never as a traceback.
"""

from __future__ import annotations


class BenchError(Exception):
    """A problem the user can act on: what, where, how to fix."""

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None) -> None:
        self.what = what
        self.where = where
        self.fix = fix
        super().__init__(self.message)

    @property
    def message(self) -> str:
        head = f"{self.where}: {self.what}" if self.where else self.what
        return f"{head}\n  how to fix: {self.fix}" if self.fix else head

    def __str__(self) -> str:
        return self.message


class LabFileError(BenchError):
    """The lab description file is malformed."""


class HostError(BenchError):
    """The host lacks a feature or permission the bench needs."""


class LabStateError(BenchError):
    """The lab's recorded state does not match what is on the host."""
