"""Mechanism 6, the war economy: taxes, gold, smuggling, ransom, loot, upkeep and strain.

What the seeds document (000_413828cd3477c8cc.txt unless noted):
- JNIM lost tax revenue in Mali as ISGS drew away its members and the locals
  they taxed, and offset it with gold mines and smuggling networks it seized or
  extorted in southern and eastern Burkina, and with ransoms for foreign hostages.
- Differences in taxation between JNIM- and ISGS-ruled areas drove defections.
- Financial strain was one reason the war after November 2022 was less intense.
- ISGS gained support from the central Islamic State around its 2022 promotion.
- 002_c8316128e727fa39.txt: JNIM struck mining sites and demands that
  companies seek its authorisation.

Assumptions of this module:
- Weekly income of a non-state group = tax_base x tax_rate x residents it is
  exposed to x (1 - refusal) + gold_yield per gold cell x its influence share +
  smuggling_yield per road cell x its share + Poisson ransoms + outside funding.
  Militias receive a stipend from their state's sponsorship (and half the gold
  yield of sites they hold) instead of taxes.
- Upkeep = manpower x upkeep_per_fighter; the treasury never goes negative.
  When income and treasury cannot pay it, a share desertion_rate x unpaid/upkeep
  of the fighters leaves. Recruitment and mobilisation slow as a group nears
  the size its (smoothed) income can pay for (:func:`affordable_growth`).
- Strain = 1 - treasury / (reserve_weeks x upkeep), clipped to [0, 1]. Strain
  scales down clashes, offensives, reprisals and the turn to towns
  (``ops_factor`` = 1 - strain_effect x strain), raises predation (grievance)
  and defection; recruitment is limited by affordability instead.
"""

from __future__ import annotations

import numpy as np

from sim.actors import CAST, STATE_OF_COUNTRY


def militia_upkeep(faction) -> float:
    """Militiamen cost 30% of a jihadist fighter (part-time, fed by their villages; assumption)."""
    return 0.3 * faction.strategy.upkeep_per_fighter


def collect_income(model) -> None:
    p = model.params.economy
    w = model.world
    pop_c = model.community_population
    share = model.share.reshape(len(CAST), -1)
    # flat indices select the same cells in the same order as the boolean masks, at a fraction of the cost
    gold_cells, road_cells = w.gold_cells, w.road_cells
    for f in model.factions.values():
        if not f.active:
            f.strain = 0.0
            continue
        i = f.index
        manpower = f.manpower
        if f.kind == "jihadist":
            taxed = (pop_c * model.exposure[:, i] * (1.0 - np.where(model.ruler == i, model.refusal, 0.0))).sum()
            taxes = p.tax_base * model.tax_rate[i] * taxed
            gold = p.gold_yield * share[i, gold_cells].sum()
            smuggling = p.smuggling_yield * share[i, road_cells].sum()
            ransom = p.ransom_size * model.rng.poisson(p.ransom_rate * manpower / 1000.0)
            income = taxes + gold + smuggling + ransom + f.central_funding
            upkeep = manpower * f.strategy.upkeep_per_fighter
        elif f.kind == "militia":
            sponsor = model.factions[STATE_OF_COUNTRY[CAST[i].country]].regime
            stipend = model.params.counterinsurgency.militia_stipend * (sponsor.militia_sponsorship if sponsor else 0.0)
            income = stipend + 0.5 * p.gold_yield * share[i, gold_cells].sum()
            upkeep = manpower * militia_upkeep(f)
        else:
            f.income = f.upkeep = f.strain = 0.0
            continue
        f.income, f.upkeep = income, upkeep
        f.income_avg = 0.9 * getattr(f, "income_avg", income) + 0.1 * income
        short = upkeep - income - f.treasury
        f.treasury = max(0.0, f.treasury + income - upkeep)
        reserve = p.reserve_weeks * upkeep
        f.strain = float(min(max(1.0 - f.treasury / reserve, 0.0), 1.0)) if reserve > 0 else 0.0
        if short > 0:
            _desert(model, f, p.desertion_rate * short / upkeep)


def affordable_growth(faction, upkeep_per_fighter: float) -> float:
    """Share of normal recruitment a group can pay for: 1 when small, 0 at the size its income supports."""
    if upkeep_per_fighter <= 0:
        return 1.0
    supportable = getattr(faction, "income_avg", faction.income) / upkeep_per_fighter
    if supportable <= 0:
        return 0.0
    return float(min(max(1.0 - faction.manpower / supportable, 0.0), 1.0))


def _desert(model, faction, share: float) -> None:
    """Unpaid fighters go home (RebelGroups' upkeep constraint)."""
    for u in faction.units:
        u.lose(int(model.rng.binomial(u.manpower, min(share, 1.0))))
