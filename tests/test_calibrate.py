"""liptako calibrate: the priors file, the distance, a small end-to-end calibration on the toy world,
its determinism, the report, and scenarios that take their values from a calibrated file."""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from sim import calibrate as C
from sim.scenario_io import ScenarioError, load_scenario, scenario_to_yaml
from sim.targets import TargetFile

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures" / "calibration"
HORIZON = dt.date(2019, 6, 30)  # toy runs of about 26 weekly steps


# ---------------------------------------------------------------------- priors


def test_shipped_priors_load_inside_plausible_ranges():
    pf, dims = C.load_priors(ROOT / "calibration" / "priors.yaml")
    assert 10 <= len(dims) <= 40
    for d, (key, p) in zip(dims, pf.parameters.items()):
        kind, lo, hi = C.plausible(key)
        assert lo <= d.low < d.high <= hi and d.integer == (kind == "int")
        assert d.log == (p.prior == "log-uniform") and (not d.log or d.low > 0)
    # every prior path exists in the baseline, whose fitting targets apply by a 2019 horizon
    cal = C.prepare(ROOT / "scenarios" / "baseline.yaml", horizon=dt.date(2019, 9, 30), work=Path("/nonexistent"))
    assert {t.id for t in cal.fit} == {"no_clashes_before_mid2019", "cooperation_until_2019"}


GOOD = {"mechanisms.territory.clash_rate": {"prior": "log-uniform", "reason": "drives the clash count"}}


@pytest.mark.parametrize("entry, where, expected", [
    ({"mechanisms.territory.clash_rte": GOOD["mechanisms.territory.clash_rate"]},
     "parameters.mechanisms.territory.clash_rte (line 3)", "did you mean 'mechanisms.territory.clash_rate'"),
    ({"mechanisms.territory.clash_rate": {"prior": "uniform", "range": [0.01, 1.0], "reason": "too wide below"}},
     "parameters.mechanisms.territory.clash_rate.range (line 5)", "beyond the documented plausible range [0.05, 2]"),
    ({"mechanisms.economy.ransom_rate": {"prior": "log-uniform", "reason": "plausible range starts at 0"}},
     "parameters.mechanisms.economy.ransom_rate.prior (line 4)", "needs a positive lower bound"),
    ({"mechanisms.territory.clash_rate": {"prior": "uniform", "resaon": "misspelt key"}},
     "parameters.mechanisms.territory.clash_rate.resaon (line 5)", "unknown key (did you mean 'reason'?)"),
    ({"mechanisms.territory.clash_rate": {"prior": "normal", "reason": "unsupported shape"}},
     "parameters.mechanisms.territory.clash_rate.prior (line 4)", "'uniform' or 'log-uniform'"),
    ({"step_days": {"prior": "uniform", "reason": "an integer without a range"}},
     "parameters.step_days (line 3)", "not a scenario parameter with a documented plausible"),
    ({"mechanisms.territory.split_size": {"prior": "uniform", "range": [200.5, 400], "reason": "a fractional bound"}},
     "parameters.mechanisms.territory.split_size.range (line 5)", "integer setting; expected whole-number bounds"),
    ({"mechanisms.territory.clash_rate": {"prior": "uniform", "range": [1.0, 0.5], "reason": "reversed range"}},
     "parameters.mechanisms.territory.clash_rate (line 3)", "low < high"),
])
def test_malformed_priors_name_file_key_and_expectation(tmp_path, entry, where, expected):
    path = tmp_path / "priors.yaml"
    path.write_text(yaml.safe_dump({"description": "x", "parameters": entry}, sort_keys=False,
                                   default_flow_style=False))
    with pytest.raises(ScenarioError) as err:
        C.load_priors(path)
    lines = str(err.value).splitlines()
    assert any(line.startswith(f"{path}: {where}: ") and expected in line for line in lines), lines


# ---------------------------------------------------------------------- the distance


def _targets(*specs):
    rows = [{"id": f"t{k}", "statement": "a test target statement", "source": ["000_413828cd3477c8cc.txt"],
             "use": "fit", "metric": metric, "accept": accept, "tolerance": "test"}
            for k, (metric, accept) in enumerate(specs)]
    return TargetFile.model_validate({"fit_until": "2022-12-31", "targets": rows}).targets


