"""Sweeps: spec validation, sampling, seeds, local runs, resume after a real kill, Dask, flat memory."""

import csv
import gc
import json
import os
import re
import signal
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import pytest
import yaml

from sim.cli import main
from sim.scenario_io import ScenarioError
from sim.sweep import execute, load_sweep, read_records, run_sweep

from conftest import ROOT

BASELINE = ROOT / "scenarios" / "baseline.yaml"
TINY = {"resolution_deg": 0.5, "end": "2017-09-30"}  # about 0.4 s a run
PERIOD = {"start": "2017-03-02", "end": "2017-09-30"}
OUTPUTS = {
    "jnim_area": {"metric": "series", "actor": "JNIM", "column": "area_km2", "date": "2017-09-01"},
    "isgs_manpower": {"metric": "series", "actor": "ISGS", "column": "manpower", "stat": "mean", **PERIOD},
    "jnim_fama_clashes": {"metric": "clashes", "between": ["JNIM", "FAMa"], **PERIOD},
    "state_civilian_deaths": {"metric": "civilian_fatalities", "perpetrator": ["FAMa", "Burkina army", "Niger army"],
                              **PERIOD},
    "defections": {"metric": "net_defections", "source": "JNIM", "target": "ISGS", **PERIOD},
    "cooperating": {"metric": "relation_share", "between": ["JNIM", "ISGS"], "state": "cooperation", **PERIOD},
    "jnim_macina": {"metric": "control_share", "actor": "JNIM", "region": "macina_core", "date": "2017-09-01"},
}


def spec_dict(**changes) -> dict:
    spec = {
        "name": "tiny",
        "scenario": str(BASELINE),
        "overrides": dict(TINY),
        "drop_events_outside_run": True,
        "parameters": {
            "factions.JNIM.strategy.restraint": {"values": [0.2, 0.9]},
            "mechanisms.territory.clash_rate": {"range": [0.2, 0.8], "levels": 4},
        },
        "replicates": 2,
        "seed": 11,
        "outputs": OUTPUTS,
        "timeseries": ["JNIM.manpower", "ISGS.manpower"],
    }
    spec.update(changes)
    return spec


