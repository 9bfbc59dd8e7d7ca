"""The embedded lab's emulated terminals: status services that tell what their sky link does."""

from bench.devices.terminals.services import TerminalServices, start_terminal_services

__all__ = ["TerminalServices", "start_terminal_services"]