CLASHES = {"metric": "clashes", "between": ["JNIM", "ISGS"], "start": "2019-01-01", "end": "2021-12-31"}
PEAK = {"metric": "peak_year", "between": ["JNIM", "ISGS"], "start": "2019-01-01", "end": "2022-12-31"}
SHARE = {"metric": "relation_share", "between": ["JNIM", "ISGS"], "state": "war", "start": "2019-07-01",
         "end": "2022-04-30"}


def test_an_integer_setting_takes_each_whole_value_in_its_range_equally(tmp_path):
    path = tmp_path / "priors.yaml"
    path.write_text(yaml.safe_dump({"parameters": {
        "mechanisms.territory.split_size": {"prior": "uniform", "range": [200, 203], "reason": "four whole values"},
        "mechanisms.defection.reach_cells": {"prior": "log-uniform", "reason": "whole values on a log scale"}}},
                                   sort_keys=False))
    (split, reach) = C.load_priors(path)[1]
    assert split.integer and reach.integer and (split.lo, split.hi) == (199.5, 203.5)
    u = np.random.default_rng(0).uniform(split.lo, split.hi, 40_000)
    values = [split.natural(x) for x in u]
    assert all(type(v) is int for v in values)
    shares = np.bincount(values, minlength=204)[200:] / len(values)
    assert np.allclose(shares, 0.25, atol=0.01), shares
    ends = [reach.natural(x) for x in (reach.lo, reach.hi)]
    assert ends == [3, 10] and reach.lo == pytest.approx(math.log10(2.5))


def test_distance_known_answers():
    t_range, t_max0, t_peak, t_share = _targets((CLASHES, {"min": 63, "max": 250}), (CLASHES, {"max": 0}),
                                                (PEAK, {"min": 2020, "max": 2020}), (SHARE, {"min": 0.8}))
    four = [t_range, t_max0, t_peak, t_share]
    # everything met
    assert C.distance(four, {"t0": 125, "t1": 0, "t2": 2020, "t3": 0.9}) == 0.0
    # 26 clashes against [63, 250]: fails, 37 short of 63 -> miss 37/63; the others pass
    assert C.distance(four, {"t0": 26, "t1": 0, "t2": 2020, "t3": 0.9}) == pytest.approx((1 + 37 / 63) / 4)
    # above the upper end: 300 -> miss 50/250
    assert C.distance([t_range], {"t0": 300}) == pytest.approx(1 + 50 / 250)
    # 3 clashes against max 0: scale max(|0|, 1) = 1, miss capped at 1
    assert C.distance([t_max0], {"t1": 3}) == 2.0
    # a peak one year off is a full miss (scale 1 year, not 2020)
    assert C.distance([t_peak], {"t2": 2021}) == 2.0
    # a share 0.4 below its minimum 0.8: miss 0.4
    assert C.distance([t_share], {"t3": 0.4}) == pytest.approx(1.4)
    # not applicable targets are left out of the mean; NaN is a full failure
    assert C.distance(four, {"t0": None, "t1": 0, "t2": None, "t3": 0.9}) == 0.0
    assert C.distance([t_share, t_max0], {"t3": float("nan"), "t1": 0}) == 1.0
    with pytest.raises(ValueError, match="no target applies"):
        C.distance(four, {"t0": None})


def test_weighted_median():
    assert C.weighted_median([3.0, 1.0, 2.0], [1, 1, 1]) == 2.0
    assert C.weighted_median([1.0, 2.0, 3.0], [0.1, 0.1, 0.8]) == 3.0


