"""Mechanism 4, state counter-insurgency and abuse, with regimes and foreign partners.

What the seeds document:
- The Malian, Burkinabe and Nigerien forces, French forces (an April 2020
  offensive on ISGS in Liptako-Gourma; leaders killed in 2021) and from early
  2022 Wagner fought both jihadist groups (000_413828cd3477c8cc.txt).
- Army and VDP abuses against Fulani (the 2020 Djibo massacres) rallied Fulani
  to JNIM; the post-2022 Burkinabe junta attacked civilians more; Human Rights
  Watch reported army-directed massacres of Fulani in 2025 (000, 001).
- Discontent with the juntas and Wagner helped ISGS's 2022 Menaka offensive (000).
- JNIM's 2025 raids showed the limits of the juntas' air support (002, 003).

Assumptions of this module:
- Each active state runs Poisson(ops_per_capacity x capacity x (0.5 +
  aggressiveness)) operations per step, where capacity adds the partners present
  in the country. Targets are jihadist units in the country, weighted by
  manpower, civilian informing (intelligence) and the state's reach there.
- An operation kills a binomial share ``op_lethality x (0.5 + 0.5 x precision)``
  of the unit; precision = discrimination (+ French ISR, - Wagner's penalty,
  + informing). French-led operations are logged as air/drone strikes.
- Each operation also kills Poisson(abuse_rate x (1 - discrimination) x (0.3 +
  2 x anti_fulani_bias x Fulani share)) civilians near the target, chosen among
  residents with Fulani over-weighted by the bias. In Burkina half of these
  abuses are by the VDP once it exists; in Mali half by Wagner or Africa Corps
  while present.
- Garrisons recover toward their establishment strength at a rate set by budget.
- Coups and partner movements are dated events applied by :mod:`sim.exogenous`.
"""

from __future__ import annotations

import numpy as np

from sim import eventlog as ev
from sim.actors import (
    CAST,
    ETHNIC_GROUPS,
    FULANI,
    GROUP_INDEX,
    INDEX,
    N_GROUPS,
)
from sim.agents import positions
from sim.draws import choice_index
from sim.world import COUNTRY_CODES

FULANI_IDX = np.array([ETHNIC_GROUPS.index(g) for g in FULANI])
_IS_FULANI = np.isin(np.arange(N_GROUPS), FULANI_IDX)
_IS_JIHADIST = [a.kind == "jihadist" for a in CAST]  # by actor index (faster than u.faction in a tuple)
ABUSING_AUXILIARY = {"BFA": ("VDP",), "MLI": ("Wagner", "Africa Corps")}


def partners_in(model, country: str) -> list[str]:
    return [f.name for f in model.factions.values() if f.kind == "partner" and f.active and country in f.host_countries]


def effective_capacity(model, state) -> tuple[float, float]:
    """Operational capacity and precision of a state with the partners present."""
    cp = model.params.counterinsurgency
    country = CAST[state.index].country
    partners = partners_in(model, country)
    capacity = state.regime.capacity
    precision = state.regime.discrimination
    if "France" in partners:
        capacity += cp.france_capacity
        precision += cp.france_precision
    if "Wagner" in partners or "Africa Corps" in partners:
        capacity += cp.wagner_capacity
        precision -= cp.wagner_discrimination_penalty
    return capacity, min(max(precision, 0.0), 1.0)


def state_operations(model) -> None:
    cp = model.params.counterinsurgency
    w = model.world
    jihadist_units = [u for u in model.unit_list() if _IS_JIHADIST[u.actor] and u.manpower > 0]
    rows, cols = positions(jihadist_units).T
    men = np.array([u.manpower for u in jihadist_units], dtype=float)
    in_country = w.country[rows, cols]
    intel = 1.0 + cp.intel_weight * model.intel[rows, cols]
    for state in model.factions.values():
        if state.kind != "state" or not state.active or state.regime is None:
            continue
        country = CAST[state.index].country
        targets = np.flatnonzero(in_country == COUNTRY_CODES.index(country))
        _reinforce(model, state)
        if not len(targets):
            continue
        capacity, precision = effective_capacity(model, state)
        n_ops = model.rng.poisson(cp.ops_per_capacity * capacity * (0.5 + state.regime.aggressiveness))
        if n_ops == 0:
            continue
        reach = model.share[state.index][rows[targets], cols[targets]]
        weights = men[targets] * intel[targets] * (0.2 + reach)
        picks = choice_index(model.rng, weights / weights.sum(), n_ops)
        partners = partners_in(model, country)
        for t in picks:
            _operation(model, state, jihadist_units[targets[t]], precision, partners, country)


