"""Scenario schema: every parameter of a run, validated and frozen.

A scenario YAML becomes a :class:`Scenario` before the model sees it (see
:mod:`sim.scenario_io` for loading). Unknown keys and out-of-range values are
rejected with the key path. Every mechanism parameter is declared with
:func:`param`, which records its default, a hard validity bound, a plausible
range for calibration, its unit and its source: a seed file and the fact it
encodes, or the word "assumption" for a modelling choice.
"""

from __future__ import annotations

import datetime as dt
import difflib
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer, model_validator
from pydantic_core import PydanticCustomError

from sim.actors import (
    ACTOR_NAMES,
    ETHNIC_GROUPS,
    JIHADIST_NAMES,
    MILITIA_NAMES,
    PARTNER_NAMES,
    STATE_NAMES,
)

S000 = "000_413828cd3477c8cc.txt"
S001 = "001_714725a1b78083b0.txt"
S002 = "002_c8316128e727fa39.txt"
S003 = "003_6d40cf173d77a7b0.txt"
S004 = "004_ab072b6be5a29922.txt"

COUNTRIES = ("MLI", "BFA", "NER")


def param(default, lo, hi, source, unit="", *, ge=None, le=None):
    """A documented parameter: default, plausible range [lo, hi], unit and source."""
    if not lo <= default <= hi:
        raise ValueError(f"default {default} outside plausible range [{lo}, {hi}]")
    return Field(
        default,
        ge=ge,
        le=le,
        description=f"{unit}; {source}",
        json_schema_extra={"plausible_range": [lo, hi], "source": source, "unit": unit},
    )


def prob(default, lo, hi, source, unit="probability"):
    return param(default, lo, hi, source, unit, ge=0.0, le=1.0)


def pos(default, lo, hi, source, unit=""):
    return param(default, lo, hi, source, unit, ge=0.0)


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _unknown(kind: str, names, known) -> str:
    """'unknown actor 'JNMI' (did you mean 'JNIM'?); expected one of [...]'."""
    shown = []
    for n in names:
        match = difflib.get_close_matches(str(n), [str(k) for k in known], n=1)
        shown.append(repr(n) + (f" (did you mean {match[0]!r}?)" if match else ""))
    return f"unknown {kind} {', '.join(shown)}; expected one of {list(known)}"


def _misfit(message: str, at: tuple = ()) -> PydanticCustomError:
    """A validation error located at key path ``at`` below the validated value (pydantic would put a
    model-level or dict-key check at the parent; sim.scenario_io appends ``at`` to find the line)."""
    return PydanticCustomError("scenario", message, {"at": tuple(at)})


# --------------------------------------------------------------------------------------
# Actor-level settings
# --------------------------------------------------------------------------------------


class Strategy(Frozen):
    """A jihadist leadership's civilian engagement strategy (seed 000)."""

    tax_rate: float = prob(0.10, 0.02, 0.40, f"{S000}: JNIM and ISGS tax burdens differed", "share of income")
    restraint: float = prob(0.7, 0.0, 1.0, f"{S000}: JNIM restrains killing of civilians more than ISGS", "0-1")
    services: float = prob(0.5, 0.0, 1.0, f"{S000}: JNIM courts, redistribution, NGO access from late 2020", "0-1")
    sharia_pace: float = prob(0.3, 0.0, 1.0, f"{S000}: JNIM implements sharia slowly, IS immediately", "0 slow - 1 immediate")
    collaboration_punishment: float = prob(0.6, 0.0, 1.0, f"{S000}: both kill civilians who inform rivals", "0-1")
    pact_propensity: float = prob(0.5, 0.0, 1.0, f"{S000}: JNIM seeks pacts with ethnic militias (Niono 2020, CSP 2022)", "0-1")
    loot_share: float = prob(0.3, 0.0, 1.0, f"{S000}: disputes over sharing loot drove defections", "share to fighters")
    upkeep_per_fighter: float = pos(0.00006, 0.00002, 0.0002, "assumption", "million USD per fighter-week")