def write_spec(folder, spec: dict, name="spec.yaml"):
    path = folder / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def table(folder) -> list[dict]:
    with open(folder / "results.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def without_time(rows):
    return [{k: v for k, v in r.items() if k != "wall_time_s"} for r in rows]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """The tiny 8-point x 2-replicate sweep, run once on two local worker processes."""
    tmp = tmp_path_factory.mktemp("sweep")
    spec = write_spec(tmp, spec_dict())
    report = run_sweep(load_sweep(spec), tmp / "out", workers=2, progress=False)
    return spec, tmp / "out", report


# ---------------------------------------------------------------------- spec validation


@pytest.mark.parametrize("change, expected", [
    ({"nmae": "x"}, "nmae: unknown key (did you mean 'name'?)"),
    ({"parameters": {"factions.JNIM.strategy.restrant": {"values": [0.1]}}},
     "parameters.factions.JNIM.strategy.restrant: the base scenario has no key "
     "'factions.JNIM.strategy.restrant' (did you mean 'restraint'?)"),
    ({"parameters": {"mechanisms.territory.clash_rate": {"rnage": [0.1, 0.2]}}},
     "parameters.mechanisms.territory.clash_rate.rnage: unknown key (did you mean 'range'?)"),
    ({"parameters": {"factions.JNIM.strategy.restraint": {"values": [0.5, 1.5]}}},
     "parameters.factions.JNIM.strategy.restraint.values: 1.5 is not allowed: Input should be less than or equal to 1"),
    ({"parameters": {"mechanisms.territory.move_cells": {"values": [1, 2.5]}}}, "is an integer; got [1, 2.5]"),
    ({"parameters": {"forces.0.manpower": {"values": [100]}}}, "forces is a list"),
    ({"parameters": {"states.FAMa.regime.capacity": {}}}, "has no documented plausible range"),
    ({"replicates": 0}, "replicates: Input should be greater than or equal to 1; got 0"),
    ({"sampling": {"method": "sobol", "n": 6}}, "sobol needs n to be a power of 2, got 6"),
    ({"sampling": {"method": "lhs", "n": 4}}, "sampling 'lhs' draws from a range; give range: [low, high]"),
    ({"sampling": {"method": "grid", "n": 4}}, "remove n"),
    ({"outputs": {"x": {"metric": "clashes", "betwen": ["JNIM", "ISGS"], **PERIOD}}},
     "outputs.x.betwen: unknown key (did you mean 'between'?)"),
    ({"outputs": {"x": {"metric": "series", "actor": "JNIM", "column": "manpower", "date": "2019-01-01"}}},
     "outputs.x: date 2019-01-01 lies outside the run 2017-03-02 to 2017-09-30"),
    ({"outputs": {"x": {"metric": "control_share", "actor": "JNIM", "region": "Moptii", "date": "2017-06-01"}}},
     "unknown region 'Moptii'"),
    ({"outputs": {"run_id": OUTPUTS["jnim_area"]}}, "must be identifiers"),
    ({"timeseries": ["JNIM.manpwr"]}, "'JNIM.manpwr' is not ACTOR.column"),
    ({"drop_events_outside_run": False}, "set drop_events_outside_run: true"),
    ({"overrides": {"resolutoin_deg": 0.5}}, "overrides.resolutoin_deg: unknown key (did you mean 'resolution_deg'?)"),
    ({"overrides": {**TINY, "seed": 3}}, "the sweep's own seed sets every run's seed"),
    ({"scenario": "nowhere.yaml"}, "scenario: no such scenario file"),
    ({"executor": {"kind": "local", "wrkers": 2}}, "executor.wrkers: unknown key (did you mean 'workers'?)"),
])
def test_spec_errors_name_the_file_key_and_line(tmp_path, change, expected):
    path = write_spec(tmp_path, spec_dict(**change))
    with pytest.raises(ScenarioError) as err:
        load_sweep(path)
    assert str(err.value).startswith(f"{path}: ")
    assert expected in re.sub(r" \(line \d+\)", "", str(err.value))


def test_spec_errors_give_the_line(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(f"""name: lines
scenario: {BASELINE}
overrides: {{resolution_deg: 0.5, end: 2017-09-30}}
drop_events_outside_run: true
parameters:
  mechanisms.territory.clash_rate: {{range: [0.2, 0.8], levles: 3}}
seed: 1
outputs:
  area: {{metric: series, actor: JNIM, column: area_km2, date: 2017-09-01, stat: median}}
""")
    with pytest.raises(ScenarioError) as err:
        load_sweep(path)
    assert str(err.value).splitlines() == [
        f"{path}: parameters.mechanisms.territory.clash_rate.levles (line 6): unknown key (did you mean 'levels'?)",
        f"{path}: outputs.area.stat (line 9): Input should be 'value', 'mean', 'min' or 'max'; got 'median'",
    ]


def test_an_invalid_base_scenario_is_named(tmp_path):
    base = tmp_path / "base.yaml"
    calibrated = (BASELINE.parent / "../calibration/calibrated.yaml").resolve()
    base.write_text(BASELINE.read_text().replace("record_every:", "record_evry:")
                    .replace("../calibration/calibrated.yaml", str(calibrated)))
    path = write_spec(tmp_path, spec_dict(scenario="base.yaml"))
    with pytest.raises(ScenarioError) as err:
        load_sweep(path)
    first, *rest = str(err.value).splitlines()
    assert first == f"{path}: scenario (line 2): the base scenario is not valid:"
    assert any(r.startswith(f"{base}: record_evry (line ") and "did you mean 'record_every'" in r for r in rest)


def test_bad_spec_exits_2_and_writes_nothing(tmp_path, capsys):
    path = write_spec(tmp_path, spec_dict(replicates="many"))
    assert main(["sweep", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert "replicates" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_values_beyond_the_plausible_range_are_noted(tmp_path):
    sweep = load_sweep(write_spec(tmp_path, spec_dict(
        parameters={"mechanisms.territory.clash_rate": {"values": [0.2, 3.0]}})))
    assert sweep.notes == ["mechanisms.territory.clash_rate: values from 0.2 to 3 go beyond the documented "
                           "plausible range [0.05, 2]"]


def test_shortened_run_drops_later_events_explicitly(tmp_path):
    sweep = load_sweep(write_spec(tmp_path, spec_dict()))
    assert "iswap-induction" in sweep.dropped_events
    assert sweep.base.events == [] and str(sweep.base.end) == "2017-09-30"


# ---------------------------------------------------------------------- sampling and seeds


def test_grid_crosses_values_with_range_levels(tmp_path):
    sweep = load_sweep(write_spec(tmp_path, spec_dict(parameters={
        "factions.JNIM.strategy.restraint": {"values": [0.2, 0.9]},
        "mechanisms.territory.clash_rate": {"range": [0.2, 0.8], "levels": 3},
        "mechanisms.territory.move_cells": {"range": [1, 3]},  # an integer: default 3 levels
        "mechanisms.economy.gold_yield": {"levels": 2},  # no range: the documented plausible range
    })))
    assert len(sweep.points) == 2 * 3 * 3 * 2 and sweep.n_runs == 72
    assert sweep.points[0] == {"factions.JNIM.strategy.restraint": 0.2, "mechanisms.territory.clash_rate": 0.2,
                               "mechanisms.territory.move_cells": 1, "mechanisms.economy.gold_yield": 0.002}
    assert sorted({p["mechanisms.territory.clash_rate"] for p in sweep.points}) == pytest.approx([0.2, 0.5, 0.8])
    assert {p["mechanisms.territory.move_cells"] for p in sweep.points} == {1, 2, 3}
    assert {p["mechanisms.economy.gold_yield"] for p in sweep.points} == {0.002, 0.05}


def test_latin_hypercube_puts_one_point_in_each_stratum(tmp_path):
    ranges = {"mechanisms.territory.clash_rate": {"range": [0.2, 0.8]},
              "mechanisms.territory.move_cells": {"range": [1, 6]},
              "factions.ISGS.strategy.tax_rate": {}}
    spec = spec_dict(parameters=ranges, sampling={"method": "lhs", "n": 10})
    sweep = load_sweep(write_spec(tmp_path, spec))
    x = np.array([[p["mechanisms.territory.clash_rate"], p["factions.ISGS.strategy.tax_rate"]] for p in sweep.points])
    for k, (lo, hi) in enumerate([(0.2, 0.8), (0.02, 0.40)]):
        strata = np.floor((x[:, k] - lo) / (hi - lo) * 10).astype(int)
        assert sorted(strata) == list(range(10))
    assert all(isinstance(p["mechanisms.territory.move_cells"], int) for p in sweep.points)
    again = load_sweep(write_spec(tmp_path, spec, "again.yaml"))
    assert again.points == sweep.points
    other = load_sweep(write_spec(tmp_path, {**spec, "seed": 12}, "other.yaml"))
    assert other.points != sweep.points


def test_sobol_and_morris_designs(tmp_path):
    ranges = {"mechanisms.territory.clash_rate": {"range": [0.2, 0.8]}, "factions.ISGS.strategy.tax_rate": {}}
    sobol = load_sweep(write_spec(tmp_path, spec_dict(parameters=ranges, sampling={"method": "sobol", "n": 8})))
    assert len(sobol.points) == 8 * (2 + 2) and sobol.sample.shape == (32, 2)
    x = sobol.sample
    assert x[:, 0].min() >= 0.2 and x[:, 0].max() <= 0.8 and x[:, 1].min() >= 0.02 and x[:, 1].max() <= 0.40
    second = load_sweep(write_spec(tmp_path, spec_dict(parameters=ranges, sampling={
        "method": "sobol", "n": 8, "second_order": True}), "second.yaml"))
    assert len(second.points) == 8 * (2 * 2 + 2)
    morris = load_sweep(write_spec(tmp_path, spec_dict(parameters=ranges, sampling={"method": "morris", "n": 3}),
                                   "morris.yaml"))
    assert len(morris.points) == 3 * (2 + 1)
    assert morris.problem() == {"num_vars": 2, "names": list(ranges), "bounds": [[0.2, 0.8], [0.02, 0.4]]}


def test_run_seeds_depend_only_on_point_and_replicate(tmp_path):
    sweep = load_sweep(write_spec(tmp_path, spec_dict()))
    seeds = {(t.point, t.replicate): t.seed for t in sweep.tasks()}
    assert len(set(seeds.values())) == len(seeds) == 16
    state = np.random.SeedSequence(11, spawn_key=(3, 1)).generate_state(1, dtype=np.uint64)[0]
    assert seeds[3, 1] == int(state >> np.uint64(1)) == sweep.seed_of(3, 1)
    crn = load_sweep(write_spec(tmp_path, spec_dict(common_random_numbers=True), "crn.yaml"))
    assert {t.seed for t in crn.tasks() if t.replicate == 1} == {seeds[0, 1]}


# ---------------------------------------------------------------------- running and resuming


def test_sweep_writes_one_row_per_run_and_a_manifest(finished):
    spec, out, report = finished
    assert (report.total, report.finished, report.failed, report.skipped) == (16, 16, 0, 0)
    rows = table(out)
    assert [r["run_id"] for r in rows] == [f"p{i}_r{k}" for i in range(8) for k in range(2)]
    assert list(rows[0]) == ["run_id", "point", "replicate", "seed", "run_seed", "factions.JNIM.strategy.restraint",
                             "mechanisms.territory.clash_rate", *OUTPUTS, "wall_time_s"]
    for r in rows:
        assert all(np.isfinite(float(r[m])) for m in OUTPUTS)
        assert 0.0 <= float(r["jnim_macina"]) <= 1.0 and 0.0 <= float(r["cooperating"]) <= 1.0
    assert len({r["seed"] for r in rows}) == 16
    assert len({r["jnim_area"] for r in rows}) > 8  # parameters and seeds make a difference
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["runs"] == 16 and manifest["version"] and manifest["git_commit"]
    assert manifest["spec"]["seed"] == 11 and "iswap-induction" in manifest["dropped_events"]
    assert manifest["sessions"][0]["finished"] == 16
    assert yaml.safe_load((out / "base_scenario.yaml").read_text())["resolution_deg"] == 0.5
    assert (out / "plan.csv").read_text().count("\n") == 9


def test_a_run_reproduces_from_its_row(finished):
    """The seed column is the --seed of `liptako run` on the base scenario with the row's parameters."""
    from sim.metrics import series_value
    from sim.runner import run
    from sim.scenario_io import load_scenario

    _, out, _ = finished
    row = table(out)[5]
    scenario = load_scenario(out / "base_scenario.yaml", overrides={
        "factions": {"JNIM": {"strategy": {"restraint": float(row["factions.JNIM.strategy.restraint"])}}},
        "mechanisms": {"territory": {"clash_rate": float(row["mechanisms.territory.clash_rate"])}}})
    result = run(scenario, seed=int(row["seed"]))
    assert result.run_seed == int(row["run_seed"])
    assert series_value(result.history, "JNIM", "area_km2", "2017-09-01") == float(row["jnim_area"])


def test_rerun_skips_finished_runs_and_redoes_damaged_ones(finished, tmp_path, capsys):
    """The redone run (one worker) equals the original (two workers): seeds do not depend on the pool."""
    spec, out, _ = finished
    assert main(["sweep", str(spec), "--out", str(out), "--quiet"]) == 0
    assert "16 runs were already finished" in capsys.readouterr().out
    before = without_time(table(out))
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(out), str(copy)], check=True)
    (copy / "runs" / "p2_r1.json").write_text('{"run_id": "p2_r1", "metr')  # as if torn by hand
    (copy / "runs" / ".p3_r0.json.123.tmp").write_text("{")  # a temporary a killed sweep left
    report = run_sweep(load_sweep(spec), copy, workers=1, progress=False)
    assert (report.skipped, report.finished) == (15, 1)
    assert without_time(table(copy)) == before
    assert not [f for f in (copy / "runs").iterdir() if f.name.startswith(".")]


def test_example_sweeps_are_valid():
    examples = sorted((ROOT / "scenarios" / "sweeps").glob("*.yaml"))
    assert len(examples) >= 2
    for path in examples:
        sweep = load_sweep(path)
        assert path.read_text().startswith("# ") and sweep.n_runs > 1 and not sweep.notes


def test_a_changed_spec_does_not_mix_into_old_results(finished, tmp_path):
    spec, out, _ = finished
    changed = write_spec(tmp_path, spec_dict(seed=12))
    with pytest.raises(ScenarioError, match="holds results of a different sweep"):
        run_sweep(load_sweep(changed), out, progress=False)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ScenarioError, match="exists and is not a sweep folder"):
        run_sweep(load_sweep(spec), tmp_path / "other", progress=False)


def test_sweep_killed_mid_run_resumes_without_loss_or_duplicates(finished, tmp_path):
    """SIGKILL the sweep (and its workers) while runs are in flight, then rerun the same command."""
    spec, reference, _ = finished
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "sim.cli", "sweep", str(spec), "--out", str(out), "--workers", "2", "--quiet"]
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    runs = out / "runs"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if runs.is_dir() and len(list(runs.glob("*.json"))) >= 3:
            break
        time.sleep(0.02)
    assert proc.poll() is None, proc.stderr.read().decode()
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep, its forkserver and its workers
    proc.wait()
    proc.stderr.close()
    saved = sorted(runs.glob("*.json"))
    assert 3 <= len(saved) < 16, "the kill should land mid-sweep"
    for f in saved:  # whatever was saved is complete
        assert json.loads(f.read_text())["run_id"] == f.stem
    assert not (out / "results.csv").exists()
    assert json.loads((out / "manifest.json").read_text())["sessions"] == []  # written before the first run

    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"{len(saved)} runs were already finished" in done.stdout
    rows = table(out)
    assert len(rows) == 16 and len({r["run_id"] for r in rows}) == 16
    assert without_time(rows) == without_time(table(reference))
    assert len(list(runs.iterdir())) == 16


