"""Named outcome metrics over a run's plain rows, reusable on ACLED exports.

The functions take plain rows: time-series rows (``date, actor, <column>``, as
in ``RunResult.history`` or ``timeseries.csv``), relation rows
(``RunResult.relation_history``) and event rows in ACLED's columns
(``RunResult.events``, a run's ``events.csv`` or an ACLED export read with
:func:`read_events_csv`). Values may be strings as read from CSV; dates may be
ISO strings, ACLED's ``15 March 2020`` or :class:`datetime.date`. Actors are
given by model name (``"JNIM"``, translated to its ACLED name) or by ACLED name,
or as a list of aliases. Periods include both ends.

The pydantic ``*Metric`` classes name a metric with its arguments so a sweep
spec (or the calibration) can declare ``jnim_area_2022: {metric: series,
actor: JNIM, column: area_km2, date: 2022-06-30}`` and compute it on a
:class:`sim.runner.RunResult`.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Literal, Union

import numpy as np
from pydantic import Field, field_validator, model_validator

from sim.actors import ACTOR_NAMES, INDEX
from sim.eventlog import acled_actor
from sim.params import Frozen

SERIES_COLUMNS = ("area_km2", "population_ruled", "manpower", "treasury", "support", "strain", "town_focus")
RELATION_STATES = ("cooperation", "tension", "war", "truce", "pact")
CIVILIAN_TARGETING = "Civilian targeting"
_FIGHTERS = re.compile(r"(\d+) fighters")

Actors = Union[str, Iterable[str]]


# ---------------------------------------------------------------------- row helpers


def as_date(value) -> dt.date:
    """A date from a :class:`datetime.date`, an ISO string or ACLED's ``15 March 2020``."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return dt.datetime.strptime(text, "%d %B %Y").date()


def acled_names(actors: Actors) -> frozenset[str]:
    """ACLED names for a model actor, an ACLED name, or a list of either."""
    items = [actors] if isinstance(actors, str) else list(actors)
    return frozenset(acled_actor(a) if a in INDEX else a for a in items)


def _number(value) -> float:
    return float(value) if value not in (None, "") else 0.0


def in_period(rows: Iterable[dict], start, end, key: str = "event_date") -> list[dict]:
    """Rows whose ``key`` date lies in ``[start, end]``."""
    lo, hi = as_date(start), as_date(end)
    return [r for r in rows if lo <= as_date(r[key]) <= hi]