def test_abc_prior_is_uniform_and_the_kernel_never_leaves_the_box():
    """Prior draws are uniform on each [lo, hi]; a narrow population near a corner of a 38-parameter box perturbs to
    proposals inside it only (with pyabc's Gaussian on the box 4 in 10,000 fell inside, and pyabc redrew the rest
    one by one)."""
    import pandas as pd
    from scipy.stats import kstest

    dims = [C.Dim(f"p{j}", 0.1 * (j + 1), 0.2 * (j + 1), log=j % 3 == 0, integer=False) for j in range(38)]
    dims[5] = C.Dim("p5", 2, 8, log=False, integer=True)
    lo, hi = np.array([d.lo for d in dims]), np.array([d.hi for d in dims])
    prior = C.abc_prior(dims)
    np.random.seed(11)
    draws = pd.DataFrame([dict(prior.rvs()) for _ in range(3000)])
    for j, d in enumerate(dims[:6]):
        u = draws[f"p{j}"].to_numpy()
        assert d.lo <= u.min() and u.max() <= d.hi
        assert kstest((u - d.lo) / (d.hi - d.lo), "uniform").pvalue > 0.01
    # a tight population 2% of the way from each lower bound, 40 particles
    rng = np.random.default_rng(2)
    corner = pd.DataFrame({f"p{j}": lo[j] + (hi[j] - lo[j]) * np.clip(0.02 + 0.01 * rng.standard_normal(40), 0, 1)
                           for j in range(38)})
    kernel = C.box_transition({f"p{j}": (lo[j], hi[j]) for j in range(38)})
    kernel.fit(corner[sorted(corner.columns)], np.full(40, 1 / 40))  # pyabc hands columns in name order: p0, p1, p10
    assert list(kernel.columns[:3]) == ["p0", "p1", "p10"]
    proposals = kernel.rvs(1000)
    assert ((proposals[corner.columns].to_numpy() >= lo) & (proposals[corner.columns].to_numpy() <= hi)).all()
    density = kernel.pdf(proposals)
    assert np.all(density > 0) and np.all(np.isfinite(density))
    assert all(prior.pdf(dict(row)) > 0 for _, row in proposals.head(100).iterrows())


def test_box_kernel_density_is_a_truncated_normal_mixture():
    """Known answer: the density equals the weighted mixture of scipy's truncated normals, integrates to 1 over the
    box, is 0 outside it, and stays finite for a population collapsed onto one particle."""
    import pandas as pd
    from scipy.stats import truncnorm

    lo, hi = np.array([0.0, -1.0]), np.array([1.0, 3.0])
    X = pd.DataFrame({"p0": [0.1, 0.5, 0.95], "p1": [-0.5, 2.0, 2.9]})
    w = np.array([0.2, 0.5, 0.3])
    kernel = C.box_transition({"p0": (lo[0], hi[0]), "p1": (lo[1], hi[1])})
    kernel.fit(X, w)
    mean = w @ X.to_numpy()
    sd = np.sqrt(2 * (w @ (X.to_numpy() - mean) ** 2))
    x = pd.Series({"p0": 0.3, "p1": 1.0})
    expected = sum(wj * np.prod([truncnorm.pdf(x.iloc[d], (lo[d] - X.iloc[j, d]) / sd[d], (hi[d] - X.iloc[j, d]) / sd[d],
                                               loc=X.iloc[j, d], scale=sd[d]) for d in range(2)])
                   for j, wj in enumerate(w))
    assert kernel.pdf(x) == pytest.approx(expected, rel=1e-9)
    assert kernel.pdf(pd.Series({"p0": 1.2, "p1": 1.0})) == 0.0
    rng = np.random.default_rng(0)
    grid = pd.DataFrame({"p0": rng.uniform(0, 1, 200_000), "p1": rng.uniform(-1, 3, 200_000)})
    assert kernel.pdf(grid).mean() * 4.0 == pytest.approx(1.0, abs=0.01)  # box volume 1 x 4
    kernel.fit(X, np.array([1.0, 0.0, 0.0]))  # one particle holds all the weight: the floor keeps it moving
    np.random.seed(4)
    moved = kernel.rvs(50)
    assert moved["p0"].std() > 0 and np.all(np.isfinite(kernel.pdf(moved))) and np.all(kernel.pdf(moved) > 0)


PROPOSALS = [0]


def _particle(accepted: bool):
    from pyabc import Parameter, Particle

    return Particle(m=0, parameter=Parameter({}), weight=1.0, sum_stat={}, distance=0.0, accepted=accepted)


