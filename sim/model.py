"""LiptakoModel: the tri-border conflict as a Mesa 3 model.

The model receives a validated :class:`sim.params.Scenario` and the parsed
:class:`sim.geodata.GeoData`; it never reads files. Fields (population,
influence, control) are numpy arrays over the grid of :mod:`sim.world`;
factions, units and communities are Mesa agents. Units carry their grid
position as (row, column) rather than living in a Mesa cell space: building
Mesa's 9,600 Cell objects costs about 0.2 s per model at 0.1 degree and its
neighbourhood caches are never freed, while every spatial question the
mechanisms ask is a whole-array numpy operation.

One weekly step runs the phases listed in :meth:`LiptakoModel.step`.
"""

from __future__ import annotations

import datetime as dt

import mesa
import numpy as np

from sim import (
    counterinsurgency,
    defection,
    economy,
    engagement,
    escalation,
    exogenous,
    kernels,
    relations,
    territory,
)
from sim.actors import (
    CAST,
    ETHNIC_GROUPS,
    N_ACTORS,
    N_GROUPS,
    info,
)
from sim.agents import ArmedUnit, Community, Faction, manpower_by_actor
from sim.eventlog import EventLog
from sim.geodata import GeoData
from sim.params import Faction as FactionSetup
from sim.params import Scenario
from sim.world import COUNTRY_CODES, build_world

MIN_COMMUNITY = 2000.0  # residents; smaller ethnic minorities in a region are not agents (assumption)