class Unit(Frozen):
    """One field unit (company or battalion) at the start of a run."""

    actor: str
    katiba: str | None = None
    near: str = Field(description="town name from seeds/places.yaml")
    manpower: int = Field(gt=0, le=5000)
    ethnic: dict[str, float] = Field(default_factory=lambda: {"other": 1.0})
    hardline: float = Field(0.5, ge=0.0, le=1.0)
    loyalty: float = Field(0.8, ge=0.0, le=1.0)
    count: int = Field(1, ge=1, le=50, description="identical units to place around the town")

    @field_validator("actor")
    @classmethod
    def _known_actor(cls, v):
        if v not in ACTOR_NAMES:
            raise ValueError(_unknown("actor", [v], ACTOR_NAMES))
        return v

    @field_validator("ethnic")
    @classmethod
    def _shares(cls, v):
        bad = [k for k in v if k not in ETHNIC_GROUPS]
        if bad:
            raise _misfit(_unknown("ethnic group", bad, ETHNIC_GROUPS), (bad[0],))
        if any(x < 0 for x in v.values()) or abs(sum(v.values()) - 1.0) > 1e-3:
            raise ValueError("ethnic shares must be non-negative and sum to 1")
        return v


class Faction(Frozen):
    """Initial state of a non-state armed actor."""

    treasury: float = Field(1.0, ge=0.0, le=1e4, description="million USD")
    strategy: Strategy = Strategy()
    leadership: float = Field(1.0, ge=0.0, le=1.0)
    central_pull: float = Field(0.0, ge=0.0, le=1.0, description="attraction of a global brand")
    central_hostility: float = Field(0.0, ge=0.0, le=1.0, description="pressure from central command to fight rivals")
    central_funding: float = Field(0.0, ge=0.0, le=10.0, description="million USD per week from outside")
    infiltration: dict[str, float] = Field(default_factory=dict, description="spy networks inside other actors, 0-1")
    campaigns: bool = Field(False, description="while at war with a rival jihadist group, commits "
                            "mechanisms.territory.campaign_share of its units to a campaign against it")
    active: bool = Field(True, description="false for a militia that is founded later by an event")

    @field_validator("infiltration")
    @classmethod
    def _infiltration(cls, v):
        for k, x in v.items():
            if k not in ACTOR_NAMES:
                raise _misfit(_unknown("actor", [k], ACTOR_NAMES), (k,))
            if not 0.0 <= x <= 1.0:
                raise ValueError(f"infiltration of {k!r} must lie in [0, 1], got {x}")
        return v


class Regime(Frozen):
    """A state's counter-insurgency policy; coups replace it."""

    label: str = "civilian"
    capacity: float = Field(1.0, ge=0.0, le=5.0, description="operations relative to Mali 2017")
    aggressiveness: float = Field(0.5, ge=0.0, le=1.0)
    discrimination: float = Field(0.6, ge=0.0, le=1.0, description="1 = only combatants hit")
    anti_fulani_bias: float = Field(0.3, ge=0.0, le=1.0)
    militia_sponsorship: float = Field(0.3, ge=0.0, le=1.0, description="arms and pay for allied militias")
    admits_france: bool = True
    budget: float = Field(0.5, ge=0.0, le=50.0, description="million USD per week for operations")


class StateSetup(Frozen):
    regime: Regime = Regime()


class RelationInit(Frozen):
    pair: tuple[str, str]
    state: Literal["cooperation", "tension", "war", "truce", "pact"]

    @field_validator("pair")
    @classmethod
    def _pair(cls, v):
        for a in v:
            if a not in ACTOR_NAMES:
                raise ValueError(_unknown("actor", [a], ACTOR_NAMES))
        if v[0] == v[1]:
            raise ValueError("a relation needs two different actors")
        return v


# --------------------------------------------------------------------------------------
# Mechanism parameters (one block per mechanism module)
# --------------------------------------------------------------------------------------