def read_events_csv(path) -> list[dict]:
    """Event rows of a run's ``events.csv`` or an ACLED export (CSV with a header row)."""
    with open(Path(path), newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


# ---------------------------------------------------------------------- time series


def series(history: Iterable[dict], actor: str, column: str) -> tuple[list[dt.date], list[float]]:
    """The recorded dates and values of ``column`` for ``actor``."""
    rows = sorted((as_date(r["date"]), _number(r[column])) for r in history if r["actor"] == actor)
    return [d for d, _ in rows], [v for _, v in rows]


def series_value(history: Iterable[dict], actor: str, column: str, date) -> float:
    """``column`` of ``actor`` at the last record on or before ``date``."""
    dates, values = series(history, actor, column)
    day = as_date(date)
    k = int(np.searchsorted(np.array(dates, dtype="datetime64[D]"), np.datetime64(day), side="right")) - 1
    if k < 0:
        raise ValueError(f"no {actor} record on or before {day}")
    return values[k]


def series_stat(history: Iterable[dict], actor: str, column: str, start, end, stat: str = "mean") -> float:
    """Mean, min or max of ``column`` of ``actor`` over the records in ``[start, end]``."""
    lo, hi = as_date(start), as_date(end)
    dates, values = series(history, actor, column)
    picked = [v for d, v in zip(dates, values) if lo <= d <= hi]
    if not picked:
        raise ValueError(f"no {actor} record between {lo} and {hi}")
    return float({"mean": np.mean, "min": np.min, "max": np.max}[stat](picked))


# ---------------------------------------------------------------------- events


def _between(events: Iterable[dict], a: Actors, b: Actors) -> list[dict]:
    """Battles with ``a`` on one side and ``b`` on the other (main actors only)."""
    sa, sb = acled_names(a), acled_names(b)
    return [e for e in events if e["event_type"] == "Battles"
            and ((e["actor1"] in sa and e["actor2"] in sb) or (e["actor1"] in sb and e["actor2"] in sa))]


def clashes(events: Iterable[dict], a: Actors, b: Actors, start, end) -> int:
    """Number of battles between ``a`` and ``b`` in the period."""
    return len(_between(in_period(events, start, end), a, b))


def clash_fatalities(events: Iterable[dict], a: Actors, b: Actors, start, end) -> int:
    """Fatalities in the battles between ``a`` and ``b`` in the period."""
    return int(sum(_number(e["fatalities"]) for e in _between(in_period(events, start, end), a, b)))


def civilian_fatalities(events: Iterable[dict], start, end, perpetrator: Actors | None = None) -> int:
    """Fatalities in civilian-targeting events in the period, by ``perpetrator`` (actor1) or by anyone."""
    names = acled_names(perpetrator) if perpetrator is not None else None
    return int(sum(_number(e["fatalities"]) for e in in_period(events, start, end)
                   if e.get("civilian_targeting") == CIVILIAN_TARGETING and (names is None or e["actor1"] in names)))


def net_defections(events: Iterable[dict], source: Actors, target: Actors, start, end, regions=()) -> int:
    """Fighters who defected from ``source`` to ``target`` minus those who went the other way,
    in the admin-1 ``regions`` only when some are given.

    Reads the fighter count from the notes of "Change to group/activity" events
    (``"<n> fighters of ... defect to ..."``, ``"whole unit ... (<n> fighters) defects"``),
    so it counts what the event log records: a run logs defections of 10 fighters or more.
    """
    src, dst = acled_names(source), acled_names(target)
    net = 0
    for e in in_period(events, start, end):
        if e["sub_event_type"] != "Change to group/activity" or (regions and e.get("admin1") not in regions):
            continue
        m = _FIGHTERS.search(e.get("notes", ""))
        if m is None:
            continue
        if e["actor1"] in src and e["actor2"] in dst:
            net += int(m.group(1))
        elif e["actor1"] in dst and e["actor2"] in src:
            net -= int(m.group(1))
    return net


# ---------------------------------------------------------------------- relations and control


def relation_share(relation_rows: Iterable[dict], a: str, b: str, state: str, start, end) -> float:
    """Share of the records in the period in which the pair ``a``-``b`` is in ``state``."""
    rows = [r for r in in_period(relation_rows, start, end, key="date") if {r["actor_a"], r["actor_b"]} == {a, b}]
    if not rows:
        raise ValueError(f"no {a}-{b} relation record between {start} and {end}")
    return sum(r["state"] == state for r in rows) / len(rows)


def control_share(rasters: list, mask: np.ndarray, weights: np.ndarray, actor: str, date) -> float:
    """Share of the weighted cells of ``mask`` that ``actor`` controls in the last raster on or before ``date``.

    ``rasters`` holds ``(date, control, ...)`` tuples as in ``RunResult.rasters``;
    ``weights`` is usually the cell area.
    """
    day = as_date(date)
    dated = [r for r in rasters if as_date(r[0]) <= day]
    if not dated:
        raise ValueError(f"no control raster on or before {day}")
    control = dated[-1][1]
    total = float(weights[mask].sum())
    if total <= 0:
        raise ValueError("the region has no cells at this resolution")
    return float(weights[mask & (control == INDEX[actor])].sum()) / total


# ---------------------------------------------------------------------- named metric specs


def _actor(v: str) -> str:
    if v not in ACTOR_NAMES:
        raise ValueError(f"unknown actor {v!r}; expected one of {list(ACTOR_NAMES)}")
    return v


class _Period(Frozen):
    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _ordered(self):
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self

    def dates(self) -> tuple[dt.date, ...]:
        """The dates the metric reads; they must lie inside the run."""
        return (self.start, self.end)


class SeriesMetric(Frozen):
    """A time-series column of one actor: its value on ``date``, or its mean/min/max over ``start``-``end``."""

    metric: Literal["series"]
    actor: str
    column: Literal[SERIES_COLUMNS]
    stat: Literal["value", "mean", "min", "max"] = "value"
    date: dt.date | None = None
    start: dt.date | None = None
    end: dt.date | None = None

    _a = field_validator("actor")(_actor)

    @model_validator(mode="after")
    def _when(self):
        if self.stat == "value" and (self.date is None or self.start or self.end):
            raise ValueError("stat 'value' needs a date (and no start/end)")
        if self.stat != "value" and (self.date is not None or self.start is None or self.end is None):
            raise ValueError(f"stat {self.stat!r} needs start and end (and no date)")
        if self.start and self.end and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self

    def dates(self) -> tuple[dt.date, ...]:
        return (self.date,) if self.stat == "value" else (self.start, self.end)

    def compute(self, result) -> float:
        if self.stat == "value":
            return series_value(result.history, self.actor, self.column, self.date)
        return series_stat(result.history, self.actor, self.column, self.start, self.end, self.stat)


class ClashMetric(_Period):
    """Battles between two actors in a period: their number or their fatalities."""

    metric: Literal["clashes"]
    between: tuple[str, str]
    measure: Literal["count", "fatalities"] = "count"

    @field_validator("between")
    @classmethod
    def _pair(cls, v):
        for a in v:
            _actor(a)
        return v

    def compute(self, result) -> float:
        fn = clashes if self.measure == "count" else clash_fatalities
        return fn(result.events, self.between[0], self.between[1], self.start, self.end)


class CivilianFatalitiesMetric(_Period):
    """Civilians killed in a period by the listed perpetrators (all actors if omitted)."""

    metric: Literal["civilian_fatalities"]
    perpetrator: list[str] | None = Field(None, min_length=1)

    @field_validator("perpetrator", mode="before")
    @classmethod
    def _names(cls, v):
        v = [v] if isinstance(v, str) else v
        for a in v or []:
            _actor(a)
        return v

    def compute(self, result) -> float:
        return civilian_fatalities(result.events, self.start, self.end, self.perpetrator)


class NetDefectionsMetric(_Period):
    """Fighters who defected from ``source`` to ``target`` minus the reverse, in a period, optionally
    only in some admin-1 regions (where the event took place)."""

    metric: Literal["net_defections"]
    source: str
    target: str
    regions: tuple[str, ...] = ()

    _a = field_validator("source", "target")(_actor)

    def compute(self, result) -> float:
        return net_defections(result.events, self.source, self.target, self.start, self.end, self.regions)


class RelationMetric(_Period):
    """Share of a period in which two actors are in a given relation state."""

    metric: Literal["relation_share"]
    between: tuple[str, str]
    state: Literal[RELATION_STATES]

    _pair = field_validator("between")(ClashMetric._pair.__func__)

    def compute(self, result) -> float:
        return relation_share(result.relation_history, *self.between, self.state, self.start, self.end)


class ControlMetric(Frozen):
    """Share of a region's area an actor controls on a date.

    ``region`` is ``macina_core`` (the inner Niger delta core JNIM's Katiba
    Macina defends, see :mod:`sim.territory`) or an admin-1 region of
    ``seeds/geography.yaml`` (e.g. ``Mopti``, ``Sahel``, ``Tillaberi``), or a
    list of them, read as one area (e.g. northern and north-eastern Burkina).
    """

    metric: Literal["control_share"]
    actor: str
    region: str | tuple[str, ...]
    date: dt.date

    _a = field_validator("actor")(_actor)

    @field_validator("region")
    @classmethod
    def _some_region(cls, v):
        if isinstance(v, tuple) and (not v or len(set(v)) != len(v)):
            raise ValueError("expected one region or a list of distinct regions")
        return v

    def dates(self) -> tuple[dt.date, ...]:
        return (self.date,)

    def mask(self, world) -> np.ndarray:
        """The region's cells on ``world``'s grid (the union for a list); ValueError for an unknown region."""
        mask = np.zeros(world.region.shape, dtype=bool)
        for name in (self.region,) if isinstance(self.region, str) else self.region:
            if name == "macina_core":
                mask |= world.macina_core
            elif name in world.region_names:
                mask |= world.region == world.region_names.index(name)
            else:
                raise ValueError(f"unknown region {name!r}; expected macina_core or one of {list(world.region_names)}")
        return mask

    def compute(self, result) -> float:
        from sim.geodata import load_geodata
        from sim.world import build_world

        world = build_world(result.geo or load_geodata(), result.scenario.resolution_deg)
        return control_share(result.rasters, self.mask(world), world.area_km2, self.actor, self.date)


Metric = Annotated[
    Union[SeriesMetric, ClashMetric, CivilianFatalitiesMetric, NetDefectionsMetric, RelationMetric, ControlMetric],
    Field(discriminator="metric"),
]
