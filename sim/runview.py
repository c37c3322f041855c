"""What the figures read: a run in memory, a results folder on disk, or an ensemble of either.

Figures take a :class:`View`, so ``liptako plot`` and ``liptako compare`` work on old
results folders as well as on a run just finished. Three kinds of path are understood:

- a results folder (``scenario.yaml``, ``metadata.json``, ``timeseries.csv``, ``events.csv``,
  ``control.npz``, ...): one run, rebuilt as a :class:`sim.runner.RunResult`;
- a folder of results folders of one scenario (e.g. ``liptako run S --seed N --out DIR`` for
  several ``N``): an ensemble with maps (the modal controller per cell) and every series;
- a sweep folder (``manifest.json`` and ``runs/``): an ensemble of the series its spec
  recorded (``timeseries:``), one point at a time; sweeps keep no maps or events.

Series are named like a sweep's: ``ACTOR.column`` (a column of ``timeseries.csv``), plus
monthly event counts ``clashes.A-B``, ``clash_fatalities.A-B`` and
``civilian_fatalities.GROUP`` (a perpetrator group of :data:`PERPETRATORS`). Ensembles are
summarised by :func:`sim.ensemble.summarise` (median and 5-95% band).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim.actors import ACTOR_NAMES, CAST, INDEX, MILITIA_NAMES, PARTNER_NAMES, STATE_NAMES
from sim.scenario_io import ScenarioError

# civilian fatalities are shown by perpetrator group: (label, member actors, colour of the group)
PERPETRATORS = {
    "JNIM": (("JNIM",), CAST[INDEX["JNIM"]].colour),
    "ISGS": (("ISGS",), CAST[INDEX["ISGS"]].colour),
    "state forces": (STATE_NAMES, CAST[INDEX["FAMa"]].colour),
    "foreign partners": (PARTNER_NAMES, CAST[INDEX["Wagner"]].colour),
    "militias": (MILITIA_NAMES, CAST[INDEX["VDP"]].colour),
}
# the figures `liptako run` writes into a results folder
RUN_FIGURES = ("control_map.png", "timeseries.png", "territory.png", "violence.png")
# views of a folder's data that `liptako plot` and `liptako report` add or rewrite at any time
DERIVED_FILES = ("report.html", "control.gif", "control.mp4")
HISTORY_NUMBERS = ("area_km2", "population_ruled", "manpower", "treasury", "support", "strain", "town_focus")
CIVILIAN_TARGETING = "Civilian targeting"


@dataclass
class Band:
    """A series over dates: the value of one run, or the median and 5-95% band of an ensemble."""

    dates: np.ndarray  # datetime64[D]
    median: np.ndarray
    p05: np.ndarray | None = None
    p95: np.ndarray | None = None
    n: int = 1


@dataclass
class View:
    """One run, or an ensemble of runs (with maps) or of sweep records (series only)."""

    path: Path | None
    kind: str  # run | runs | sweep
    label: str
    scenario: object
    runs: list = field(default_factory=list)  # RunResult, one per run
    records: list = field(default_factory=list)  # sweep run records of one point
    geo: object = None

    @property
    def is_ensemble(self) -> bool:
        return self.kind != "run"

    @property
    def has_maps(self) -> bool:
        return bool(self.runs) and all(r.rasters for r in self.runs)

    @property
    def has_events(self) -> bool:
        return bool(self.runs)

    @property
    def run(self):
        """The single run of a ``run`` view."""
        if self.kind != "run":
            raise ValueError(f"{self.label} is an ensemble, not one run")
        return self.runs[0]

    def available_series(self) -> list[str]:
        if self.runs:
            return [f"{a}.{c}" for a in ACTOR_NAMES for c in HISTORY_NUMBERS]
        return list(self.records[0]["series"]["values"]) if self.records else []

    def series(self, names: list[str]) -> dict[str, Band]:
        """Each named series: the run's values, or the ensemble's median and 5-95% band."""
        missing = [n for n in names if not self._can(n)]
        if missing:
            raise ScenarioError(f"{self.label}: no series {', '.join(missing)}"
                                + ("" if self.runs else " (a sweep keeps only the series its spec lists)"))
        history = [n for n in names if n.partition(".")[0] in INDEX]
        out = {}
        for group in (history, [n for n in names if n not in history]):  # recorded dates, months
            if group:
                out.update(self._bands(group))
        return {n: out[n] for n in names}

    def _bands(self, names: list[str]) -> dict[str, Band]:
        records = self.records if not self.runs else [_record(r, names) for r in self.runs]
        if not self.is_ensemble:
            rec = records[0]["series"]
            dates = np.array(rec["dates"], dtype="datetime64[D]")
            return {n: Band(dates, np.asarray(rec["values"][n], dtype=float)) for n in names}
        from sim.ensemble import summarise

        rows = summarise([{**r, "point": 0} for r in records], names)
        out = {}
        for n in names:
            sel = [r for r in rows if r["series"] == n]
            out[n] = Band(np.array([r["date"] for r in sel], dtype="datetime64[D]"),
                          np.array([r["median"] for r in sel]), np.array([r["p05"] for r in sel]),
                          np.array([r["p95"] for r in sel]), sel[0]["n"] if sel else 0)
        return out

    def _can(self, name: str) -> bool:
        if not self.runs:
            return bool(self.records) and name in self.records[0]["series"]["values"]
        head, _, tail = name.partition(".")
        if head in ("clashes", "clash_fatalities"):
            a, _, b = tail.partition("-")
            return a in INDEX and b in INDEX
        if head == "civilian_fatalities":
            return tail in PERPETRATORS
        return head in INDEX and tail in HISTORY_NUMBERS

    def control_at(self, date: dt.date):
        """(date shown, control, contested, strength in 0-1) nearest ``date``.

        One run: its raster, strength = the controller's influence share. An ensemble:
        per cell the controller most runs agree on (-1 for none), contested where most runs
        say so, strength = the share of runs that agree.
        """
        picks = [_nearest(r.rasters, date) for r in self.runs]
        if self.kind == "run":
            d, control, contested, share = self.runs[0].rasters[picks[0]]
            return d, control, contested, np.asarray(share, dtype=float)
        stack = np.stack([r.rasters[k][1] for r, k in zip(self.runs, picks)]).astype(np.int16)
        counts = np.stack([(stack == a).sum(axis=0) for a in range(-1, len(CAST))])
        modal = counts.argmax(axis=0) - 1
        agree = counts.max(axis=0) / len(self.runs)
        contested = np.mean([r.rasters[k][2] for r, k in zip(self.runs, picks)], axis=0) > 0.5
        return self.runs[0].rasters[picks[0]][0], modal.astype(np.int8), contested & (modal < 0), agree

    def raster_dates(self) -> list[dt.date]:
        return [d for d, *_ in self.runs[0].rasters] if self.runs else []


def _nearest(rasters, date: dt.date) -> int:
    return min(range(len(rasters)), key=lambda k: abs((rasters[k][0] - date).days))


def months_of(start: dt.date, end: dt.date) -> list[str]:
    """``YYYY-MM`` of every month from ``start`` to ``end``."""
    out, y, m = [], start.year, start.month
    while (y, m) <= (end.year, end.month):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def monthly(result, name: str) -> tuple[list[str], np.ndarray]:
    """Months of the run and the monthly values of an event series (``clashes.JNIM-ISGS``, ...)."""
    from sim.eventlog import acled_actor

    head, _, tail = name.partition(".")
    months = months_of(result.scenario.start, result.scenario.end)
    per = Counter()
    if head in ("clashes", "clash_fatalities"):
        a, _, b = tail.partition("-")
        pair = {acled_actor(a), acled_actor(b)}
        for e in result.events:
            if e["event_type"] == "Battles" and {e["actor1"], e["actor2"]} == pair:
                per[e["event_date"][:7]] += 1 if head == "clashes" else int(float(e["fatalities"] or 0))
    elif head == "civilian_fatalities":
        names = {acled_actor(x) for x in PERPETRATORS[tail][0]}
        for e in result.events:
            if e["civilian_targeting"] == CIVILIAN_TARGETING and e["actor1"] in names:
                per[e["event_date"][:7]] += int(float(e["fatalities"] or 0))
    else:
        raise ValueError(f"not an event series: {name}")
    return months, np.array([per[m] for m in months], dtype=float)


def _record(result, names: list[str]) -> dict:
    """A run as a sweep-style record of the named series: history series at the recorded dates, or
    event series per month (dated the 15th); one kind per call, as the dates differ."""
    history = [n for n in names if n.partition(".")[0] in INDEX]
    events = [n for n in names if n not in history]
    if history and events:
        raise ValueError("ask for history series and monthly event series separately")
    if events:
        values = {}
        for n in events:
            months, v = monthly(result, n)
            values[n] = v.tolist()
        return {"series": {"dates": [m + "-15" for m in months], "values": values}}
    by_actor: dict[str, list[dict]] = {}
    for row in result.history:
        by_actor.setdefault(row["actor"], []).append(row)
    dates = [row["date"] for row in by_actor[ACTOR_NAMES[0]]]
    values = {}
    for n in history:
        actor, _, column = n.partition(".")
        values[n] = [float(row[column]) for row in by_actor[actor]]
    return {"series": {"dates": dates, "values": values}}


# ---------------------------------------------------------------------- reading folders


def is_results_folder(path: Path) -> bool:
    return all((Path(path) / f).is_file() for f in ("scenario.yaml", "metadata.json", "timeseries.csv"))


def is_sweep_folder(path: Path) -> bool:
    return (Path(path) / "manifest.json").is_file() and (Path(path) / "runs").is_dir()


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def load_run(folder: Path, geo=None):
    """Rebuild the :class:`sim.runner.RunResult` a results folder was written from (no model run)."""
    from sim.commands.rerun import read_results_folder
    from sim.geodata import load_geodata
    from sim.runner import RunResult

    folder = Path(folder)
    scenario, meta = read_results_folder(folder)
    try:
        history = _read_csv(folder / "timeseries.csv")
        for row in history:
            for c in HISTORY_NUMBERS:
                row[c] = float(row[c])
        relations = _read_csv(folder / "relations.csv") if (folder / "relations.csv").is_file() else []
        events = _read_csv(folder / "events.csv") if (folder / "events.csv").is_file() else []
        rasters, lat, lon = [], np.array([]), np.array([])
        if (folder / "control.npz").is_file():
            with np.load(folder / "control.npz", allow_pickle=False) as z:
                dates = [dt.date.fromisoformat(str(d)) for d in z["dates"]]
                rasters = list(zip(dates, z["control"], z["contested"], z["lead_share"]))
                lat, lon = z["lat"], z["lon"]
    except (OSError, KeyError, ValueError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{folder}: unreadable results folder: {exc}") from None
    return RunResult(scenario, meta["master_seed"], meta.get("run_seed", 0), history, relations, events, rasters,
                     lat, lon, float(meta.get("wall_time_s", 0.0)), meta.get("counts", {}), geo or load_geodata(),
                     meta.get("run_index", 0))


def view_of_result(result) -> View:
    return View(None, "run", f"{result.scenario.name} (seed {result.master_seed})", result.scenario, [result],
                geo=result.geo)


def load_view(path: Path, *, point: int = 0, geo=None) -> View:
    """A results folder, a folder of results folders of one scenario, or a sweep folder (one point)."""
    path = Path(path)
    if not path.is_dir():
        raise ScenarioError(f"{path}: no such folder")
    if is_results_folder(path):
        run = load_run(path, geo)
        return View(path, "run", f"{run.scenario.name} (seed {run.master_seed})", run.scenario, [run], geo=run.geo)
    if is_sweep_folder(path):
        return _load_sweep(path, point)
    subs = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".") and is_results_folder(p))
    if not subs:
        raise ScenarioError(f"{path}: neither a results folder (scenario.yaml, metadata.json, timeseries.csv), "
                            "a folder of results folders, nor a sweep folder (manifest.json, runs/)")
    runs = [load_run(p, geo) for p in subs]
    names = sorted({r.scenario.name for r in runs})
    if len(names) > 1:
        raise ScenarioError(f"{path}: holds runs of several scenarios ({', '.join(names)}); an ensemble is the runs "
                            "of one scenario with different seeds: give a folder holding only those")
    shapes = {(r.scenario.start, r.scenario.end, r.scenario.step_days, r.scenario.resolution_deg) for r in runs}
    if len(shapes) > 1:
        raise ScenarioError(f"{path}: the runs of {names[0]} differ in period, step or resolution")
    return View(path, "runs", f"{names[0]}, {len(runs)} seeds", runs[0].scenario, runs, geo=runs[0].geo)


def _load_sweep(path: Path, point: int) -> View:
    from sim.scenario_io import load_scenario
    from sim.sweep import read_records

    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        records = [r for r in read_records(path).values() if r["point"] == point and r.get("series")]
    except (OSError, ValueError, KeyError) as exc:
        raise ScenarioError(f"{path}: unreadable sweep folder: {exc}") from None
    if not records:
        raise ScenarioError(f"{path}: no finished run of point {point} with recorded series "
                            "(list them under timeseries: in the sweep spec)")
    name = manifest.get("spec", {}).get("name", path.name)
    scenario = load_scenario(path / "base_scenario.yaml")
    return View(path, "sweep", f"{name} point {point}, {len(records)} seeds", scenario, records=records)