class EngagementParams(Frozen):
    """sim.engagement: civilian engagement, support and community responses."""

    tax_grievance: float = pos(0.08, 0.02, 0.3, f"assumption; {S000}: tax refusal preceded ISGS massacres", "grievance per step at full exposure and tax rate 1")
    sharia_grievance: float = pos(0.01, 0.0, 0.05, f"assumption; {S002}: harsh rules unpopular", "grievance per step at full pace")
    killing_grievance: float = pos(0.25, 0.05, 1.0, "assumption", "grievance per civilian killed per 1000 residents")
    grievance_decay: float = prob(0.02, 0.005, 0.08, "assumption", "per step")
    services_legitimacy: float = pos(0.02, 0.005, 0.08, f"assumption; {S000}: services win territory", "legitimacy per step at full services")
    restraint_legitimacy: float = pos(0.01, 0.0, 0.04, f"assumption; {S000}", "legitimacy per step at full restraint")
    protection_legitimacy: float = pos(0.3, 0.05, 1.0, f"assumption; {S000}: Djibo 2020 abuses rallied Fulani to JNIM", "legitimacy per civilian killed by enemies per 1000 residents")
    legitimacy_decay: float = prob(0.02, 0.005, 0.08, "assumption", "per step")
    support_sensitivity: float = pos(3.0, 1.0, 6.0, "assumption (logit scale)", "1/attitude")
    risk_aversion: float = pos(1.0, 0.3, 2.0, "assumption (Epstein 2002)", "")
    arrest_k: float = pos(2.3, 1.0, 4.0, "Epstein 2002 constant", "")
    refusal_threshold: float = pos(0.35, 0.1, 0.8, "assumption", "net grievance")
    refusal_width: float = pos(0.1, 0.03, 0.3, "assumption", "net grievance")
    informing_rate: float = prob(0.3, 0.05, 0.8, f"assumption; {S000}: informing is a killable offence", "share of supporters")
    flee_rate: float = prob(0.02, 0.005, 0.08, "assumption", "share of residents per step at fear 1, x (0.3 + local danger)")
    fear_decay: float = prob(0.08, 0.02, 0.3, "assumption", "per step")
    fear_per_killing: float = pos(0.5, 0.1, 2.0, "assumption", "fear per civilian killed per 1000 residents")
    mobilisation_rate: float = prob(0.0002, 0.00005, 0.001, f"assumption; {S000}: Zarma, Tuareg, Arab militias rose against ISGS", "share of residents per step")
    mobilisation_threshold: float = pos(0.45, 0.2, 0.9, "assumption", "grievance")
    recruit_rate: float = prob(0.0001, 0.00002, 0.0005, f"assumption; {S002}: several thousand fighters by 2025", "share of supporters per step")
    rally_recruits: float = pos(
        0.0, 0.0, 5.0, f"assumption; {S000}: VDP killings of Fulani (Djibo 2020) rallied northern Fulani to JNIM; {S001}: "
        "army and VDP massacres bring more Fulani into JNIM", "recruits per step per civilian of a protected group killed "
        "by the group's enemies in a unit's 5 x 5 window (victims count 0.9 less each step)")
    kin_recruitment: float = prob(
        0.8, 0.5, 0.95, f"assumption; {S000}: Fulani make up the bulk of Katiba Macina, although Dogon and Bambara share its ground",
        "weight of a company's own make-up in whom it recruits (0: residents by sympathy; 1: only its own groups)")


class DefectionParams(Frozen):
    """sim.defection: loyalty of units and fighters, both directions."""

    base_pull: float = param(-3.0, -5.0, -1.0, "assumption", "logit")
    loot_weight: float = pos(1.5, 0.0, 4.0, f"{S000}: loot sharing", "logit per loot-share difference")
    tax_weight: float = pos(2.0, 0.0, 6.0, f"{S000}: tax burdens in rival-ruled areas", "logit per tax-rate difference")
    pact_weight: float = pos(1.5, 0.0, 4.0, f"{S000}: pacts with Dogon and Bambara alienated Fulani fighters", "logit per pact with a polarised group")
    caste_weight: float = pos(1.5, 0.0, 4.0, f"{S000}: intra-Fulani caste conflict in Katiba Macina", "logit per caste tension")
    sharia_weight: float = pos(2.0, 0.0, 5.0, f"{S000}: hardliners left when sharia was relaxed", "logit per hardline x laxity gap")
    central_weight: float = pos(2.0, 0.0, 5.0, f"{S000}: IS central pull after ISWAP induction", "logit per pull gap")
    leadership_weight: float = pos(1.5, 0.0, 4.0, f"{S000}: leaders killed in 2021", "logit per leadership lost")
    momentum_weight: float = pos(1.0, 0.0, 3.0, f"{S000}, {S001}: battlefield momentum", "logit per momentum gap")
    infiltration_weight: float = pos(2.0, 0.0, 5.0, f"{S001}: JNIM spies inside ISGS in Aribanda 2024", "logit per infiltration")
    strain_weight: float = pos(1.0, 0.0, 3.0, f"assumption; {S000}: financial strain", "logit per strain")
    reach_cells: int = param(6, 3, 10, "assumption", "cells within which a unit defects to a rival; beyond them only when aggrieved by its group's pacts with its region's militias", ge=1, le=20)
    trickle_rate: float = prob(0.02, 0.005, 0.1, "assumption", "share of manpower per step at pull 1")
    loyalty_erosion: float = prob(0.05, 0.01, 0.2, "assumption", "loyalty lost per step at pull 1")
    loyalty_recovery: float = prob(0.01, 0.0, 0.05, "assumption", "per step toward 0.8")
    whole_unit_threshold: float = prob(0.25, 0.1, 0.5, f"{S000}: Mobbo's whole group left in 2020", "loyalty")


