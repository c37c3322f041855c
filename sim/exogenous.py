"""Dated exogenous events from the scenario: coups, partners, leaders killed, IS status, mediation.

These are the shocks the design brief keeps outside the mechanisms so a
counterfactual can remove or move them (seed 000: ISWAP induction 2019-03,
promotion 2022-03, leaders killed 2021, Wagner's arrival early 2022, the Malian
and Burkinabe coups, mediation in 2019 and 2023; DESIGN.md: French exits from
Mali in 2022 and Niger in 2023, the Niger coup of 2023-07). An event fires on
the step whose week (``date`` to ``date + step_days``) contains it.
"""

from __future__ import annotations

import datetime as dt

from sim import eventlog as ev
from sim.actors import STATE_OF_COUNTRY
from sim.params import Unit


def apply_due_events(model) -> None:
    step_end = model.date + dt.timedelta(days=model.step_days)
    for e in model.scenario.events:
        if e.id in model._applied_events or e.date >= step_end:
            continue
        model._applied_events.add(e.id)
        APPLY[e.type](model, e)


def _coup(model, e) -> None:
    state = model.factions[STATE_OF_COUNTRY[e.country]]
    old = state.regime.label if state.regime else "none"
    state.regime = e.regime
    state.active = True
    model.log.add(model, ev.OTHER, ev.acled_actor(state.name), "",
                  notes=f"coup: regime {old} -> {e.regime.label} ({e.id})")
    if not e.regime.admits_france:
        _partner_leaves(model, "France", e.country, f"expelled after the coup ({e.id})")


def _partner_arrival(model, e) -> None:
    fac = model.factions[e.partner]
    fac.active = True
    fac.host_countries.add(e.country)
    per_base = max(1, e.manpower // len(e.bases))
    model.spawn_units([Unit(actor=e.partner, near=b, manpower=per_base) for b in e.bases])
    model.log.add(model, ev.OTHER, ev.acled_actor(e.partner), ev.acled_actor(STATE_OF_COUNTRY[e.country]),
                  notes=f"{e.partner} deploys to {e.country} ({e.id})")


def _partner_exit(model, e) -> None:
    _partner_leaves(model, e.partner, e.country, e.id)


def _partner_leaves(model, partner: str, country: str, why: str) -> None:
    fac = model.factions[partner]
    if country not in fac.host_countries:
        return
    for u in list(fac.units):
        if model.world.country_code(*u.pos) == country:
            u.remove()
    fac.host_countries.discard(country)
    fac.active = bool(fac.host_countries)
    model.log.add(model, ev.OTHER, ev.acled_actor(partner), ev.acled_actor(STATE_OF_COUNTRY[country]),
                  notes=f"{partner} leaves {country} ({why})")


def _leader_killed(model, e) -> None:
    fac = model.factions[e.actor]
    fac.leadership *= 1.0 - e.severity
    model.log.add(model, ev.OTHER, ev.acled_actor(e.actor), "", notes=f"leader killed: {e.leader} ({e.id})")


def _status_change(model, e) -> None:
    fac = model.factions[e.actor]
    for key in ("central_pull", "central_hostility", "central_funding"):
        value = getattr(e, key)
        if value is not None:
            setattr(fac, key, value)
    model.log.add(model, ev.OTHER, ev.acled_actor(e.actor), "", notes=f"status change ({e.id}): {e.note}")


def _mediation(model, e) -> None:
    model.relations.mediate(e.pair[0], e.pair[1], e.strength)
    model.log.add(model, ev.OTHER, ev.acled_actor(e.pair[0]), ev.acled_actor(e.pair[1]),
                  notes=f"mediation attempt ({e.id}), strength {e.strength}")


def _militia_founded(model, e) -> None:
    model.factions[e.actor].active = True
    model.spawn_units(e.units)
    model.log.add(model, ev.GROUP_CHANGE, ev.acled_actor(e.actor), "", notes=f"{e.actor} founded ({e.id})")


def _strategy_change(model, e) -> None:
    fac = model.factions[e.actor]
    fac.strategy = fac.strategy.model_copy(update=e.strategy)
    model.strategy_array()
    model.log.add(model, ev.OTHER, ev.acled_actor(e.actor), "", notes=f"strategy change ({e.id}): {e.strategy}")


APPLY = {
    "coup": _coup,
    "partner_arrival": _partner_arrival,
    "partner_exit": _partner_exit,
    "leader_killed": _leader_killed,
    "status_change": _status_change,
    "mediation": _mediation,
    "militia_founded": _militia_founded,
    "strategy_change": _strategy_change,
}
