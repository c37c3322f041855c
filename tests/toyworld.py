"""A small synthetic world for controlled mechanism tests (not the real geography)."""

from __future__ import annotations

from sim.actors import ETHNIC_GROUPS
from sim.geodata import GeoData, Place, Region, RegionPopulation, TerrainArea
from sim.params import Scenario


def shares(**kw) -> tuple[float, ...]:
    return tuple(float(kw.get(g, 0.0)) for g in ETHNIC_GROUPS)


def box(x0, y0, x1, y1):
    return ((x0, y0), (x1, y0), (x1, y1), (x0, y1))


def toy_geo(west=None, east=None) -> GeoData:
    """Two regions on a 2 x 2 degree square: 'Mopti' (Mali) west, 'Tillaberi' (Niger) east."""
    west = west or shares(fulani=0.5, dogon=0.3, bambara=0.2)
    east = east or shares(fulani=0.4, zarma=0.6)
    towns = (
        Place("Westtown", "MLI", "Mopti", 14.05, 0.45, "regional_capital", 40000, True),
        Place("Eastville", "NER", "Tillaberi", 14.05, 1.55, "regional_capital", 40000, True),
        Place("Midpost", "MLI", "Mopti", 14.55, 0.85, "town", 20000, False),
        Place("Southpost", "NER", "Tillaberi", 13.45, 1.25, "town", 20000, False),
    )
    return GeoData(
        bbox=(0.0, 2.0, 13.0, 15.0),
        regions=(Region("Mopti", "MLI", (box(0.0, 13.0, 1.0, 15.0),)),
                 Region("Tillaberi", "NER", (box(1.0, 13.0, 2.0, 15.0),))),
        towns=towns,
        gold_sites=(Place("Goldpit", "NER", "Tillaberi", 13.65, 1.75, "artisanal", 0, False),),
        roads=(("Westtown", "Midpost", "Eastville"),),
        terrain_classes=("inner_niger_delta", "sahel", "forest_park", "desert_edge", "sudan_savanna"),
        terrain_areas=(TerrainArea("delta", "inner_niger_delta", box(0.0, 14.3, 0.6, 15.0)),),
        desert_edge_min_lat=16.0,
        savanna_max_lat=12.0,
        populations=(RegionPopulation("Mopti", "MLI", 600000, west),
                     RegionPopulation("Tillaberi", "NER", 600000, east)),
    )


def toy_scenario(**over) -> Scenario:
    """Two jihadist groups, two states, militias; short horizon."""
    base = {
        "name": "toy",
        "start": "2019-01-03",
        "end": "2020-12-31",
        "resolution_deg": 0.1,
        "seed": 7,
        "factions": {
            "JNIM": {"treasury": 3.0, "strategy": {"tax_rate": 0.1, "restraint": 0.8, "services": 0.6, "sharia_pace": 0.3}},
            "ISGS": {"treasury": 1.0, "strategy": {"tax_rate": 0.25, "restraint": 0.2, "services": 0.1, "sharia_pace": 0.9}},
            "Dan Na Ambassagou": {},
            "Zarma self-defence": {},
        },
        "states": {"FAMa": {}, "Niger army": {}},
        "forces": [
            {"actor": "JNIM", "near": "Midpost", "manpower": 150, "count": 2, "ethnic": {"fulani": 1.0}},
            {"actor": "ISGS", "near": "Southpost", "manpower": 150, "count": 2, "ethnic": {"fulani": 1.0}},
            {"actor": "FAMa", "near": "Westtown", "manpower": 300},
            {"actor": "Niger army", "near": "Eastville", "manpower": 300},
            {"actor": "Dan Na Ambassagou", "near": "Westtown", "manpower": 80, "ethnic": {"dogon": 1.0}},
        ],
        "relations": [{"pair": ["JNIM", "ISGS"], "state": "war"}],
    }
    for k, v in over.items():
        base[k] = v
    return Scenario.model_validate(base)