class RelationParams(Frozen):
    """sim.relations: truce and pact logic between any two actors."""

    competition_weight: float = pos(2.0, 0.5, 4.0, f"{S000}: competition for recruits and territory", "hostility per overlap")
    central_weight: float = pos(1.5, 0.3, 3.0, f"{S000}: IS central leadership pushed confrontation", "hostility per central hostility")
    central_lag_days: float = pos(60.0, 14.0, 180.0, f"assumption; {S000}: first clash claims in March 2019 right after the ISWAP induction, first reported clash and war from July 2019", "days for a new central line to take 63% effect")
    defection_weight: float = pos(0.002, 0.0005, 0.01, f"{S000}: IS taunted JNIM over defections", "hostility per defecting fighter (EMA)")
    loss_weight: float = pos(0.004, 0.001, 0.02, "assumption: revenge", "hostility per fatality (EMA)")
    enemy_weight: float = pos(4.0, 1.0, 10.0, f"{S000}: bigger enemy in the juntas lowered intensity", "hostility per share of manpower lost to a common enemy (EMA)")
    strain_weight: float = pos(0.8, 0.2, 2.0, f"{S000}: financial strain", "truce desire per strain")
    weariness_weight: float = pos(0.004, 0.001, 0.02, "assumption", "truce desire per accumulated fatality")
    mediation_weight: float = pos(1.0, 0.2, 3.0, f"{S000}: 2019 and 2023 mediation attempts", "per mediation strength")
    ethnic_weight: float = pos(1.5, 0.5, 3.0, f"{S000}: ethnic militias at war with Fulani", "hostility per polarisation")
    siege_weight: float = pos(1.0, 0.2, 3.0, f"{S000}: the Niono agreement broke the siege of Farabougou", "truce desire when besieged")
    grievance_weight: float = pos(1.5, 0.5, 3.0, f"{S001}: FAMa massacres of Tuareg", "hostility per base grievance")
    tension_threshold: float = param(0.6, 0.3, 1.2, "assumption", "hostility")
    war_threshold: float = param(1.0, 0.7, 2.0, "assumption", "hostility")
    calm_threshold: float = param(0.3, 0.0, 0.6, "assumption", "hostility")
    truce_threshold: float = param(0.6, 0.2, 1.5, "assumption", "truce desire minus hostility")
    truce_rate: float = prob(0.05, 0.01, 0.2, "assumption", "per step when desire exceeds threshold")
    advantage_break: float = pos(0.5, 0.2, 1.5, f"{S000}: truce broke as ISGS grew after promotion", "log power ratio change")
    break_rate: float = prob(0.05, 0.01, 0.2, "assumption", "per step per unit of excess advantage")
    incident_rate: float = prob(0.02, 0.005, 0.1, "assumption", "tension clash probability per contact")
    pact_after_steps: int = param(26, 13, 52, "assumption", "truce weeks before it settles into a pact", ge=4, le=104)
    memory: float = prob(0.9, 0.8, 0.98, "assumption", "EMA factor per step for losses and defections")
    weariness_memory: float = prob(
        0.995, 0.98, 0.999, f"assumption; {S000}: the war wore down over 2020-2021 and a truce came in May 2022",
        "share of accumulated mutual losses still felt after a step (0.995: half-life 138 weekly steps)")


