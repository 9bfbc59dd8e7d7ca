"""The README's Quickstart holds exactly two commands, and CI runs the second one."""

from __future__ import annotations

import re

from tests.conftest import REPO


def _quickstart_commands() -> list[str]:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Quickstart", 1)[1]
    block = re.search(r"```[a-z]*\n(.*?)```", section, re.S)
    assert block, "the Quickstart section has no fenced code block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_quickstart_has_the_nightly_and_the_test_command() -> None:
    commands = _quickstart_commands()
    assert len(commands) == 2
    assert "skybench run nightly" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert _quickstart_commands()[1] in ci
