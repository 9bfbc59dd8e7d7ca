"""`skybench doctor` on this machine: netem is missing, so the userspace backend is used."""

from __future__ import annotations

import pytest

from bench.doctor import run_checks
from bench.lab.labfile import load_lab
from bench.link.backend import kernel_has_netem
from tests.conftest import skybench
from tests.hostsnap import HostSnapshot

pytestmark = pytest.mark.lab


def test_doctor_reports_the_link_backend_that_will_run(untouched_host: HostSnapshot) -> None:
    has_netem, _ = kernel_has_netem()
    result = skybench("doctor", check=True)
    out = result.stdout
    assert "This host can run the bench." in out
    for wan in ("oneweb", "starlink", "lte"):
        expected = "auto -> netem" if has_netem else "auto -> userspace"
        assert f"link backend {wan}" in out
        assert expected in out
    if not has_netem:  # this machine: no sch_netem in the kernel
        assert "missing:" in out


def test_doctor_checks_carry_a_fix_for_every_failure() -> None:
    for check in run_checks(load_lab(None)):
        assert check.status in {"ok", "info", "warn", "fail"}
        if check.status in {"warn", "fail"}:
            assert check.fix, f"{check.name} fails without saying how to fix it"


def test_doctor_with_a_bad_lab_file_gives_one_clear_error(tmp_path) -> None:
    bad = tmp_path / "lab.yaml"
    bad.write_text("kind: embedded\nwans:\n  - name: oneweb\n    kind: satelite\n    provider: oneweb\n    priority: 1\n")
    result = skybench("doctor", "--lab", str(bad))
    assert result.returncode == 2
    assert "lab.yaml:4" in result.stderr and "Traceback" not in result.stderr + result.stdout