class CounterinsurgencyParams(Frozen):
    """sim.counterinsurgency: state operations, abuses, coups and partners."""

    ops_per_capacity: float = pos(0.5, 0.2, 2.0, "assumption", "operations per step per unit capacity")
    op_lethality: float = prob(0.05, 0.02, 0.2, "assumption", "share of targeted manpower killed at full precision")
    intel_weight: float = pos(1.5, 0.0, 3.0, f"assumption; {S000}: informing", "precision gain per informing share")
    abuse_rate: float = pos(4.0, 0.5, 10.0, f"{S000}: Djibo massacres 2020; {S001}: HRW 2025", "civilians per operation at zero precision, x (0.3 + 2 x bias x Fulani share)")
    france_precision: float = prob(0.3, 0.0, 0.6, "assumption: air power and ISR", "precision bonus")
    france_capacity: float = pos(0.6, 0.2, 1.5, f"{S000}: French offensive April 2020", "capacity added to host")
    wagner_capacity: float = pos(0.5, 0.2, 1.5, f"{S000}: Wagner entered Mali early 2022", "capacity added to host")
    wagner_discrimination_penalty: float = prob(0.3, 0.0, 0.6, f"{S000}: discontent with Wagner", "discrimination lost")
    garrison_reinforcement: float = prob(0.01, 0.0, 0.05, "assumption", "chance per step that each missing soldier is replaced, at a budget of 0.5")
    militia_stipend: float = pos(0.1, 0.0, 0.5, f"assumption; {S001}: Burkina's mass VDP levies", "million USD per week at full sponsorship")


class TerritoryParams(Frozen):
    """sim.territory: influence, control, the Macina core, towns and sieges."""

    reach_cells: float = pos(2.0, 0.5, 4.0, "assumption: a company patrols ~20-40 km", "cells (Gaussian sigma)")
    garrison_reach_cells: float = pos(
        2.0, 0.5, 4.0, f"assumption; {S000}, {S002}: armies hold towns and bases while the countryside slips away",
        "cells (Gaussian sigma) of state and partner presence")
    adapt_rate: float = prob(0.15, 0.05, 0.5, "assumption", "per step")
    state_admin_reach: float = pos(2.0, 1.0, 6.0, "assumption", "cells")
    state_admin_weight: float = pos(10.0, 3.0, 60.0, "assumption", "fighter-equivalents at a garrisoned town")
    support_weight: float = pos(1.0, 0.0, 3.0, "assumption: control needs acceptance", "")
    control_threshold: float = pos(1.5, 0.5, 10.0, "assumption", "fighter-equivalents per cell")
    contest_margin: float = pos(0.3, 0.1, 1.0, "assumption", "leader/second ratio minus 1")
    split_size: int = param(300, 200, 500, f"{S001}: companies under battalions; assumption", "manpower at which a unit splits in two", ge=100, le=2000)
    move_cells: int = param(2, 1, 3, "assumption: 10-30 km a week at 0.1 degree", "cells a unit can move per step", ge=1, le=6)
    expansion_cells: int = param(8, 4, 16, f"{S000}: JNIM spread into Centre-Nord and Cascades; assumption", "cells within which a split-off company founds its new home", ge=1, le=30)
    offensive_range: int = param(15, 8, 25, "assumption", "cells within which a unit seeks out a rival", ge=2, le=40)
    offensive_rate: float = prob(0.3, 0.05, 0.8, f"{S000}: offensives such as Ndaki 2020", "per unit-step")
    militia_offset_cells: float = param(
        16.0, 0.0, 16.0, f"assumption; {S000}: JNIM's war on ISGS came first in 2020, yet it attacked the VDP to keep its ground in Burkina",
        "cells a militia target counts as farther than a rival jihadist unit when an offensive picks its target", ge=0.0, le=40.0)
    auxiliary_offset_cells: float = param(
        16.0, 0.0, 16.0, f"assumption; {S000}: JNIM attacked the VDP and kidnapped its men to hold its ground in Burkina; {S001}: "
        "its Sourou valley campaign against the VDP", "cells a state auxiliary militia (the VDP) counts as farther than a rival "
        "jihadist unit when an offensive picks its target", ge=0.0, le=40.0)
    campaign_share: float = prob(
        0.05, 0.0, 0.3, f"assumption; {S000}: al-Qaeda ordered JNIM to eradicate ISGS in 2020, JNIM's Ndaki offensive",
        "share of a campaigning group's units, its strongest apart from each region's strongest, committed to the war on a rival jihadist group")
    superiority_ratio: float = pos(0.8, 0.5, 2.0, "GeoContest (Cederman): attack only with local superiority", "own/target manpower")
    home_tether: float = pos(0.08, 0.0, 0.3, "assumption: katibas are local", "score per cell from home")
    core_ultimatum: float = pos(3.0, 0.0, 10.0, f"{S001}: the Macina tolerates no other group", "attraction to rivals in the core")
    core_expulsion: float = prob(0.3, 0.0, 0.8, f"{S001}: Kouffa gave ISGS seven days to leave", "rival influence removed per step where JNIM leads the core")
    siege_share: float = prob(0.6, 0.4, 0.9, f"{S002}: besieged population centres", "share of ring cells held")
    clash_rate: float = pos(0.4, 0.05, 2.0, "assumption", "clash hazard per contact per 100 fighters")
    clash_lethality: float = prob(0.025, 0.005, 0.1, f"{S000}: 415 killed in 125 clashes 2019-2021", "share of the loser's unit killed at equal strength (x 0.5 + 0.5 x strength ratio); winner loses 0.3 of it")
    joint_reach_cells: float = pos(
        2.0, 1.0, 8.0, f"assumption; {S000}: JNIM commanders in Menaka also fought alongside ISGS in its attacks",
        "cells (Chebyshev) from the target within which a cooperating group's units join an attack")
    town_attack_rate: float = prob(0.08, 0.01, 0.3, f"{S002}, {S003}: attacks on towns and bases", "per unit-step at full town focus")


