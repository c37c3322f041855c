"""Mechanism 1, civilian engagement: how rule shapes support, informing, resistance and flight.

What the seeds document (000_413828cd3477c8cc.txt):
- JNIM and ISGS differ most in how they treat civilians. JNIM restrains killing,
  taxes less, brings sharia in slowly, and from late 2020 runs courts,
  redistributes taxes and lets aid in; its expansion is credited to this.
- ISGS taxes hard and enforces sharia at once; this buys compliance but
  communities in western Niger refused its taxes, were massacred, and their
  Zarma, Tuareg and Arab neighbours mobilised self-defence militias.
- Both kill civilians who inform or collaborate with a rival or the state.
- Abuses by the state and VDP against Fulani (Djibo 2020) made JNIM the
  protector of choice; JNIM recruited on it.
- JNIM's promotion of lower-caste Fulani in Katiba Macina strained Fulani elites.

Assumptions of this module:
- A community (ethnic group x admin-1 region) is exposed to an actor in
  proportion to the actor's share of influence where its members live.
- Grievance against an actor grows with its taxes, the pace of its sharia and
  the civilians it kills; legitimacy grows with services, restraint and
  protection from the actor's enemies, credited by the actor's own restraint
  (a state's discrimination) plus 0.5 when the actor recruits from the victims'
  group and claims to protect it. Both decay.
- Support is a multinomial logit over actors weighted by exposure, with a
  "no one" option at attitude zero, so shares lie in [0, 1] and sum to at most 1.
  Sympathy, logistic(sensitivity x attitude), is a community's willingness
  toward an actor regardless of exposure; mapped to cells, it sets where an
  actor's presence is accepted (control) and who joins it (recruitment:
  recruit_rate x residents x the actor's influence share x sympathy, summed
  over a 5 x 5 window around each unit, times the group's affordable growth
  (:func:`sim.economy.affordable_growth`) and 1 + its central pull, and shared
  among the group's units in the window in proportion to their manpower).
  Kin of civilians killed by a jihadist group's enemies, among the groups it
  claims to protect, join it as well: ``rally_recruits`` per victim (decaying
  0.9 a step) who lived in a unit's 5 x 5 window, times affordable growth,
  shared the same way (seeds 000, 001: army and VDP killings of Fulani rallied
  them to JNIM).
  Recruits come through kin: a company draws each group's sympathisers in
  its cell in proportion to kin_recruitment x its own share of that group
  + (1 - kin_recruitment), so Katiba Macina stays mostly Fulani on ground it
  shares with Dogon and Bambara (seed 000: the Fulani were the bulk of
  Katiba Macina, and Dogon and Bambara were at war with them).
- Tax refusal follows Epstein (2002): a community refuses its ruler when
  grievance minus legitimacy minus risk aversion x P(punished) passes a
  threshold, with P(punished) = 1 - exp(-arrest_k x exposure x (1.2 - restraint)
  / (1 + 5 x exposure to the community's own militia)). Coercion therefore
  raises short-term compliance, and a militia of one's own emboldens refusal.
- Communities with a militia of their own mobilise it when grievance against a
  jihadist ruler plus half their polarisation against the Fulani passes a
  threshold (logistic, width 0.1), limited by what the militia can pay for: at
  mobilisation_rate x (1 + state sponsorship) x residents exposed to the ruler.
"""

from __future__ import annotations

import numpy as np

from sim import kernels
from sim.actors import CAST, ETHNIC_GROUPS, FULANI, N_ACTORS, STATE_OF_COUNTRY
from sim.agents import ArmedUnit, positions
from sim.economy import affordable_growth, militia_upkeep
from sim.world import COUNTRY_CODES

JIHADISTS = np.array([i for i, a in enumerate(CAST) if a.kind == "jihadist"])
STATE_SIDE = np.array([i for i, a in enumerate(CAST) if a.kind in ("state", "partner", "militia")])
_HELD_BY_STATE_SIDE = np.isin(np.arange(-1, N_ACTORS), STATE_SIDE)  # by controlling actor + 1 (no one: -1)
FULANI_IDX = [ETHNIC_GROUPS.index(g) for g in FULANI]


