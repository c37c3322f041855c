"""The calibration report: ``report.md`` and its figures, rebuilt from a calibration's working folder.

Reads only the files :mod:`sim.calibrate` saved (the screen and ensemble run
records, ``posterior.csv``, ``abc_generations.csv``), so ``liptako calibrate
--report-only`` regenerates it without a run. Sections: the fitted values; the
targets with their statement, source and pass rate in the ensemble at the fitted
values (fitting, then held out); which fitting targets the screen never or
rarely meets together, with the parameter that pulls them apart; the posterior
marginals against the priors; the posterior-predictive time series with the
documented phases shaded (:func:`sim.plots.series_panels`); the ABC generations.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from sim.calibrate import ENSEMBLE_SERIES, PASS_BAR, Calibration, effective_sample_size, portable, read_posterior
from sim.targets import Score, format_rate

RARELY = 0.02  # joint pass rate at or below which two targets are "rarely met together" (modelling choice)
ANTI = -0.3  # phi correlation of pass indicators at or below which two targets pull apart (modelling choice)
FIGURES = ("screen_pass_rates.png", "target_pairs.png", "posterior_marginals.png", "posterior_predictive.png")


def read_records(folder: Path) -> list[dict]:
    """The run records of a stage folder (``screen/`` or ``ensemble/``), in name order."""
    def key(p):
        return tuple(int(x[1:]) for x in p.stem.split("_"))

    return [json.loads(f.read_text(encoding="utf-8")) for f in sorted(Path(folder).glob("*.json"), key=key)]


def weighted_quantile(values, weights, q: float) -> float:
    """The smallest value whose cumulative weight reaches ``q`` of the total."""
    order = np.argsort(values, kind="stable")
    v, w = np.asarray(values, dtype=float)[order], np.asarray(weights, dtype=float)[order]
    return float(v[min(np.searchsorted(np.cumsum(w), q * w.sum()), len(v) - 1)])


def _failed_generations(gens: list[str]) -> str:
    """' (k failed and not kept)' when abc_generations.csv lists generations pyabc did not keep, else ''."""
    header = gens[0].split(",")
    if "kept" not in header:
        return ""
    failed = sum(row.split(",")[header.index("kept")].startswith("no") for row in gens[1:])
    return f" ({failed} failed and not kept)" if failed else ""


def _fmt(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    x = float(x)
    return f"{x:.0f}" if x.is_integer() or abs(x) >= 100 else f"{x:.3g}"


def pass_matrix(records: list[dict], targets) -> tuple[list, np.ndarray]:
    """(targets applicable in every run, runs x targets pass indicators)."""
    used = [t for t in targets if all(r["values"].get(t.id) is not None for r in records)]
    m = np.array([[t.accept.passes(float(r["values"][t.id])) for t in used] for r in records], dtype=bool)
    return used, m.reshape(len(records), len(used))


def incompatible_pairs(records: list[dict], targets, dims) -> tuple[list[dict], list, np.ndarray, np.ndarray]:
    """Pairs of fitting targets the screen never or rarely meets together, or whose passes anti-correlate.

    Returns the flagged pairs (with the parameter whose Spearman correlations with the two pass indicators
    have opposite signs and the largest product), the targets used, their joint pass rates and phi matrix.
    """
    from scipy.stats import spearmanr

    used, m = pass_matrix(records, targets)
    n = len(used)
    rates = m.mean(axis=0) if len(m) else np.zeros(n)
    joint = (m[:, :, None] & m[:, None, :]).mean(axis=0) if len(m) else np.zeros((n, n))
    with np.errstate(invalid="ignore", divide="ignore"):
        phi = np.corrcoef(m.T.astype(float)) if n > 1 and len(m) > 1 else np.full((n, n), np.nan)
    phi = np.atleast_2d(phi)
    params = np.array([[r["params"][d.path] for d in dims] for r in records], dtype=float)
    rho = np.full((n, len(dims)), np.nan)
    for i in range(n):
        for j in range(len(dims)):
            if m[:, i].min() != m[:, i].max() and params[:, j].min() != params[:, j].max():
                rho[i, j] = spearmanr(params[:, j], m[:, i]).statistic
    pairs = []
    for i in range(n):
        for j in range(i + 1, n):
            if rates[i] == 0 or rates[j] == 0:
                continue  # a target never met is reported on its own
            rarely = joint[i, j] <= RARELY
            anti = not math.isnan(phi[i, j]) and phi[i, j] <= ANTI
            if not (rarely or anti):
                continue
            push = -rho[i] * rho[j]
            k = int(np.nanargmax(push)) if np.any(push > 0) else None
            pairs.append({"a": used[i].id, "b": used[j].id, "rate_a": rates[i], "rate_b": rates[j],
                          "joint": joint[i, j], "phi": phi[i, j],
                          "param": dims[k].path if k is not None and push[k] >= 0.01 else None,
                          "rho_a": rho[i, k] if k is not None else math.nan,
                          "rho_b": rho[j, k] if k is not None else math.nan})
    pairs.sort(key=lambda p: (p["joint"], p["phi"] if not math.isnan(p["phi"]) else 0.0))
    return pairs, used, joint, phi


# ---------------------------------------------------------------------- figures


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def fig_screen_rates(used, m: np.ndarray, path: Path) -> Path:
    plt = _plt()
    rates = m.mean(axis=0) if len(m) else np.zeros(len(used))
    fig, ax = plt.subplots(figsize=(7.5, 0.28 * len(used) + 1.2))
    y = np.arange(len(used))
    ax.barh(y, rates, color=["#999999" if r == 0 else "#0072B2" for r in rates])
    ax.set_yticks(y, [t.id for t in used], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of screen runs meeting the target", fontsize=8)
    ax.set_title(f"Fitting targets across the screen ({len(m)} runs over the prior box); grey: never met", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def fig_pairs(used, joint: np.ndarray, phi: np.ndarray, path: Path) -> Path:
    plt = _plt()
    n = len(used)
    fig, axes = plt.subplots(1, 2, figsize=(13, 0.3 * n + 2.6))
    for ax, mat, title, cmap, lim in ((axes[0], joint, "share of screen runs meeting both", "viridis", (0, 1)),
                                      (axes[1], phi, "correlation (phi) of the two pass indicators", "RdBu",
                                       (-1, 1))):
        im = ax.imshow(np.ma.masked_invalid(mat), cmap=cmap, vmin=lim[0], vmax=lim[1])
        ax.set_xticks(range(n), [t.id for t in used], rotation=90, fontsize=6)
        ax.set_yticks(range(n), [t.id for t in used], fontsize=6)
        ax.set_title(title, fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.04)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def fig_marginals(cal: Calibration, posterior: list[dict], path: Path) -> Path:
    """Per parameter: the last generation's weighted histogram (in the prior's scale) against the flat prior."""
    plt = _plt()
    last = max(int(r["generation"]) for r in posterior)
    rows = [r for r in posterior if int(r["generation"]) == last]
    w = np.array([float(r["weight"]) for r in rows])
    cols = 3
    nrows = -(-len(cal.dims) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 2.4 * nrows), squeeze=False)
    for ax, d in zip(axes.flat, cal.dims):
        x = np.array([float(r[d.path]) for r in rows])
        u = np.log10(x) if d.log else x
        bins = np.linspace(d.lo, d.hi, 13)
        ax.hist(u, bins=bins, weights=w / w.sum(), color="#0072B2", alpha=0.8, label=f"posterior (gen. {last})")
        ax.hlines(1 / (len(bins) - 1), d.lo, d.hi, color="#D55E00", lw=1.5, label="prior")
        ax.set_xlim(d.lo, d.hi)
        ax.set_title(d.path.split(".", 1)[1], fontsize=8)
        ax.set_xlabel("log10 value" if d.log else "value", fontsize=7)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(cal.dims):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=6)
    fig.suptitle("Posterior marginals (weighted histogram) against the prior", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def fig_predictive(cal: Calibration, params: dict, ensemble: list[dict], path: Path) -> Path:
    """Median and 5-95% band of the ensemble's monthly series, documented phases shaded."""
    from sim.params import Scenario
    from sim.plots import series_panels
    from sim.runview import View
    from sim.sweep import apply_overrides, nest

    scenario = Scenario.model_validate(apply_overrides(cal.base_full, nest(params)))
    records = [{"point": 0, "series": r["series"]} for r in ensemble]
    view = View(None, "sweep", f"fitted parameters, {len(records)} seeds", scenario, records=records)
    return series_panels([view], list(ENSEMBLE_SERIES), path,
                         title="Posterior predictive: median and 5-95% band; phases shaded")