def _one_in_three():
    """A stand-in for pyabc's simulate_one: every third proposal is accepted."""
    PROPOSALS[0] += 1
    return _particle(PROPOSALS[0] % 3 == 0)


def _slow_first():
    """The first particle takes 30 proposals (over the budget's 20 a particle), the others one each."""
    PROPOSALS[0] += 1
    return _particle(PROPOSALS[0] >= 30)


def _never():
    PROPOSALS[0] += 1
    return _particle(False)


def test_abc_generations_report_their_progress(capsys):
    PROPOSALS[0] = 0
    sampler = C.seeded_map_sampler(C.Mapper(1), master=3, progress=True)
    sample = sampler.sample_until_n_accepted(20, _one_in_three, 4, max_eval=20 * C.MAX_TRIES)
    lines = [x for x in capsys.readouterr().out.splitlines() if x.strip().startswith("ABC generation 4:")]
    assert sample.ok and sample.n_accepted == 20 and sampler.nr_evaluations_ == 60
    assert len(lines) == 10  # a line at every tenth of the particles
    assert lines[0].startswith("  ABC generation 4: 2 of 20 particles accepted in 6 runs (2 searched)")
    assert "20 of 20 particles accepted in 60 runs" in lines[-1]
    quiet = C.seeded_map_sampler(C.Mapper(1), master=3)
    quiet.sample_until_n_accepted(5, _one_in_three, 0, max_eval=5 * C.MAX_TRIES)
    assert "ABC generation" not in capsys.readouterr().out


def test_one_slow_particle_does_not_fail_a_generation_but_a_hopeless_one_fails_and_says_so(capsys):
    # round 34: a particle over MAX_TRIES proposals, in a generation accepting 1 in 4, cost the whole generation
    PROPOSALS[0] = 0
    sampler = C.seeded_map_sampler(C.Mapper(1), master=3)
    sample = sampler.sample_until_n_accepted(5, _slow_first, 1, max_eval=5 * C.MAX_TRIES)
    assert sample.ok and sampler.nr_evaluations_ == 34 and sampler.failed is None
    # no particle accepted: each is abandoned at its cap, and the generation fails
    PROPOSALS[0] = 0
    sampler = C.seeded_map_sampler(C.Mapper(1), master=3, progress=True)
    sample = sampler.sample_until_n_accepted(2, _never, 1, max_eval=2 * C.MAX_TRIES)
    assert not sample.ok and PROPOSALS[0] == 2 * C.TASK_CAP_FACTOR * C.MAX_TRIES
    assert sampler.failed == (1, 2 * C.TASK_CAP_FACTOR * C.MAX_TRIES, 0)
    assert "ABC generation 1 failed: 0 of 2 particles in 120 runs" in capsys.readouterr().out


# ---------------------------------------------------------------------- end to end on the toy world


SMALL = {"screen_points": 4, "seeds_per_point": 1, "particles": 3, "generations": 2, "ensemble_size": 2,
         "candidates_k": 2, "candidate_seeds": 2}


def _toy_scenario_file(folder: Path) -> Path:
    from toyworld import toy_scenario

    path = folder / "toy.yaml"
    path.write_text(yaml.safe_dump(toy_scenario().model_dump(mode="json"), sort_keys=False), encoding="utf-8")
    return path


def _calibrate(folder: Path, geo, master_seed: int = 5, **settings):
    folder.mkdir(parents=True, exist_ok=True)
    cal = C.prepare(_toy_scenario_file(folder), FIX / "toy_priors.yaml", FIX / "toy_targets.yaml",
                    master_seed=master_seed, horizon=HORIZON, work=folder / "work", geo=geo)
    return cal, C.run_calibration(cal, folder / "out", **{**SMALL, **settings}, workers=1, progress=False)


@pytest.fixture(scope="module")
def toy_calibration(tmp_path_factory, geo_toy):
    return _calibrate(tmp_path_factory.mktemp("cal_a"), geo_toy)


