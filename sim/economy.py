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
  Militias receive a stipend from their state's sponsorship instead of taxes.
- Upkeep = manpower x upkeep_per_fighter; the treasury never goes negative.
- Strain = 1 - treasury / (reserve_weeks x upkeep), clipped to [0, 1]. Strain
  scales down recruitment, clashes and town attacks (``ops_factor``), raises
  predation (grievance) and defection.
"""

from __future__ import annotations

import numpy as np

from sim.actors import CAST, STATE_OF_COUNTRY


def collect_income(model) -> None:
    p = model.params.economy
    w = model.world
    pop_c = model.community_population
    n_gold = w.gold
    n_road = w.road
    for f in model.factions.values():
        if not f.active:
            f.strain = 0.0
            continue
        i = f.index
        manpower = f.manpower
        if f.kind == "jihadist":
            taxed = (pop_c * model.exposure[:, i] * (1.0 - np.where(model.ruler == i, model.refusal, 0.0))).sum()
            taxes = p.tax_base * model.tax_rate[i] * taxed
            gold = p.gold_yield * model.share[i][n_gold].sum()
            smuggling = p.smuggling_yield * model.share[i][n_road].sum()
            ransom = p.ransom_size * model.rng.poisson(p.ransom_rate * manpower / 1000.0)
            income = taxes + gold + smuggling + ransom + f.central_funding
            upkeep = manpower * f.strategy.upkeep_per_fighter
        elif f.kind == "militia":
            sponsor = model.factions[STATE_OF_COUNTRY[CAST[i].country]].regime
            stipend = model.params.counterinsurgency.militia_stipend * (sponsor.militia_sponsorship if sponsor else 0.0)
            local = p.tax_base * 0.05 * (pop_c * model.exposure[:, i]).sum()
            income = stipend * max(len(f.units), 1) + local + 0.5 * p.gold_yield * model.share[i][n_gold].sum()
            upkeep = manpower * 0.3 * (f.strategy.upkeep_per_fighter if f.strategy else 0.00006)
        else:
            f.income = f.upkeep = f.strain = 0.0
            continue
        f.income, f.upkeep = income, upkeep
        f.treasury = max(0.0, f.treasury + income - upkeep)
        reserve = p.reserve_weeks * upkeep
        f.strain = float(np.clip(1.0 - f.treasury / reserve, 0.0, 1.0)) if reserve > 0 else 0.0
