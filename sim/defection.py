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
- All units draw at once, from their manpower at the start of the phase; the
  departures then take effect unit by unit in a random order (which rival unit
  is nearest, and who is left to leave, follow that order).
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
_FULANI_ROWS = np.array(FULANI_IDX)[:, None]
_IS_JIHADIST = [a.kind == "jihadist" for a in CAST]  # by actor index; a list indexes faster than an array
_MILITIA_BASES = [(a.name, np.array([ETHNIC_GROUPS.index(g) for g in a.base])) for a in CAST if a.kind == "militia"]


def pull_logit(model, unit, own, rival, pacts: np.ndarray | None = None) -> float:
    """Logit of the pull a unit of ``own`` feels toward ``rival`` (both Faction agents);
    ``pacts`` is :func:`hostile_pacts` of ``own`` when the caller already has it."""
    if pacts is None:
        pacts = hostile_pacts(model, own.name)
    terms = _PullTerms(model, own, rival, pacts)
    return terms.logit(unit.fulani_share, unit.hardline, model.world.region[unit.pos], local_caste_tension(model, unit))


class _PullTerms:
    """The terms of :func:`pull_logit` that are the same for every unit of ``own`` during the
    defection phase, computed once; :meth:`logit` adds them to the units' own terms in the
    formula's order."""

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

    def logit(self, fulani, hardline, region, caste):
        """The logit for units with Fulani share ``fulani`` and commanders' ``hardline`` standing in admin-1
        ``region`` where the Fulani's caste tension is ``caste`` (scalars, or arrays over units)."""
        d = self.d
        return (
            d.base_pull
            + self.loot
            + self.tax
            + d.pact_weight * fulani * self.pacts[region]
            + d.caste_weight * fulani * caste
            + d.sharia_weight * hardline * (self.sr.sharia_pace - self.so.sharia_pace)
            + self.central
            + self.leadership
            + self.momentum
            + self.infiltration
            + self.strain
        )


def hostile_pacts(model, name: str, shares: dict | None = None) -> np.ndarray:
    """By admin-1 region: the sum over militias at truce or pact with ``name`` of their base's
    polarisation against the Fulani, each weighted by the share of the militia's people who live in
    that region. Fulani fighters resent a pact with the militia that preys on their own neighbours
    (seed 000: the Dogon and Bambara pacts drove Katiba Macina's Fulani to ISGS), not one far away.
    ``shares`` keeps each militia's shares by region for further calls while the population is unchanged."""
    w = model.world
    total = np.zeros(len(w.region_names))
    shares = {} if shares is None else shares
    against = None
    for militia, base in _MILITIA_BASES:
        if model.relations.state(name, militia) not in ("truce", "pact"):
            continue
        if militia not in shares:
            people = kernels.region_totals(model.pop.reshape(len(model.pop), -1), base, w.region.ravel(), len(total))
            shares[militia] = people / people.sum() if people.sum() > 0 else people
        against = against_fulani(model) if against is None else against
        total += (0.5 + min(against[base].max(), 1.0)) * shares[militia]
    return total


def local_caste_tension(model, unit) -> float:
    """The largest caste tension among the Fulani communities of the unit's cell (0 where none live)."""
    return float(_local_caste_tensions(model, np.array([unit.pos[0]]), np.array([unit.pos[1]]))[0])


def _local_caste_tensions(model, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """:func:`local_caste_tension` at each of the cells (rows, cols), in one pass."""
    ids = model.comm_id[_FULANI_ROWS, rows * model.world.shape[1] + cols]  # only these cells of the Fulani rows
    tension = np.where(ids >= 0, model.caste_tension[np.maximum(ids, 0)], -np.inf).max(axis=0, initial=-np.inf)
    return np.where(np.isfinite(tension), tension, 0.0)


def defections(model) -> None:
    d = model.params.defection
    jihadists = [f for f in model.factions.values() if f.kind == "jihadist" and f.active]
    for f in jihadists:
        f.leadership += 0.005 * (1.0 - f.leadership)
    # the units of jihadist groups with men, in a random order (the order their defections take effect)
    units = model.unit_list()
    units = [units[k] for k in model.rng.permutation(len(units)).tolist()
             if _IS_JIHADIST[units[k].actor] and units[k].manpower > 0]
    if not units:
        return
    rows, cols = positions(units).T
    actor = np.array([u.actor for u in units])
    men = np.array([u.manpower for u in units])
    ethnic = np.array([u.ethnic for u in units])
    fulani = ethnic[:, 0] + ethnic[:, 1]  # ArmedUnit.fulani_share of each, without a property call per unit
    hardline = np.array([u.hardline for u in units])
    loyalty = np.array([u.loyalty for u in units])
    regions = model.world.region[rows, cols]
    caste = _local_caste_tensions(model, rows, cols)
    shares = {}
    pacts = {f.name: hostile_pacts(model, f.name, shares) for f in model.factions.values() if f.kind == "jihadist"}
    # beyond reach, the rival's recruiters still speak to fighters its pacts with their neighbours' militias
    # have aggrieved, the more so the more aggrieved (seed 000: al-Sahrawi's campaign among Katiba Macina)
    far = np.zeros(len(units))
    for f in model.factions.values():
        if f.kind == "jihadist":
            own = actor == f.index
            far[own] = np.minimum(1.0, fulani[own] * pacts[f.name][regions[own]])
    # a unit feels each rival in turn (the rivals' order): its loyalty erodes, and it changes sides whole
    # or loses a trickle of fighters; a unit that has changed sides feels no further rival
    switch, trickle = np.full(len(units), -1), np.zeros((len(jihadists), len(units)), dtype=np.int64)
    for j, rival in enumerate(jihadists):
        # whether each unit stands within reach_cells of the rival's presence (fixed during this phase)
        near = kernels.window_count(model.presence[rival.index] > 0, rows, cols, d.reach_cells) > 0
        feels = (actor != rival.index) & (near | (far > 0)) & (switch < 0)
        pull = np.zeros(len(units))
        for own in model.factions.values():
            if own.kind != "jihadist" or own is rival:
                continue
            mine = feels & (actor == own.index)
            if not mine.any():
                continue
            logit = _PullTerms(model, own, rival, pacts[own.name]).logit(fulani[mine], hardline[mine], regions[mine],
                                                                         caste[mine])
            pull[mine] = 1.0 / (1.0 + np.exp(-logit))
        pull = np.where(near, pull, pull * far)
        loyalty = np.where(feels, loyalty - d.loyalty_erosion * pull + d.loyalty_recovery * (0.8 - loyalty), loyalty)
        switch[feels & (loyalty < d.whole_unit_threshold)] = j
        stays = feels & (switch < 0)
        trickle[j, stays] = model.rng.binomial(men[stays], d.trickle_rate * pull[stays])
    for u, value in zip(units, loyalty.tolist()):
        u.loyalty = value
    for k in np.flatnonzero((switch >= 0) | trickle.any(axis=0)).tolist():
        u = units[k]
        own = model.factions[u.faction]
        for j, rival in enumerate(jihadists):
            if switch[k] == j:
                _switch(model, u, own, rival)
                break
            if trickle[j, k]:
                _trickle(model, u, own, rival, int(trickle[j, k]))


def _trickle(model, unit, own, rival, n) -> None:
    targets = [x for x in rival.units if x.manpower > 0]
    if not targets:
        return
    moved = unit.lose(n)
    # the nearest in city-block distance, the first of the list among equals (as min() would give)
    targets[int(np.abs(positions(targets) - unit.pos).sum(axis=1).argmin())].absorb(moved, unit.ethnic)
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