class LiptakoModel(mesa.Model):
    """Agent-based model of the Liptako-Gourma conflict."""

    def __init__(self, scenario: Scenario, geo: GeoData, seed: int | None = None):
        super().__init__(rng=scenario.seed if seed is None else seed)
        self.scenario = scenario
        self.params = scenario.mechanisms
        self.world = build_world(geo, scenario.resolution_deg)
        self.date: dt.date = scenario.start
        self.step_days = scenario.step_days
        self.log = EventLog()
        w = self.world
        H, W = w.shape
        self.pop = w.population.copy()
        self.gold_road = 0.6 * w.gold + 0.2 * w.road  # static part of movement's score (sim.territory)
        self.displaced_total = 0.0
        self.civilians_killed_total = 0.0
        self.fighters_killed_total = 0.0

        self._make_factions()
        self._make_units()
        self._make_communities()

        A = N_ACTORS
        self.influence = np.zeros((A, H, W))
        self.effective = np.zeros((A, H, W))
        self.share = np.zeros((A, H, W))
        self.presence = np.zeros((A, H, W))
        self.control = np.full((H, W), -1, dtype=np.int8)
        self.contested = np.zeros((H, W), dtype=bool)
        self.danger = np.zeros((H, W))
        self.intel = np.zeros((H, W))
        self.besieged: dict[int, int] = {}  # town index -> besieging actor
        self.siege_towns = np.array([k for k, t in enumerate(geo.towns) if t.population >= 15000 and t.inside])
        self.polarisation = np.zeros((N_GROUPS, N_GROUPS))
        self.relations = relations.RelationBook(self, scenario.relations)
        self._applied_events: set[str] = set()
        self._new_step_accumulators()
        self.civ_killed_last = self.civ_killed.copy()
        territory.update_influence(self)
        engagement.update_attitudes(self)
        self._series: list[tuple] = []  # per recorded step: date and per-actor arrays (see record)
        self._relation_series: list[tuple] = []
        self._history_rows: list[dict] = []
        self._relation_rows: list[dict] = []
        self.rasters: list[tuple[dt.date, np.ndarray, np.ndarray, np.ndarray]] = []
        self.record()

    # ------------------------------------------------------------------ set-up

    def _make_factions(self):
        sc = self.scenario
        self.factions: dict[str, Faction] = {}
        for a in CAST:
            if a.kind in ("jihadist", "militia"):
                fs = sc.factions.get(a.name, FactionSetup())
                fac = Faction(
                    self, a.name, fs.treasury, strategy=fs.strategy, leadership=fs.leadership,
                    central_pull=fs.central_pull, central_hostility=fs.central_hostility,
                    central_funding=fs.central_funding, infiltration=fs.infiltration, campaigns=fs.campaigns,
                    active=fs.active,
                )
            elif a.kind == "state":
                st = sc.states.get(a.name)
                fac = Faction(self, a.name, 0.0, regime=st.regime if st else None, active=st is not None)
            else:
                fac = Faction(self, a.name, 0.0, active=False)
            fac.town_focus = np.zeros(len(COUNTRY_CODES))
            self.factions[a.name] = fac
        self.strategy_array()

    def strategy_array(self):
        """Refresh per-actor strategy vectors after a strategy or regime change."""
        A = N_ACTORS
        self.tax_rate = np.zeros(A)
        self.restraint = np.ones(A)
        self.services = np.zeros(A)
        self.sharia = np.zeros(A)
        self.punishment = np.zeros(A)
        for name, f in self.factions.items():
            if f.strategy is not None:
                i = f.index
                s = f.strategy
                self.tax_rate[i], self.restraint[i], self.services[i] = s.tax_rate, s.restraint, s.services
                self.sharia[i], self.punishment[i] = s.sharia_pace, s.collaboration_punishment

    def _place(self, town: str, count: int, k: int) -> tuple[int, int]:
        t = self.world.geo.town(town)
        r, c = self.world.cell_of(t.lat, t.lon)
        if count > 1 and k > 0:
            H, W = self.world.shape
            r = int(np.clip(r + self.rng.integers(-2, 3), 0, H - 1))
            c = int(np.clip(c + self.rng.integers(-2, 3), 0, W - 1))
        return r, c

    def spawn_units(self, specs) -> list[ArmedUnit]:
        made = []
        for spec in specs:
            for k in range(spec.count):
                u = ArmedUnit(self, spec.actor, self._place(spec.near, spec.count, k), spec.manpower,
                              spec.ethnic, spec.hardline, spec.loyalty, spec.katiba)
                u.establishment = spec.manpower
                made.append(u)
                if info(spec.actor).kind == "partner":
                    self.factions[spec.actor].active = True
                    self.factions[spec.actor].host_countries.add(self.world.country_code(*u.pos))
        return made

    def _make_units(self):
        self.spawn_units(self.scenario.forces)

    def _make_communities(self):
        w = self.world
        R = len(w.region_names)
        E = N_GROUPS
        flat_region = w.region.ravel()
        pop = self.pop.reshape(E, -1)
        by_region = np.zeros((E, R))
        for e in range(E):
            by_region[e] = np.bincount(flat_region, weights=pop[e], minlength=R)
        self.comm_id = np.full((E, w.region.size), -1, dtype=np.int32)
        groups, regions = [], []
        for r in range(R):
            for e in range(E):
                if by_region[e, r] >= MIN_COMMUNITY:
                    c = len(groups)
                    groups.append(e)
                    regions.append(r)
                    self.comm_id[e, flat_region == r] = c
        self.comm_group = np.array(groups, dtype=np.int32)
        self.comm_region = np.array(regions, dtype=np.int32)
        self.comm_country = np.array([COUNTRY_CODES.index(w.region_country[r]) if w.region_country[r] in COUNTRY_CODES else 3
                                      for r in regions], dtype=np.int8)
        self.comm_fulani = np.isin(self.comm_group, [ETHNIC_GROUPS.index("fulani"), ETHNIC_GROUPS.index("fulani_tolebe")])
        C = len(groups)
        self.communities = [Community(self, c, ETHNIC_GROUPS[groups[c]], regions[c]) for c in range(C)]
        # the cells of each community in order: community c lives in comm_cells[comm_ptr[c]:comm_ptr[c + 1]]
        e_idx, cells = np.nonzero(self.comm_id >= 0)
        rows = self.comm_id[e_idx, cells]
        order = np.lexsort((cells, rows))
        self.comm_cells = cells[order]
        self.comm_ptr = np.searchsorted(rows[order], np.arange(C + 1))
        self.community_population = np.zeros(C)
        self.counted_pop = np.empty_like(self.pop)
        self.refresh_residents()
        # the (group, cell) pairs listed by cell, for per-cell means over residents
        by_cell = np.lexsort((e_idx, cells))
        self._cell_ptr = np.searchsorted(cells[by_cell], np.arange(w.region.size + 1))
        self._cell_group, self._cell_comm = e_idx[by_cell], self.comm_id[e_idx[by_cell], cells[by_cell]]
        A = N_ACTORS
        self.grievance = np.zeros((C, A))
        self.legitimacy = np.zeros((C, A))
        self.support = np.zeros((C, A))
        self.exposure = np.zeros((C, A))
        self.killed_recent = np.zeros((C, A))
        self.rallied = np.zeros((C, A))  # victims of each jihadist group's enemies among the groups it protects
        self.fear = np.zeros(C)
        self.refusal = np.zeros(C)
        self.informing = np.zeros(C)
        self.caste_tension = np.zeros(C)
        self.mobilised = np.zeros(C)
        self.ruler = np.full(C, -1, dtype=np.int32)
        self.affinity = engagement.ethnic_affinity(self.comm_group, self.comm_country)
        self.claims_protection = engagement.claims_protection(self.comm_group)
        self.comm_militia = engagement.militia_of_community(self)

    def refresh_residents(self):
        """Total each community's residents; ``counted_pop`` keeps the population they were counted
        from (reprisals pick their cells by these residents, not by those killed since). Steps keep
        both up to date (:mod:`sim.engagement`) without a recount."""
        kernels.community_totals(self.pop.reshape(N_GROUPS, -1), self.comm_id, self.community_population,
                                 self.counted_pop.reshape(N_GROUPS, -1))

    # ------------------------------------------------------------------ queries

    def units_changed(self) -> None:
        self._units_by_faction = None
        self._unit_list = None

    def unit_created(self, unit: ArmedUnit) -> None:
        """A new unit goes last in the cached lists, where a rebuild would put it (Mesa lists
        agents in creation order), so splits and new militias cost no rebuild."""
        if getattr(self, "_units_by_faction", None) is not None:
            self._units_by_faction.setdefault(unit.faction, []).append(unit)
        if getattr(self, "_unit_list", None) is not None:
            self._unit_list.append(unit)

    def unit_list(self) -> list[ArmedUnit]:
        """All units in Mesa's order, as a new list (cached like :meth:`units_of`: iterating the
        AgentSet goes through a weak-reference dictionary, several times slower)."""
        if getattr(self, "_unit_list", None) is None:
            self._unit_list = list(self.units)
        return list(self._unit_list)

    def units_of(self, name: str) -> list[ArmedUnit]:
        """The units of one faction (cached; rebuilt after a unit is removed or changes sides)."""
        if getattr(self, "_units_by_faction", None) is None:
            groups: dict[str, list[ArmedUnit]] = {}
            for u in self.agents_by_type.get(ArmedUnit, []):
                groups.setdefault(u.faction, []).append(u)
            self._units_by_faction = groups
        return list(self._units_by_faction.get(name, ()))

    @property
    def units(self):
        units = self.agents_by_type.get(ArmedUnit)
        return units if units is not None else mesa.agent.AgentSet([], random=self.random)

    def active(self, name: str) -> bool:
        return self.factions[name].active

    def town_focus(self) -> np.ndarray:
        """(actors, countries): each actor's town focus by country (np.array: a third of np.stack's cost)."""
        return np.array([self.factions[a.name].town_focus for a in CAST])

    def ops_factor(self, name: str) -> float:
        """Share of operations a group can still fund (seed 000: strain lowered intensity)."""
        return 1.0 - self.params.economy.strain_effect * self.factions[name].strain

    def ops_factors(self) -> np.ndarray:
        """:meth:`ops_factor` of every actor, by index (the same arithmetic, elementwise)."""
        return 1.0 - self.params.economy.strain_effect * np.array([self.factions[a.name].strain for a in CAST])

    def release(self) -> None:
        """Free a finished model at once; call when a run's outputs have been collected, and do not
        use the model afterwards.

        Drops Mesa 3.3.1's class-level per-model id counter (``Agent._ids``), which otherwise keeps
        every finished model alive, and the model's own attributes: its agents, factions and books
        point back at it, and the cycles would hold about 45 MB per run until the garbage
        collector's rare full pass (a sweep worker grew from 260 to 750 MB over 20 runs).
        """
        mesa.Agent._ids.pop(self, None)
        self.__dict__.clear()

    # ------------------------------------------------------------------ schedule

    def _new_step_accumulators(self):
        C, A = self.grievance.shape
        self.civ_killed = np.zeros((C, A))  # civilians killed this step, by community and perpetrator
        self.fatalities = np.zeros((A, A))  # fighters of column actor killed by row actor this step
        self.clashes = np.zeros((A, A), dtype=int)
        self.joint_attacks = 0
        self.defected = np.zeros((A, A))  # fighters moving from row actor to column actor
        self.violence = np.zeros(self.world.shape)

    def step(self):
        """One step of ``step_days`` days; the phases run in this order."""
        self._new_step_accumulators()
        exogenous.apply_due_events(self)  # coups, partners, leaders killed, IS status, mediation
        economy.collect_income(self)  # taxes, gold, smuggling, ransom, funding, upkeep, strain
        territory.update_influence(self)  # presence -> influence -> control, contested cells, sieges
        engagement.update_attitudes(self)  # grievance, legitimacy, support, refusal, informing
        engagement.community_actions(self)  # recruitment, displacement, militia mobilisation
        counterinsurgency.state_operations(self)  # operations, air strikes, abuses, reinforcement
        territory.move_units(self)  # units choose where to go (strategy, Macina core, town focus)
        territory.resolve_clashes(self)  # clashes, joint attacks, attacks on towns, loot
        escalation.reprisals(self)  # massacres, collaboration killings, militia reprisals, focus on towns
        defection.defections(self)  # fighters and whole units change sides, both directions
        relations.update(self)  # cooperation / tension / war / truce / pact transitions
        self._finish_step()
        self.date = self.date + dt.timedelta(days=self.step_days)
        self.record()

    def _finish_step(self):
        for u in [u for u in self.unit_list() if u.manpower <= 0]:
            u.remove()
        self.danger = self.danger * 0.8 + self.violence
        self.civilians_killed_total += self.civ_killed.sum()
        self.civ_killed_last = self.civ_killed  # communities react to these at the next step
        self.fighters_killed_total += self.fatalities.sum()

    # ------------------------------------------------------------------ outputs

    @property
    def history(self) -> list[dict]:
        """One row per recorded date and actor (the columns of timeseries.csv)."""
        for date, area, ruled, manpower, support, treasury, strain, focus in self._series[len(self._history_rows) // N_ACTORS:]:
            for i, a in enumerate(CAST):
                self._history_rows.append({
                    "date": date,
                    "actor": a.name,
                    "area_km2": round(float(area[i]), 1),
                    "population_ruled": round(float(ruled[i])),
                    "manpower": int(manpower[i]),
                    "treasury": round(float(treasury[i]), 4),
                    "support": round(float(support[i]), 5),
                    "strain": round(float(strain[i]), 4),
                    "town_focus": round(float(focus[i]), 4),
                })
        return self._history_rows

    @property
    def relation_history(self) -> list[dict]:
        """One row per recorded date and dynamic actor pair (the columns of relations.csv)."""
        pairs = self.relations.pairs
        for date, matrix, hostility, desire, parts in self._relation_series[len(self._relation_rows)
                                                                           // max(len(pairs), 1):]:
            self._relation_rows.extend({
                "date": date,
                "actor_a": CAST[i].name,
                "actor_b": CAST[j].name,
                "state": relations.STATES[matrix[i, j]],
                "hostility": round(float(hostility[i, j]), 4),
                "truce_desire": round(float(desire[i, j]), 4),
                **{f"desire_{name}": round(float(parts[k, p]), 4) for k, name in enumerate(relations.DESIRE_PARTS)},
            } for p, (i, j) in enumerate(pairs))
        return self._relation_rows

    def record(self):
        pop_c = self.community_population
        pop_all = max(pop_c.sum(), 1.0)
        area, ruled = kernels.control_totals(self.control.ravel(), self.world.area_km2.ravel(),
                                             self.pop.reshape(N_GROUPS, -1), N_ACTORS)
        support = pop_c @ self.support / pop_all
        manpower = manpower_by_actor(self.unit_list(), N_ACTORS)
        facs = [self.factions[a.name] for a in CAST]
        self._series.append((self.date.isoformat(), area, ruled, manpower, support,
                             np.array([f.treasury for f in facs]), np.array([f.strain for f in facs]),
                             self.town_focus().max(axis=1)))
        book = self.relations
        self._relation_series.append((self.date.isoformat(), book.matrix.copy(), book.hostility.copy(),
                                      book.desire.copy(), book.desire_parts.copy()))
        if self.steps % self.scenario.record_every == 0:
            lead_share = self.share.max(axis=0).astype(np.float16)
            self.rasters.append((self.date, self.control.copy(), self.contested.copy(), lead_share))