def _operation(model, state, unit, precision, partners, country) -> None:
    cp = model.params.counterinsurgency
    if unit.manpower <= 0:
        return
    prec = min(1.0, precision + 0.2 * cp.intel_weight * model.intel[unit.pos])
    killed = unit.lose(model.rng.binomial(unit.manpower, cp.op_lethality * (0.5 + 0.5 * prec)))
    actor = state.name
    kind = ev.BATTLE
    if "France" in partners and model.rng.random() < 0.3:
        actor, kind = "France", ev.AIR_STRIKE
    model.fatalities[INDEX[actor], INDEX[unit.faction]] += killed
    model.violence[unit.pos] += killed
    if killed:
        model.log.add(model, kind, ev.acled_actor(actor), ev.acled_actor(unit.faction), cell=unit.pos,
                      fatalities=killed, notes=f"{actor} operation against {unit.katiba}")
    _abuse(model, state, unit.pos, precision, partners, country)


def _abuse(model, state, pos, precision, partners, country) -> None:
    """Civilians killed in an operation, Fulani over-represented by the regime's bias."""
    cp = model.params.counterinsurgency
    r, c = pos
    residents = model.pop[:, r, c]
    total = residents.sum()
    if total < 1:
        return
    fulani_share = residents[FULANI_IDX].sum() / total
    bias = state.regime.anti_fulani_bias
    expected = cp.abuse_rate * (1.0 - precision) * (0.3 + 2.0 * bias * fulani_share)
    victims = int(min(model.rng.poisson(expected), total))
    if victims == 0:
        return
    perpetrator = state.name
    auxiliaries = [a for a in ABUSING_AUXILIARY.get(country, ()) if model.factions[a].active
                   and (a == "VDP" or a in partners)]
    if auxiliaries and model.rng.random() < 0.5:
        perpetrator = auxiliaries[0]
    weights = residents * np.where(_IS_FULANI, 1.0 + 3.0 * bias, 1.0)
    group = choice_index(model.rng, weights / weights.sum())
    kill_civilians(model, perpetrator, (r, c), group, victims,
                   notes=f"civilians killed during a {state.name} operation")


def kill_civilians(model, perpetrator: str, cell, group: int, victims: int, notes: str,
                   kind=ev.CIVILIAN_ATTACK) -> int:
    """Remove victims of ``group`` at ``cell``, charge them to ``perpetrator`` and log the event."""
    r, c = cell
    victims = int(min(victims, model.pop[group, r, c]))
    if victims <= 0:
        return 0
    model.pop[group, r, c] -= victims
    comm = model.comm_id[group, r * model.world.shape[1] + c]
    if comm >= 0:
        model.civ_killed[comm, INDEX[perpetrator]] += victims
    model.violence[r, c] += victims
    pz = model.params.escalation.polarisation_gain
    base = CAST[INDEX[perpetrator]].base
    if comm >= 0 and base:
        per_1000 = victims / max(model.community_population[comm] / 1000.0, 1.0)
        for g in base:
            model.polarisation[group, GROUP_INDEX[g]] += pz * per_1000
    country = model.world.country_code(r, c)
    model.log.add(model, kind, ev.acled_actor(perpetrator), ev.civilians(country), cell=cell,
                  fatalities=victims, civilian=True, notes=notes,
                  assoc2=ev.ethnic_label(ETHNIC_GROUPS[group], country))
    return victims


def _reinforce(model, state) -> None:
    """Garrisons recover toward establishment strength as the budget allows (assumption)."""
    cp = model.params.counterinsurgency
    rate = cp.garrison_reinforcement * state.regime.budget / 0.5
    for u in state.units:
        gap = getattr(u, "establishment", u.manpower) - u.manpower
        if gap > 0:
            u.manpower += int(model.rng.binomial(gap, min(rate, 1.0)))
