"""The georeferenced grid built from seeds/ (geography, places, terrain, population)."""

import numpy as np
import pytest

from sim.actors import ETHNIC_GROUPS
from sim.world import COUNTRY_CODES, build_world


@pytest.fixture(scope="module")
def world(real_geo):
    return build_world(real_geo, 0.1)


def test_grid_covers_the_tri_border(world):
    assert world.shape == (80, 120)
    assert np.isclose(world.lat[0], 17.45) and np.isclose(world.lat[-1], 9.55)
    assert np.isclose(world.lon[0], -5.95) and np.isclose(world.lon[-1], 5.95)
    assert (world.region >= 0).all()
    # a 0.1-degree cell at 14 N is about 11.1 x 10.8 km
    assert 115 < world.area_km2[world.cell_of(14.0, 0.0)] < 125


@pytest.mark.parametrize("town, region, country", [
    ("Mopti", "Mopti", "MLI"), ("Djibo", "Sahel", "BFA"), ("Dori", "Sahel", "BFA"), ("Diapaga", "Est", "BFA"),
    ("Menaka", "Menaka", "MLI"), ("Gao", "Gao", "MLI"), ("Tillaberi", "Tillaberi", "NER"),
    ("Ouahigouya", "Nord", "BFA"), ("Kaya", "Centre-Nord", "BFA"), ("Banfora", "Cascades", "BFA"),
])
def test_towns_fall_in_their_region(world, real_geo, town, region, country):
    t = real_geo.town(town)
    r, c = world.cell_of(t.lat, t.lon)
    assert world.region_names[world.region[r, c]] == region
    assert COUNTRY_CODES[world.country[r, c]] == country
    assert world.town[r, c] >= 0


def test_population_matches_the_seeds(world, real_geo):
    expected = sum(p.population for p in real_geo.populations)
    assert np.isclose(world.population.sum(), expected, rtol=0.02)
    mopti = world.region == world.region_index("Mopti")
    by_group = world.population[:, mopti].sum(axis=1)
    assert by_group[ETHNIC_GROUPS.index("dogon")] > by_group[ETHNIC_GROUPS.index("zarma")]
    tillaberi = world.region == world.region_index("Tillaberi")
    assert world.population[ETHNIC_GROUPS.index("zarma")][tillaberi].sum() > 1e5


def test_features_and_terrain(world):
    assert world.gold.sum() >= 10 and world.road.sum() > 300
    delta = world.terrain_classes.index("inner_niger_delta")
    assert world.terrain[world.cell_of(14.9, -4.5)] == delta
    assert world.macina_core[world.cell_of(14.9, -4.5)]
    assert not world.macina_core[world.cell_of(14.0, 1.5)]
    assert set(world.layers) >= {"area_km2", "region", "country", "terrain", "town", "gold", "road", "macina_core"}
    assert np.array_equal(world.layers["gold"].data, world.gold)


def test_static_fields_are_read_only_and_shared(world, real_geo):
    assert build_world(real_geo, 0.1) is world
    with pytest.raises(ValueError):
        world.population[0, 0, 0] = 1.0