def test_calibration_writes_a_valid_calibrated_file(toy_calibration):
    cal, done = toy_calibration
    calib, lines, digest = C.load_calibrated(done.calibrated)
    _, dims = C.load_priors(FIX / "toy_priors.yaml")
    assert list(calib.parameters) == [d.path for d in dims]
    for d in dims:
        assert d.low <= calib.parameters[d.path] <= d.high
    assert type(calib.parameters["mechanisms.territory.move_cells"]) is int
    assert {float(r["mechanisms.territory.move_cells"]) for r in C.read_posterior(cal.work)} <= {1.0, 2.0, 3.0}
    assert calib.master_seed == 5 and calib.git_commit and calib.created
    assert calib.runs["screen"] == 4 and calib.runs["ensemble"] == 2 and calib.runs["abc"] >= 2 * 3
    assert set(calib.distance) == {"screen_best_point_mean", "abc_final_tolerance", "ensemble_mean", "select_mean"}
    assert calib.runs["select"] == 2 * len(C.read_selection(cal.work))
    assert "ABC-SMC generation" in calib.statistic
    # the stages' files: one record per screen run and ensemble seed, every ABC generation's particles
    assert len(list((cal.work / "screen").glob("*.json"))) == 4
    assert len(list((cal.work / "ensemble").glob("*.json"))) == 2
    rows = C.read_posterior(cal.work)
    assert sorted({int(r["generation"]) for r in rows}) == [0, 1]
    assert all(len([r for r in rows if int(r["generation"]) == g]) == 3 for g in (0, 1))
    # each generation's effective sample size, from its own weights (prior draws weigh alike)
    gens = list(csv.DictReader(open(cal.work / "abc_generations.csv")))
    for g in gens:
        weights = [float(r["weight"]) for r in rows if r["generation"] == g["generation"]]
        assert float(g["effective_sample_size"]) == pytest.approx(C.effective_sample_size(weights), abs=0.05)
    assert float(gens[0]["effective_sample_size"]) == 3.0


def test_effective_sample_size_known_answers():
    assert C.effective_sample_size([0.25] * 4) == pytest.approx(4.0)
    assert C.effective_sample_size([1.0, 0.0, 0.0]) == pytest.approx(1.0)
    assert C.effective_sample_size([3.0, 1.0]) == pytest.approx(16 / 10)  # (3 + 1)^2 / (9 + 1)


def test_report_has_its_sections_and_figures(toy_calibration):
    cal, done = toy_calibration
    text = done.report.read_text()
    for heading in ("# Calibration report", "## Fitted parameters", "## Targets at the fitted parameters (2-seed",
                    "### Fitting targets:", "### Held-out validation", "## Which targets cannot be met together",
                    "## Choosing the fitted set", "## Posterior marginals", "## Posterior-predictive time series",
                    "## ABC-SMC generations"):
        assert heading in text, heading
    for t in ("toy_clashes_early_2019", "toy_war", "toy_jnim_manpower", "toy_clash_deaths"):
        assert f"`{t}`" in text.split("### Held-out validation")[0]
    assert "`toy_clashes_mid_2019`" in text.split("### Held-out validation")[1]
    for fig in ("screen_pass_rates.png", "target_pairs.png", "posterior_marginals.png", "posterior_predictive.png"):
        path = done.report.parent / "figures" / fig
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"figures/{fig}" in text
    gens = (cal.work / "abc_generations.csv").read_text().splitlines()
    assert gens[0].endswith(",kept,effective_sample_size") and all(",yes," in row for row in gens[1:])
    assert "effective sample size" in text


def test_a_failed_generation_is_listed_and_counted():
    from sim.calibration_report import _failed_generations

    gens = ["generation,epsilon,simulations,accepted,acceptance,kept", "0,0.3,95,60,0.63,yes",
            "1,,1300,58,0.0446,no: under 1 in 20 accepted or a particle not found in 3 x 20 runs"]
    assert _failed_generations(gens) == " (1 failed and not kept)"
    assert _failed_generations(gens[:2]) == "" and _failed_generations(["generation,epsilon,simulations"]) == ""