def ethnic_affinity(comm_group: np.ndarray, comm_country: np.ndarray) -> np.ndarray:
    """Static attitude of each community toward each actor from shared identity (assumption).

    +0.5 toward a militia of the group's own people in its own country; +0.2
    toward jihadists recruiting among the group; +0.1 toward the state for
    groups outside the jihadists' recruiting base.
    """
    C = len(comm_group)
    aff = np.zeros((C, N_ACTORS))
    for c in range(C):
        g = ETHNIC_GROUPS[comm_group[c]]
        country = COUNTRY_CODES[comm_country[c]]
        for i, a in enumerate(CAST):
            if a.kind == "militia" and g in a.base and a.country == country:
                aff[c, i] = 0.5
            elif a.kind == "jihadist" and g in a.base:
                aff[c, i] = 0.2
            elif a.kind == "state" and a.country == country and g not in FULANI:
                aff[c, i] = 0.1
    return aff


def claims_protection(comm_group: np.ndarray) -> np.ndarray:
    """1 where a jihadist group recruits from a community's group and claims to protect it."""
    out = np.zeros((len(comm_group), N_ACTORS))
    for i, a in enumerate(CAST):
        if a.kind == "jihadist":
            out[:, i] = [ETHNIC_GROUPS[g] in a.base for g in comm_group]
    return out


def militia_of_community(model) -> np.ndarray:
    """Index of the militia each community would mobilise, or -1."""
    out = np.full(len(model.comm_group), -1)
    for c, (g, k) in enumerate(zip(model.comm_group, model.comm_country)):
        for i, a in enumerate(CAST):
            if a.kind == "militia" and ETHNIC_GROUPS[g] in a.base and a.country == COUNTRY_CODES[k]:
                out[c] = i
                break
    return out


def update_attitudes(model) -> None:
    """Exposure, grievance, legitimacy, support, fear, refusal and informing for all communities."""
    p = model.params.engagement
    # the only residents lost since the last count are last step's dead (flight stays within communities)
    model.community_population -= model.civ_killed_last.sum(axis=1)
    pop_c = np.maximum(model.community_population, 1.0)
    A = N_ACTORS
    live = model.influence_held  # other layers are all zero; influence changes only in territory.update_influence
    exposure = kernels.community_exposure(model._cell_ptr, model._cell_group, model._cell_comm,
                                          model.pop.reshape(len(model.pop), -1), model.share.reshape(A, -1), live,
                                          pop_c, len(pop_c))
    model.exposure = exposure

    per_1000 = model.civ_killed_last / (pop_c[:, None] / 1000.0)
    model.killed_recent = model.killed_recent * 0.9 + per_1000
    model.fear = np.clip(model.fear * (1 - p.fear_decay) + p.fear_per_killing * per_1000.sum(axis=1), 0.0, 1.0)

    strain = np.array([model.factions[a.name].strain for a in CAST])
    predation = 1.0 + model.params.economy.predation_rate * strain * (1.0 - model.restraint)
    d_grievance = (
        p.tax_grievance * model.tax_rate * predation * exposure
        + p.sharia_grievance * model.sharia * exposure
        + p.killing_grievance * model.killed_recent
    )
    model.grievance = np.clip(model.grievance * (1 - p.grievance_decay) + d_grievance, 0.0, 5.0)

    at_war = model.relations.war_matrix()
    enemy_harm = model.killed_recent @ at_war.T  # civilians killed by each actor's enemies
    model.rallied = enemy_harm * model.claims_protection  # victims among the groups a jihadist protects
    protector_credit = np.repeat(model.restraint[None, :], len(pop_c), axis=0)  # np.tile 2x, np.broadcast_to 4x more
    for f in model.factions.values():
        if f.regime is not None:
            protector_credit[:, f.index] = f.regime.discrimination
    # seed 000: both JNIM and ISGS claimed to protect the Fulani, whatever their own conduct
    protector_credit = np.clip(protector_credit + 0.5 * model.claims_protection, 0.0, 1.0)
    d_legit = exposure * (p.services_legitimacy * model.services + p.restraint_legitimacy * model.restraint)
    d_legit += p.protection_legitimacy * np.minimum(exposure + 0.2, 1.0) * enemy_harm * protector_credit
    model.legitimacy = np.clip(model.legitimacy * (1 - p.legitimacy_decay) + d_legit, 0.0, 5.0)

    attitude = model.legitimacy - model.grievance + model.affinity
    active = np.array([model.factions[a.name].active for a in CAST])
    weight = exposure * np.exp(np.clip(p.support_sensitivity * attitude, -30, 30)) * active
    model.support = weight / (1.0 + weight.sum(axis=1, keepdims=True))
    model.sympathy = _sigmoid(p.support_sensitivity * attitude) * active

    # Epstein-style refusal of the jihadist ruler
    jih_exposure = exposure[:, JIHADISTS]
    ruler = JIHADISTS[jih_exposure.argmax(axis=1)]
    rows = np.arange(len(ruler))
    ruled = exposure[rows, ruler] > 0.05
    model.ruler = np.where(ruled, ruler, -1)
    militia = model.comm_militia
    own_militia = np.where(militia >= 0, exposure[rows, np.maximum(militia, 0)], 0.0)
    coercion = 1.0 - model.restraint[ruler] + 0.2
    p_punished = 1.0 - np.exp(-p.arrest_k * exposure[rows, ruler] * coercion / (1.0 + 5.0 * own_militia))
    net = model.grievance[rows, ruler] - model.legitimacy[rows, ruler] - p.risk_aversion * p_punished
    model.refusal = np.where(ruled, _sigmoid((net - p.refusal_threshold) / p.refusal_width), 0.0)
    state_support = model.support[:, STATE_SIDE].sum(axis=1)
    model.informing = np.where(ruled, p.informing_rate * state_support * (1.0 - model.fear), 0.0)

    # caste tension: redistribution and promotion of lower castes under jihadist rule
    fulani = model.comm_fulani
    gain = 0.02 * (exposure[:, JIHADISTS] * model.services[JIHADISTS]).sum(axis=1)
    model.caste_tension = np.clip(model.caste_tension * 0.99 + np.where(fulani, gain, 0.0), 0.0, 1.0)

    H, W = model.world.shape
    if getattr(model, "sympathy_cell", None) is None:
        model.sympathy_cell, model.intel = np.zeros((A, H, W)), np.zeros((H, W))
    kernels.cell_means(model._cell_ptr, model._cell_group, model._cell_comm, model.pop.reshape(len(model.pop), -1),
                       model.sympathy, model.informing, model.sympathy.any(axis=0),
                       model.sympathy_cell.reshape(A, -1), model.intel.reshape(-1))


