"""Whole runs: baseline smoke run, results folder, seed determinism, golden baseline, flat memory."""

import csv
import gc
import json
import os
import tracemalloc
import weakref

import numpy as np
import pytest

from sim.eventlog import COLUMNS
from sim.runner import derive_seeds, run, write_results

from conftest import ROOT

GOLDEN = ROOT / "tests" / "golden" / "baseline_2017_2018.json"
# the JNIM-ISGS war, its campaign, defections and massacres start after 2018
GOLDEN_WAR = ROOT / "tests" / "golden" / "baseline_2017_2020.json"


@pytest.fixture(scope="module")
def short_baseline(baseline_scenario, real_geo):
    sc = baseline_scenario.model_copy(update={"end": baseline_scenario.end.replace(year=2018, month=3, day=1)})
    return run(sc, real_geo)


def _summary(result) -> dict:
    last = {r["actor"]: r for r in result.history if r["date"] == result.history[-1]["date"]}
    kinds = {}
    for e in result.events:
        key = f"{e['event_type']} / {e['sub_event_type']}"
        kinds[key] = kinds.get(key, 0) + 1
    return {
        "run_seed": result.run_seed,
        "manpower": {a: r["manpower"] for a, r in last.items()},
        "area_km2": {a: r["area_km2"] for a, r in last.items()},
        "events": dict(sorted(kinds.items())),
        "fatalities": sum(int(e["fatalities"]) for e in result.events),
        "relation": result.relation_timeline(),
    }


def test_baseline_smoke_run(short_baseline, real_geo):
    r = short_baseline
    assert r.counts["steps"] == 52
    assert r.counts["grid_rows"] == 80 and r.counts["grid_cols"] == 120
    last = {h["actor"]: h for h in r.history[-16:]}
    assert last["JNIM"]["manpower"] > 500 and last["ISGS"]["manpower"] > 100
    assert last["FAMa"]["area_km2"] > 0 and last["JNIM"]["area_km2"] > 0
    assert all(0 <= h["support"] <= 1 for h in r.history)
    assert r.events and all(set(COLUMNS) <= set(e) for e in r.events)
    assert all(e["event_date"] >= "2017-03-02" for e in r.events)
    assert {e["event_type"] for e in r.events} >= {"Battles", "Violence against civilians"}


def test_results_folder_describes_itself(short_baseline, tmp_path):
    folder = write_results(short_baseline, tmp_path)
    names = {p.name for p in folder.iterdir()}
    assert names == {"scenario.yaml", "metadata.json", "timeseries.csv", "relations.csv", "events.csv",
                     "control.npz", "control_map.png", "timeseries.png", "territory.png", "violence.png", "report.html"}
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["master_seed"] == short_baseline.master_seed and meta["run_seed"] == short_baseline.run_seed
    assert meta["version"] and meta["git_commit"] and meta["wall_time_s"] > 0
    with open(folder / "events.csv") as fh:
        header = next(csv.reader(fh))
    assert header == list(COLUMNS)
    rasters = np.load(folder / "control.npz")
    assert rasters["control"].shape[1:] == (80, 120) and len(rasters["dates"]) == rasters["control"].shape[0]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind
    again = write_results(short_baseline, tmp_path)  # rewriting replaces atomically
    assert again == folder and (folder / "events.csv").stat().st_size > 0


def test_same_seed_same_run_different_seed_different_run(make_toy):
    def fingerprint(seed):
        m = make_toy(seed=seed)
        for _ in range(20):
            m.step()
        return json.dumps([m.history, m.log.rows], default=str)

    assert fingerprint(1) == fingerprint(1)
    assert fingerprint(1) != fingerprint(2)


def test_run_seeds_come_from_the_master_seed():
    a = derive_seeds(42, 5)
    assert a == derive_seeds(42, 5) and len(set(a)) == 5
    assert a[:3] == derive_seeds(42, 3)
    assert derive_seeds(43, 1) != a[:1]


def _check_golden(result, path):
    summary = json.loads(json.dumps(_summary(result)))
    if os.environ.get("LIPTAKO_REGEN_GOLDEN") or not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(summary, indent=1, sort_keys=True))
        pytest.skip(f"golden baseline {path.name} regenerated")
    assert summary == json.loads(path.read_text())


def test_golden_baseline(short_baseline):
    """Guards the model's behaviour; regenerate on purpose with LIPTAKO_REGEN_GOLDEN=1."""
    _check_golden(short_baseline, GOLDEN)


def test_golden_baseline_through_the_2020_war(baseline_scenario, real_geo):
    """Guards the war years too (2017-03 to 2020-12); regenerate on purpose with LIPTAKO_REGEN_GOLDEN=1."""
    sc = baseline_scenario.model_copy(update={"end": baseline_scenario.end.replace(year=2020, month=12, day=31)})
    _check_golden(run(sc, real_geo), GOLDEN_WAR)


def test_released_model_is_freed_without_the_cycle_collector(make_toy):
    """Sweep and calibration workers run model after model; a finished model must not wait for the
    garbage collector's rare full pass (each one held about 45 MB until then)."""
    m = make_toy(seed=3)
    m.step()
    model, unit = weakref.ref(m), weakref.ref(next(iter(m.units)))
    gc.disable()
    try:
        m.release()
        del m
        assert model() is None and unit() is None
    finally:
        gc.enable()


def test_memory_stays_flat_over_many_runs(make_toy):
    def one():
        m = make_toy(seed=3)
        for _ in range(5):
            m.step()
        m.release()

    one()
    gc.collect()
    tracemalloc.start()
    one()
    gc.collect()
    first = tracemalloc.get_traced_memory()[0]
    for _ in range(15):
        one()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert after - first < 2_000_000  # bytes retained across 15 further models
