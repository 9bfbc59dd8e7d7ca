"""Profiles and bad input, without a lab: errors name the file, the field and what is accepted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.errors import BenchError
from loadgen.profile import available_profiles, load_profile
from loadgen.runner import clients_needed


def test_shipped_profiles_load() -> None:
    assert {"night", "day-peak", "boarding", "mixed", "load-benchmark"} <= set(available_profiles())
    for name in available_profiles():
        assert load_profile(name).classes


def test_unknown_profile_lists_the_known_ones() -> None:
    with pytest.raises(BenchError) as err:
        load_profile("rush-hour")
    assert "rush-hour" in err.value.message and "day-peak" in err.value.message


def test_unknown_class_is_named_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("name: p\nclasses:\n  browsing: {weight: 1}\n  teleport: {weight: 2}\n")
    with pytest.raises(BenchError) as err:
        load_profile(path)
    assert "classes.teleport" in err.value.message and str(path) in err.value.message and "browsing" in err.value.message


def test_unknown_option_and_bad_mix_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("name: p\nclasses:\n  video: {weight: 1, options: {resolution: 4k}}\n")
    with pytest.raises(BenchError, match="resolution"):
        load_profile(path)
    path.write_text("name: p\nclasses:\n  video: {weight: 1, count: 3}\n")
    with pytest.raises(BenchError, match="either weight"):
        load_profile(path)


def test_clients_needed_splits_weights_and_counts() -> None:
    need = clients_needed(load_profile("mixed"), 500)
    assert need["ops"] == 10  # 4 POS, 2 CCTV, 4 conductors
    assert 490 <= need["passenger"] <= 497  # the other 490 shared by weight, rounded up per class
    with pytest.raises(BenchError, match="fixed-count"):
        clients_needed(load_profile("mixed"), 5)


def test_profiles_do_not_import_locust() -> None:
    # gevent's monkey patching must stay in the Locust process: the runner side never imports it.
    code = "import loadgen.runner, fixtures.passengers, sys; print('locust' in sys.modules, 'gevent.monkey' in sys.modules and sys.modules['gevent.monkey'].is_module_patched('socket'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