def community_actions(model) -> None:
    """Recruitment into armed groups, flight from violence, militia mobilisation."""
    _recruit(model)
    _displace(model)
    _mobilise(model)


def _recruit(model) -> None:
    p = model.params.engagement
    recruiters = [f for f in model.factions.values()
                  if f.kind in ("jihadist", "militia") and f.active and model.units_of(f.name)]
    if not recruiters:
        return
    total = model.pop.sum(axis=0)
    # recruitment changes no position, field or other group's size, so every group's units are read at once
    groups = [f.units for f in recruiters]
    units = [u for g in groups for u in g]
    rows, cols = positions(units).T
    men = np.array([u.manpower for u in units], dtype=np.int64)
    sizes = [len(g) for g in groups]
    actor = np.repeat([f.index for f in recruiters], sizes)
    # residents willing to join and the group's own strength in the 5 x 5 window around each unit
    pool, own = kernels.window_sums(rows, cols, actor, 2, total, model.share, model.sympathy_cell, model.presence)
    upkeep = [f.strategy.upkeep_per_fighter if f.kind == "jihadist" else militia_upkeep(f) for f in recruiters]
    afford = [affordable_growth(f, cost) for f, cost in zip(recruiters, upkeep)]
    rate = np.repeat([p.recruit_rate * a * (1.0 + f.central_pull)  # a global brand draws recruits
                      for f, a in zip(recruiters, afford)], sizes)
    window_men = np.maximum(np.maximum(own, men), 1.0)
    # a unit emptied earlier this step (desertion) recruits nobody; it is removed at the step's end
    expected = np.where(men > 0, rate * pool * men / window_men, 0.0)
    if p.rally_recruits > 0 and model.rallied.any():
        # kin of the victims of a jihadist group's enemies join the group that claims to protect them (seeds 000, 001)
        H, W = model.world.shape
        victims = kernels.window_rally(rows, cols, actor, 2, model._cell_ptr, model._cell_group, model._cell_comm,
                                       model.pop.reshape(len(model.pop), -1), model.rallied, H, W)
        expected += np.where(men > 0, p.rally_recruits * np.repeat(afford, sizes) * victims * men / window_men, 0.0)
    # every group's recruits are drawn at once; then the companies that outgrew their size split, in turn
    drawn = model.rng.poisson(expected)
    _absorb_recruits(model, units, rows, cols, actor, men, drawn, np.flatnonzero(drawn))
    split_size = model.params.territory.split_size
    for u in units:
        if u.manpower > split_size:
            _split(model, u, total)


