"""Figures of a run: control maps at a few dates and actor time series.

Colours are the Okabe-Ito palette (safe for colour-blind readers) set per
actor in :mod:`sim.actors`. Uses matplotlib's Agg backend; nothing here is
imported by the model.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from sim.actors import CAST, INDEX  # noqa: E402

MAP_DATES = ("2017-06-01", "2019-07-01", "2020-12-01", "2022-06-01", "2023-06-01", "2025-06-01")
PHASES = (  # seeds/phases.yaml, JNIM-ISGS relation
    ("2017-03-01", "2019-07-01", "cooperation", "#E8F4E8"),
    ("2019-07-01", "2022-05-01", "war", "#F8E0E0"),
    ("2022-05-01", "2022-11-03", "truce", "#E0ECF8"),
    ("2022-11-03", "2026-01-01", "renewed war", "#F8ECE0"),
)
RELATION_COLOURS = {"cooperation": "#009E73", "tension": "#E69F00", "war": "#D55E00", "truce": "#56B4E9", "pact": "#0072B2"}


def _pick_dates(rasters, wanted=MAP_DATES):
    dates = [d for d, *_ in rasters]
    picks = []
    for w in wanted:
        target = dt.date.fromisoformat(w)
        if dates[0] <= target <= dates[-1]:
            picks.append(min(range(len(dates)), key=lambda k: abs((dates[k] - target).days)))
    if len(picks) < 2:
        picks = sorted({0, len(dates) // 2, len(dates) - 1})
    return picks


def draw_borders(ax, geo):
    for region in geo.regions:
        lw, colour = (0.9, "#333333") if region.country in ("MLI", "BFA", "NER") else (0.5, "#777777")
        for ring in region.polygons:
            xy = np.asarray(ring)
            ax.plot(xy[:, 0], xy[:, 1], color=colour, lw=lw * 0.6)


def draw_towns(ax, geo, min_population=40000):
    for t in geo.towns:
        if t.population >= min_population or t.kind in ("national_capital",):
            ax.plot(t.lon, t.lat, "o", ms=2.5, color="black")
            ax.annotate(t.name, (t.lon, t.lat), xytext=(2, 2), textcoords="offset points", fontsize=5)


def control_maps(result, path, dates=MAP_DATES):
    """Small multiples of control: colour = controlling actor, hatching = contested."""
    rasters = result.rasters
    picks = _pick_dates(rasters, dates)
    cols = 3
    rows = int(np.ceil(len(picks) / cols))
    lon, lat = result.lon, result.lat
    res = abs(lon[1] - lon[0]) if len(lon) > 1 else 0.1
    extent = (lon[0] - res / 2, lon[-1] + res / 2, lat[-1] - res / 2, lat[0] + res / 2)
    cmap = ListedColormap(["#FFFFFF", "#BBBBBB"] + [a.colour for a in CAST])
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows + 0.8), squeeze=False)
    for ax in axes.ravel()[len(picks):]:
        ax.axis("off")
    for ax, k in zip(axes.ravel(), picks):
        date, control, contested, share = rasters[k]
        img = control.astype(int) + 2  # -1 none -> 1? keep none white
        img = np.where(control < 0, 0, img)
        img = np.where(contested, 1, img)
        ax.imshow(img, cmap=cmap, vmin=0, vmax=len(CAST) + 1, extent=extent, interpolation="nearest",
                  alpha=0.85)
        if result.geo is not None:
            draw_borders(ax, result.geo)
            draw_towns(ax, result.geo)
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
        ax.set_title(date.isoformat(), fontsize=9)
        ax.tick_params(labelsize=6)
    shown = sorted({int(x) for _, c, _, _ in (rasters[k] for k in picks) for x in np.unique(c) if x >= 0})
    handles = [Patch(color=CAST[i].colour, label=CAST[i].name) for i in shown]
    handles.append(Patch(color="#BBBBBB", label="contested"))
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6), fontsize=7, frameon=False)
    fig.suptitle(f"Territorial control, {result.scenario.name} (seed {result.master_seed})", fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 1, 0.97))
    fig.savefig(path, dpi=130)
    plt.close(fig)


def _series(history, key):
    out = defaultdict(list)
    for row in history:
        out[row["actor"]].append(row[key])
    return out


def shade_phases(ax):
    for start, end, label, colour in PHASES:
        ax.axvspan(dt.date.fromisoformat(start), dt.date.fromisoformat(end), color=colour, zorder=0, lw=0)


def monthly_clashes(events, a="JNIM", b="ISGS"):
    from sim.eventlog import acled_actor

    names = {acled_actor(a), acled_actor(b)}
    counts, deaths = defaultdict(int), defaultdict(int)
    for e in events:
        if e["event_type"] == "Battles" and {e["actor1"], e["actor2"]} == names:
            month = e["event_date"][:7]
            counts[month] += 1
            deaths[month] += int(e["fatalities"])
    return counts, deaths


def timeseries(result, path):
    hist = result.history
    dates = sorted({dt.date.fromisoformat(r["date"]) for r in hist})
    area = _series(hist, "area_km2")
    men = _series(hist, "manpower")
    main = [a.name for a in CAST if a.kind in ("jihadist", "state")] + ["VDP", "GATIA", "Dan Na Ambassagou"]
    fig, axes = plt.subplots(4, 1, figsize=(10, 11), sharex=True)
    for ax in axes:
        shade_phases(ax)
    for name in main:
        colour = CAST[INDEX[name]].colour
        axes[0].plot(dates, np.array(area[name]) / 1000.0, label=name, color=colour, lw=1.4)
        axes[1].plot(dates, men[name], label=name, color=colour, lw=1.4)
    axes[0].set_ylabel("area controlled (1000 km²)")
    axes[1].set_ylabel("manpower")
    axes[0].legend(fontsize=7, ncol=4)
    counts, deaths = monthly_clashes(result.events)
    months = sorted(counts)
    mdates = [dt.date.fromisoformat(m + "-15") for m in months]
    axes[2].bar(mdates, [counts[m] for m in months], width=25, color=CAST[INDEX["ISGS"]].colour, label="clashes")
    ax2 = axes[2].twinx()
    ax2.plot(mdates, [deaths[m] for m in months], "k.", ms=3, label="fatalities")
    axes[2].set_ylabel("JNIM-ISGS clashes / month")
    ax2.set_ylabel("fatalities")
    timeline = result.relation_timeline()
    for k, (d, state) in enumerate(timeline):
        start = dt.date.fromisoformat(d)
        end = dt.date.fromisoformat(timeline[k + 1][0]) if k + 1 < len(timeline) else dates[-1]
        axes[3].axvspan(start, end, ymin=0.3, ymax=0.7, color=RELATION_COLOURS[state])
    axes[3].set_yticks([])
    axes[3].set_ylabel("JNIM-ISGS\n(model)")
    axes[3].legend(handles=[Patch(color=c, label=s) for s, c in RELATION_COLOURS.items()], fontsize=7, ncol=5,
                   loc="upper left")
    axes[0].set_title(f"{result.scenario.name} (seed {result.master_seed}); shading: documented phases "
                      "(green cooperation, red war, blue truce, orange renewed war)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
