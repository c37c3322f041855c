"""Interactive view: a Mesa SolaraViz app that runs :class:`sim.model.LiptakoModel` in the browser.

Started by ``liptako app SCENARIO.yaml`` (which runs ``solara run sim.app``), never imported by
the model, the runner or the CLI's other commands, so the core needs neither solara nor
``mesa.visualization``. The scenario comes from the environment (``LIPTAKO_APP_SCENARIO``, and
``LIPTAKO_APP_SEED`` for the master seed), because solara imports this module itself.

The page shows the map of the chosen layer (control, one actor's influence share, population or
danger) with Mesa's play / step / reset controls, and live charts of area held, JNIM-ISGS clashes
and the JNIM-ISGS relation. It steps the same model code as ``liptako run``: seeds derive the same
way, so a run played to the end matches ``liptako run`` with that seed.
"""

from __future__ import annotations

import datetime as dt
import os
import warnings
from collections import Counter

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import solara  # noqa: E402
from matplotlib.colors import LinearSegmentedColormap, LogNorm  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
# Mesa 3.3.1's ComponentsView trips solara's hook checker (a use_state after an early return); harmless here
warnings.filterwarnings("ignore", category=UserWarning, module="solara.validate_hooks")
from mesa.visualization import SolaraViz  # noqa: E402
from mesa.visualization.utils import update_counter  # noqa: E402

from sim.actors import ACTOR_NAMES, CAST, INDEX  # noqa: E402
from sim.chronology import phase_at  # noqa: E402
from sim.eventlog import acled_actor  # noqa: E402
from sim.geodata import load_geodata  # noqa: E402
from sim.model import LiptakoModel  # noqa: E402
from sim.plots import (  # noqa: E402
    MAIN_ACTORS,
    RELATION_COLOURS,
    draw_control,
    legend_handles,
    setup_map,
    shade_phases,
)
from sim.runner import derive_seeds  # noqa: E402
from sim.scenario_io import load_scenario  # noqa: E402

SCENARIO_ENV, SEED_ENV = "LIPTAKO_APP_SCENARIO", "LIPTAKO_APP_SEED"
LAYERS = ("control", "influence share", "population", "danger")

layer = solara.reactive("control")
focus = solara.reactive("JNIM")  # the actor whose influence share the "influence share" layer shows


def _ramp(actor: str) -> LinearSegmentedColormap:
    return LinearSegmentedColormap.from_list(actor, ["#FFFFFF", CAST[INDEX[actor]].colour])


def map_figure(model: LiptakoModel, layer_name: str, actor: str) -> Figure:
    """The chosen layer of the model's current state on the map, with borders, towns, date and phase."""
    w = model.world
    fig = Figure(figsize=(7.4, 5.6), dpi=90)
    ax = fig.add_axes((0.07, 0.17, 0.8, 0.72))
    extent = (w.lon[0] - w.resolution / 2, w.lon[-1] + w.resolution / 2,
              w.lat[-1] - w.resolution / 2, w.lat[0] + w.resolution / 2)
    if layer_name == "control":
        draw_control(ax, model.control, model.contested, model.share.max(axis=0), w.lon, w.lat)
        shown = sorted({int(x) for x in np.unique(model.control) if x >= 0}) or [INDEX["JNIM"]]
        fig.legend(handles=legend_handles(shown), loc="lower left", ncol=5, fontsize=7, frameon=False)
    else:
        if layer_name == "influence share":
            data, cmap, norm, label = model.share[INDEX[actor]], _ramp(actor), None, f"{actor}'s influence share"
        elif layer_name == "population":
            density = model.pop.sum(axis=0) / w.area_km2
            data, cmap, norm, label = np.maximum(density, 0.1), "cividis", LogNorm(0.1, 1000), "residents per km²"
        else:
            data = np.ma.masked_less(model.danger, 0.05)  # quiet cells stay white
            data, cmap, norm, label = data, "magma_r", None, "danger (decaying sum of deaths)"
        image = ax.imshow(data, extent=extent, interpolation="nearest", cmap=cmap, norm=norm,
                          vmin=0 if norm is None else None, vmax=1 if layer_name == "influence share" else None)
        cax = fig.add_axes((0.89, 0.17, 0.02, 0.72))
        fig.colorbar(image, cax=cax).set_label(label, fontsize=8)
        cax.tick_params(labelsize=7)
    setup_map(ax, w.lon, w.lat, load_geodata())  # cached: the geography the model was built from
    phase = phase_at(model.date)
    fig.text(0.07, 0.955, f"{model.date.isoformat()}  (week {model.steps})", fontsize=13, weight="bold",
             va="center")
    fig.text(0.07, 0.915, phase.name if phase else "before the documented phases", fontsize=8, va="center")
    return fig


