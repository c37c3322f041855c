"""The documented chronology for figures: phases from ``seeds/phases.yaml`` and a run's key dated events.

Figures shade the JNIM-ISGS phases (``scope: jnim_isgs``; they do not overlap) and
name the current phase in map titles and animation frames. The key events marked on
charts are the run's own dated scenario events (coups, partner moves, IS status
changes, leaders killed, ...; their ids are entries of ``seeds/events.yaml``), so a
counterfactual that removes an event does not show it. Nothing here is used by the model.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from sim.geodata import default_seeds_dir

# per JNIM-ISGS relation state (Okabe-Ito hues): the model's state on charts, tints of the documented phases
RELATION_COLOURS = {"cooperation": "#009E73", "tension": "#E69F00", "war": "#D55E00", "truce": "#56B4E9",
                  "pact": "#0072B2"}
INTENSITY_ALPHA = {"low": 0.10, "lower": 0.13, "high": 0.18, "peak": 0.26}
OPEN_END = dt.date(2100, 1, 1)


@dataclass(frozen=True)
class Phase:
    id: str
    name: str
    scope: str  # jnim_isgs | wider
    start: dt.date  # inclusive
    end: dt.date  # exclusive; OPEN_END when the phase is still running
    relation: str | None
    intensity: str

    @property
    def colour(self) -> str:
        return RELATION_COLOURS.get(self.relation or "", "#999999")

    @property
    def alpha(self) -> float:
        return INTENSITY_ALPHA.get(self.intensity, 0.15)


@dataclass(frozen=True)
class KeyEvent:
    id: str
    date: dt.date
    type: str
    label: str


def _month_or_day(text) -> dt.date:
    """``2017-03`` (the first of the month) or ``2022-11-03``."""
    if isinstance(text, dt.date):
        return text
    text = str(text)
    return dt.date.fromisoformat(text if len(text) > 7 else text + "-01")


@lru_cache(maxsize=4)
def load_phases(seeds_dir: str | None = None) -> tuple[Phase, ...]:
    """Every documented phase of ``seeds/phases.yaml``, in file order."""
    root = Path(seeds_dir) if seeds_dir else default_seeds_dir()
    with open(root / "phases.yaml", encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    return tuple(
        Phase(p["id"], p["name"], p["scope"], _month_or_day(p["start"]),
              _month_or_day(p["end"]) if p.get("end") else OPEN_END, p.get("relation"), p.get("intensity", "high"))
        for p in data["phases"]
    )


def relation_phases(seeds_dir: str | None = None) -> tuple[Phase, ...]:
    """The JNIM-ISGS phases (consecutive, non-overlapping), by start date."""
    return tuple(sorted((p for p in load_phases(seeds_dir) if p.scope == "jnim_isgs"), key=lambda p: p.start))


def phase_at(date: dt.date, phases: tuple[Phase, ...] | None = None) -> Phase | None:
    """The JNIM-ISGS phase running on ``date`` (None before the first)."""
    for p in phases if phases is not None else relation_phases():
        if p.start <= date < p.end:
            return p
    return None


def _label(e) -> str:
    kind = e.type
    if kind == "coup":
        return f"coup {e.country}"
    if kind == "partner_arrival":
        return f"{e.partner} in {e.country}"
    if kind == "partner_exit":
        return f"{e.partner} leaves {e.country}"
    if kind == "militia_founded":
        return f"{e.actor} founded"
    if kind == "mediation":
        return "mediation " + "-".join(e.pair)
    return e.id  # leaders killed, status and strategy changes: the id names them (abu-walid-killed, ...)


def key_events(scenario) -> list[KeyEvent]:
    """The scenario's dated events inside the run, by date, with short labels for charts."""
    return sorted((KeyEvent(e.id, e.date, e.type, _label(e)) for e in scenario.events
                   if scenario.start <= e.date <= scenario.end), key=lambda k: (k.date, k.id))
