import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from toyworld import toy_geo, toy_scenario  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def geo_toy():
    return toy_geo()


@pytest.fixture
def make_toy(geo_toy):
    """Build a toy model from scenario overrides."""
    from sim.model import LiptakoModel

    def make(seed=11, **over):
        return LiptakoModel(toy_scenario(**over), geo_toy, seed=seed)

    return make


@pytest.fixture(scope="session")
def real_geo():
    from sim.geodata import load_geodata

    return load_geodata()


@pytest.fixture(scope="session")
def baseline_scenario():
    from sim.scenario_io import load_scenario

    return load_scenario(ROOT / "scenarios" / "baseline.yaml")
