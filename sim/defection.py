"""Mechanism 2, defection: fighters and whole units changing sides, in both directions.

What the seeds document:
- 000_413828cd3477c8cc.txt: a Tolebe Fulani group left for ISGS in 2017 and
  Katibat Salaheddin soon after; Ansarul Islam factions in 2019; Mamadou Mobbo's
  Katiba Macina group in January 2020, then many more. Drivers named: sharing of
  loot; tax burdens in JNIM- versus ISGS-ruled areas; local tribal alliances;
  JNIM's pacts with Dogon and Bambara, who were at war with the Fulani; intra-
  Fulani caste conflict; hardliners leaving when Kouffa relaxed sharia; IS
  central pull after the 2019 ISWAP induction and the 2022 promotion (the
  Menaka offensive drew defectors from JNIM areas); leaders killed.
- 001_714725a1b78083b0.txt: in 2024 JNIM, with spies inside ISGS, won the
  Battle of Tatkarat, killed the Aribanda emir, and the remaining ISGS group
  pledged to JNIM: defection the other way, driven by momentum, leadership
  loss and infiltration.

Assumptions of this module:
- Each jihadist unit within ``reach_cells`` of a rival jihadist group feels a
  pull toward it: pull = logistic(base_pull + sum of weighted driver gaps, the
  rival's value minus its own). Drivers are computed from the groups' strategies,
  central ties, leadership, momentum, infiltration, strain, the unit's Fulani
  share times its own group's truces and pacts with militias (each counting
  0.5 plus the militia's people's polarisation against the Fulani, capped at
  1, times the share of the militia's people living in the unit's admin-1
  region: the betrayal is felt where that militia's people are the unit's
  neighbours), and the caste tension of the Fulani community where it stands.
- A unit feels a rival's pull within ``reach_cells`` of the rival's presence; beyond it, only
  when its Fulani are aggrieved by its own group's pacts with the militias of its region, the
  pull then scaled by min(1, Fulani share x those pacts' weight): the rival's recruiters seek
  out the aggrieved (seed 000: al-Sahrawi's campaign among Katiba Macina).
- Fighters leave in a trickle: Binomial(manpower, trickle_rate x pull) join the
  rival's nearest unit. Loyalty erodes with pull and recovers slowly; a unit
  whose loyalty falls below ``whole_unit_threshold`` changes sides whole.
- Leadership quality recovers by 0.5% of the gap per step (assumption).
"""

from __future__ import annotations

import numpy as np

from sim import eventlog as ev
from sim import kernels
from sim.actors import CAST, ETHNIC_GROUPS, FULANI
from sim.agents import positions
from sim.escalation import against_fulani

FULANI_GROUPS = {ETHNIC_GROUPS.index(g) for g in FULANI}
FULANI_IDX = sorted(FULANI_GROUPS)
_MILITIA_BASES = [(a.name, np.array([ETHNIC_GROUPS.index(g) for g in a.base])) for a in CAST if a.kind == "militia"]


def pull_logit(model, unit, own, rival, pacts: np.ndarray | None = None) -> float:
    """Logit of the pull a unit of ``own`` feels toward ``rival`` (both Faction agents);
    ``pacts`` is :func:`hostile_pacts` of ``own`` when the caller already has it."""
    if pacts is None:
        pacts = hostile_pacts(model, own.name)
    terms = _PullTerms(model, own, rival, pacts)
    return terms.logit(unit, model.world.region[unit.pos], local_caste_tension(model, unit))


class _PullTerms:
    """The terms of :func:`pull_logit` that are the same for every unit of ``own`` during the
    defection phase, computed once; :meth:`logit` adds them to the unit's own terms in the
    formula's order, so the sum is the same float."""

    def __init__(self, model, own, rival, pacts: np.ndarray):
        d = self.d = model.params.defection
        so, sr = own.strategy, rival.strategy
        self.pacts, self.so, self.sr = pacts, so, sr
        self.loot = d.loot_weight * (sr.loot_share - so.loot_share)
        self.tax = d.tax_weight * (so.tax_rate - sr.tax_rate)
        self.central = d.central_weight * (rival.central_pull - own.central_pull)
        self.leadership = d.leadership_weight * (rival.leadership - own.leadership)
        self.momentum = d.momentum_weight * (np.tanh(rival.momentum) - np.tanh(own.momentum))
        self.infiltration = d.infiltration_weight * rival.infiltration.get(own.name, 0.0)
        self.strain = d.strain_weight * (own.strain - rival.strain)

    def logit(self, unit, region: int, caste: float) -> float:
        """The logit for ``unit`` standing in admin-1 ``region`` where the Fulani's caste tension is ``caste``."""
        d = self.d
        fulani = unit.fulani_share
        return (
            d.base_pull
            + self.loot
            + self.tax
            + d.pact_weight * fulani * self.pacts[region]
            + d.caste_weight * fulani * caste
            + d.sharia_weight * unit.hardline * (self.sr.sharia_pace - self.so.sharia_pace)
            + self.central
            + self.leadership
            + self.momentum
            + self.infiltration
            + self.strain
        )