class EconomyParams(Frozen):
    """sim.economy: taxes, gold, smuggling, ransom, loot and strain."""

    tax_base: float = pos(0.000003, 0.000001, 0.00002, "assumption", "million USD per resident-week at tax rate 1")
    gold_yield: float = pos(0.01, 0.002, 0.05, f"{S000}: gold mines in Burkina offset lost taxes", "million USD per site-week")
    smuggling_yield: float = pos(0.0008, 0.0001, 0.003, f"{S000}: smuggling networks", "million USD per road cell-week")
    ransom_rate: float = prob(0.005, 0.0, 0.03, f"{S000}: ransoms from foreign hostages", "kidnappings per step per 1000 fighters")
    ransom_size: float = pos(1.5, 0.2, 5.0, "assumption", "million USD")
    clash_cost: float = pos(0.03, 0.005, 0.1, "assumption: ammunition, fuel and vehicles spent", "million USD per clash per side")
    loot_per_win: float = pos(0.02, 0.0, 0.2, f"{S000}: 40 vehicles captured at Ndaki", "million USD per won clash")
    reserve_weeks: float = pos(26.0, 4.0, 52.0, "assumption", "weeks of upkeep a group wants in reserve")
    desertion_rate: float = prob(0.05, 0.01, 0.2, "RebelGroups (Nardin et al.): unpaid fighters leave", "share of fighters per step when nothing is paid")
    strain_effect: float = prob(0.6, 0.2, 0.9, f"{S000}: financial strain lowered intensity after 2022", "share of operations lost at full strain")
    predation_rate: float = prob(0.3, 0.0, 0.8, "RebelGroups (Nardin et al.): weaker groups loot", "extra grievance share under strain")


