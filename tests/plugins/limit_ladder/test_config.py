"""Config: the documented defaults, refused configs, and the shipped example through the real loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway_core.config import load_raw, validate
from gateway_core.errors import ConfigError
from gateway_core.plugins import collect_registrations, make_plugin_manager
from gateway_core.registry import Registry
from gateway_core.settings import build_section
from limit_ladder.config import LadderConfig

from .helpers import once, pack

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "limit_ladder_strict.toml"


def test_defaults_are_the_documented_table() -> None:
    config = LadderConfig()
    assert config.charge_ladder == ((3.55, 0), (3.50, 2), (3.47, 15), (3.45, 30), (3.00, 60), (2.70, 30))
    assert config.charge_below_a == 5.0
    assert config.discharge_ladder == ((3.30, 60), (3.10, 50), (3.00, 30), (2.90, 10))
    assert config.discharge_below_a == 0.0
    assert (config.charge_voltage_per_cell, config.discharge_voltage_per_cell) == (3.45, 3.15)
    assert (config.charge_rerise_below_v, config.charge_rerise_max_soc, config.charge_hold_s) == (
        3.40,
        99,
        2700,
    )
    assert config.discharge_rerise_min_soc == 40
    assert config.ramp_a_per_s == 0


def test_toml_lists_become_float_tuples() -> None:
    config = build_section(LadderConfig, "limit_ladder", {"charge_ladder": [[3.5, 2], [3.4, 10]]})
    assert config.charge_ladder == ((3.5, 2.0), (3.4, 10.0))
    assert all(isinstance(v, float) for step in config.charge_ladder for v in step)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"charge_ladder": [[3.40, 2], [3.50, 10]]},
            "charge_ladder step 2 [3.5, 10]: threshold 3.5 V is not below",
        ),
        ({"charge_ladder": [[3.50, 2], [3.50, 10]]}, "is not below the previous step's 3.5 V"),
        ({"discharge_ladder": [[3.3, -1]]}, "discharge_ladder step 1 [3.3, -1]: -1 A is out of range"),
        ({"discharge_ladder": [[4.6, 10]]}, "threshold 4.6 V is outside 2-4.5 V"),
        ({"charge_ladder": [[1.9, 10]]}, "threshold 1.9 V is outside 2-4.5 V"),
        ({"charge_ladder": []}, "charge_ladder needs at least one [threshold_v, amps] step"),
        ({"charge_ladder": [[3.5]]}, "charge_ladder = [[3.5]] has the wrong type"),
        ({"charge_below_a": -5}, "charge_below_a = -5 is out of range"),
        ({"max_charge_current": 2000}, "max_charge_current = 2000 is out of range"),
        (
            {"charge_voltage_per_cell": 3.0, "discharge_voltage_per_cell": 3.1},
            "must be below charge_voltage_per_cell",
        ),
        ({"charge_voltage": 50.0, "discharge_voltage": 52.0}, "discharge_voltage = 52 V must be below"),
        ({"charge_min_temp_c": 20, "charge_max_temp_c": 10}, "charge_min_temp_c = 20 must be below"),
        ({"charge_derate_cold": [[10, 30], [5, 10]]}, "coldest first"),
        ({"charge_derate_hot": [[40, 30], [45, 10]]}, "hottest first"),
        ({"oscillation_levels_a": []}, "oscillation_levels_a needs at least one swing size"),
        ({"oscillation_factor": 1.5}, "oscillation_factor = 1.5 is out of range"),
        ({"ladder": 1}, "unknown key 'ladder'"),
        ({"max_charge_current": float("nan")}, "max_charge_current = nan has the wrong type"),
        ({"charge_hold_s": float("inf")}, "charge_hold_s"),
        ({"charge_ladder": [[3.5, float("nan")]]}, "charge_ladder = [[3.5, nan]] has the wrong type"),
        # charge states (issue 18)
        (
            {"float_voltage_per_cell": 3.45},
            "float_voltage_per_cell = 3.45 V must be below charge_voltage_per_cell = 3.45 V",
        ),
        (
            {"float_voltage_per_cell": 3.5, "charge_voltage_per_cell": 3.45},
            "float_voltage_per_cell = 3.5 V must be below charge_voltage_per_cell = 3.45 V",
        ),
        (
            {"cell_target_v": 3.375},
            "float_voltage_per_cell = 3.375 V must be below cell_target_v = 3.375 V (the runaway-cell",
        ),
        ({"cell_target_v": 3.3}, "must be below cell_target_v = 3.3 V"),
        (
            {"rebulk_below_cell_v": 3.4},
            "rebulk_below_cell_v = 3.4 V must be below float_voltage_per_cell = 3.375 V (or float would end",
        ),
        (
            {"discharge_voltage_per_cell": 3.38},
            "discharge_voltage_per_cell = 3.38 V must be below float_voltage_per_cell = 3.375 V",
        ),
        ({"reported_soc_max": 49}, "reported_soc_max = 49 is out of range; accepted: 50 to 100 (%)"),
        ({"reported_soc_max": 100.5}, "reported_soc_max = 100.5 is out of range"),
        ({"absorption_hold_s": -1}, "absorption_hold_s = -1 is out of range; accepted: 0 to 86400 (seconds)"),
        ({"absorption_hold_s": 86401}, "absorption_hold_s = 86401 is out of range"),
        ({"absorption_tail_current": -0.1}, "absorption_tail_current = -0.1 is out of range"),
        ({"absorption_tail_current": 1001}, "absorption_tail_current = 1001 is out of range"),
        ({"absorption_max_delta_v": 0.6}, "absorption_max_delta_v = 0.6 is out of range"),
        ({"rebulk_below_soc": 101}, "rebulk_below_soc = 101 is out of range"),
        ({"float_voltage_per_cell": 1.9}, "float_voltage_per_cell = 1.9 is out of range"),
        ({"absorption_hold_s": float("inf")}, "absorption_hold_s"),
        ({"charge_states": "yes"}, 'charge_states = "yes" has the wrong type'),
        ({"state_dir": "state"}, "state_dir = 'state' must be an absolute path"),
        ({"state_dir": "/var/lib/x\ny"}, "state_dir holds a control character"),
        ({"cells": 0}, "cells = 0 is out of range; accepted: 1 to 64"),
        ({"cells": 16, "charge_voltage": 552}, "charge_voltage = 552 V is 34.5 V per cell for 16 cells"),
        # oscillation by grid power (issue 19)
        (
            {"oscillation_input": "meter"},
            'oscillation_input = "meter" is not allowed; accepted: current, grid_power',
        ),
        ({"oscillation_grid_levels_w": []}, "oscillation_grid_levels_w needs at least one swing size"),
        ({"oscillation_grid_levels_w": [0.5]}, "oscillation_grid_levels_w = [0.5] is out of range"),
    ],
)
def test_bad_configs_are_refused_with_a_precise_line(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_section(LadderConfig, "limit_ladder", values, dict.fromkeys(values, "gw.toml"))
    text = str(info.value)
    assert message in text
    assert text.startswith("gw.toml: [limit_ladder]")
    assert "\n" not in text


def test_constructor_refuses_bad_ladders_too() -> None:
    with pytest.raises(ValueError, match="list steps from the highest threshold down"):
        LadderConfig(discharge_ladder=((3.0, 10.0), (3.3, 60.0)))


def registry_with_ladder() -> Registry:
    import limit_ladder

    pm = make_plugin_manager(entry_points=False)
    pm.register(limit_ladder, name="limit_ladder")
    return collect_registrations(pm)


def test_strict_example_loads_through_the_real_loader() -> None:
    raw, path = load_raw(EXAMPLE)
    loaded = validate(raw, registry_with_ladder(), path)
    config = loaded.section("limit_ladder")
    assert isinstance(config, LadderConfig)
    assert loaded.gateway.policy == "limit_ladder"
    assert config.charge_ladder[:2] == ((3.44, 0.0), (3.42, 30.0))
    assert (config.charge_voltage, config.discharge_voltage) == (55.0, 50.5)
    assert once(pack(3.44), config).charge_current_a == 0
    assert once(pack(3.439), config).charge_current_a == 30
    assert once(pack(3.42), config).charge_current_a == 30
    assert once(pack(3.30), config).charge_current_a == 60
    assert once(pack(3.40, low=3.151), config).discharge_current_a == 60
    assert once(pack(3.40, low=3.15), config).discharge_current_a == 0


def test_set_overrides_reach_the_section() -> None:
    raw, path = load_raw(EXAMPLE, ["limit_ladder.max_charge_current=40"])
    config = validate(raw, registry_with_ladder(), path).section("limit_ladder")
    assert isinstance(config, LadderConfig)
    assert config.max_charge_current == 40.0


LIFEPO4_16S = EXAMPLE.parent / "limit_ladder_16s_lifepo4.toml"


def test_the_16s_lifepo4_example_loads_through_the_real_loader_and_charges_through_the_states() -> None:
    from .helpers import Runner

    raw, path = load_raw(LIFEPO4_16S)
    config = validate(raw, registry_with_ladder(), path).section("limit_ladder")
    assert isinstance(config, LadderConfig)
    assert config.cells == 16 and config.charge_states
    assert (config.charge_voltage_per_cell, config.float_voltage_per_cell, config.cell_target_v) == (
        3.45,
        3.375,
        3.5,
    )
    assert (config.absorption_hold_s, config.absorption_tail_current, config.absorption_max_delta_v) == (
        900.0,
        5.0,
        0.015,
    )
    assert (config.rebulk_below_soc, config.rebulk_below_cell_v, config.reported_soc_max) == (
        90.0,
        3.30,
        98.0,
    )
    run = Runner(config)
    assert run.at(0, high=3.35, low=3.33, current=50, soc=99).reported_soc_pct == 98
    assert run.at(600, high=3.45, low=3.44, current=4, soc=100).charge_state == "absorption"
    full = run.at(1500, high=3.45, low=3.44, current=2, soc=100)
    assert (full.charge_state, full.charge_voltage_v, full.reported_soc_pct) == ("float", 54.0, 100)
    with pytest.raises(ConfigError, match=r"charge_voltage = 552 V is 34\.5 V per cell for 16 cells"):
        validate(load_raw(LIFEPO4_16S, ["limit_ladder.charge_voltage=552"])[0], registry_with_ladder(), path)