def test_fitted_set_is_the_candidate_meeting_the_most_targets(toy_calibration):
    """The weighted median and the closest particles run on the same seeds; the most fitting targets met wins,
    the smallest mean distance among those, and calibrated.yaml carries exactly its values."""
    cal, done = toy_calibration
    rows = C.read_selection(cal.work)
    assert rows[0]["label"] == "weighted median" and len(rows) >= 2
    most = max(int(r["targets_met"]) for r in rows)
    tied = [r for r in rows if int(r["targets_met"]) == most]
    winner = min(tied, key=lambda r: float(r["mean_distance"]))
    assert [r["chosen"] for r in rows].count("1") == 1 and winner["chosen"] == "1"
    calib, _, _ = C.load_calibrated(done.calibrated)
    assert calib.parameters == {d.path: float(winner[d.path]) for d in cal.dims} == C.chosen(cal)
    # each candidate's mean is over the same seeds (common random numbers)
    seeds = {}
    for f in (cal.work / "select").glob("*.json"):
        c, r = f.stem.split("_")
        seeds.setdefault(r, set()).add(json.loads(f.read_text())["seed"])
    assert all(len(v) == 1 for v in seeds.values()) and len(seeds) == 2


def test_a_folder_survives_shipping_its_fit_but_not_another_scenario(toy_calibration):
    """The working folder's identity ignores the fitted parameters' values in the scenario (shipping a fit changes
    them), not any other setting."""
    import dataclasses

    cal, _ = toy_calibration
    path = cal.dims[0].path.split(".")

    def with_value(key_path, value):
        base = json.loads(json.dumps(cal.base_full))
        node = base
        for part in key_path[:-1]:
            node = node[part]
        node[key_path[-1]] = value
        return C.identity(dataclasses.replace(cal, base_full=base))

    assert with_value(path, 0.123456) == C.identity(cal)
    assert with_value(["resolution_deg"], 0.2) != C.identity(cal)


def test_targets_met_outrank_mean_distance_in_the_choice():
    rows = [{"candidate": 0, "targets_met": 16, "mean_distance": 0.37},
            {"candidate": 1, "targets_met": 18, "mean_distance": 0.41},
            {"candidate": 2, "targets_met": 18, "mean_distance": 0.39},
            {"candidate": 3, "targets_met": 18, "mean_distance": 0.39}]
    assert C.best_candidate(rows)["candidate"] == 2


def test_a_finished_abc_is_reused_not_rerun(toy_calibration, tmp_path):
    cal, done = toy_calibration
    db = cal.work / "abc.db"
    before = (db.stat().st_mtime_ns, (cal.work / "posterior.csv").read_text())
    again = C.run_calibration(cal, tmp_path / "out", **SMALL, workers=1, progress=False)
    assert (db.stat().st_mtime_ns, (cal.work / "posterior.csv").read_text()) == before
    assert again.params == done.params
    # a folder written before the marker said whether its ABC-SMC finished (it was written only at the end)
    marker = json.loads((cal.work / "abc.json").read_text())
    (cal.work / "abc.json").write_text(json.dumps({k: v for k, v in marker.items() if k != "finished"}))
    try:
        C.run_calibration(cal, tmp_path / "out", **SMALL, workers=1, progress=False)
        assert (db.stat().st_mtime_ns, (cal.work / "posterior.csv").read_text()) == before
    finally:
        (cal.work / "abc.json").write_text(json.dumps(marker))


@pytest.mark.parametrize("finished", [False, True], ids=["interrupted", "extended"])
def test_an_abc_continues_from_its_stored_generations_to_the_uninterrupted_result(toy_calibration, tmp_path, geo_toy,
                                                                                   capsys, finished):
    """A calibration stopped during its third ABC generation (two stored), or a finished two-generation one asked
    for three, runs only the third and ends where an uninterrupted three-generation calibration does."""
    import dataclasses
    import shutil

    cal, _ = toy_calibration
    _, straight = _calibrate(tmp_path / "straight", geo_toy, generations=3)
    work = tmp_path / "resumed"
    shutil.copytree(cal.work, work)
    marker = json.loads((work / "abc.json").read_text())
    assert marker["finished"] and marker["generations"] == 2
    if not finished:
        (work / "abc.json").write_text(json.dumps({**marker, "generations": 3, "finished": False}))
    resumed = dataclasses.replace(cal, work=work, settings=dict(cal.settings))
    capsys.readouterr()
    again = C.run_calibration(resumed, tmp_path / "out", **{**SMALL, "generations": 3}, workers=1, progress=True)
    assert "2 of 3 generations stored" in capsys.readouterr().out
    posterior = (work / "posterior.csv").read_text()
    assert posterior == (tmp_path / "straight" / "work" / "posterior.csv").read_text()
    assert posterior.startswith((cal.work / "posterior.csv").read_text())  # the stored generations, unchanged
    assert [g["generation"] for g in csv.DictReader(open(work / "abc_generations.csv"))] == ["0", "1", "2"]
    assert again.params == straight.params
    assert json.loads((work / "abc.json").read_text())["finished"]


