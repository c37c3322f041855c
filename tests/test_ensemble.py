"""Ensemble summaries: median and 5-95% bands of recorded time series across seeds."""

import csv

import numpy as np
import pytest
import yaml

from sim import ensemble
from sim.cli import main
from sim.sweep import read_records

from conftest import ROOT


def test_summary_is_the_percentiles_across_replicates():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(40, 3))
    records = [{"point": 0, "series": {"dates": ["2020-01-01", "2020-01-08", "2020-01-15"],
                                       "values": {"s": list(v)}}} for v in values]
    records.append({"point": 1, "series": {"dates": ["2020-01-01"], "values": {"s": [5.0]}}})
    rows = ensemble.summarise(records, ["s"])
    assert [(r["point"], r["date"], r["n"]) for r in rows] == [
        (0, "2020-01-01", 40), (0, "2020-01-08", 40), (0, "2020-01-15", 40), (1, "2020-01-01", 1)]
    for k, r in enumerate(rows[:3]):
        assert r["median"] == pytest.approx(np.median(values[:, k]))
        assert r["p05"] == pytest.approx(np.percentile(values[:, k], 5))
        assert r["p95"] == pytest.approx(np.percentile(values[:, k], 95))
        assert r["p05"] < r["median"] < r["p95"]
    assert rows[3]["p05"] == rows[3]["median"] == rows[3]["p95"] == 5.0


def test_ensemble_command_summarises_a_seed_ensemble(tmp_path, capsys):
    spec = {
        "name": "tiny_ensemble",
        "scenario": str(ROOT / "scenarios" / "baseline.yaml"),
        "overrides": {"resolution_deg": 0.5, "end": "2017-06-30"},
        "drop_events_outside_run": True,
        "replicates": 6,
        "seed": 9,
        "outputs": {"jnim_manpower": {"metric": "series", "actor": "JNIM", "column": "manpower", "date": "2017-06-29"}},
        "timeseries": ["JNIM.manpower", "ISGS.area_km2"],
    }
    path = tmp_path / "ensemble.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    out = tmp_path / "out"
    assert main(["ensemble", str(path), "--out", str(out), "--series", "JNIM.manpower", "--quiet"]) == 0
    assert "6 of 6 runs" in capsys.readouterr().out
    with open(out / "ensemble.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(ensemble.COLUMNS)
    assert {r["series"] for r in rows} == {"JNIM.manpower"} and {r["n"] for r in rows} == {"6"}
    records = list(read_records(out).values())
    dates = records[0]["series"]["dates"]
    assert [r["date"] for r in rows] == dates and len(dates) == 18  # the start and 17 weekly steps
    last = [rec["series"]["values"]["JNIM.manpower"][-1] for rec in records]
    assert float(rows[-1]["median"]) == pytest.approx(np.median(last))
    assert float(rows[-1]["p95"]) == pytest.approx(np.percentile(last, 95))
    assert (out / "ensemble.png").stat().st_size > 5000
    assert main(["ensemble", str(path), "--out", str(out), "--series", "JNIM.manpowr", "--quiet"]) == 2
    assert "did you mean 'JNIM.manpower'" in capsys.readouterr().err