# ---------------------------------------------------------------------- the report


def _table(header: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c).replace("|", "/") for c in r) + " |" for r in rows]
    return out


def _target_rows(targets, ensemble: list[dict]) -> tuple[list[list], int, int]:
    rows, met, applicable = [], 0, 0
    for t in targets:
        result = Score(t, [r["values"].get(t.id) for r in ensemble])
        vals, passed, rate = [float(v) for v in result.applicable], sum(result.passes), result.pass_rate
        if rate is not None:
            applicable += 1
            met += rate >= PASS_BAR
        rows.append([f"`{t.id}`", t.statement, str(t.accept), _fmt(float(np.median(vals))) if vals else "n/a",
                     "n/a" if rate is None else format_rate(passed, len(vals)) + (" **met**" if rate >= PASS_BAR else ""),
                     ", ".join(s[:3] for s in t.source)])
    return rows, met, applicable


def write_report(cal: Calibration, out: Path, params: dict, *, calibrated: Path | None = None) -> Path:
    """Write ``out/report.md`` and ``out/figures/*.png`` from the working folder; returns the report path."""
    from sim.calibrate import CalibratedFile, read_selection
    from sim.sweep import write_atomic

    out = Path(out)
    figures = out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    screen = read_records(cal.work / "screen")
    ensemble = read_records(cal.work / "ensemble")
    posterior = read_posterior(cal.work)
    gens = (cal.work / "abc_generations.csv").read_text(encoding="utf-8").splitlines()
    priors = cal.priors
    meta = None
    if calibrated is not None and Path(calibrated).is_file():
        import yaml

        meta = CalibratedFile.model_validate(yaml.safe_load(Path(calibrated).read_text(encoding="utf-8")))

    used, m = pass_matrix(screen, cal.fit)
    pairs, used, joint, phi = incompatible_pairs(screen, cal.fit, cal.dims)
    fig_screen_rates(used, m, figures / FIGURES[0])
    fig_pairs(used, joint, phi, figures / FIGURES[1])
    fig_marginals(cal, posterior, figures / FIGURES[2])
    fig_predictive(cal, params, ensemble, figures / FIGURES[3])

    last = max(int(r["generation"]) for r in posterior)
    final = [r for r in posterior if int(r["generation"]) == last]
    wts = [float(r["weight"]) for r in final]
    L = ["# Calibration report", ""]
    L += [f"Written by `liptako calibrate` from the working folder `{cal.work}`. Scenario "
          f"`{portable(cal.scenario_path)}`, priors `{cal.priors_path.name}`, targets `{cal.targets_path.name}`, master seed "
          f"{cal.master_seed}. Fitting runs end {cal.base['end']}; the ensemble at the fitted values runs to "
          f"{cal.base_full['end']}."]
    if meta is not None:
        L += ["", f"Fitted set `{portable(calibrated)}`: created {meta.created}, commit `{meta.git_commit}`, "
              f"runs {meta.runs}, distances {meta.distance}."]
    L += ["", f"Runs: screen {len(screen)} ({cal.settings.get('screen', '?')} points x "
          f"{cal.settings.get('seeds_per_point', '?')} seeds), "
          f"ABC-SMC {sum(int(g.split(',')[2]) for g in gens[1:])} over {len(gens) - 1} generations"
          f"{_failed_generations(gens)}, "
          f"ensemble {len(ensemble)} seeds."]

    selection = read_selection(cal.work)
    if selection:
        winner = next(r for r in selection if r["chosen"] == "1")
        how = (f"The candidate meeting the most fitting targets (then the smallest mean distance) over the same "
               f"{cal.settings.get('candidate_seeds', '?')} seeds, {winner['label']} (next section); the 5-95% "
               "range is the last ABC-SMC generation's weighted quantiles.")
    else:
        how = ("The weighted median of each marginal in the last ABC-SMC generation (the 5-95% range is that "
               "generation's weighted quantiles).")
    ess = effective_sample_size(wts)
    few = ess < 0.2 * len(wts)
    how += (f" The last generation's weights are worth {ess:.1f} equally weighted particles of {len(wts)} (Kish's "
            "effective sample size)" + (": its marginals and ranges rest on that few." if few else "."))
    L += ["", "## Fitted parameters", "", how]
    rows = []
    for d in cal.dims:
        x = [float(r[d.path]) for r in final]
        p = priors.parameters[d.path]
        rows.append([f"`{d.path}`", f"{p.prior} [{d.low:g}, {d.high:g}]", f"{params[d.path]:g}",
                     f"{weighted_quantile(x, wts, 0.05):.3g} - {weighted_quantile(x, wts, 0.95):.3g}", p.reason])
    L += [""] + _table(["parameter", "prior", "fitted", "posterior 5-95%", "why fitted"], rows)

    if selection:
        L += ["", "## Choosing the fitted set", "",
              "The weighted median of each marginal combines values from different particles and may sit where no "
              "particle did; one particle's own distance mostly reflects its seed. So the weighted-median point and "
              "the closest particles of the last generation were each run on the same seeds over the fitting "
              f"period; the most fitting targets met in at least {100 * PASS_BAR:.0f}% of those seeds chose the "
              "fitted set, the smaller mean distance breaking ties (`select.csv`)."]
        L += [""] + _table(["candidate", "mean distance", f"fitting targets met (>= {100 * PASS_BAR:.0f}% of its seeds)",
                            "chosen"],
                           [[r["label"], f"{float(r['mean_distance']):.3f}", r["targets_met"],
                             "yes" if r["chosen"] == "1" else ""] for r in selection])
    fit_rows, met, appl = _target_rows(cal.fit, ensemble)
    held = [t for t in cal.targets if t.use == "holdout"]
    held_rows, held_met, held_appl = _target_rows(held, ensemble)
    L += ["", f"## Targets at the fitted parameters ({len(ensemble)}-seed ensemble)", "",
          f"Pass rate: the share of the ensemble's runs whose value lies in the accepted interval, with its 95% "
          f"Wilson interval; **met**: at least {100 * PASS_BAR:.0f}% (the bar of issue 3). Sources are the seed "
          "files (first three characters).",
          "", f"### Fitting targets: {met} of {appl} met", ""]
    L += _table(["target", "statement", "accepted", "median", "pass rate", "source"], fit_rows)
    skipped = [t.id for t in cal.targets if t.use == "fit" and t not in cal.fit]
    if skipped:
        L += ["", f"Not applicable before the horizon {cal.base['end']}: {', '.join(skipped)}."]
    L += ["", f"### Held-out validation (after the fitting period): {held_met} of {held_appl} met", "",
          "These targets took no part in the fit; they test the fitted model out of sample."]
    L += [""] + _table(["target", "statement", "accepted", "median", "pass rate", "source"], held_rows)

    rates = m.mean(axis=0) if len(m) else np.zeros(len(used))
    never = [t.id for t, r in zip(used, rates) if r == 0]
    L += ["", "## Which targets cannot be met together", "",
          f"From the screen's {len(screen)} runs over the whole prior box. A pair is listed when both targets are met "
          f"somewhere but together in at most {100 * RARELY:.0f}% of runs, or when their pass indicators correlate "
          f"at phi <= {ANTI}. *Parameter*: the fitted parameter whose rank correlations with the two pass indicators "
          "have opposite signs and the largest product: the trade-off the priors cannot escape, and so where a "
          "mechanism needs changing rather than a value.", "", f"![screen pass rates](figures/{FIGURES[0]})", ""]
    if never:
        L += [f"Never met anywhere in the screen (no parameter value within the priors produces them; the "
              f"mechanism is missing or wrong): {', '.join(f'`{i}`' for i in never)}.", ""]
    if pairs:
        L += _table(["target A", "target B", "A met", "B met", "both met", "phi", "parameter (rho A, rho B)"],
                    [[f"`{p['a']}`", f"`{p['b']}`", f"{100 * p['rate_a']:.0f}%", f"{100 * p['rate_b']:.0f}%",
                      f"{100 * p['joint']:.0f}%", _fmt(p["phi"]),
                      (f"`{p['param']}` ({p['rho_a']:+.2f}, {p['rho_b']:+.2f})" if p["param"]
                       else "none alone (seed noise or several parameters)")] for p in pairs])
    else:
        L += ["No pair of fitting targets is rarely met together or anti-correlated in the screen."]
    L += ["", f"![joint pass rates and correlations](figures/{FIGURES[1]})"]

    L += ["", "## Posterior marginals", "", f"![posterior marginals](figures/{FIGURES[2]})", "",
          "## Posterior-predictive time series", "",
          "Monthly JNIM-ISGS clashes and the fighters killed in them, and the area JNIM and ISGS hold, across the "
          "ensemble at the fitted parameters (median and 5-95% band), with the documented phases of "
          "`seeds/phases.yaml` shaded.", "", f"![posterior predictive](figures/{FIGURES[3]})", "",
          "## ABC-SMC generations", ""]
    L += _table(gens[0].split(","), [g.split(",") for g in gens[1:]])
    report = out / "report.md"
    write_atomic(report, "\n".join(L) + "\n")
    return report
