"""The run's event log, one row per clash, massacre, town attack, defection or relation change.

Columns follow ACLED's public event data so a run can sit beside real data:
``event_date, event_type, sub_event_type, actor1, actor2, admin1, location,
latitude, longitude, fatalities, civilian_targeting, notes`` plus a few more
ACLED columns (event_id_cnty, year, time_precision, assoc_actor_1,
assoc_actor_2, country). ``time_precision`` is 2 (known to the week) because
the model steps weekly by default. ``location`` is the nearest town to the
cell's centre, looked up in a per-world table built with one vectorised k-d
tree query (a query per event cost about 90 us).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from sim.actors import info

COLUMNS = (
    "event_id_cnty",
    "event_date",
    "year",
    "time_precision",
    "event_type",
    "sub_event_type",
    "actor1",
    "assoc_actor_1",
    "actor2",
    "assoc_actor_2",
    "country",
    "admin1",
    "location",
    "latitude",
    "longitude",
    "fatalities",
    "civilian_targeting",
    "notes",
)

COUNTRY_NAMES = {"MLI": "Mali", "BFA": "Burkina Faso", "NER": "Niger", "other": "Other"}
GROUP_LABELS = {
    "fulani": "Fulani",
    "fulani_tolebe": "Fulani (Tolebe)",
    "tuareg_imghad": "Tuareg (Imghad)",
    "tuareg_daoussahak": "Tuareg (Daoussahak)",
    "tuareg_ifoghas": "Tuareg (Ifoghas)",
    "dogon": "Dogon",
    "bambara": "Bambara",
    "zarma": "Zarma",
    "mossi": "Mossi",
    "gourmantche": "Gourmantche",
    "songhai": "Songhai",
    "arab": "Arab",
    "other": "Other",
}

BATTLE = ("Battles", "Armed clash")
OVERTAKE = ("Battles", "Non-state actor overtakes territory")
REGAIN = ("Battles", "Government regains territory")
CIVILIAN_ATTACK = ("Violence against civilians", "Attack")
ABDUCTION = ("Violence against civilians", "Abduction/forced disappearance")
AIR_STRIKE = ("Explosions/Remote violence", "Air/drone strike")
IED = ("Explosions/Remote violence", "Remote explosive/landmine/IED")
AGREEMENT = ("Strategic developments", "Agreement")
GROUP_CHANGE = ("Strategic developments", "Change to group/activity")
LOOTING = ("Strategic developments", "Looting/property destruction")
OTHER = ("Strategic developments", "Other")


_NO_PLACE = ("SAH", "", "", "", None, None)  # the columns of an event without a cell (see EventLog._place)
_nearest_town_cache: dict[int, tuple[object, np.ndarray]] = {}  # id(world) -> (world, (H, W) town index)


def nearest_town_index(world) -> np.ndarray:
    """(H, W) index into ``world.town_names`` of the town nearest each cell centre (by lat/lon)."""
    entry = _nearest_town_cache.get(id(world))
    if entry is None or entry[0] is not world:
        towns = world.geo.towns
        tree = cKDTree(np.column_stack([[t.lat for t in towns], [t.lon for t in towns]]))
        lat, lon = np.meshgrid(world.lat, world.lon, indexing="ij")
        _, k = tree.query(np.column_stack([lat.ravel(), lon.ravel()]))
        entry = (world, k.reshape(world.shape))
        _nearest_town_cache[id(world)] = entry
    return entry[1]


def acled_actor(name: str) -> str:
    return info(name).acled_name


def civilians(country: str) -> str:
    return f"Civilians ({COUNTRY_NAMES.get(country, 'Other')})"


def ethnic_label(group: str, country: str) -> str:
    return f"{GROUP_LABELS[group]} Ethnic Group ({COUNTRY_NAMES.get(country, 'Other')})"


class EventLog:
    """Collects rows; the model appends, the runner writes them out."""

    def __init__(self):
        self.rows: list[dict] = []
        self._places: dict[tuple[int, int], tuple] = {}  # cell -> its columns; a model's world never changes
        self._date = (None, "", 0)

    def _place(self, world, r: int, c: int) -> tuple:
        """The id's country code, country, admin1, location, latitude and longitude of a cell."""
        place = self._places.get((r, c))
        if place is None:
            code = world.country_code(r, c)
            place = self._places[r, c] = (code, COUNTRY_NAMES.get(code, ""), world.region_names[world.region[r, c]],
                                          world.town_names[nearest_town_index(world)[r, c]],
                                          round(float(world.lat[r]), 4), round(float(world.lon[c]), 4))
        return place

    def add(self, model, kind: tuple[str, str], actor1: str, actor2: str = "", *, cell=None,
            fatalities: int = 0, civilian: bool = False, notes: str = "",
            assoc1: str = "", assoc2: str = "") -> dict:
        if cell is None:
            code, country, admin1, location, lat, lon = _NO_PLACE
        else:
            code, country, admin1, location, lat, lon = self._place(model.world, int(cell[0]), int(cell[1]))
        if self._date[0] != model.date:
            self._date = (model.date, model.date.isoformat(), model.date.year)
        row = {
            "event_id_cnty": f"{code}{len(self.rows) + 1:06d}",
            "event_date": self._date[1],
            "year": self._date[2],
            "time_precision": 2,
            "event_type": kind[0],
            "sub_event_type": kind[1],
            "actor1": actor1,
            "assoc_actor_1": assoc1,
            "actor2": actor2,
            "assoc_actor_2": assoc2,
            "country": country,
            "admin1": admin1,
            "location": location,
            "latitude": lat,
            "longitude": lon,
            "fatalities": int(fatalities),
            "civilian_targeting": "Civilian targeting" if civilian else "",
            "notes": notes,
        }
        self.rows.append(row)
        return row
