"""The agents: armed actors (factions), their field units, and communities.

- :class:`Faction` is an actor's leadership: JNIM, ISGS, a national army, a
  foreign partner or a militia. It holds the treasury, the strategy (for
  jihadists, seed 000's civilian engagement choices) or regime (for states,
  changed by coups), leadership quality and ties to a global brand.
- :class:`ArmedUnit` is a company or battalion on the grid (seed 001: JNIM is
  organised in companies under battalions under wilayat). It has manpower, an
  ethnic make-up, a commander's hardline score and a loyalty to its faction.
- :class:`Community` is one ethnic group in one admin-1 region. Its population
  lives in the grid's population layer; its attitudes (grievance, legitimacy,
  support per actor, fear) are rows of the model's community matrices, so the
  mechanisms update all communities in one numpy operation.
"""

from __future__ import annotations

from itertools import chain
from operator import attrgetter

import mesa
import numpy as np

from sim.actors import ETHNIC_GROUPS, INDEX, info


class Faction(mesa.Agent):
    """An armed actor's leadership."""

    def __init__(self, model, name: str, treasury: float = 0.0, strategy=None, regime=None, **ties):
        super().__init__(model)
        self.name = name
        self.index = INDEX[name]
        self.kind = info(name).kind
        self.treasury = float(treasury)
        self.strategy = strategy
        self.regime = regime
        self.leadership = float(ties.get("leadership", 1.0))
        self.central_pull = float(ties.get("central_pull", 0.0))
        self.central_hostility = float(ties.get("central_hostility", 0.0))
        # the pressure the leadership feels, which follows a central command's line with a lag (sim.relations)
        self.central_hostility_felt = self.central_hostility
        self.central_funding = float(ties.get("central_funding", 0.0))
        self.infiltration = dict(ties.get("infiltration", {}))
        self.campaigns = bool(ties.get("campaigns", False))
        self.active = bool(ties.get("active", True))
        self.host_countries: set[str] = set(ties.get("host_countries", ()))
        self.strain = 0.0
        self.momentum = 0.0  # EMA of (wins - losses) in clashes
        self.town_focus = 0.0
        self.income = 0.0
        self.upkeep = 0.0

    @property
    def units(self):
        return self.model.units_of(self.name)

    @property
    def manpower(self) -> int:
        return sum([u.manpower for u in self.units])  # a list sums faster than a generator (~29 calls a step)


class ArmedUnit(mesa.Agent):
    """A field unit on the grid (position as row, column of the world)."""

    def __init__(
        self,
        model,
        faction: str,
        pos: tuple[int, int],
        manpower: int,
        ethnic: dict[str, float] | np.ndarray,
        hardline: float,
        loyalty: float,
        katiba: str | None = None,
    ):
        super().__init__(model)
        self._faction = faction
        self.actor = INDEX[faction]  # the faction's index in CAST, kept with it
        model.unit_created(self)
        self.katiba = katiba or faction
        self.pos = (int(pos[0]), int(pos[1]))
        self.home = self.pos
        self.manpower = int(manpower)
        if isinstance(ethnic, dict):
            ethnic = np.array([ethnic.get(g, 0.0) for g in ETHNIC_GROUPS])
        self.ethnic = np.asarray(ethnic, dtype=float)
        self.hardline = float(hardline)
        self.loyalty = float(loyalty)

    @property
    def faction(self) -> str:
        return self._faction

    @faction.setter
    def faction(self, name: str) -> None:
        self._faction = name
        self.actor = INDEX[name]
        self.model.units_changed()

    def remove(self) -> None:
        super().remove()
        self.model.units_changed()

    @property
    def fulani_share(self) -> float:
        return float(self.ethnic[0] + self.ethnic[1])

    def absorb(self, fighters: int, ethnic: np.ndarray) -> None:
        """Merge incoming fighters, keeping the ethnic make-up a weighted mean."""
        if fighters <= 0:
            return
        total = self.manpower + fighters
        self.ethnic = (self.ethnic * self.manpower + ethnic * fighters) / total
        self.manpower = total

    def absorb_group(self, fighters: int, group: int) -> None:
        """:meth:`absorb` of fighters all of ``group`` (index into ETHNIC_GROUPS) without building their
        one-hot make-up: the other groups' terms gain fighters x 0, which changes none of them."""
        if fighters <= 0:
            return
        total = self.manpower + fighters
        ethnic = self.ethnic * self.manpower
        ethnic[group] += fighters
        ethnic /= total
        self.ethnic = ethnic
        self.manpower = total

    def lose(self, fighters: int) -> int:
        lost = int(min(self.manpower, max(fighters, 0)))
        self.manpower -= lost
        return lost


def positions(units, attr: str = "pos") -> np.ndarray:
    """(n, 2) int64 rows and columns of ``units`` (or their ``home``); np.fromiter over the
    flattened pairs takes about half the time of np.array on a list of tuples, and mapping an
    attrgetter saves a getattr call per unit."""
    return np.fromiter(chain.from_iterable(map(attrgetter(attr), units)), np.int64, 2 * len(units)).reshape(-1, 2)


def manpower_by_actor(units, n_actors: int) -> np.ndarray:
    """Manpower of each actor over ``units`` (sums of whole numbers, so exact as floats)."""
    return np.bincount(np.array([u.actor for u in units], dtype=np.int64),
                       weights=np.array([u.manpower for u in units], dtype=float), minlength=n_actors)


class Community(mesa.Agent):
    """An ethnic group in one admin-1 region; its attitudes live in model matrices."""

    def __init__(self, model, index: int, group: str, region: int):
        super().__init__(model)
        self.index = index
        self.group = group
        self.region = region

    @property
    def population(self) -> float:
        return float(self.model.community_population[self.index])

    @property
    def grievance(self) -> np.ndarray:
        return self.model.grievance[self.index]

    @property
    def support(self) -> np.ndarray:
        return self.model.support[self.index]

    @property
    def fear(self) -> float:
        return float(self.model.fear[self.index])
