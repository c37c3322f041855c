"""Scenario validation: bad input is rejected with the file, the key path and what was expected."""

import textwrap

import pytest

from sim.cli import main
from sim.params import Scenario
from sim.scenario_io import ScenarioError, load_scenario

from conftest import ROOT

BASELINE = ROOT / "scenarios" / "baseline.yaml"


def _write(tmp_path, text, name="bad.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


def _extend(tmp_path, body):
    return _write(tmp_path, f"base: {BASELINE}\n" + textwrap.dedent(body))


def _error(path):
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)
    return str(exc.value)


def test_baseline_and_counterfactuals_validate():
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        sc = load_scenario(path)
        assert isinstance(sc, Scenario)
    base = load_scenario(BASELINE)
    assert base.start.isoformat() == "2017-03-02" and base.end.isoformat() == "2025-12-31"
    assert base.step_days == 7 and base.resolution_deg == 0.1


def test_misspelt_key_is_named_with_a_suggestion(tmp_path):
    msg = _error(_extend(tmp_path, "mechanisms:\n  defection:\n    loot_wieght: 2.0\n"))
    assert "bad.yaml" in msg and "mechanisms.defection.loot_wieght" in msg
    assert "unknown key" in msg and "loot_weight" in msg
    assert "line 4" in msg


def test_out_of_range_value_names_the_path_and_bound(tmp_path):
    msg = _error(_extend(tmp_path, "factions:\n  JNIM:\n    strategy: {restraint: 1.7}\n"))
    assert "factions.JNIM.strategy.restraint" in msg and "less than or equal to 1" in msg and "1.7" in msg


def test_end_before_start(tmp_path):
    msg = _error(_extend(tmp_path, "start: 2020-01-01\nend: 2019-01-01\n"))
    assert "must be after start" in msg


@pytest.mark.parametrize("body, expected", [
    ("step_days: 0\n", "step_days"),
    ("resolution_deg: -0.1\n", "resolution_deg"),
    ("forces:\n  - {actor: Boko Haram, near: Gao, manpower: 10}\n", "unknown actor 'Boko Haram'"),
    ("forces:\n  - {actor: JNIM, near: Gao, manpower: 10, ethnic: {martian: 1.0}}\n", "unknown ethnic group"),
    ("events:\n  - {id: x, date: 2030-01-01, type: mediation, pair: [JNIM, ISGS]}\n", "outside the run"),
    ("events:\n  - {id: x, date: 2019-01-01, type: mediation, pair: [JNIM, ISGS]}\n"
     "  - {id: x, date: 2019-02-01, type: mediation, pair: [JNIM, ISGS]}\n", "duplicate event id"),
    ("events:\n  - {id: x, date: 2019-01-01, type: invasion}\n", "events.0"),
    ("relations:\n  - {pair: [JNIM, JNIM], state: war}\n", "two different actors"),
    ("seed: -3\n", "seed"),
])
def test_bad_values_are_rejected(tmp_path, body, expected):
    assert expected in _error(_extend(tmp_path, body))


def test_remove_events_needs_known_ids(tmp_path):
    msg = _error(_extend(tmp_path, "remove_events: [no-such-event]\n"))
    assert "unknown event id" in msg


def test_empty_binary_and_non_mapping_files(tmp_path):
    assert "expected a mapping" in _error(_write(tmp_path, ""))
    junk = tmp_path / "junk.yaml"
    junk.write_bytes(b"\x00\xff\xfe\x80binary")
    assert "junk.yaml" in _error(junk)
    assert "invalid YAML" in _error(_write(tmp_path, "a: [1, 2\n"))
    assert "expected a mapping" in _error(_write(tmp_path, "- 1\n- 2\n"))


def test_cli_exits_2_and_writes_nothing(tmp_path, capsys):
    bad = _extend(tmp_path, "factions:\n  JNIM:\n    strategy: {tax_rate: 2}\n")
    out = tmp_path / "results"
    assert main(["run", str(bad), "--out", str(out), "--quiet"]) == 2
    assert "tax_rate" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_unknown_town_is_reported_before_running(tmp_path, capsys):
    bad = _extend(tmp_path, "forces:\n  - {actor: JNIM, near: Atlantis, manpower: 10}\n")
    out = tmp_path / "results"
    assert main(["run", str(bad), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "forces.0.near" in err and "Atlantis" in err
    assert not out.exists() or not any(out.iterdir())


def test_every_parameter_has_a_source_and_a_plausible_range():
    from sim.cli import parameter_table

    rows = parameter_table()
    assert len(rows) > 80
    for key, default, rng, unit, source in rows:
        assert source, key
        if rng:
            lo, hi = eval(rng)
            assert lo <= default <= hi, key