def test_the_report_uses_the_priors_as_read_at_the_start(toy_calibration, tmp_path):
    """Editing the priors file while a calibration runs changes neither its report nor its success."""
    import dataclasses

    from sim.calibration_report import write_report

    cal, done = toy_calibration
    edited = tmp_path / "priors.yaml"
    edited.write_text("parameters: {mechanisms.territory.no_such_parameter: {prior: uniform}}\n", encoding="utf-8")
    report = write_report(dataclasses.replace(cal, priors_path=edited), tmp_path / "out", done.params)
    assert "mechanisms.territory.clash_rate" in report.read_text()


def test_report_only_regenerates_the_report(toy_calibration, tmp_path, monkeypatch):
    """From any working directory: the folder records the priors and targets relative to the repository,
    so another checkout can reopen it too."""
    from sim.cli import main

    cal, done = toy_calibration
    settings = json.loads((cal.work / "manifest.json").read_text())["settings"]
    assert settings["priors"] == "tests/fixtures/calibration/toy_priors.yaml"
    assert settings["targets"] == "tests/fixtures/calibration/toy_targets.yaml"
    before = done.report.read_text()
    done.report.unlink()
    monkeypatch.chdir(tmp_path)
    assert main(["calibrate", "--report-only", "--work", str(cal.work), "--out", str(done.report.parent)]) == 0
    assert done.report.read_text() == before


def test_same_master_seed_gives_the_same_calibrated_file(toy_calibration, tmp_path, geo_toy):
    cal, done = toy_calibration
    _, again = _calibrate(tmp_path / "b", geo_toy)

    def fitted(path):
        data = yaml.safe_load(path.read_text())
        return {k: v for k, v in data.items() if k not in ("created", "scenario")}

    assert fitted(again.calibrated) == fitted(done.calibrated)
    assert (tmp_path / "b" / "work" / "posterior.csv").read_text() == (cal.work / "posterior.csv").read_text()


def test_work_folder_of_another_calibration_is_refused(toy_calibration, geo_toy):
    cal, _ = toy_calibration
    other = C.prepare(cal.scenario_path, FIX / "toy_priors.yaml", FIX / "toy_targets.yaml", master_seed=6,
                      horizon=HORIZON, work=cal.work, geo=geo_toy)
    with pytest.raises(ScenarioError, match="holds another calibration"):
        C.run_calibration(other, cal.work.parent / "out2", **SMALL, progress=False)


# ---------------------------------------------------------------------- scenarios that use a calibration