class EscalationParams(Frozen):
    """sim.escalation: reprisals, massacres, polarisation and the shift to towns."""

    reprisal_rate: float = prob(0.25, 0.05, 0.6, f"{S000}: massacres after tax refusal", "per step at full refusal and no restraint")
    massacre_size: float = pos(8.0, 2.0, 30.0, f"{S000}: over 100 killed at Tchoma Bangou and Zaroumdareye", "mean civilians per massacre (geometric)")
    massacre_cap: int = param(200, 160, 400, f"{S000}: over 160 killed at Solhan/Tadaryat", "largest massacre (civilians)", ge=10, le=1000)
    collaboration_killing: float = prob(0.1, 0.01, 0.3, f"{S000}: informers killed at checkpoints", "per step at full informing")
    militia_reprisal_rate: float = prob(0.05, 0.0, 0.2, f"{S000}: Zarma attacks on Fulani villages", "per militia unit-step at polarisation 1")
    polarisation_gain: float = pos(0.02, 0.005, 0.1, f"{S001}: reprisals feed ethnic polarisation", "per civilian killed per 1000 residents")
    polarisation_decay: float = prob(0.005, 0.0, 0.02, "assumption", "per step")
    town_focus_ratio: float = pos(1.2, 0.5, 3.0, f"{S002}, {S003}: 2025 shift to towns when JNIM outmatched states", "jihadist/state force ratio at half focus")
    town_focus_slope: float = pos(4.0, 1.0, 10.0, "assumption", "per log ratio")


class Mechanisms(Frozen):
    engagement: EngagementParams = EngagementParams()
    defection: DefectionParams = DefectionParams()
    relations: RelationParams = RelationParams()
    counterinsurgency: CounterinsurgencyParams = CounterinsurgencyParams()
    territory: TerritoryParams = TerritoryParams()
    economy: EconomyParams = EconomyParams()
    escalation: EscalationParams = EscalationParams()


# --------------------------------------------------------------------------------------
# Dated exogenous events
# --------------------------------------------------------------------------------------


class _Event(Frozen):
    id: str = Field(min_length=1)
    date: dt.date
    source: str = "assumption"
    note: str = ""


class Coup(_Event):
    type: Literal["coup"]
    country: Literal["MLI", "BFA", "NER"]
    regime: Regime


class PartnerArrival(_Event):
    type: Literal["partner_arrival"]
    partner: str
    country: Literal["MLI", "BFA", "NER"]
    bases: list[str] = Field(min_length=1)
    manpower: int = Field(300, gt=0, le=20000)

    @field_validator("partner")
    @classmethod
    def _p(cls, v):
        if v not in PARTNER_NAMES:
            raise ValueError(_unknown("partner", [v], PARTNER_NAMES))
        return v


class PartnerExit(_Event):
    type: Literal["partner_exit"]
    partner: str
    country: Literal["MLI", "BFA", "NER"]

    _p = field_validator("partner")(PartnerArrival._p.__func__)


class LeaderKilled(_Event):
    type: Literal["leader_killed"]
    actor: str
    leader: str
    severity: float = Field(0.3, ge=0.0, le=1.0, description="share of leadership quality lost")

    @field_validator("actor")
    @classmethod
    def _a(cls, v):
        if v not in JIHADIST_NAMES:
            raise ValueError(_unknown("jihadist actor", [v], JIHADIST_NAMES))
        return v


class StatusChange(_Event):
    """A change in a group's standing with its global brand (ISWAP induction, province status)."""

    type: Literal["status_change"]
    actor: str
    central_pull: float | None = Field(None, ge=0.0, le=1.0)
    central_hostility: float | None = Field(None, ge=0.0, le=1.0)
    central_funding: float | None = Field(None, ge=0.0, le=10.0)

    _a = field_validator("actor")(LeaderKilled._a.__func__)


class Mediation(_Event):
    type: Literal["mediation"]
    pair: tuple[str, str]
    strength: float = Field(0.5, ge=0.0, le=1.0)

    _pair = field_validator("pair")(RelationInit._pair.__func__)


class MilitiaFounded(_Event):
    type: Literal["militia_founded"]
    actor: str
    units: list[Unit] = Field(min_length=1)

    @field_validator("actor")
    @classmethod
    def _m(cls, v):
        if v not in MILITIA_NAMES:
            raise ValueError(_unknown("militia", [v], MILITIA_NAMES))
        return v


class StrategyChange(_Event):
    """A leadership's decision to change its civilian engagement (e.g. JNIM late 2020)."""

    type: Literal["strategy_change"]
    actor: str
    strategy: dict[str, float]

    _a = field_validator("actor")(LeaderKilled._a.__func__)

    @field_validator("strategy")
    @classmethod
    def _keys(cls, v):
        bad = [k for k in v if k not in Strategy.model_fields]
        if bad:
            raise _misfit(_unknown("strategy field", bad, list(Strategy.model_fields)), (bad[0],))
        Strategy(**v)  # range check
        return v