def _absorb_recruits(model, units, rows, cols, actor, men, drawn, joined) -> None:
    """:meth:`ArmedUnit.absorb` of ``drawn`` recruits for the ``units`` at indices ``joined``, all at
    once; recruits' make-up: residents of the unit's cell weighted by their community's sympathy and by
    kinship, ``kin_recruitment`` x the unit's own share of their group + (1 - ``kin_recruitment``)."""
    if not len(joined):
        return
    W = model.world.shape[1]
    r, c = rows[joined], cols[joined]
    ids = model.comm_id[:, r * W + c]
    before = np.array([units[i].ethnic for i in joined.tolist()])
    kin = model.params.engagement.kin_recruitment
    local = np.ascontiguousarray((model.pop[:, r, c]
                                  * np.where(ids >= 0, model.sympathy[np.maximum(ids, 0), actor[joined]], 0.0)).T)
    local *= kin * before + (1.0 - kin)
    local_total = local.sum(axis=1, keepdims=True)
    mix = np.divide(local, local_total, out=before.copy(), where=local_total > 0)
    n, m = drawn[joined], men[joined]
    after = (before * m[:, None] + mix * n[:, None]) / (m + n)[:, None]
    for i, ethnic, size in zip(joined.tolist(), after, (m + n).tolist()):
        units[i].ethnic, units[i].manpower = ethnic, size


def _split(model, unit, total=None) -> None:
    """A company that outgrows its size splits; the new one keeps the make-up and founds a new
    home within ``expansion_cells``: the populated, sympathetic cell least held by the state and
    by its own group (seed 000: JNIM spread into Centre-Nord and Cascades). ``total`` is the
    residents per cell when the caller has them."""
    half = unit.manpower // 2
    unit.manpower -= half
    H, W = model.world.shape
    R = model.params.territory.expansion_cells
    r0, c0 = unit.pos
    rows = slice(max(r0 - R, 0), min(r0 + R, H - 1) + 1)
    cols = slice(max(c0 - R, 0), min(c0 + R, W - 1) + 1)
    a = unit.actor
    total = model.pop.sum(axis=0) if total is None else total
    people = np.log1p(total[rows, cols]) / np.log1p(total.max() + 1)
    state = model.share[STATE_SIDE, rows, cols].sum(axis=0)
    opportunity = (people * model.sympathy_cell[a, rows, cols] * (1.0 - state) * (1.0 - model.share[a, rows, cols])
                   + 0.6 * model.world.gold[rows, cols])
    opportunity = opportunity + model.rng.gumbel(0.0, 0.05, opportunity.shape)
    dr, dc = np.unravel_index(int(opportunity.argmax()), opportunity.shape)
    new = ArmedUnit(model, unit.faction, (rows.start + dr, cols.start + dc), half, unit.ethnic.copy(), unit.hardline,
                    unit.loyalty, unit.katiba)
    new.establishment = half


def _displace(model) -> None:
    """Residents flee violent cells to the safest town of their region."""
    p = model.params.engagement
    w = model.world
    E = model.pop.shape[0]
    # residents move within their region, so within their community: its total stands (but for rounding);
    # reprisals draw their cells from the residents as they now live (counted_pop, copied by the kernel)
    by_region, total_moved = kernels.flee(model.pop.reshape(E, -1), model.comm_id, model.fear, model.danger.ravel(),
                                          p.flee_rate, w.region.ravel(), len(w.region_names),
                                          model.counted_pop.reshape(E, -1))
    if total_moved > 0:
        refuge = _refuges(model)
        np.add.at(model.pop, (slice(None), refuge[:, 0], refuge[:, 1]), by_region)
        model.counted_pop[:, refuge[:, 0], refuge[:, 1]] = model.pop[:, refuge[:, 0], refuge[:, 1]]
        model.displaced_total += total_moved


