"""Global sensitivity analysis with SALib: Sobol (Saltelli design) and Morris elementary effects.

A thin wrapper so the sweep and the tests share one code path: :func:`sample`
draws the design, the model (or a test function) is evaluated at every row,
:func:`analyse` turns the outputs into one row of indices per parameter, and
:func:`write_table` / :func:`bar_chart` write them out. ``tests/test_sensitivity.py``
checks the wrapper against the analytic indices of the Ishigami function.

With replicates, a sweep averages a metric over the replicates of each point
before the analysis, so the indices describe the expected outcome; the
leftover noise shows up as wider confidence intervals.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

SOBOL_COLUMNS = ("S1", "S1_conf", "ST", "ST_conf")
MORRIS_COLUMNS = ("mu", "mu_star", "mu_star_conf", "sigma")


def sample(method: str, problem: dict, n: int, *, seed: int, second_order: bool = False, levels: int = 4) -> np.ndarray:
    """The design matrix: ``n * (d + 2)`` (or ``n * (2d + 2)``) Saltelli rows for sobol, ``n * (d + 1)`` for morris."""
    if method == "sobol":
        from SALib.sample import sobol

        return sobol.sample(problem, n, calc_second_order=second_order, seed=seed)
    if method == "morris":
        from SALib.sample import morris

        return morris.sample(problem, n, num_levels=levels, seed=seed)
    raise ValueError(f"unknown sensitivity method {method!r}; expected sobol or morris")


def analyse(method: str, problem: dict, x: np.ndarray, y: np.ndarray, *, second_order: bool = False,
            levels: int = 4, seed: int = 0) -> list[dict]:
    """One row per parameter with its indices and 95% confidence half-widths.

    Sobol rows hold ``S1, S1_conf, ST, ST_conf``; Morris rows ``mu, mu_star,
    mu_star_conf, sigma`` (elementary effects in output units per full parameter
    range). A constant output has no variance to apportion: its indices are NaN.
    """
    y = np.asarray(y, dtype=float)
    names = problem["names"]
    cols = SOBOL_COLUMNS if method == "sobol" else MORRIS_COLUMNS
    if np.ptp(y) == 0:
        return [{"parameter": p, **{c: float("nan") for c in cols}} for p in names]
    if method == "sobol":
        from SALib.analyze import sobol

        res = sobol.analyze(problem, y, calc_second_order=second_order, seed=seed)
    elif method == "morris":
        from SALib.analyze import morris

        res = morris.analyze(problem, np.asarray(x), y, num_levels=levels, seed=seed)
    else:
        raise ValueError(f"unknown sensitivity method {method!r}; expected sobol or morris")
    return [{"parameter": p, **{c: float(res[c][k]) for c in cols}} for k, p in enumerate(names)]


def write_table(rows_by_metric: dict[str, list[dict]], path: Path) -> Path:
    """One CSV row per (metric, parameter)."""
    cols = [c for c in next(iter(rows_by_metric.values()))[0] if c != "parameter"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["metric", "parameter", *cols])
    for metric, rows in rows_by_metric.items():
        for r in rows:
            w.writerow([metric, r["parameter"], *(r[c] for c in cols)])
    Path(path).write_text(buf.getvalue(), encoding="utf-8")
    return Path(path)


def bar_chart(rows_by_metric: dict[str, list[dict]], method: str, path: Path, title: str = "") -> Path:
    """One panel per metric: S1 and ST (sobol) or mu* and sigma (morris) per parameter, with confidence bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(rows_by_metric)
    cols = min(n, 3)
    nrows = -(-n // cols)
    d = len(next(iter(rows_by_metric.values())))
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 1.2 + 0.45 * d * nrows + 0.8 * nrows), squeeze=False)
    if method == "sobol":
        bars = (("S1", "S1_conf", "first order S1", "#0072B2"), ("ST", "ST_conf", "total ST", "#D55E00"))
    else:
        bars = (("mu_star", "mu_star_conf", "mu* (mean |effect|)", "#0072B2"),
                ("sigma", None, "sigma (interactions)", "#D55E00"))
    for ax, (metric, rows) in zip(axes.flat, rows_by_metric.items()):
        pos = np.arange(len(rows))
        for k, (key, conf, label, colour) in enumerate(bars):
            vals = [r[key] for r in rows]
            err = [r[conf] for r in rows] if conf else None
            ax.barh(pos + (k - 0.5) * 0.38, vals, height=0.38, xerr=err, color=colour, label=label,
                    error_kw={"elinewidth": 0.8, "capsize": 2})
        ax.set_yticks(pos, [_short(r["parameter"]) for r in rows], fontsize=8)
        ax.invert_yaxis()
        ax.axvline(0, color="black", lw=0.6)
        ax.set_title(metric, fontsize=10)
        ax.tick_params(axis="x", labelsize=8)
        if np.all(np.isnan([r[bars[0][0]] for r in rows])):
            ax.text(0.5, 0.5, "output does not vary", transform=ax.transAxes, ha="center", fontsize=9)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7, loc="lower right")
    fig.suptitle(title or f"{method} sensitivity", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def _short(path: str) -> str:
    """A parameter label without the ``mechanisms.`` prefix."""
    return path.removeprefix("mechanisms.")