Event = Annotated[
    Union[Coup, PartnerArrival, PartnerExit, LeaderKilled, StatusChange, Mediation, MilitiaFounded, StrategyChange],
    Field(discriminator="type"),
]


# --------------------------------------------------------------------------------------
# The scenario
# --------------------------------------------------------------------------------------


class CalibrationRecord(Frozen):
    """Where a scenario's calibrated values came from: written by :mod:`sim.scenario_io` when a scenario
    names a ``calibration:`` file, so the resolved scenario of a run says which fit it used."""

    file: str = Field(min_length=1, description="the calibrated-parameters file, as the scenario named it")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="of the file's bytes")
    created: str = ""
    git_commit: str = ""
    master_seed: int | None = None
    parameters: dict[str, int | float] = Field(default_factory=dict,
                                         description="the values the file supplied (a scenario extending this "
                                                     "one may override some)")


class Scenario(Frozen):
    # names the results folder: no path separators, and no leading dot (temporary folders are dot-prefixed)
    name: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
    description: str = ""
    start: dt.date = dt.date(2017, 3, 2)
    end: dt.date = dt.date(2025, 12, 31)
    step_days: int = Field(7, ge=1, le=92)
    resolution_deg: float = Field(0.1, ge=0.025, le=1.0)
    seed: int = Field(20170302, ge=0, le=2**63 - 1)
    record_every: int = Field(4, ge=1, le=52, description="steps between saved control rasters")
    factions: dict[str, Faction]
    states: dict[str, StateSetup]
    forces: list[Unit] = Field(min_length=1)
    relations: list[RelationInit] = Field(default_factory=list)
    mechanisms: Mechanisms = Mechanisms()
    events: list[Event] = Field(default_factory=list)
    calibrated_from: CalibrationRecord | None = None

    @model_serializer(mode="wrap")
    def _without_absent_calibration(self, handler):
        # an uncalibrated scenario dumps exactly as before the field existed (sweep fingerprints, goldens)
        data = handler(self)
        if self.calibrated_from is None:
            data.pop("calibrated_from", None)
        return data

    @field_validator("factions")
    @classmethod
    def _factions(cls, v):
        bad = [k for k in v if k not in JIHADIST_NAMES + MILITIA_NAMES]
        if bad:
            raise _misfit(_unknown("non-state actor", bad, JIHADIST_NAMES + MILITIA_NAMES), (bad[0],))
        militant = [k for k, f in v.items() if f.campaigns and k not in JIHADIST_NAMES]
        if militant:
            raise _misfit(f"{militant[0]} is a militia; only jihadist groups ({', '.join(JIHADIST_NAMES)}) campaign "
                          "against a rival jihadist group, expected campaigns: false", (militant[0], "campaigns"))
        return v

    @field_validator("states")
    @classmethod
    def _states(cls, v):
        bad = [k for k in v if k not in STATE_NAMES]
        if bad:
            raise _misfit(_unknown("state actor", bad, STATE_NAMES), (bad[0],))
        return v

    @model_validator(mode="after")
    def _consistent(self):
        if self.end <= self.start:
            raise _misfit(f"end {self.end} must be after start {self.start}", ("end",))
        if (self.end - self.start).days < self.step_days:
            raise _misfit(f"the run ({(self.end - self.start).days} days) is shorter than one step "
                          f"({self.step_days} days)", ("step_days",))
        ids = [e.id for e in self.events]
        for k, i in enumerate(ids):
            if i in ids[:k]:
                raise _misfit(f"duplicate event id {i!r} (also events.{ids.index(i)})", ("events", k, "id"))
        for k, e in enumerate(self.events):
            if not self.start <= e.date <= self.end:
                raise _misfit(f"event {e.id!r} on {e.date} lies outside the run {self.start} to {self.end}",
                              ("events", k, "date"))
        pairs = [frozenset(r.pair) for r in self.relations]
        for k, pair in enumerate(pairs):
            if pair in pairs[:k]:
                raise _misfit(f"the pair {sorted(pair)} appears twice in relations (also relations."
                              f"{pairs.index(pair)})", ("relations", k, "pair"))
        return self

    @property
    def n_steps(self) -> int:
        return (self.end - self.start).days // self.step_days