def charts_figure(model: LiptakoModel) -> Figure:
    """Area held by the main actors, JNIM-ISGS clashes per month and the relation so far."""
    fig = Figure(figsize=(7.4, 5.6), dpi=90)
    axes = fig.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2, 0.7]})
    fig.subplots_adjust(left=0.12, right=0.78, top=0.95, bottom=0.08, hspace=0.15)
    start, now = model.scenario.start, max(model.date, model.scenario.start + dt.timedelta(days=28))
    by_actor: dict[str, list] = {}
    for row in model.history:
        by_actor.setdefault(row["actor"], []).append(row)
    dates = np.array([r["date"] for r in by_actor[ACTOR_NAMES[0]]], dtype="datetime64[D]")
    for ax in axes[:2]:
        shade_phases(ax)
    for a in MAIN_ACTORS:
        axes[0].plot(dates, [r["area_km2"] / 1000 for r in by_actor[a]], color=CAST[INDEX[a]].colour, lw=1.3, label=a)
    axes[0].set_ylabel("area held (1000 km²)", fontsize=8)
    axes[0].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    pair = {acled_actor("JNIM"), acled_actor("ISGS")}
    months = Counter(e["event_date"][:7] for e in model.log.rows
                     if e["event_type"] == "Battles" and {e["actor1"], e["actor2"]} == pair)
    if months:
        keys = sorted(months)
        axes[1].bar(np.array([k + "-15" for k in keys], dtype="datetime64[D]"), [months[k] for k in keys], width=24,
                    color=CAST[INDEX["ISGS"]].colour)
    axes[1].set_ylabel("JNIM-ISGS\nclashes / month", fontsize=8)
    rows = [r for r in model.relation_history if {r["actor_a"], r["actor_b"]} == {"JNIM", "ISGS"}]
    for k, r in enumerate(rows):
        end = rows[k + 1]["date"] if k + 1 < len(rows) else model.date.isoformat()
        axes[2].axvspan(np.datetime64(r["date"]), np.datetime64(end), color=RELATION_COLOURS[r["state"]], lw=0)
    axes[2].set_yticks([])
    axes[2].set_ylabel("JNIM-ISGS", fontsize=8)
    axes[2].legend(handles=[Patch(color=c, label=s) for s, c in RELATION_COLOURS.items()], fontsize=7,
                   loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    axes[2].set_xlim(np.datetime64(start), np.datetime64(now))
    for ax in axes:
        ax.tick_params(labelsize=7)
    return fig


@solara.component
def ControlMap(model):
    """Layer and actor choice above the map; re-rendered after every step."""
    update_counter.get()  # Mesa bumps it after each step; components it does not wrap must read it themselves
    with solara.Column():
        with solara.Row():
            solara.ToggleButtonsSingle(value=layer, values=list(LAYERS))
        if layer.value == "influence share":
            solara.Select(label="actor", value=focus, values=list(ACTOR_NAMES))
        solara.FigureMatplotlib(map_figure(model, layer.value, focus.value), format="png")


@solara.component
def LiveCharts(model):
    update_counter.get()
    solara.FigureMatplotlib(charts_figure(model), format="png")


def build_page():
    """The SolaraViz page for the scenario named in the environment."""
    path = os.environ.get(SCENARIO_ENV)
    if not path:
        raise RuntimeError(f"set {SCENARIO_ENV} to a scenario file, or start the app with `liptako app SCENARIO.yaml`")
    scenario = load_scenario(path)
    master = int(os.environ.get(SEED_ENV) or scenario.seed)
    geo = load_geodata()
    seed = derive_seeds(master, 1)[0]  # the run seed `liptako run --seed master` uses
    model = LiptakoModel(scenario, geo, seed=seed)
    return SolaraViz(model, components=[(ControlMap, 0), (LiveCharts, 0)],
                     model_params={"scenario": scenario, "geo": geo, "seed": seed},
                     name=f"liptako: {scenario.name} (seed {master})", play_interval=150)


page = build_page()
