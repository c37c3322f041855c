"""Calibration targets: the file, the metrics on hand-built inputs with known answers, and `liptako score`."""

import datetime as dt
import textwrap
from dataclasses import dataclass, field

import pytest

from sim.cli import main
from sim.eventlog import acled_actor
from sim.scenario_io import ScenarioError
from sim.targets import EventFile, format_rate, load_targets, normalise_actor, pass_rate_interval, score, table

from conftest import ROOT

TARGETS = ROOT / "calibration" / "targets.yaml"
FIXTURE = ROOT / "tests" / "fixtures" / "acled_synthetic.csv"


@pytest.fixture(scope="module")
def targets():
    return load_targets(TARGETS)


@pytest.fixture(scope="module")
def acled():
    from sim.metrics import read_events_csv

    return EventFile(FIXTURE, read_events_csv(FIXTURE))


def _value(targets, run, target_id):
    (s,) = score([t for t in targets.targets if t.id == target_id], [run])
    return s.values[0]


def test_target_file_covers_the_documented_outcomes(targets):
    ids = {t.id for t in targets.targets}
    assert len(ids) >= 20
    for needed in ("no_clashes_before_mid2019", "war_peaks_in_2020", "clashes_2019_2021",
                   "clash_fatalities_2019_2021", "jnim_holds_the_delta_2020", "isgs_stronger_in_tillaberi_2020",
                   "net_defections_to_isgs_2019_2021", "isgs_kills_more_civilians_2019_2021",
                   "no_clashes_in_the_2022_truce", "menaka_offensive_2022", "lower_intensity_2023",
                   "isgs_out_of_the_macina_2024", "jnim_turns_to_towns_2025"):
        assert needed in ids
    assert {t.use for t in targets.targets} == {"fit", "holdout"}
    assert all(t.source and t.tolerance for t in targets.targets)


@pytest.mark.parametrize("body, expected", [
    ("targets:\n  - {id: x, statement: a long enough one, source: [000_413828cd3477c8cc.txt], use: fit,"
     " metric: {metric: clashes, between: [JNIM, ISGS], start: 2019-01-01, end: 2019-12-31},"
     " accept: {min: 3, max: 1}, tolerance: why}\n", "min 3.0 is above max 1.0"),
    ("targets:\n  - {id: x, statement: a long enough one, source: [wikipedia.txt], use: fit,"
     " metric: {metric: clashes, between: [JNIM, ISGS], start: 2019-01-01, end: 2019-12-31},"
     " accept: {min: 1}, tolerance: why}\n", "unknown seed file"),
    ("targets:\n  - {id: x, statement: a long enough one, source: [000_413828cd3477c8cc.txt], use: fit,"
     " metric: {metric: clashes, between: [JNIM, ISGS], start: 2023-01-01, end: 2023-12-31},"
     " accept: {min: 1}, tolerance: why}\n", "reads dates after fit_until"),
    ("targets:\n  - {id: x, statement: a long enough one, source: [000_413828cd3477c8cc.txt], use: fit,"
     " metric: {metric: clashes, between: [JNIM, ISGS], start: 2019-01-01, end: 2019-12-31},"
     " accept: {min: 1}, tolerance: why, weight: 2}\n", "targets.0.weight"),
])
def test_bad_target_files_are_rejected(tmp_path, body, expected):
    path = tmp_path / "targets.yaml"
    path.write_text("fit_until: 2022-12-31\n" + textwrap.dedent(body))
    with pytest.raises(ScenarioError) as exc:
        load_targets(path)
    assert expected in str(exc.value) and "targets.yaml" in str(exc.value)


def test_acled_names_are_normalised():
    assert normalise_actor("Islamic State (Greater Sahara)") == acled_actor("ISGS")
    assert normalise_actor("Military Forces of Mali (2021-)") == acled_actor("FAMa")
    assert normalise_actor("Some Local Militia") == "Some Local Militia"


@pytest.mark.parametrize("target_id, expected", [
    ("no_clashes_before_mid2019", 0),
    ("joint_attacks_before_mid2019", 2),
    ("war_peaks_in_2020", 2020),
    ("clashes_2019_2021", 10),
    ("clash_fatalities_2019_2021", 62),
    ("net_defections_to_isgs_2019_2021", 35),
    ("defectors_mostly_from_the_macina", 25 / 35),
    ("isgs_kills_more_civilians_2019_2021", 80),
    ("isgs_massacres_in_western_niger", 1),
    ("no_clashes_in_the_2022_truce", 0),
    ("menaka_offensive_2022", 3),
    ("lower_intensity_2023", -4),
    ("jnim_turns_to_towns_2025", 2),
    ("war_2019_2022", None),  # needs the model's relation history
    ("jnim_holds_the_delta_2020", None),  # needs control rasters
])
def test_metrics_on_the_synthetic_acled_file(targets, acled, target_id, expected):
    assert _value(targets, acled, target_id) == expected


@dataclass
class FakeRun:
    """Just the rows the event and relation metrics read."""

    events: list = field(default_factory=list)
    relation_history: list = field(default_factory=list)


