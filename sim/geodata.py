"""Read the geographic fact base in ``seeds/`` into an immutable :class:`GeoData`.

Only the runner and the tools call this; the model receives the parsed object.
The files and their provenance are described in ``seeds/README.md``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from sim.actors import ETHNIC_GROUPS


@dataclass(frozen=True)
class Region:
    name: str
    country: str
    polygons: tuple[tuple[tuple[float, float], ...], ...]  # (lon, lat) rings


@dataclass(frozen=True)
class Place:
    name: str
    country: str
    admin1: str
    lat: float
    lon: float
    kind: str
    population: int
    garrison: bool
    inside: bool = True


@dataclass(frozen=True)
class TerrainArea:
    name: str
    terrain: str
    polygon: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class RegionPopulation:
    name: str
    country: str
    population: float  # residents inside the model's bounding box
    shares: tuple[float, ...]  # aligned with ETHNIC_GROUPS


@dataclass(frozen=True)
class GeoData:
    bbox: tuple[float, float, float, float]  # lon_min, lon_max, lat_min, lat_max
    regions: tuple[Region, ...]
    towns: tuple[Place, ...]
    gold_sites: tuple[Place, ...]
    roads: tuple[tuple[str, ...], ...]
    terrain_classes: tuple[str, ...]
    terrain_areas: tuple[TerrainArea, ...]
    desert_edge_min_lat: float
    savanna_max_lat: float
    populations: tuple[RegionPopulation, ...]

    def town(self, name: str) -> Place:
        key = name.casefold()
        for t in self.towns:
            if t.name.casefold() == key:
                return t
        raise KeyError(f"unknown town {name!r}; see seeds/places.yaml")

    @property
    def town_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.towns)


def default_seeds_dir() -> Path:
    """``$LIPTAKO_SEEDS`` or the ``seeds/`` folder of the source checkout."""
    env = os.environ.get("LIPTAKO_SEEDS")
    path = Path(env) if env else Path(__file__).resolve().parent.parent / "seeds"
    if not (path / "geography.yaml").is_file():
        raise FileNotFoundError(
            f"no seeds/geography.yaml under {path}; install liptako from a checkout "
            "(pip install -e .) or set LIPTAKO_SEEDS to the seeds folder"
        )
    return path


# libyaml's parser reads the seed files about 8 times faster than PyYAML's pure-Python one (same data)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read(path: Path) -> dict:
    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=_LOADER)


def _place(d: dict) -> Place:
    return Place(
        name=d["name"],
        country=d.get("country", ""),
        admin1=d.get("admin1", ""),
        lat=float(d["lat"]),
        lon=float(d["lon"]),
        kind=d.get("kind", "town"),
        population=int(d.get("population") or 0),
        garrison=bool(d.get("garrison", False)),
        inside=bool(d.get("inside_bbox", True)),
    )


@lru_cache(maxsize=4)
def load_geodata(seeds_dir: str | None = None) -> GeoData:
    root = Path(seeds_dir) if seeds_dir else default_seeds_dir()
    geo = _read(root / "geography.yaml")
    places = _read(root / "places.yaml")
    terrain = _read(root / "terrain.yaml")
    pops = _read(root / "population.yaml")

    by_name: dict[tuple[str, str], list] = {}
    for r in geo["regions"]:
        ring = tuple((float(x), float(y)) for x, y in r["polygon"])
        by_name.setdefault((r["name"], r["country"]), []).append(ring)
    regions = tuple(Region(n, c, tuple(rings)) for (n, c), rings in by_name.items())

    groups = list(pops.get("groups", ETHNIC_GROUPS))
    if set(groups) != set(ETHNIC_GROUPS):
        raise ValueError(f"population.yaml groups {groups} differ from the model's {list(ETHNIC_GROUPS)}")
    populations = tuple(
        RegionPopulation(
            name=p["name"],
            country=p["country"],
            population=float(p.get("population_in_bbox", p["population"])),
            shares=tuple(float(p["shares"].get(g, 0.0)) for g in ETHNIC_GROUPS),
        )
        for p in pops["regions"]
    )
    b = geo["bbox"]
    return GeoData(
        bbox=(float(b["lon_min"]), float(b["lon_max"]), float(b["lat_min"]), float(b["lat_max"])),
        regions=regions,
        towns=tuple(_place(t) for t in places["towns"]),
        gold_sites=tuple(_place(g) for g in places["gold_sites"] if g.get("inside_bbox", True)),
        roads=tuple(tuple(r["via"]) for r in places["roads"]),
        terrain_classes=tuple(terrain["classes"]),
        terrain_areas=tuple(
            TerrainArea(a["name"], a["class"], tuple((float(x), float(y)) for x, y in a["polygon"]))
            for a in terrain["areas"]
        ),
        desert_edge_min_lat=float(terrain.get("desert_edge_min_lat", 16.0)),
        savanna_max_lat=float(terrain.get("savanna_max_lat", 12.0)),
        populations=populations,
    )
