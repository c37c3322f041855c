"""The malformed corpus: every file under tests/malformed/ is rejected with the file, the key path (and
line where YAML gives one), what was expected and, for misspellings, a suggestion; the CLI exits with
status 2 and leaves no results folder or partial file behind.

Each case is (key path or None, line or None, fragments the message must contain). A path or line of
None means the input has none (an empty or binary file). ``bases/`` holds base files the cases extend.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from sim.cli import main
from sim.scenario_io import MAX_BYTES, ScenarioError, check_places, load_scenario

from conftest import ROOT

CORPUS = ROOT / "tests" / "malformed"

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
    "empty.yaml": (None, None, ["expected a mapping of scenario keys", "empty file"]),
    "comments_only.yaml": (None, None, ["expected a mapping of scenario keys", "empty file"]),
    "top_level_list.yaml": (None, None, ["expected a mapping of scenario keys", "got a list"]),
    "top_level_scalar.yaml": (None, None, ["expected a mapping of scenario keys", "got a str"]),
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


def _cases():
    return sorted(CASES)


def test_corpus_is_large_and_listed():
    files = {p.name for p in CORPUS.iterdir() if p.is_file()}
    assert files == set(CASES), "every corpus file needs an expectation and vice versa"
    assert len(CASES) >= 50


def _check_message(name: str, msg: str) -> None:
    path, line, fragments = CASES[name]
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