def _refuges(model) -> np.ndarray:
    """Per region, the cell of its largest town held by the state side (else its largest town)."""
    if getattr(model, "_refuge_cache_step", None) == model.steps:
        return model._refuge_cache
    w = model.world
    if getattr(model, "_refuge_default", None) is None:
        # towns by region, and for regions without a town the middle of their cells
        rows, cols = w.town_cells[:, 0], w.town_cells[:, 1]
        model._town_region = w.region[rows, cols]
        model._town_pop = np.array([t.population for t in w.geo.towns], dtype=float)
        model._refuge_default = np.zeros((len(w.region_names), 2), dtype=int)
        for reg in range(len(w.region_names)):
            cells = np.argwhere(w.region == reg)
            if len(cells):
                model._refuge_default[reg] = cells[len(cells) // 2]
    rows, cols = w.town_cells[:, 0], w.town_cells[:, 1]
    held = model.control[rows, cols]
    score = model._town_pop * np.where(_HELD_BY_STATE_SIDE[held + 1], 2.0, 1.0)
    order = np.lexsort((np.arange(len(score)), -score, model._town_region))  # best town first in each region
    region = model._town_region[order]
    first = order[np.concatenate(([True], region[1:] != region[:-1]))]  # np.r_ costs ~60 us here
    best = model._refuge_default.copy()
    best[model._town_region[first]] = w.town_cells[first]
    model._refuge_cache, model._refuge_cache_step = best, model.steps
    return best


def _mobilise(model) -> None:
    """Communities raise or reinforce their own militia against a coercive jihadist ruler; all
    decide together from the militias' strength at the start of the phase."""
    p = model.params.engagement
    militia = model.comm_militia
    active = np.array([model.factions[a.name].active for a in CAST])
    eligible = np.nonzero((militia >= 0) & active[np.maximum(militia, 0)] & (model.ruler >= 0))[0]
    if not len(eligible):
        return
    ruler = model.ruler[eligible]
    threat = (model.grievance[eligible, ruler]
              + 0.5 * model.polarisation[model.comm_group[eligible]][:, FULANI_IDX].max(axis=1))
    growth = {}
    for m in set(militia[eligible].tolist()):
        fac = model.factions[CAST[m].name]
        sponsor = model.factions[STATE_OF_COUNTRY[CAST[m].country]].regime
        growth[m] = (1.0 + (sponsor.militia_sponsorship if sponsor else 0.0)) * affordable_growth(fac, militia_upkeep(fac))
    rate = p.mobilisation_rate * _sigmoid((threat - p.mobilisation_threshold) / 0.1)
    rate *= np.array([growth[m] for m in militia[eligible]])
    threatened = model.community_population[eligible] * model.exposure[eligible, ruler]
    raised = model.rng.poisson(rate * threatened)
    regions = model.world.region
    # militia -> region -> its largest unit there (the first of the largest in Mesa's order), which absorbing
    # keeps the largest; a unit raised where it had none takes the place
    by_militia = {}
    for c, n in zip(eligible[raised > 0].tolist(), raised[raised > 0].tolist()):
        m = CAST[militia[c]].name
        if m not in by_militia:
            by_region = by_militia[m] = {}
            for u in model.factions[m].units:
                r = int(regions[u.pos])
                if r not in by_region or u.manpower > by_region[r].manpower:
                    by_region[r] = u
        by_region = by_militia[m]
        model.mobilised[c] += n
        region = int(model.comm_region[c])
        here = by_region.get(region)
        if here is not None:
            here.absorb_group(n, model.comm_group[c])
        else:
            pos = tuple(_refuges(model)[region])
            u = ArmedUnit(model, m, pos, n, _one_hot(model.comm_group[c]), 0.3, 0.8,
                          f"{m} ({model.world.region_names[region]})")
            u.establishment = n
            by_region[region] = u  # the refuge lies in the region


def _one_hot(g: int) -> np.ndarray:
    v = np.zeros(len(ETHNIC_GROUPS))
    v[g] = 1.0
    return v


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))

