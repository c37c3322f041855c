"""The malformed corpus: every scenario file under tests/malformed/ and every sweep spec under
tests/malformed/sweeps/ is rejected with the file, the key path (and line where YAML gives one), what was
expected and, for misspelt keys, a suggestion; the CLI exits with status 2 and leaves no results folder or
partial file behind.

Each case is (key path or None, line or None, fragments the message must contain). A path or line of
None means the input has none (an empty or binary file, a missing key). ``bases/`` holds base files the
cases extend.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from sim.cli import main
from sim.scenario_io import MAX_BYTES, ScenarioError, check_places, load_scenario
from sim.sweep import load_sweep

from conftest import ROOT

CORPUS = ROOT / "tests" / "malformed"
SWEEPS = CORPUS / "sweeps"

CASES = {
    # unknown and misspelt keys
    "unknown_top_key.yaml": ("naem", 3, ["unknown key", "did you mean 'name'"]),
    "misspelt_mechanism_key.yaml": ("mechanisms.defection.loot_wieght", 5, ["did you mean 'loot_weight'"]),
    "misspelt_mechanism_block.yaml": ("mechanisms.terriory", 4, ["did you mean 'territory'"]),
    "misspelt_strategy_key.yaml": ("factions.JNIM.strategy.tax_rat", 6, ["did you mean 'tax_rate'"]),
    "misspelt_regime_key.yaml": ("states.FAMa.regime.agressiveness", 6, ["did you mean 'aggressiveness'"]),
    "misspelt_unit_key.yaml": ("forces.0.manpowr", 4, ["did you mean 'manpower'", "forces.0.manpower"]),
    "misspelt_event_key.yaml": ("events.0.strenght", 4, ["did you mean 'strength'"]),
    "misspelt_event_type.yaml": ("events.0", 4, ["'cuop'", "expected tags", "did you mean 'coup'"]),
    "misspelt_coup_regime_key.yaml": ("events.0.regime.capacty", 8, ["did you mean 'capacity'"]),
    "misspelt_base_key.yaml": ("bsae", 2, ["did you mean 'base'", "forces (line 2): required key is missing"]),
    "misspelt_remove_events_key.yaml": ("remove_event", 3, ["did you mean 'remove_events'"]),
    "misspelt_faction_name.yaml": ("factions.JNMI", 4, ["unknown non-state actor", "did you mean 'JNIM'"]),
    "misspelt_state_name.yaml": ("states.FAMA", 4, ["unknown state actor", "did you mean 'FAMa'"]),
    "misspelt_actor_in_forces.yaml": ("forces.0.actor", 4, ["unknown actor 'ISG'", "did you mean 'ISGS'"]),
    "unknown_actor_in_forces.yaml": ("forces.0.actor", 4, ["unknown actor 'Boko Haram'", "expected one of"]),
    "misspelt_ethnic_group.yaml": ("forces.0.ethnic.fulanni", 4, ["unknown ethnic group", "did you mean 'fulani'"]),
    "unknown_town.yaml": ("forces.0.near", 4, ["unknown town 'Atlantis'", "expected a town of seeds/places.yaml"]),
    "misspelt_town.yaml": ("forces.0.near", 4, ["unknown town 'Tenenkuo'", "did you mean 'Tenenkou'"]),
    "unknown_partner_base.yaml": ("events.0.bases.1", 4, ["unknown town 'Gaoo'", "did you mean 'Gao'"]),
    "unknown_partner.yaml": ("events.0.partner", 4, ["unknown partner 'Blackwater'", "expected one of"]),
    "unknown_country.yaml": ("events.0.country", 4, ["Input should be 'MLI', 'BFA' or 'NER'", "'SEN'"]),
    "unknown_militia_founded.yaml": ("events.0.actor", 4, ["unknown militia 'JNIM'", "expected one of"]),
    "unknown_relation_actor.yaml": ("relations.0.pair", 4, ["unknown actor 'Al-Shabaab'", "expected one of"]),
    "unknown_relation_state.yaml": ("relations.0.state", 4, ["Input should be 'cooperation'", "'alliance'"]),
    "unknown_strategy_field_in_event.yaml": ("events.0.strategy.taxrate", 4, ["did you mean 'tax_rate'"]),
    "unknown_infiltration_target.yaml": ("factions.JNIM.infiltration.ISIS", 5, ["did you mean 'ISGS'"]),
    "unknown_leader_actor.yaml": ("events.0.actor", 4, ["unknown jihadist actor 'FAMa'", "expected one of"]),
    # wrong types
    "wrong_type_resolution.yaml": ("resolution_deg", 3, ["valid number", "'fine'"]),
    "wrong_type_step.yaml": ("step_days", 3, ["valid integer", "7.5"]),
    "wrong_type_forces_mapping.yaml": ("forces", 3, ["valid list"]),
    "wrong_type_mechanisms_list.yaml": ("mechanisms", 3, ["valid dictionary"]),
    "wrong_type_bool.yaml": ("factions.VDP.active", 4, ["valid boolean", "'maybe'"]),
    "militia_campaigns.yaml": ("factions.VDP.campaigns", 4, ["VDP is a militia", "expected campaigns: false"]),
    "wrong_type_date.yaml": ("start", 3, ["valid date", "'next year'"]),
    "wrong_type_name.yaml": ("name", 3, ["valid string"]),
    "wrong_type_pair.yaml": ("relations.0.pair", 4, ["valid tuple"]),
    "wrong_type_manpower.yaml": ("forces.0.manpower", 4, ["valid integer", "'many'"]),
    # dates
    "impossible_date.yaml": ("start", 3, ["'2017-02-30'", "day is out of range for month"]),
    "impossible_month.yaml": ("end", 3, ["'2025-13-01'", "month must be in 1..12"]),
    "impossible_quoted_date.yaml": ("start", 3, ["valid date", "day value is outside expected range"]),
    "end_before_start.yaml": ("end", 5, ["end 2019-01-01 must be after start 2020-01-01"]),
    "end_equals_start.yaml": ("end", 5, ["must be after start"]),
    "shorter_than_step.yaml": ("step_days", 6, ["shorter than one step"]),
    "event_after_end.yaml": ("events.0.date", 4, ["lies outside the run 2017-03-02 to 2025-12-31"]),
    "event_before_start.yaml": ("events.0.date", 4, ["lies outside the run"]),
    "base_events_outside_shortened_run.yaml": ("events.0.date", None, ["lies outside the run", "scenarios/baseline.yaml, the base"]),
    # out of range
    "zero_resolution.yaml": ("resolution_deg", 3, ["greater than or equal to 0.025", "got 0"]),
    "negative_resolution.yaml": ("resolution_deg", 3, ["greater than or equal to 0.025", "-0.1"]),
    "zero_step.yaml": ("step_days", 3, ["greater than or equal to 1", "got 0"]),
    "negative_step.yaml": ("step_days", 3, ["greater than or equal to 1", "-7"]),
    "zero_record_every.yaml": ("record_every", 3, ["greater than or equal to 1"]),
    "probability_above_one.yaml": ("factions.JNIM.strategy.restraint", 5, ["less than or equal to 1", "1.7"]),
    "negative_probability.yaml": ("mechanisms.engagement.flee_rate", 5, ["greater than or equal to 0", "-0.1"]),
    "negative_manpower.yaml": ("forces.0.manpower", 4, ["greater than 0", "-5"]),
    "zero_count.yaml": ("forces.0.count", 4, ["greater than or equal to 1"]),
    "negative_seed.yaml": ("seed", 3, ["greater than or equal to 0", "-3"]),
    "huge_seed.yaml": ("seed", 3, ["less than or equal to 9223372036854775807"]),
    "huge_integer_literal.yaml": ("line 3", 3, ["cannot read '1000", "4300 digits"]),
    "huge_float.yaml": ("factions.JNIM.treasury", 4, ["less than or equal to 10000", "1e+308"]),
    "infinite_value.yaml": ("factions.JNIM.treasury", 4, ["expected a finite number"]),
    "overflowing_float.yaml": ("mechanisms.economy.gold_yield", 5, ["expected a finite number"]),
    "nan_value.yaml": ("mechanisms.territory.clash_rate", 5, ["expected a finite number"]),
    "ethnic_shares_not_summing.yaml": ("forces.0.ethnic", 4, ["non-negative and sum to 1"]),
    "out_of_bounds_regime_capacity.yaml": ("states.FAMa.regime.capacity", 5, ["less than or equal to 5", "50"]),
    # duplicates
    "duplicate_top_key.yaml": ("name", 4, ["duplicate key (first at line 3)"]),
    "duplicate_faction.yaml": ("factions.JNIM", 6, ["duplicate key (first at line 4)"]),
    "duplicate_parameter.yaml": ("mechanisms.territory.reach_cells", 6, ["duplicate key (first at line 5)"]),
    "duplicate_event_id.yaml": ("events.1.id", 5, ["duplicate event id 'talks' (also events.0)"]),
    "duplicate_relation_pair.yaml": ("relations.1.pair", 5, ["appears twice in relations (also relations.0)"]),
    "self_relation.yaml": ("relations.0.pair", 4, ["two different actors"]),
    # file and YAML structure
    "empty.yaml": (None, None, ["expected a mapping of keys", "empty file"]),
    "comments_only.yaml": (None, None, ["expected a mapping of keys", "empty file"]),
    "top_level_list.yaml": (None, None, ["expected a mapping of keys", "got a list"]),
    "top_level_scalar.yaml": (None, None, ["expected a mapping of keys", "got a str"]),
    "not_utf8.yaml": (None, 2, ["not UTF-8 text", "expected a UTF-8 YAML file"]),
    "binary_junk.yaml": (None, 2, ["not UTF-8 text"]),
    "control_characters.yaml": (None, 3, ["not a text file", "#x0007"]),
    "invalid_syntax.yaml": (None, 4, ["invalid YAML", "expected ',' or ']'"]),
    "tab_indentation.yaml": (None, 4, ["invalid YAML", "'\\t'"]),
    "bad_indentation.yaml": (None, 6, ["invalid YAML", "expected <block end>"]),
    "deeply_nested.yaml": ("description.0.0.0", 3, ["nesting deeper than 32 levels"]),
    "deeply_nested_mapping.yaml": ("description.k1.k2.k3", 34, ["nesting deeper than 32 levels"]),
    "billion_laughs.yaml": (None, 8, ["more than 200000 values once aliases are expanded"]),
    "recursive_alias.yaml": ("description", 3, ["alias *loop refers to a collection that contains it"]),
    "undefined_alias.yaml": (None, 4, ["undefined alias 'nowhere'"]),
    "python_object_tag.yaml": (None, 3, ["could not determine a constructor", "python/object/apply"]),
    "missing_required_keys.yaml": ("forces", 2, ["required key is missing", "factions", "states"]),
    "empty_forces.yaml": ("forces", 3, ["at least 1 item"]),
    # base chains and event removal
    "base_missing.yaml": ("base", 2, ["no such file", "no_such_scenario.yaml"]),
    "base_loop.yaml": ("base", 2, ["loops back"]),
    "base_with_error.yaml": ("mechanisms.territory.reach_cels", 6, ["bases/typo_base.yaml, the base",
                                                                  "did you mean 'reach_cells'"]),
    "base_not_a_name.yaml": ("base", 2, ["expected a file name"]),
    "remove_unknown_event.yaml": ("remove_events", 3, ["unknown event id", "did you mean 'mali-coup-2021'"]),
    "remove_events_without_base.yaml": ("remove_events", 3, ["needs a 'base' scenario"]),
    "remove_events_not_list.yaml": ("remove_events", 3, ["expected a list of event ids"]),
    # names that would escape the results folder
    "name_parent_escape.yaml": ("name", 3, ["should match pattern", "'../../outside'"]),
    "name_absolute_path.yaml": ("name", 3, ["should match pattern", "'/tmp/elsewhere'"]),
    "name_leading_dot.yaml": ("name", 3, ["should match pattern", "'.hidden'"]),
    "name_with_slash.yaml": ("name", 3, ["should match pattern", "'sub/dir'"]),
    "name_empty.yaml": ("name", 3, ["at least 1 character"]),
    "name_too_long.yaml": ("name", 3, ["at most 80 characters"]),
}


SWEEP_CASES = {
    "unknown_key.yaml": ("replicats", 7, ["unknown key", "did you mean 'replicates'"]),
    "missing_seed.yaml": ("seed", None, ["required key is missing"]),
    "missing_outputs.yaml": ("outputs", None, ["required key is missing"]),
    "missing_scenario.yaml": ("scenario", None, ["required key is missing"]),
    "wrong_type_replicates.yaml": ("replicates", 7, ["valid integer", "'many'"]),
    "zero_replicates.yaml": ("replicates", 7, ["greater than or equal to 1"]),
    "negative_seed.yaml": ("seed", 6, ["greater than or equal to 0"]),
    "huge_seed.yaml": ("seed", 6, ["less than or equal to 9223372036854775807"]),
    "sobol_not_power_of_two.yaml": ("sampling", 10, ["sobol needs n to be a power of 2, got 6"]),
    "grid_with_n.yaml": ("sampling", 9, ["remove n"]),
    "lhs_without_n.yaml": ("sampling", 9, ["sampling 'lhs' needs n"]),
    "lhs_with_values.yaml": ("parameters.factions.JNIM.strategy.restraint.values", 8, ["give range: [low, high]"]),
    "unknown_sampling_method.yaml": ("sampling.method", 9, ["Input should be 'grid', 'lhs', 'sobol' or 'morris'"]),
    "misspelt_parameter_path.yaml": ("parameters.factions.JNIM.strategy.restrant", 8, ["did you mean 'restraint'"]),
    "unknown_parameter_block.yaml": ("parameters.mechanisms.diplomacy.rate", 8, ["has no key 'mechanisms.diplomacy'"]),
    "parameter_value_out_of_range.yaml": ("parameters.factions.JNIM.strategy.restraint.values", 8,
                                          ["1.5 is not allowed", "less than or equal to 1"]),
    "parameter_range_out_of_bounds.yaml": ("parameters.mechanisms.engagement.flee_rate.range", 8,
                                           ["-0.1 is not allowed", "greater than or equal to 0"]),
    "range_reversed.yaml": ("parameters.factions.JNIM.strategy.restraint", 8, ["must be [low, high] with low < high"]),
    "values_and_range.yaml": ("parameters.factions.JNIM.strategy.restraint", 8, ["either values or a range"]),
    "parameter_in_a_list.yaml": ("parameters.forces.0.manpower", 8, ["forces is a list"]),
    "misspelt_parameter_spec_key.yaml": ("parameters.mechanisms.territory.clash_rate.rnage", 8,
                                         ["did you mean 'range'"]),
    "duplicate_values.yaml": ("parameters.factions.JNIM.strategy.restraint.values", 8, ["a value is listed twice"]),
    "integer_parameter_fraction.yaml": ("parameters.mechanisms.territory.move_cells.values", 8,
                                        ["is an integer; got [1, 2.5]"]),
    "zero_levels.yaml": ("parameters.factions.JNIM.strategy.restraint.levels", 8, ["greater than or equal to 2"]),
    "seed_as_parameter.yaml": ("parameters.seed", 8, ["the sweep's own seed sets every run's seed"]),
    "unknown_metric.yaml": ("outputs.x", 8, ["'clashs'", "expected tags"]),
    "misspelt_metric_key.yaml": ("outputs.x.betwen", 8, ["did you mean 'between'"]),
    "output_date_outside_run.yaml": ("outputs.x", 8, ["date 2019-01-01 lies outside the run"]),
    "output_reserved_name.yaml": ("outputs", 7, ["must be identifiers", "'run_id'"]),
    "unknown_region.yaml": ("outputs.x.region", 8, ["unknown region 'Moptii'", "expected macina_core or one of"]),
    "bad_timeseries.yaml": ("timeseries", 7, ["'JNIM.manpwr' is not ACTOR.column"]),
    "duplicate_output.yaml": ("outputs.jnim_manpower", 9, ["duplicate key (first at line 8)"]),
    "misspelt_override.yaml": ("overrides.resolutoin_deg", 4, ["did you mean 'resolution_deg'"]),
    "override_out_of_range.yaml": ("overrides.resolution_deg", 4, ["greater than or equal to 0.025"]),
    "override_seed.yaml": ("overrides.seed", 4, ["the sweep's own seed sets every run's seed"]),
    "events_outside_shortened_run.yaml": ("overrides", 4, ["lies outside the run", "drop_events_outside_run: true"]),
    "scenario_missing.yaml": ("scenario", 3, ["no such scenario file", "nowhere.yaml"]),
    "scenario_invalid_yaml.yaml": ("scenario", 3, ["invalid_syntax.yaml: line 4: invalid YAML"]),
    "scenario_with_misspelt_key.yaml": ("scenario", 3, ["misspelt_mechanism_key.yaml: mechanisms.defection."
                                                        "loot_wieght (line 5)", "did you mean 'loot_weight'"]),
    "misspelt_executor_key.yaml": ("executor.wrkers", 7, ["did you mean 'workers'"]),
    "dask_with_workers.yaml": ("executor", 7, ["workers applies to the local executor"]),
    "unknown_executor.yaml": ("executor.kind", 7, ["Input should be 'local' or 'dask'", "'slurm'"]),
    "name_with_slash.yaml": ("name", 2, ["should match pattern", "'../../elsewhere'"]),
    "empty.yaml": (None, None, ["expected a mapping of keys", "empty file"]),
    "top_level_list.yaml": (None, None, ["expected a mapping of keys", "got a list"]),
    "not_utf8.yaml": (None, 2, ["not UTF-8 text"]),
    "billion_laughs.yaml": (None, 12, ["more than 200000 values once aliases are expanded"]),
    "deeply_nested.yaml": ("description.0.0.0", 7, ["nesting deeper than 32 levels"]),
    "impossible_date.yaml": ("outputs.x.date", 8, ["'2017-04-31'", "day is out of range for month"]),
    "nan_range.yaml": ("parameters.factions.JNIM.strategy.restraint", 8, ["range [nan, 0.9] must be [low, high]"]),
}


def _cases():
    return sorted(CASES)


def test_corpus_is_large_and_listed():
    files = {p.name for p in CORPUS.iterdir() if p.is_file()}
    assert files == set(CASES), "every corpus file needs an expectation and vice versa"
    assert {p.name for p in SWEEPS.iterdir()} == set(SWEEP_CASES)
    assert len(CASES) >= 50 and len(SWEEP_CASES) >= 50


def _check_message(name: str, msg: str, cases=CASES) -> None:
    path, line, fragments = cases[name]
    assert name in msg, "the message names the file"
    if path is not None:
        assert path in msg, "the message gives the key path"
    if line is not None:
        assert f"line {line}" in msg, "the message gives the line"
    for fragment in fragments:
        assert fragment in msg


@pytest.fixture(scope="module")
def geo(real_geo):
    return real_geo


@pytest.mark.parametrize("name", _cases())
def test_rejected_with_file_path_line_and_expectation(name, geo):
    case = CORPUS / name
    with pytest.raises(ScenarioError) as exc:
        check_places(load_scenario(case), geo, case)
    _check_message(name, str(exc.value))


@pytest.mark.parametrize("name", _cases())
def test_cli_exits_2_and_leaves_nothing(name, tmp_path, monkeypatch, capsys):
    case = CORPUS / name
    before = sorted(p.name for p in CORPUS.rglob("*"))
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(case), "--out", "results", "--quiet", "--no-plots"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    _check_message(name, err)
    assert main(["validate", str(case)]) == 2
    assert list(tmp_path.iterdir()) == [], "no results folder or partial file"
    assert sorted(p.name for p in CORPUS.rglob("*")) == before


def test_oversized_file_is_refused_before_parsing(tmp_path, capsys):
    big = tmp_path / "big.yaml"
    big.write_text("# padding\n" * (MAX_BYTES // 10 + 1), encoding="utf-8")
    out = tmp_path / "results"
    assert main(["run", str(big), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "big.yaml" in err and f"limited to {MAX_BYTES}" in err
    assert not out.exists()


@pytest.mark.parametrize("name", ["invalid_syntax.yaml", "billion_laughs.yaml", "misspelt_town.yaml"])
def test_console_exit_status_is_2(name, tmp_path):
    """The real command in a fresh process, as a shell script would see it."""
    proc = subprocess.run([sys.executable, "-m", "sim.cli", "run", str(CORPUS / name), "--out", "results",
                           "--quiet"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    _check_message(name, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------- sweep specs


@pytest.mark.parametrize("name", sorted(SWEEP_CASES))
def test_sweep_spec_rejected_and_cli_exits_2_leaving_nothing(name, tmp_path, monkeypatch, capsys):
    case = SWEEPS / name
    with pytest.raises(ScenarioError) as exc:
        load_sweep(case)
    _check_message(name, str(exc.value), SWEEP_CASES)
    monkeypatch.chdir(tmp_path)  # the default sweep folder is results/sweeps/<name> here
    assert main(["sweep", str(case), "--workers", "1", "--quiet"]) == 2
    _check_message(name, capsys.readouterr().err, SWEEP_CASES)
    assert list(tmp_path.iterdir()) == [], "no sweep folder or partial file"


def test_sweep_name_cannot_leave_the_sweeps_folder(tmp_path):
    spec = tmp_path / "dots.yaml"
    spec.write_text((SWEEPS / "unknown_key.yaml").read_text().replace("name: bad", "name: '..'")
                    .replace("replicats: 3\n", "").replace("../../../scenarios", str(ROOT / "scenarios")))
    with pytest.raises(ScenarioError):
        load_sweep(spec)


def test_sweep_out_pointing_at_a_file_is_bad_input(tmp_path, capsys):
    spec = tmp_path / "ok.yaml"
    spec.write_text((SWEEPS / "unknown_key.yaml").read_text().replace("replicats: 3\n", "")
                    .replace("../../../scenarios", str(ROOT / "scenarios")))
    target = tmp_path / "file"
    target.write_text("x")
    assert main(["sweep", str(spec), "--out", str(target), "--workers", "1", "--quiet"]) == 2
