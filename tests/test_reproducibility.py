"""Reproducibility: the same scenario and seed give byte-identical results folders, in this process or
another (whatever Python's hash seed); ``liptako rerun`` reproduces a folder and says what differs; a
sweep gives the same runs whatever the number of workers or the executor.
"""

import json
import os
import subprocess
import sys

import pytest
import yaml

from sim.cli import main
from sim.commands.rerun import VOLATILE, compare_folders, rerun_folder
from sim.runner import run, write_results
from sim.sweep import execute, load_sweep, read_records, run_sweep

from conftest import ROOT
from toyworld import toy_scenario

BASELINE = ROOT / "scenarios" / "baseline.yaml"


def _identical(a, b):
    rows = compare_folders(a, b)
    assert all(ok for _, ok, _ in rows), [r for r in rows if not r[1]]
    return rows


def test_same_scenario_and_seed_give_byte_identical_folders(tmp_path, geo_toy):
    sc = toy_scenario(end="2019-03-14")
    a = write_results(run(sc, geo_toy, seed=99), tmp_path / "a")
    b = write_results(run(sc, geo_toy, seed=99), tmp_path / "b")
    rows = _identical(a, b)
    assert {name for name, _, _ in rows} >= {"control.npz", "control_map.png", "timeseries.png", "events.csv"}
    other = write_results(run(sc, geo_toy, seed=100), tmp_path / "c")
    assert (other / "events.csv").read_bytes() != (a / "events.csv").read_bytes()


CHILD = r"""
import sys
sys.path.insert(0, sys.argv[1])
from toyworld import toy_geo, toy_scenario
from sim.runner import run, write_results
write_results(run(toy_scenario(end="2019-03-14"), toy_geo(), seed=99), sys.argv[2], plots=False)
"""


def test_outputs_do_not_depend_on_the_process_or_hash_seed(tmp_path, geo_toy):
    here = write_results(run(toy_scenario(end="2019-03-14"), geo_toy, seed=99), tmp_path / "here", plots=False)
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, str(ROOT / "tests"), str(tmp_path / f"h{h}")],
                              env=dict(os.environ, PYTHONHASHSEED=str(h)), stderr=subprocess.PIPE, text=True)
             for h in (1, 2)]
    for h, p in zip((1, 2), procs):
        assert p.wait(timeout=120) == 0, p.stderr.read()
        p.stderr.close()
        _identical(here, tmp_path / f"h{h}" / here.name)


def test_metadata_says_how_to_reproduce(tmp_path, geo_toy):
    folder = write_results(run(toy_scenario(end="2019-01-31"), geo_toy, seed=5, run_index=3), tmp_path, plots=False)
    meta = json.loads((folder / "metadata.json").read_text())
    assert (meta["master_seed"], meta["run_index"]) == (5, 3) and len(meta["geodata_sha256"]) == 64
    assert set(VOLATILE) <= set(meta)
    new, rows, _ = rerun_folder(folder, tmp_path / "again", geo=geo_toy)
    assert all(ok for _, ok, _ in rows) and json.loads((new / "metadata.json").read_text())["run_seed"] == meta["run_seed"]


def test_rerun_command_reports_match_and_mismatch(tmp_path, capsys):
    scenario = tmp_path / "short.yaml"
    scenario.write_text(f"base: {BASELINE}\nname: short\nend: 2017-04-27\nevents: []\n", encoding="utf-8")
    out = tmp_path / "results"
    assert main(["run", str(scenario), "--out", str(out), "--seed", "7", "--quiet", "--no-plots"]) == 0
    folder = out / "short_seed7"
    capsys.readouterr()

    assert main(["rerun", str(folder), "--quiet"]) == 0
    report = capsys.readouterr().out
    assert "all 6 files match" in report and "MISMATCH" not in report
    for name in ("scenario.yaml", "timeseries.csv", "relations.csv", "events.csv", "control.npz", "metadata.json"):
        assert f"{name}" in report

    with open(folder / "timeseries.csv", "a") as fh:
        fh.write("2099-01-01,JNIM,0,0,0,0,0,0,0\n")
    assert main(["rerun", str(folder), "--quiet"]) == 1
    report = capsys.readouterr().out
    assert "timeseries.csv  MISMATCH" in report and "1 of 6 files differ" in report
    assert sorted(p.name for p in out.iterdir()) == ["short_seed7"], "the rerun writes elsewhere"

    assert main(["rerun", str(tmp_path / "nothing"), "--quiet"]) == 2
    assert main(["rerun", str(folder), "--keep", str(out), "--quiet"]) == 2
    assert "would replace" in capsys.readouterr().err


# ---------------------------------------------------------------------- sweeps


@pytest.fixture(scope="module")
def small_sweep(tmp_path_factory):
    folder = tmp_path_factory.mktemp("spec")
    spec = {
        "name": "repro", "scenario": str(BASELINE), "drop_events_outside_run": True,
        "overrides": {"resolution_deg": 0.5, "end": "2017-05-25"},
        "parameters": {"factions.JNIM.strategy.restraint": {"values": [0.2, 0.9]}},
        "replicates": 2, "seed": 3,
        "outputs": {"jnim_area": {"metric": "series", "actor": "JNIM", "column": "area_km2", "date": "2017-05-18"},
                    "clashes": {"metric": "clashes", "between": ["JNIM", "FAMa"], "start": "2017-03-02",
                                "end": "2017-05-25"}},
        "timeseries": ["JNIM.manpower", "ISGS.area_km2"],
    }
    path = folder / "repro.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return load_sweep(path)


def _records(records: dict) -> dict:
    return {k: {f: v for f, v in r.items() if f != "wall_time_s"} for k, r in records.items()}


def test_sweep_runs_do_not_depend_on_workers_or_executor(small_sweep, tmp_path):
    serial = _records({t.run_id: execute(t) for t in small_sweep.tasks()})  # in this process, in order
    assert len(serial) == 4
    run_sweep(small_sweep, tmp_path / "local", workers=3, progress=False)  # test_sweep.py compares 1 and 2
    assert _records(read_records(tmp_path / "local")) == serial, "3 local workers"
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=2, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        run_sweep(small_sweep, tmp_path / "dask", scheduler=cluster.scheduler_address, progress=False)
    assert _records(read_records(tmp_path / "dask")) == serial, "Dask"