# ---------------------------------------------------------------------- Dask


@pytest.fixture
def restored_environ():
    """A LocalCluster's nannies set variables in this process's environment (MALLOC_TRIM_THRESHOLD_,
    OMP_NUM_THREADS...) that later subprocesses would inherit; put it back afterwards."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def test_dask_local_cluster_gives_the_local_results(finished, tmp_path, capsys, restored_environ):
    """The spec's `executor: dask` on a real LocalCluster over loopback: the same rows as the local pool."""
    distributed = pytest.importorskip("distributed")
    _, reference, _ = finished
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        spec = write_spec(tmp_path, spec_dict(executor={"kind": "dask", "scheduler": address}))
        assert main(["sweep", str(spec), "--out", str(tmp_path / "dask"), "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert "16 runs in" in out and address.startswith("tcp://127.0.0.1:")
    assert "MALLOC_TRIM_THRESHOLD_=65536" in err  # the nanny's default is pointed out
    assert without_time(table(tmp_path / "dask")) == without_time(table(reference))
    a, b = read_records(tmp_path / "dask"), read_records(reference)
    assert a["p4_r1"]["series"] == b["p4_r1"]["series"]
    session = json.loads((tmp_path / "dask" / "manifest.json").read_text())["sessions"][0]
    assert session["executor"] == f"dask {address}, 2 workers"


def test_unreachable_scheduler_is_bad_input(tmp_path, capsys):
    dask = pytest.importorskip("dask")
    spec = write_spec(tmp_path, spec_dict())
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        status = main(["sweep", str(spec), "--out", str(tmp_path / "out"), "--scheduler", "tcp://127.0.0.1:9",
                       "--quiet"])
    assert status == 2 and "cannot reach the Dask scheduler" in capsys.readouterr().err


# ---------------------------------------------------------------------- memory


def test_memory_stays_flat_over_many_runs_in_one_worker(tmp_path):
    spec = spec_dict(overrides={"resolution_deg": 0.5, "end": "2017-04-01"}, parameters={},
                     outputs={"jnim_macina": {**OUTPUTS["jnim_macina"], "date": "2017-03-30"}},
                     replicates=18)
    tasks = load_sweep(write_spec(tmp_path, spec)).tasks()
    execute(tasks[0])
    execute(tasks[1])
    gc.collect()
    tracemalloc.start()
    execute(tasks[2])
    gc.collect()
    first = tracemalloc.get_traced_memory()[0]
    for t in tasks[3:]:
        execute(t)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert after - first < 2_000_000  # bytes retained across 15 further runs
