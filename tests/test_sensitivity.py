"""The SALib wrapper against known answers, and `liptako sensitivity` on a model small enough for CI."""

import csv

import numpy as np
import pytest
import yaml

from sim import sensitivity as S
from sim.cli import main

from conftest import ROOT

A, B = 7.0, 0.1


def ishigami(x):
    return np.sin(x[:, 0]) + A * np.sin(x[:, 1]) ** 2 + B * x[:, 2] ** 4 * np.sin(x[:, 0])


def ishigami_indices():
    """Analytic first-order and total Sobol indices of the Ishigami function (Saltelli et al. 2008)."""
    v1 = 0.5 * (1 + B * np.pi**4 / 5) ** 2
    v2 = A**2 / 8
    v13 = B**2 * np.pi**8 * (1 / 18 - 1 / 50)
    v = v1 + v2 + v13
    return np.array([v1, v2, 0.0]) / v, np.array([v1 + v13, v2, v13]) / v


def test_sobol_wrapper_recovers_the_ishigami_indices():
    problem = {"num_vars": 3, "names": ["x1", "x2", "x3"], "bounds": [[-np.pi, np.pi]] * 3}
    x = S.sample("sobol", problem, 2048, seed=3)
    assert x.shape == (2048 * 5, 3)
    rows = S.analyse("sobol", problem, x, ishigami(x), seed=1)
    s1, st = ishigami_indices()
    assert s1 == pytest.approx([0.3139, 0.4424, 0.0], abs=1e-4)  # the textbook values
    assert [r["S1"] for r in rows] == pytest.approx(s1, abs=0.04)
    assert [r["ST"] for r in rows] == pytest.approx(st, abs=0.04)
    assert all(r["S1_conf"] > 0 for r in rows)


def test_morris_wrapper_recovers_linear_effects():
    """For y = 3 a - 2 b the elementary effects are exact: coefficient times range, no spread."""
    problem = {"num_vars": 3, "names": ["a", "b", "c"], "bounds": [[0, 1], [0, 2], [0, 5]]}
    x = S.sample("morris", problem, 10, seed=2)
    assert x.shape == (10 * 4, 3)
    rows = S.analyse("morris", problem, x, 3 * x[:, 0] - 2 * x[:, 1])
    assert [r["mu"] for r in rows] == pytest.approx([3.0, -4.0, 0.0])
    assert [r["mu_star"] for r in rows] == pytest.approx([3.0, 4.0, 0.0])
    assert [r["sigma"] for r in rows] == pytest.approx([0.0, 0.0, 0.0], abs=1e-12)


def test_a_constant_output_has_undefined_indices(tmp_path):
    problem = {"num_vars": 2, "names": ["a", "b"], "bounds": [[0, 1], [0, 1]]}
    x = S.sample("sobol", problem, 8, seed=0)
    rows = S.analyse("sobol", problem, x, np.ones(len(x)))
    assert all(np.isnan(r["S1"]) and np.isnan(r["ST"]) for r in rows)
    y = x[:, 0]
    by_metric = {"flat": rows, "linear": S.analyse("sobol", problem, x, y)}
    S.write_table(by_metric, tmp_path / "t.csv")
    S.bar_chart(by_metric, "sobol", tmp_path / "t.png")
    assert (tmp_path / "t.png").stat().st_size > 5000
    assert (tmp_path / "t.csv").read_text().splitlines()[0] == "metric,parameter,S1,S1_conf,ST,ST_conf"


def tiny_spec(method: str, n: int) -> dict:
    period = {"start": "2017-03-02", "end": "2017-06-30"}
    return {
        "name": f"tiny_{method}",
        "scenario": str(ROOT / "scenarios" / "baseline.yaml"),
        "overrides": {"resolution_deg": 0.5, "end": "2017-06-30"},
        "drop_events_outside_run": True,
        "parameters": {"factions.JNIM.strategy.tax_rate": {},
                       "mechanisms.engagement.recruit_rate": {"range": [0.00002, 0.0005]}},
        "sampling": {"method": method, "n": n},
        "seed": 5,
        "outputs": {
            "jnim_manpower": {"metric": "series", "actor": "JNIM", "column": "manpower", "date": "2017-06-29"},
            "jnim_treasury": {"metric": "series", "actor": "JNIM", "column": "treasury", "stat": "mean", **period},
        },
    }


@pytest.mark.parametrize("method, n, runs, columns", [
    ("sobol", 4, 16, ["S1", "S1_conf", "ST", "ST_conf"]),
    ("morris", 2, 6, ["mu", "mu_star", "mu_star_conf", "sigma"]),
])
def test_sensitivity_command_on_a_tiny_model(tmp_path, capsys, method, n, runs, columns):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec(method, n), sort_keys=False))
    out = tmp_path / "out"
    assert main(["sensitivity", str(spec), "--out", str(out), "--workers", "2", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert f"{runs} of {runs} runs" in printed and "jnim_manpower:" in printed
    with open(out / f"sensitivity_{method}.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["metric", "parameter", *columns]
    assert [(r["metric"], r["parameter"]) for r in rows] == [
        (m, p) for m in ("jnim_manpower", "jnim_treasury")
        for p in ("factions.JNIM.strategy.tax_rate", "mechanisms.engagement.recruit_rate")]
    assert all(np.isfinite(float(r[columns[0]])) for r in rows)
    assert (out / f"sensitivity_{method}.png").stat().st_size > 5000


def test_sensitivity_rejects_a_design_or_metric_it_cannot_use(tmp_path, capsys):
    spec = tiny_spec("sobol", 4)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = str(tmp_path / "out")
    assert main(["sensitivity", str(path), "--out", out, "--metric", "jnim_manpowr", "--quiet"]) == 2
    assert "(did you mean 'jnim_manpower'?)" in capsys.readouterr().err
    path.write_text(yaml.safe_dump({**spec, "sampling": {"method": "lhs", "n": 4}}))
    assert main(["sensitivity", str(path), "--out", out, "--quiet"]) == 2
    assert "needs sobol or morris, got 'lhs'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
