"""Ensemble summaries: median and 5-95% band of time series across a sweep's replicates.

A sweep records the series its spec lists under ``timeseries:`` (``ACTOR.column``
of the run history) in every run file; :func:`summarise` takes them per point
and date across the replicates (the seeds), :func:`write_csv` and :func:`plot`
write the result. An ensemble is a sweep with no parameters and many replicates.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

COLUMNS = ("point", "series", "date", "n", "median", "p05", "p95", "mean")
MAX_PLOTTED_POINTS = 8


def summarise(records, series_names: list[str]) -> list[dict]:
    """Rows of :data:`COLUMNS`: per point, series and date, the replicates' median, 5th and 95th percentiles.

    Args:
        records: run records with ``point`` and ``series`` (``dates`` and ``values`` by series name).
        series_names: the series to summarise.
    """
    by_point: dict[int, list[dict]] = {}
    for rec in records:
        by_point.setdefault(rec["point"], []).append(rec)
    rows = []
    for point in sorted(by_point):
        recs = by_point[point]
        dates = recs[0]["series"]["dates"]
        if any(r["series"]["dates"] != dates for r in recs):
            raise ValueError(f"point {point}: replicates recorded different dates")
        for name in series_names:
            values = np.array([r["series"]["values"][name] for r in recs], dtype=float)
            med, p05, p95 = np.percentile(values, [50, 5, 95], axis=0)
            mean = values.mean(axis=0)
            for k, d in enumerate(dates):
                rows.append({"point": point, "series": name, "date": d, "n": len(recs), "median": float(med[k]),
                             "p05": float(p05[k]), "p95": float(p95[k]), "mean": float(mean[k])})
    return rows


def write_csv(rows: list[dict], path: Path) -> Path:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(COLUMNS), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    Path(path).write_text(buf.getvalue(), encoding="utf-8")
    return Path(path)


def plot(rows: list[dict], path: Path, labels: dict[int, str] | None = None, title: str = "") -> Path:
    """One panel per series: the median line and the 5-95% band for each point (at most eight points).

    Args:
        rows: output of :func:`summarise`.
        path: PNG file to write.
        labels: legend label per point (default ``point i``).
        title: figure title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r["series"] for r in rows))
    points = sorted({r["point"] for r in rows})
    if len(points) > MAX_PLOTTED_POINTS:
        raise ValueError(f"{len(points)} points are too many for one plot; choose at most {MAX_PLOTTED_POINTS}")
    cols = min(len(names), 2)
    nrows = -(-len(names) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(6.5 * cols, 3.2 * nrows), squeeze=False)
    colours = plt.get_cmap("tab10").colors
    for ax, name in zip(axes.flat, names):
        for j, p in enumerate(points):
            sel = [r for r in rows if r["series"] == name and r["point"] == p]
            x = np.array([r["date"] for r in sel], dtype="datetime64[D]")
            c = colours[j % len(colours)]
            ax.fill_between(x, [r["p05"] for r in sel], [r["p95"] for r in sel], color=c, alpha=0.2, lw=0)
            label = (labels or {}).get(p, f"point {p}")
            ax.plot(x, [r["median"] for r in sel], color=c, lw=1.4, label=f"{label} (n={sel[0]['n']})")
        ax.set_title(name, fontsize=10)
        locator = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7, loc="best")
    fig.suptitle(title or "median and 5-95% band across seeds", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