def _battle(date, a="JNIM", b="ISGS"):
    return {"event_date": date, "event_type": "Battles", "sub_event_type": "Armed clash", "actor1": acled_actor(a),
            "actor2": acled_actor(b), "assoc_actor_1": "", "fatalities": "4", "notes": ""}


def test_ensemble_pass_rate(targets):
    runs = [FakeRun([]), FakeRun([_battle("2022-06-01")]), FakeRun([_battle("2022-12-01")])]
    truce = [t for t in targets.targets if t.id == "no_clashes_in_the_2022_truce"]
    (s,) = score(truce, runs)
    assert s.values == [0, 1, 0]
    assert s.pass_rate == pytest.approx(2 / 3)
    (row,) = table([s])
    assert row["result"] == "67% (21-94%) of 3"


def test_pass_rate_interval_is_wilsons():
    # known answers: Wilson (1927) with z = 1.96; 31 of 50 is the report's 62%
    for passed, runs, lo, hi in [(31, 50, 0.4815, 0.7414), (2, 3, 0.2077, 0.9385), (0, 3, 0.0, 0.5615),
                                 (50, 50, 0.9287, 1.0)]:
        assert pass_rate_interval(passed, runs) == pytest.approx((lo, hi), abs=1e-4)
    assert format_rate(31, 50) == "62% (48-74%)"


def _change(date, n, src, dst, region):
    return {"event_date": date, "event_type": "Strategic developments", "sub_event_type": "Change to group/activity",
            "actor1": acled_actor(src), "actor2": acled_actor(dst), "assoc_actor_1": "", "fatalities": "0",
            "admin1": region, "notes": f"{n} fighters of a katiba defect to {dst}"}


def test_defectors_share_from_the_macina(targets):
    mostly = FakeRun([_change("2020-02-01", 60, "JNIM", "ISGS", "Mopti"), _change("2020-03-01", 30, "JNIM", "ISGS", "Sahel"),
                      _change("2020-04-01", 10, "JNIM", "ISGS", "Segou")])
    assert _value(targets, mostly, "defectors_mostly_from_the_macina") == pytest.approx(0.7)
    # net flow toward JNIM: no defectors to share out
    back = FakeRun([_change("2020-02-01", 60, "ISGS", "JNIM", "Mopti"), _change("2020-03-01", 10, "JNIM", "ISGS", "Mopti")])
    assert _value(targets, back, "defectors_mostly_from_the_macina") == 0.0


def test_relation_share_on_model_rows(targets):
    days = [dt.date(2019, 7, 4) + dt.timedelta(weeks=k) for k in range(150)]
    rows = [{"date": d.isoformat(), "actor_a": "JNIM", "actor_b": "ISGS",
             "state": "war" if k % 10 else "truce"} for k, d in enumerate(days)]
    value = _value(targets, FakeRun(relation_history=rows), "war_2019_2022")
    assert value == pytest.approx(0.9, abs=0.01)


def test_score_command_on_acled_and_bad_input(capsys, tmp_path):
    assert main(["score", "--acled", str(FIXTURE), "--use", "fit"]) == 0
    out = capsys.readouterr().out
    assert "clashes_2019_2021" in out and "lower_intensity_2023" not in out
    csv_path = tmp_path / "scores.csv"
    assert main(["score", "--acled", str(FIXTURE), "--csv", str(csv_path)]) == 0
    assert "jnim_turns_to_towns_2025" in csv_path.read_text()
    assert main(["score", str(tmp_path)]) == 2
    assert main(["score"]) == 2


def test_score_an_ensemble_of_short_runs(capsys, tmp_path):
    """End to end: a 2-seed ensemble of a short, coarse baseline; targets after its end are n/a."""
    short = tmp_path / "short.yaml"
    short.write_text(f"base: {ROOT / 'scenarios' / 'baseline.yaml'}\nname: short\nend: 2019-12-31\n"
                     "resolution_deg: 0.5\nremove_events: [vdp-founded, droukdel-eradication-order, mali-coup-2020,"
                     " jnim-governance-push, mali-coup-2021, abdelhakim-killed, abu-walid-killed, wagner-arrival,"
                     " burkina-coup-2022-01, is-sahel-promotion, france-exits-mali, burkina-coup-2022-09,"
                     " niger-coup-2023, wahdat-al-muslimin-mediation, maza-killed-fatli, wagner-withdrawal-claim,"
                     " africa-corps-takes-over]\n")
    assert main(["score", "--scenario", str(short), "--seeds", "2", "--workers", "2"]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "short: runs" in captured.err and "2/2" in captured.err  # the progress bar, on stderr
    row = next(line for line in out.splitlines() if line.startswith("no_clashes_before_mid2019"))
    assert "%) of 2" in row
    assert "n/a" in next(line for line in out.splitlines() if line.startswith("clashes_2019_2021"))
    late = next(line for line in out.splitlines() if line.startswith("jnim_turns_to_towns_2025"))
    assert "n/a" in late
