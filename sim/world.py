"""The georeferenced grid over the tri-border, built from :class:`sim.geodata.GeoData`.

Every cell carries its centre latitude/longitude, area, country, admin-1 region,
terrain class, population by ethnic group and flags for towns, gold sites and
roads. Static fields are read-only numpy arrays shared by every model built at
the same resolution in a process; the model copies the ones it changes.

Assumptions (documented in docs/ODD.md):
- A region's population inside the bounding box (seeds/population.yaml,
  ``population_in_bbox``) is spread over its cells, weighted by terrain (delta and savanna denser, desert edge and parks
  sparser) and doubled along main roads; towns hold their own population.
- Every cell of a region has the region's ethnic shares.
- Cells that no polygon covers take the region of the nearest covered cell.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from matplotlib.path import Path as MplPath
from mesa.discrete_space import PropertyLayer
from scipy import ndimage

from sim.actors import N_GROUPS
from sim.geodata import GeoData

KM_PER_DEG = 111.32
TERRAIN_DENSITY = {  # relative rural density; assumption
    "inner_niger_delta": 1.6,
    "sahel": 1.0,
    "forest_park": 0.3,
    "desert_edge": 0.25,
    "sudan_savanna": 1.4,
}
ROAD_DENSITY = 2.0  # assumption: settlement follows roads


@dataclass(frozen=True)
class World:
    geo: GeoData
    resolution: float
    lat: np.ndarray  # (H,) cell-centre latitudes, north first
    lon: np.ndarray  # (W,)
    area_km2: np.ndarray  # (H, W)
    region: np.ndarray  # (H, W) index into region_names, -1 outside every region
    region_names: tuple[str, ...]
    region_country: tuple[str, ...]
    country: np.ndarray  # (H, W) index into COUNTRY_CODES
    terrain: np.ndarray  # (H, W) index into terrain_classes
    terrain_classes: tuple[str, ...]
    population: np.ndarray  # (E, H, W) residents by ethnic group at the start
    town: np.ndarray  # (H, W) index into town_names or -1
    town_names: tuple[str, ...]
    town_cells: np.ndarray  # (T, 2) row, col
    gold: np.ndarray  # (H, W) bool
    road: np.ndarray  # (H, W) bool
    macina_core: np.ndarray  # (H, W) bool
    layers: dict  # name -> mesa PropertyLayer over the static 2-D fields

    @property
    def shape(self) -> tuple[int, int]:
        return self.area_km2.shape

    def cell_of(self, lat: float, lon: float) -> tuple[int, int]:
        r = int(np.clip((self.lat[0] + self.resolution / 2 - lat) / self.resolution, 0, len(self.lat) - 1))
        c = int(np.clip((lon - (self.lon[0] - self.resolution / 2)) / self.resolution, 0, len(self.lon) - 1))
        return r, c

    @cached_property
    def gold_cells(self) -> np.ndarray:
        """Flat indices of the gold cells (the fields are read-only, so found once)."""
        return np.flatnonzero(self.gold)

    @cached_property
    def road_cells(self) -> np.ndarray:
        """Flat indices of the road cells."""
        return np.flatnonzero(self.road)

    def region_index(self, name: str) -> int:
        return self.region_names.index(name)

    def country_code(self, r: int, c: int) -> str:
        return COUNTRY_CODES[self.country[r, c]]


COUNTRY_CODES = ("MLI", "BFA", "NER", "other")

_cache: dict[tuple[int, float], World] = {}


def build_world(geo: GeoData, resolution: float) -> World:
    """Build (or reuse) the grid for ``geo`` at ``resolution`` degrees."""
    key = (id(geo), round(resolution, 6))
    if key not in _cache:
        _cache[key] = _build(geo, resolution)
    return _cache[key]


def _rasterise(points: np.ndarray, ring, shape) -> np.ndarray:
    return MplPath(np.asarray(ring)).contains_points(points).reshape(shape)


def _line_cells(w_lat, w_lon, res, a, b, shape):
    n = max(2, int(np.hypot(b[0] - a[0], b[1] - a[1]) / (res / 3)) + 1)
    lats = np.linspace(a[0], b[0], n)
    lons = np.linspace(a[1], b[1], n)
    rows = np.clip(((w_lat[0] + res / 2 - lats) / res).astype(int), 0, shape[0] - 1)
    cols = np.clip(((lons - (w_lon[0] - res / 2)) / res).astype(int), 0, shape[1] - 1)
    return rows, cols


def _readonly(*arrays):
    for a in arrays:
        a.setflags(write=False)


def _build(geo: GeoData, res: float) -> World:
    lon_min, lon_max, lat_min, lat_max = geo.bbox
    H = int(round((lat_max - lat_min) / res))
    W = int(round((lon_max - lon_min) / res))
    lat = lat_max - (np.arange(H) + 0.5) * res
    lon = lon_min + (np.arange(W) + 0.5) * res
    LON, LAT = np.meshgrid(lon, lat)
    points = np.column_stack([LON.ravel(), LAT.ravel()])
    area = (res * KM_PER_DEG) ** 2 * np.cos(np.radians(LAT))

    region_names = tuple(r.name for r in geo.regions)
    region_country = tuple(r.country for r in geo.regions)
    region = np.full((H, W), -1, dtype=np.int16)
    for i, r in enumerate(geo.regions):
        for ring in r.polygons:
            inside = _rasterise(points, ring, (H, W)) & (region < 0)
            region[inside] = i
    if (region < 0).any() and (region >= 0).any():
        _, (ri, ci) = ndimage.distance_transform_edt(region < 0, return_indices=True)
        region = region[ri, ci]
    code = {c: k for k, c in enumerate(COUNTRY_CODES)}
    country = np.array([code.get(c, code["other"]) for c in region_country] + [code["other"]], dtype=np.int8)[region]

    classes = geo.terrain_classes
    t_index = {t: i for i, t in enumerate(classes)}
    terrain = np.full((H, W), t_index["sahel"], dtype=np.int8)
    terrain[LAT >= geo.desert_edge_min_lat] = t_index["desert_edge"]
    terrain[LAT < geo.savanna_max_lat] = t_index["sudan_savanna"]
    classed = np.zeros((H, W), dtype=bool)
    for a in geo.terrain_areas:  # the first listed area wins where areas overlap
        inside = _rasterise(points, a.polygon, (H, W)) & ~classed
        terrain[inside] = t_index[a.terrain]
        classed |= inside

    town = np.full((H, W), -1, dtype=np.int16)
    town_cells = []
    for i, t in enumerate(geo.towns):
        r, c = _cell(lat, lon, res, t.lat, t.lon, (H, W))
        if t.inside and (town[r, c] < 0 or geo.towns[town[r, c]].population < t.population):
            town[r, c] = i
        town_cells.append((r, c))
    gold = np.zeros((H, W), dtype=bool)
    for g in geo.gold_sites:
        gold[_cell(lat, lon, res, g.lat, g.lon, (H, W))] = True
    road = np.zeros((H, W), dtype=bool)
    for via in geo.roads:
        stops = [geo.town(n) for n in via]
        for a, b in zip(stops[:-1], stops[1:]):
            rr, cc = _line_cells(lat, lon, res, (a.lat, a.lon), (b.lat, b.lon), (H, W))
            road[rr, cc] = True

    density = np.vectorize(lambda i: TERRAIN_DENSITY.get(classes[i], 1.0))(terrain) * np.where(road, ROAD_DENSITY, 1.0)
    population = np.zeros((N_GROUPS, H, W))
    pops = {(p.name, p.country): p for p in geo.populations}
    for i, r in enumerate(geo.regions):
        p = pops.get((r.name, r.country))
        mask = region == i
        if p is None or not mask.any():
            continue
        total = p.population
        town_pop = np.zeros((H, W))
        for k, t in enumerate(geo.towns):
            rc = town_cells[k]
            if mask[rc] and town[rc] == k:
                town_pop[rc] = t.population
        rural = max(total - town_pop.sum(), 0.0)
        weights = density * area * mask
        cell_pop = rural * weights / weights.sum() + town_pop
        population += np.asarray(p.shares)[:, None, None] * cell_pop[None]

    delta = terrain == t_index["inner_niger_delta"]
    macina_core = ndimage.binary_dilation(delta, iterations=max(1, int(round(0.2 / res)))) & (country == code["MLI"])

    _readonly(lat, lon, area, region, country, terrain, population, town, gold, road, macina_core)
    layers = {
        name: PropertyLayer.from_data(name, arr)
        for name, arr in (
            ("area_km2", area),
            ("region", region),
            ("country", country),
            ("terrain", terrain),
            ("town", town),
            ("gold", gold),
            ("road", road),
            ("macina_core", macina_core),
        )
    }
    return World(
        geo=geo,
        resolution=res,
        lat=lat,
        lon=lon,
        area_km2=area,
        region=region,
        region_names=region_names,
        region_country=region_country,
        country=country,
        terrain=terrain,
        terrain_classes=classes,
        population=population,
        town=town,
        town_names=geo.town_names,
        town_cells=np.array(town_cells, dtype=np.int32).reshape(-1, 2),
        gold=gold,
        road=road,
        macina_core=macina_core,
        layers=layers,
    )


def _cell(lat, lon, res, y, x, shape):
    r = int(np.clip((lat[0] + res / 2 - y) / res, 0, shape[0] - 1))
    c = int(np.clip((x - (lon[0] - res / 2)) / res, 0, shape[1] - 1))
    return r, c