def hostile_pacts(model, name: str) -> np.ndarray:
    """By admin-1 region: the sum over militias at truce or pact with ``name`` of their base's
    polarisation against the Fulani, each weighted by the share of the militia's people who live in
    that region. Fulani fighters resent a pact with the militia that preys on their own neighbours
    (seed 000: the Dogon and Bambara pacts drove Katiba Macina's Fulani to ISGS), not one far away."""
    w = model.world
    total = np.zeros(len(w.region_names))
    for militia, base in _MILITIA_BASES:
        if model.relations.state(name, militia) not in ("truce", "pact"):
            continue
        people = kernels.region_totals(model.pop.reshape(len(model.pop), -1), base, w.region.ravel(), len(total))
        where = people / people.sum() if people.sum() > 0 else people
        total += (0.5 + min(against_fulani(model)[base].max(), 1.0)) * where
    return total


def local_caste_tension(model, unit) -> float:
    """The largest caste tension among the Fulani communities of the unit's cell (0 where none live)."""
    return _local_caste_tensions(model, np.array([unit.pos[0]]), np.array([unit.pos[1]]))[0]


def _local_caste_tensions(model, rows: np.ndarray, cols: np.ndarray) -> list[float]:
    """:func:`local_caste_tension` at each of the cells (rows, cols), in one pass."""
    ids = model.comm_id[FULANI_IDX][:, rows * model.world.shape[1] + cols]
    tension = np.where(ids >= 0, model.caste_tension[np.maximum(ids, 0)], -np.inf).max(axis=0, initial=-np.inf)
    return np.where(np.isfinite(tension), tension, 0.0).tolist()


def defections(model) -> None:
    d = model.params.defection
    jihadists = [f for f in model.factions.values() if f.kind == "jihadist" and f.active]
    for f in jihadists:
        f.leadership += 0.005 * (1.0 - f.leadership)
    # the permutation model.units.shuffle() draws (it shuffles its member list), without building an AgentSet
    units = model.unit_list()
    model.random.shuffle(units)
    rows, cols = positions(units).T
    # whether each unit stands within reach_cells of a rival's presence (presence is fixed during this phase)
    near = {f.name: kernels.window_count(model.presence[f.index] > 0, rows, cols, d.reach_cells) > 0 for f in jihadists}
    pacts = {f.name: hostile_pacts(model, f.name) for f in model.factions.values() if f.kind == "jihadist"}
    # what the phase leaves unchanged is read once: positions, caste tension and each pair's fixed terms
    regions = model.world.region[rows, cols].tolist()
    caste = _local_caste_tensions(model, rows, cols)
    terms = {(own.name, rival.name): _PullTerms(model, own, rival, pacts[own.name])
             for own in model.factions.values() if own.kind == "jihadist" for rival in jihadists if rival is not own}
    for k, u in enumerate(units):
        own = model.factions[u.faction]
        if own.kind != "jihadist" or u.manpower <= 0:
            continue
        # beyond reach, the rival's recruiters still speak to fighters its pacts with their neighbours' militias
        # have aggrieved, the more so the more aggrieved (seed 000: al-Sahrawi's campaign among Katiba Macina)
        far = min(1.0, u.fulani_share * pacts[own.name][regions[k]])
        for rival in jihadists:
            if rival is own or not (near[rival.name][k] or far > 0):
                continue
            pull = 1.0 / (1.0 + np.exp(-terms[own.name, rival.name].logit(u, regions[k], caste[k])))
            if not near[rival.name][k]:
                pull *= far
            u.loyalty += -d.loyalty_erosion * pull + d.loyalty_recovery * (0.8 - u.loyalty)
            if u.loyalty < d.whole_unit_threshold:
                _switch(model, u, own, rival)
                break
            n = int(model.rng.binomial(u.manpower, d.trickle_rate * pull))
            if n:
                _trickle(model, u, own, rival, n)


def _nearest(units, pos):
    return min(units, key=lambda x: abs(x.pos[0] - pos[0]) + abs(x.pos[1] - pos[1]))


def _trickle(model, unit, own, rival, n) -> None:
    targets = [x for x in rival.units if x.manpower > 0]
    if not targets:
        return
    moved = unit.lose(n)
    _nearest(targets, unit.pos).absorb(moved, unit.ethnic)
    model.defected[own.index, rival.index] += moved
    if moved >= 10:
        model.log.add(model, ev.GROUP_CHANGE, ev.acled_actor(own.name), ev.acled_actor(rival.name), cell=unit.pos,
                      notes=f"{moved} fighters of {unit.katiba} defect to {rival.name}")


def _switch(model, unit, own, rival) -> None:
    model.defected[own.index, rival.index] += unit.manpower
    model.log.add(model, ev.GROUP_CHANGE, ev.acled_actor(own.name), ev.acled_actor(rival.name), cell=unit.pos,
                  notes=f"whole unit {unit.katiba} ({unit.manpower} fighters) defects to {rival.name}")
    unit.faction = rival.name
    unit.katiba = f"{rival.name} ({unit.katiba} defectors)" if "defectors" not in unit.katiba else unit.katiba
    unit.loyalty = 0.7
    unit.home = unit.pos