def test_scenario_takes_its_values_from_the_calibration_and_records_it(toy_calibration, geo_toy):
    from sim.runner import run

    cal, done = toy_calibration
    calib, _, digest = C.load_calibrated(done.calibrated)
    path = cal.scenario_path.parent / "toy_calibrated.yaml"
    path.write_text(f"base: toy.yaml\nname: toy_calibrated\nend: '{HORIZON}'\n"
                    f"calibration: out/calibrated.yaml\n", encoding="utf-8")
    scenario = load_scenario(path)
    assert scenario.mechanisms.territory.clash_rate == calib.parameters["mechanisms.territory.clash_rate"]
    assert scenario.factions["JNIM"].strategy.restraint == calib.parameters["factions.JNIM.strategy.restraint"]
    assert scenario.factions["ISGS"].strategy.restraint == 0.2  # untouched
    assert scenario.mechanisms.territory.move_cells == calib.parameters["mechanisms.territory.move_cells"]
    rec = scenario.calibrated_from
    assert rec.file == "out/calibrated.yaml" and rec.sha256 == digest and rec.master_seed == 5
    assert rec.parameters == calib.parameters
    # the resolved scenario written to results records it and loads back without applying it twice
    resolved = cal.scenario_path.parent / "resolved.yaml"
    resolved.write_text(scenario_to_yaml(scenario), encoding="utf-8")
    assert "calibrated_from:" in resolved.read_text() and load_scenario(resolved) == scenario
    result = run(scenario, geo_toy, seed=1)
    assert result.counts["steps"] == scenario.n_steps > 0
    # an uncalibrated scenario dumps as before: no calibrated_from key
    assert "calibrated_from" not in scenario_to_yaml(load_scenario(cal.scenario_path))


def _calibrated_file(folder: Path, parameters: dict) -> Path:
    path = folder / "calibrated.yaml"
    path.write_text(yaml.safe_dump({"master_seed": 1, "parameters": parameters}, sort_keys=False))
    return path


@pytest.mark.parametrize("scenario_extra, parameters, expected", [
    ("mechanisms:\n  territory:\n    clash_rate: 0.5\n", {"mechanisms.territory.clash_rate": 0.7},
     "mechanisms.territory.clash_rate (line 5): also set by the calibration"),
    ("", {"mechanisms.territory.clash_rte": 0.7},
     "calibrated.yaml: parameters.mechanisms.territory.clash_rte (line 3): 'mechanisms.territory.clash_rte' is not"),
    ("", {"mechanisms.territory.clash_rate": 9.0},
     "calibrated.yaml: parameters.mechanisms.territory.clash_rate (line 3): 9 lies outside the documented"),
    ("", {"mechanisms.territory.move_cells": 2.5},
     "mechanisms.territory.move_cells (line 3 of "),
    ("", {"factions.GATIA.strategy.restraint": 0.5},
     "factions.GATIA.strategy.restraint (line 3 of "),
])
def test_bad_calibration_hooks_are_named(tmp_path, scenario_extra, parameters, expected):
    _toy_scenario_file(tmp_path)
    _calibrated_file(tmp_path, parameters)
    path = tmp_path / "s.yaml"
    path.write_text(f"base: toy.yaml\ncalibration: calibrated.yaml\n{scenario_extra}", encoding="utf-8")
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert expected in str(err.value), str(err.value)
    if "GATIA" in expected:
        assert "the calibration): the scenario has no factions entry 'GATIA'" in str(err.value)


def test_missing_calibration_file_is_named(tmp_path):
    _toy_scenario_file(tmp_path)
    path = tmp_path / "s.yaml"
    path.write_text("base: toy.yaml\ncalibration: nowhere.yaml\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"s.yaml: calibration \(line 2\): no such file"):
        load_scenario(path)


# ---------------------------------------------------------------------- the command's bad input


@pytest.mark.parametrize("argv, expected", [
    (["--horizon", "2017-01-01"], "expected a date after the scenario's start"),
    (["--horizon", "2017-04-31"], "expected a date YYYY-MM-DD"),
    (["--horizon", "2017-05-31"], "no fitting target"),
    (["--priors", "nowhere.yaml"], "nowhere.yaml: no such file"),
    (["--report-only", "--work", "nowhere"], "not a calibration folder"),
])
def test_calibrate_bad_input_exits_2(tmp_path, capsys, argv, expected):
    from sim.cli import main

    assert main(["calibrate", "--work", str(tmp_path / "w"), "--out", str(tmp_path / "o"), *argv]) == 2
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "o" / "calibrated.yaml").exists()


def test_seeds_derive_from_the_master_seed():
    assert C.seed_of(5, 0, 1, 0) == C.seed_of(5, 0, 1, 0) != C.seed_of(5, 0, 0, 1)
    assert 0 <= C.seed_of(5, 2, 0) < 2**63 and not math.isnan(C.seed_of(6, 2, 0))
