"""router.yaml and its schema: the shipped file loads, overrides validate, mistakes name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.devices.reference.config import DEFAULT_CONFIG, RouterConfig, load_router_config
from bench.errors import BenchError


def test_shipped_router_yaml_loads_with_all_three_wans_and_both_packages() -> None:
    cfg = load_router_config()
    assert set(cfg.wans) == {"oneweb", "starlink", "lte"}
    assert {p.id for p in cfg.portal.packages} == {"bundle-1gb", "unlimited-trip"}
    assert cfg.portal.package("bundle-1gb").bytes == 1_000_000_000  # type: ignore[union-attr]
    assert cfg.health.detection_s == pytest.approx(cfg.health.down_after * cfg.health.interval_s + cfg.health.timeout_s)


def test_override_merges_nested_fields_and_keeps_the_rest() -> None:
    cfg = load_router_config().override({"health": {"down_after": 7}, "portal": {"quota_enforced": False}})
    assert cfg.health.down_after == 7
    assert cfg.health.interval_s == load_router_config().health.interval_s
    assert cfg.portal.quota_enforced is False
    assert cfg.portal.packages == load_router_config().portal.packages


@pytest.mark.parametrize(
    "change, field",
    [
        ({"health": {"timeout_s": 5.0, "interval_s": 1.0}}, "timeout_s"),
        ({"health": {"down_afterr": 3}}, "down_afterr"),
        ({"qos": {"ops_share": 0.7, "router_share": 0.4}}, "passengers"),
        ({"portal": {"free_tier": {"mechanism": "police"}}}, "mechanism"),
    ],
)
def test_bad_values_are_refused(change: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        load_router_config().override(change)


def test_a_broken_file_names_the_file_and_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "router.yaml"
    bad.write_text(DEFAULT_CONFIG.read_text().replace("down_after: 3", "down_after: -1"))
    with pytest.raises(BenchError) as err:
        load_router_config(bad)
    assert str(bad) in err.value.message and "health.down_after" in err.value.message


def test_a_bundle_needs_a_size() -> None:
    with pytest.raises(ValueError, match="needs `bytes`"):
        RouterConfig.model_validate({"portal": {"packages": [{"id": "b", "kind": "bundle"}]}})
