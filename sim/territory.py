"""Mechanism 5, territorial control: influence, control, the Macina core, clashes and towns.

What the seeds document:
- JNIM pushed ISGS out of the Inner Niger Delta and southern Gao in 2020, except
  for pockets (Dialloube, Kounari), while ISGS grew in Niger and eastern Burkina
  (000_413828cd3477c8cc.txt).
- The Macina is JNIM's heartland and tolerates no other armed group: ISGS was
  given days to leave and then destroyed, later the Azawad movements too
  (001_714725a1b78083b0.txt).
- In 2025 JNIM stormed military bases and towns (Djibo, Diapaga, Boulkessi) and
  besieged population centres to force local agreements
  (002_c8316128e727fa39.txt, 003_6d40cf173d77a7b0.txt).
- Before 2019 JNIM and ISGS ran joint attacks on state forces (000).

Assumptions of this module:
- An actor's presence is the manpower of its units on a cell times a quality
  factor (militias 0.5, foreign partners 2, others 1; an assumption); influence relaxes
  toward the presence smoothed by a Gaussian of ``reach_cells`` for armed groups and
  ``garrison_reach_cells`` for state forces and partners, which hold their bases and
  towns more than the countryside around them (seeds 000, 002). States add an
  administrative presence around their garrisoned towns, scaled by regime
  capacity; a foreign partner's presence counts for the host state.
- Effective influence is influence x (1 + support_weight x local sympathy). A
  cell is controlled by the leading actor when it passes ``control_threshold``
  and leads the runner-up by ``contest_margin``; otherwise, when two actors pass
  the threshold, it is contested.
- Units move up to ``move_cells`` per step toward the best cell of a score
  field: residents not under state control, gold, roads, non-state enemies
  within ~50 km to fight, minus state force nearby and crowding by their own
  units, plus garrisoned towns (a little always, for raids on posts, and much
  more when the group's town focus is high) and, for
  JNIM, rivals inside the Macina core; tethered to their home area.
- Offensives follow GeoContest's rule (attack only with local superiority):
  each step, with probability offensive_rate x ops_factor x its group's will to fight the target's,
  a jihadist unit heads for the nearest enemy unit within ``offensive_range`` cells, of a rival
  jihadist group or a militia at war with its group, a communal militia counting as
  ``militia_offset_cells`` farther and a state auxiliary (the VDP) as ``auxiliary_offset_cells``
  (at 16, with the default range of 15, a rival jihadist unit in range always comes first),
  if its manpower is at least ``superiority_ratio`` times the target's (seed 000: JNIM fought the VDP
  to keep its ground in Burkina while it was at war with ISGS).
- A group that campaigns (the scenario's ``campaigns``; JNIM in the baseline) commits
  ``campaign_share`` of its units, the strongest companies apart from each region's strongest (which
  keeps the region: JNIM held Burkina's Est and Nord and grew into the Cascades while it fought ISGS)
  and those at home in the Macina core (which hold it: Katiba Macina fought ISGS's defectors in the
  delta's own towns in 2020, seed 000, and the Macina tolerates no other group, seed 001),
  to its war on a rival jihadist group (seed 000: al-Qaeda's leadership ordered JNIM to eradicate
  ISGS in 2020; JNIM attacked ISGS-held towns such as Ndaki): with probability ops_factor x the will
  to fight each step, a committed unit heads for the nearest rival unit it outmatches, however far.
  Seed 000 documents no such order for ISGS, whose units fight JNIM only through the ordinary
  offensives.
- Two units of actors at war that are within one cell clash with a hazard that
  grows with the smaller force; the stronger side tends to win (strength =
  manpower x quality x momentum x leadership x infiltration bonus; quality 1
  for jihadists and armies, 2 for foreign partners, 0.5 for militias, an
  assumption); the loser loses a share of its manpower and the winner takes loot.
"""

from __future__ import annotations

import numpy as np

from sim import eventlog as ev
from sim import kernels
from sim.actors import CAST, INDEX, N_ACTORS, STATE_OF_COUNTRY
from sim.agents import positions
from sim.draws import uniform_source
from sim.relations import COOP, PACT, TRUCE, WAR
from sim.world import COUNTRY_CODES

JNIM = INDEX["JNIM"]
STATE_SIDE_KINDS = ("state", "partner", "militia")
QUALITY = {"jihadist": 1.0, "state": 1.0, "partner": 2.0, "militia": 0.5}  # fighter-equivalents; assumption
_COUNTRY_STATE = np.array([INDEX[STATE_OF_COUNTRY[c]] if c in STATE_OF_COUNTRY else -1 for c in COUNTRY_CODES])
_QUALITY_OF = np.array([QUALITY[a.kind] for a in CAST])
_IS_PARTNER = np.array([a.kind == "partner" for a in CAST])
_PRO_GOVERNMENT = np.array([a.kind in ("state", "partner", "militia") and a.name != "CSP" for a in CAST])
_STATE_LAYER = np.array([a.kind in ("state", "partner") for a in CAST])
_NON_STATE = np.array([a.kind in ("jihadist", "militia") for a in CAST])
_JIHADIST = np.array([a.kind == "jihadist" for a in CAST])
_AUXILIARY = np.array([a.auxiliary for a in CAST])
# rival armed groups lose influence in the Macina core where JNIM leads (seed 001)
_EXPELLED = np.array([a.name != "JNIM" and a.kind not in ("state", "partner") for a in CAST])


def unit_table(model) -> dict[str, np.ndarray]:
    """Arrays over the current units: Mesa unit, own actor index, actor it counts for in
    presence (partners count for the host state, -1 outside the three countries), row,
    column, manpower and fighter-equivalents."""
    units = model.unit_list()
    W = model.world.shape[1]
    own = np.array([u.actor for u in units], dtype=np.int64)
    pos = positions(units)
    men = np.array([u.manpower for u in units], dtype=float)
    counts_for = own.copy()
    partner = _IS_PARTNER[own]
    if partner.any():
        counts_for[partner] = _COUNTRY_STATE[model.world.country.ravel()[pos[partner, 0] * W + pos[partner, 1]]]
    return {"units": units, "own": own, "counts_for": counts_for, "rows": pos[:, 0], "cols": pos[:, 1],
            "men": men, "strength": men * _QUALITY_OF[own]}


def presence(model, table=None) -> np.ndarray:
    """Fighter-equivalents (manpower x quality) of each actor per cell; partners count for the host state."""
    t = unit_table(model) if table is None else table
    H, W = model.world.shape
    keep = t["counts_for"] >= 0
    flat = (t["counts_for"][keep] * H + t["rows"][keep]) * W + t["cols"][keep]
    out = _scratch(model, "presence", (N_ACTORS, H, W), zero=False)
    out.flat[model.__dict__.get("_presence_cells", [])] = 0.0  # only the cells units stood on last time
    np.add.at(out.reshape(-1), flat, t["strength"][keep])
    model._presence_cells = flat
    return out


def update_influence(model) -> None:
    """Presence -> influence -> effective influence -> control, contested cells, shares, sieges."""
    p = model.params.territory
    w = model.world
    H, W = w.shape
    t = unit_table(model)
    model.presence = presence(model, t)
    model.presence_table = t  # movement senses rivals as they stood here
    keep = (t["counts_for"] >= 0) & (t["strength"] > 0)
    layers = t["counts_for"][keep]
    model.smoothed = _scratch_layers(model, "smoothed", (N_ACTORS, H, W), layers)  # also read by movement
    garrisoned = _STATE_LAYER[layers]  # state forces (and partners, counted for the host) reach less far
    rows, cols, strength = t["rows"][keep], t["cols"][keep], t["strength"][keep]
    for sel, sigma in ((~garrisoned, p.reach_cells), (garrisoned, p.garrison_reach_cells)):
        kernels.stamp_gaussian(model.smoothed, layers[sel], rows[sel], cols[sel], strength[sel],
                               kernels.gaussian_weights(sigma))
    # garrisons: state-side units on towns (partners count for the host state)
    on_town = keep & _STATE_LAYER[np.maximum(t["counts_for"], 0)] & (w.town[t["rows"], t["cols"]] >= 0)
    model.garrison = np.zeros((H, W), dtype=bool)  # read by movement
    model.garrison[t["rows"][on_town], t["cols"][on_town]] = True
    states = [f for f in model.factions.values() if f.kind == "state" and f.active and f.regime is not None]
    admin = _scratch(model, "admin", (len(states), H, W))
    # each state's garrisoned cells once and in order, all states in one call (layer k of admin: states[k])
    layer_of = np.full(N_ACTORS, -1)
    layer_of[[f.index for f in states]] = np.arange(len(states))
    k = layer_of[t["counts_for"][on_town]]
    layer, cell = np.divmod(np.unique((k * H * W + t["rows"][on_town] * W + t["cols"][on_town])[k >= 0]), H * W)
    kernels.stamp_gaussian(admin, layer, cell // W, cell % W, np.ones(len(cell)),
                           kernels.gaussian_weights(p.state_admin_reach))
    admin *= 2 * np.pi * p.state_admin_reach**2  # ~1 at a garrison
    expel = model.factions["JNIM"].active and w.macina_core.any()
    sympathy = getattr(model, "sympathy_cell", None)
    model.effective = _scratch(model, "effective", (N_ACTORS, H, W), zero=False)  # the kernel fills them
    model.share = _scratch(model, "share", (N_ACTORS, H, W), zero=False)
    previous = model.control.copy()
    model.leader = np.empty((H, W), dtype=np.int8)
    model.influence_held = np.empty(N_ACTORS, dtype=bool)  # actors with influence somewhere, read by engagement
    flat = (N_ACTORS, H * W)
    kernels.influence_and_control(
        model.influence.reshape(flat), model.smoothed.reshape(flat), admin.reshape(len(states), -1),
        np.array([f.index for f in states], dtype=np.int64),
        np.array([p.state_admin_weight * f.regime.capacity for f in states]),
        np.array([COUNTRY_CODES.index(CAST[f.index].country) for f in states], dtype=np.int64),
        w.country.ravel(), p.adapt_rate,
        np.zeros((0, H * W)) if sympathy is None else sympathy.reshape(flat), p.support_weight,
        (w.macina_core if expel else np.zeros_like(w.macina_core)).ravel(), JNIM, _EXPELLED, 1.0 - p.core_expulsion,
        p.control_threshold, p.contest_margin, model.effective.reshape(flat), model.share.reshape(flat),
        model.control.reshape(-1), model.contested.reshape(-1), model.leader.reshape(-1), model.influence_held)
    if model.steps > 0:
        _log_town_changes(model, previous)
    _update_sieges(model)


def _scratch(model, name: str, shape: tuple, zero: bool = True) -> np.ndarray:
    """A per-model array reused from step to step (fresh grid-sized arrays cost page faults)."""
    buffers = model.__dict__.setdefault("_scratch", {})
    buf = buffers.get(name)
    if buf is None or buf.shape != shape:
        buf = buffers[name] = np.zeros(shape)
    elif zero:
        buf.fill(0.0)
    return buf


def _scratch_layers(model, name: str, shape: tuple, layers: np.ndarray) -> np.ndarray:
    """A reused stack whose layers written last time are zeroed (only those can be non-zero)."""
    buf = _scratch(model, name, shape, zero=False)
    used = model.__dict__.setdefault("_scratch_layers", {})
    buf[used.get(name, [])] = 0.0  # one call for all layers (a fill per layer cost ~30% more)
    used[name] = np.flatnonzero(np.bincount(layers))  # the distinct layers, as np.unique but faster
    return buf


def _log_town_changes(model, previous) -> None:
    w = model.world
    rows, cols = w.town_cells[:, 0], w.town_cells[:, 1]
    before, after = previous[rows, cols], model.control[rows, cols]
    for k in np.nonzero(before != after)[0]:
        if w.geo.towns[k].population < 15000 or after[k] < 0:
            continue
        new, old = CAST[after[k]], CAST[before[k]] if before[k] >= 0 else None
        if new.kind == "jihadist" and (old is None or old.kind != "jihadist"):
            kind = ev.OVERTAKE
        elif new.kind == "state" and (old is None or old.kind != "state"):
            kind = ev.REGAIN
        else:
            continue
        model.log.add(model, kind, ev.acled_actor(new.name), ev.acled_actor(old.name) if old else "",
                      cell=(rows[k], cols[k]), notes=f"control of {w.town_names[k]} passes to {new.name}")


def _update_sieges(model) -> None:
    """A town of 15,000 or more whose surroundings a jihadist group holds is besieged (seeds 000, 002)."""
    p = model.params.territory
    w = model.world
    towns = model.siege_towns
    rows, cols = w.town_cells[towns, 0], w.town_cells[towns, 1]
    held = {}
    for j in (INDEX["JNIM"], INDEX["ISGS"]):
        ring = kernels.window_count(model.control == j, rows, cols, 2) / 25.0
        for k in towns[(ring >= p.siege_share) & (model.control[rows, cols] != j)]:
            held[int(k)] = j
    for k, j in held.items():
        if model.besieged.get(k) != j:
            model.log.add(model, ev.OTHER, ev.acled_actor(CAST[j].name), "", cell=tuple(w.town_cells[k]),
                          notes=f"siege of {w.town_names[k]} begins")
    for k in set(model.besieged) - set(held):
        model.log.add(model, ev.OTHER, ev.acled_actor(CAST[model.besieged[k]].name), "", cell=tuple(w.town_cells[k]),
                      notes=f"siege of {w.town_names[k]} lifted")
    model.besieged = held


# ---------------------------------------------------------------------- movement


def move_units(model) -> None:
    """Non-state units go on the offensive against a weaker rival in range, or else move to the
    best cell within reach of the score field (module docstring); state and partner units hold
    their garrisons. All units decide at once from the fields of the start of the phase."""
    p = model.params.territory
    w = model.world
    movers = np.array([model.factions[a.name].active for a in CAST]) & _NON_STATE  # by actor index
    units = model.unit_list()
    own = np.array([u.actor for u in units], dtype=np.int64)
    moving = movers[own]  # a lookup (np.isin took ~35 us)
    if not moving.any():
        return
    # only the movers' positions and sizes (unit_table would read every unit's and more)
    units = [u for u, go in zip(units, moving.tolist()) if go]
    own = own[moving]
    pos = positions(units)
    rows0, cols0 = pos.T.copy()  # contiguous rows and columns, as move_values is compiled for
    men = np.array([u.manpower for u in units], dtype=float)
    H, W = w.shape
    m = p.move_cells
    total = model.pop.sum(axis=0)
    people = np.log1p(total) / np.log1p(total.max() + 1)
    war = model.relations.war_matrix() > 0
    # rivals sensed within ~50 km: two passes of a 9-cell box approximate a Gaussian of sigma ~3.7 cells
    seen = model.presence_table
    armed = _NON_STATE[seen["own"]] & (seen["strength"] > 0)
    layers = seen["own"][armed]
    far = _scratch_layers(model, "far", (N_ACTORS, H, W), layers)
    kernels.stamp_double_box(far, layers, seen["rows"][armed], seen["cols"][armed], seen["strength"][armed], 4)
    ops = model.ops_factors()
    focus = model.town_focus()
    core_others = _NON_STATE.copy()
    core_others[JNIM] = False
    home = positions(units, "home")
    noise = model.rng.gumbel(0.0, 0.05, (len(units), (2 * m + 1) ** 2))
    value = kernels.move_values(
        rows0, cols0, home[:, 0], home[:, 1], own, m, people, model.gold_road, model.smoothed,
        model.share, far, _STATE_LAYER, war & _STATE_LAYER[None, :], war & _NON_STATE[None, :], ops, focus,
        w.country, model.garrison, p.core_ultimatum * w.macina_core, core_others, JNIM, p.home_tether, noise)
    best = value.argmax(axis=1)
    side = 2 * m + 1
    new_rows, new_cols = rows0 + best // side - m, cols0 + best % side - m
    goals = _offensive_goals(model, own, men, pos, home)
    if goals:  # units on the offensive step up to m cells toward their goal instead
        k, goal = np.array(list(goals)), np.array(list(goals.values()))
        new_rows[k] = rows0[k] + np.minimum(np.maximum(goal[:, 0] - rows0[k], -m), m)
        new_cols[k] = cols0[k] + np.minimum(np.maximum(goal[:, 1] - cols0[k], -m), m)
    for u, row, col in zip(units, new_rows.tolist(), new_cols.tolist()):
        u.pos = (row, col)


def _offensive_goals(model, owner, men, pos, home) -> dict[int, tuple[int, int]]:
    """GeoContest-style attacks: for each jihadist unit that goes on the offensive this step, the
    nearest enemy unit within range, of a rival jihadist group or a militia at war, that it outmatches,
    a communal militia counting as ``militia_offset_cells`` farther and a state auxiliary (the VDP) as
    ``auxiliary_offset_cells`` (seed 000: the 2020 war against ISGS came
    first, yet JNIM attacked the VDP to hold its ground in Burkina, and ISGS the Tuareg militias in
    Menaka; 001: JNIM's Sourou valley campaign against the VDP). ``owner``, ``men``, ``pos`` and
    ``home`` describe the moving units (actor index, manpower, row and column, home row and column)."""
    p = model.params.territory
    war = model.relations.war_matrix() > 0
    will = model.relations.will_to_fight()
    jihadist = _JIHADIST[owner]
    goals = {}
    if not jihadist.any():
        return goals
    # by target actor: how many cells farther than a rival jihadist unit a militia counts
    offset = np.where(_JIHADIST, 0.0, np.where(_AUXILIARY, p.auxiliary_offset_cells, p.militia_offset_cells))
    armed = _NON_STATE[owner] & (men > 0)  # targets for any group at war with them
    for f in model.factions.values():
        if f.kind != "jihadist" or not f.active:
            continue
        mine = np.flatnonzero(owner == f.index)
        targets = np.flatnonzero(armed & war[f.index, owner])
        if not len(mine) or not len(targets):
            continue
        dist = _chebyshev(pos[mine], pos[targets])
        rank = dist + offset[owner[targets]][None, :]
        k = rank.argmin(axis=1)
        d = dist[np.arange(len(mine)), k]
        nearest = targets[k]
        go = ((d > 0) & (d <= p.offensive_range) & (men[mine] >= p.superiority_ratio * men[nearest])
              & (model.rng.random(len(mine))
                 < p.offensive_rate * model.ops_factor(f.name) * will[f.index, owner[nearest]]))
        goals.update(zip(mine[go].tolist(), map(tuple, pos[nearest[go]].tolist())))
        rivals = targets[jihadist[targets]]
        if f.campaigns and p.campaign_share > 0 and len(rivals):
            committed = int(np.ceil(p.campaign_share * len(mine)))
            goals.update(_campaign_goals(model, f, mine, rivals, committed, owner, men, pos, home, will))
    return goals


def _chebyshev(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distances in cells (the larger of the row and column offsets) between each of the (row,
    column) pairs ``a`` and each of ``b``; a reduction over an axis of two costs more than this."""
    return np.maximum(np.abs(a[:, None, 0] - b[None, :, 0]), np.abs(a[:, None, 1] - b[None, :, 1]))


def _campaign_goals(model, faction, mine, rivals, committed, owner, men, pos, home, will) -> dict[int, tuple[int, int]]:
    """Goals of the ``committed`` strongest units of ``faction``, each region's strongest and JNIM's
    companies at home in the Macina core excepted, in its war on the rival jihadist units ``rivals``
    (indices into ``owner``, ``men``, ``pos`` and ``home``, as are ``mine``): each heads for the nearest
    rival unit it outmatches, at any distance, unless its funding or the group's ``will`` to fight that
    rival (:meth:`RelationBook.will_to_fight`) fails it this step."""
    p = model.params.territory
    by_strength = np.argsort(-men[mine], kind="stable")
    region = model.world.region[pos[mine[by_strength], 0], pos[mine[by_strength], 1]]
    _, garrisons = np.unique(region, return_index=True)  # each region's strongest company stays to hold it
    spare = np.ones(len(by_strength), dtype=bool)
    spare[garrisons] = False
    if faction.index == JNIM:
        core_home = home[mine[by_strength]]
        spare &= ~model.world.macina_core[core_home[:, 0], core_home[:, 1]]
    front = by_strength[spare][:committed]
    dist = _chebyshev(pos[mine[front]], pos[rivals])
    beatable = men[mine[front], None] >= p.superiority_ratio * men[None, rivals]
    dist = np.where(beatable, dist, np.iinfo(dist.dtype).max)
    nearest = dist.argmin(axis=1)
    go = beatable[np.arange(len(front)), nearest] & (
        model.rng.random(len(front)) < model.ops_factor(faction.name) * will[faction.index, owner[rivals[nearest]]])
    return dict(zip(mine[front[go]].tolist(), map(tuple, pos[rivals[nearest[go]]].tolist())))


# ---------------------------------------------------------------------- clashes


def _strength(model, u, enemy: str) -> float:
    f = model.factions[u.faction]
    bonus = 1.0 + 0.5 * f.infiltration.get(enemy, 0.0)
    quality = QUALITY[f.kind]
    # the same tanh as a Python float: the arithmetic on it, here and in the fight, costs less than on numpy scalars
    return u.manpower * quality * (1.0 + 0.5 * float(np.tanh(f.momentum))) * (0.5 + 0.5 * f.leadership) * bonus


def resolve_clashes(model) -> None:
    """Clashes between units of actors at war (or, rarely, in tension), joint attacks, town attacks.

    Units take turns in random order; each meets the units on its own and the eight
    neighbouring cells, once per pair. Only pairs that can fight this step are visited.
    """
    p = model.params.territory
    rel = model.relations
    members = model.unit_list()
    turns = model.rng.permutation(len(members))  # each unit's turn
    alive = [k for k, u in enumerate(members) if u.manpower > 0]
    units = [members[k] for k in alive]
    if len(units) < 2:
        return
    own = np.array([u.actor for u in units], dtype=np.int64)
    pos = positions(units)
    fight = _can_fight(model)
    seeks = ~_IS_PARTNER[own]  # partners are met, they do not seek
    first, second, d_row, d_col = kernels.neighbour_pairs(pos[:, 0], pos[:, 1], own, fight, seeks)
    if not len(first):
        return
    # each pair once, at its first visit: a pair also met from the other side (turns differ) is kept
    # at the earlier of its two turns
    turn = turns[alive]
    once = ~(seeks[second] & fight[own[second], own[first]]) | (turn[first] < turn[second])
    first, second, d_row, d_col = first[once], second[once], d_row[once], d_col[once]
    visit = np.lexsort((second, d_col, d_row, turn[first]))
    # what the phase cannot change: sides, relations (incidents act at the next update), ops, garrisons,
    # town focus; only manpower changes, in fights
    u_side, v_side = first[visit], second[visit]
    a, b = own[u_side], own[v_side]
    u_attacks = _NON_STATE[a]
    att, dfd = np.where(u_attacks, u_side, v_side), np.where(u_attacks, v_side, u_side)
    at_town = (model.world.town[pos[dfd, 0], pos[dfd, 1]] >= 0) & _STATE_LAYER[own[dfd]]
    town_raid = at_town & _JIHADIST[own[att]]
    ops = model.ops_factors()
    pair_ops = np.minimum(ops[a], ops[b])
    engage = pair_ops * rel.will_to_fight()[a, b]
    rp = model.params.relations
    # hazards fixed for the phase: an incident is rare, likelier the more hostile the pair (it breaks
    # truces and starts wars), and in a truce or pact held back by the desire that made it (seed 000:
    # the 2022 truce stopped clashes on all fronts); attacks on garrisoned towns need a group's town
    # focus (seeds 002, 003)
    country = model.world.country[pos[dfd, 0], pos[dfd, 1]]
    focus = model.town_focus()[own[att], country]
    state = rel.matrix[a, b]
    war = state == WAR
    restraint = np.where((state == TRUCE) | (state == PACT), rel.desire[a, b], 0.0)
    fixed = np.where(war, p.town_attack_rate * (0.15 + focus) * pair_ops,
                     rp.incident_rate * np.clip((rel.hostility[a, b] - restraint) / rp.war_threshold, 0.0, 2.0)
                     * pair_ops)
    clash = war & ~town_raid
    men = np.array([u.manpower for u in units], dtype=np.int64)  # kept in step with the fights
    grow = _clash_growth(model, int(men.max()))
    source = uniform_source(model.rng)
    k = -1
    while True:
        # the draws of the pairs that do not clash, in a kernel (rng.random() one by one in Python
        # cost about 1 us a pair, and most pairs do not clash)
        k = kernels.next_clash(*source, k + 1, u_side, v_side, men, clash, grow, engage, fixed)
        if k == len(u_side):
            break
        i, j = int(u_side[k]), int(v_side[k])
        u, v = units[i], units[j]
        allies = _fight(model, *((u, v) if u_attacks[k] else (v, u)), bool(at_town[k]))
        men[i], men[j] = u.manpower, v.manpower
        for x in allies:
            men[units.index(x)] = x.manpower
        if not war[k]:
            rel.incident(u.faction, v.faction)


def _clash_growth(model, largest: int) -> np.ndarray:
    """A clash's hazard before the pair's engagement (ops x will to fight), by the smaller force, for
    sizes 0 to at least ``largest``: fights only lower manpower, so sizes up to today's largest cover the
    phase. Kept per model and recomputed only when a larger unit appears (np.exp gives each size the
    value it gives it alone, whatever the length of the array)."""
    rate = model.params.territory.clash_rate
    cached = model.__dict__.get("_clash_growth")
    if cached is None or cached[0] != rate or len(cached[1]) <= largest:
        cached = model._clash_growth = (rate, 1.0 - np.exp(-rate * np.arange(largest + 1) / 100.0))
    return cached[1]


def _can_fight(model) -> np.ndarray:
    """Actor pairs whose units may clash: not cooperating, and not two pro-government forces
    (the CSP excepted)."""
    fight = (model.relations.matrix != COOP) & ~(_PRO_GOVERNMENT[:, None] & _PRO_GOVERNMENT[None, :])
    np.fill_diagonal(fight, False)
    return fight


def _fight(model, attacker, defender, at_town: bool) -> list:
    """One clash; returns the allied units that joined the attacker (they lose men too)."""
    p = model.params.territory
    A, D = attacker.faction, defender.faction
    allies = []
    if CAST[attacker.actor].kind == "jihadist" and CAST[defender.actor].kind in ("state", "partner"):
        allies = _joint_partners(model, attacker, defender)
    s_a, s_d = _strength(model, attacker, D), _strength(model, defender, A)  # nothing changes them below
    s_att = s_a + sum(_strength(model, x, D) for x in allies)
    s_def = s_d * (1.5 if at_town else 1.0)  # fortification (assumption)
    win = model.rng.random() < s_att / (s_att + s_def)
    winner, loser = (attacker, defender) if win else (defender, attacker)
    s_win, s_lose = (s_a, s_d) if win else (s_d, s_a)
    ratio = min(max(s_win, 1) / max(s_lose, 1), 4.0)
    lost_loser = loser.lose(model.rng.binomial(loser.manpower, min(p.clash_lethality * (0.5 + 0.5 * ratio), 0.9)))
    lost_winner = winner.lose(model.rng.binomial(winner.manpower, p.clash_lethality * 0.3))
    i, j = winner.actor, loser.actor
    model.fatalities[i, j] += lost_loser
    model.fatalities[j, i] += lost_winner
    model.clashes[attacker.actor, defender.actor] += 1
    model.violence[defender.pos] += lost_loser + lost_winner
    wf, lf = model.factions[winner.faction], model.factions[loser.faction]
    wf.momentum = 0.95 * wf.momentum + 0.1
    lf.momentum = 0.95 * lf.momentum - 0.1
    loot = model.params.economy.loot_per_win * (5.0 if at_town and win else 1.0)
    if CAST[i].kind in ("jihadist", "militia"):
        wf.treasury += loot
    cost = model.params.economy.clash_cost
    wf.treasury = max(0.0, wf.treasury - cost)
    lf.treasury = max(0.0, lf.treasury - cost)
    notes = f"{attacker.katiba} attacks {defender.katiba}"
    kind = ev.BATTLE
    if at_town:
        town = model.world.town_names[model.world.town[defender.pos]]
        notes = f"{attacker.katiba} attacks the garrison of {town}" + ("; base overrun and looted" if win else "; repelled")
        if win:
            kind = ev.OVERTAKE
    assoc = ""
    if allies:
        model.joint_attacks += 1
        others = sorted({x.faction for x in allies})
        assoc = "; ".join(ev.acled_actor(o) for o in others)
        notes += f"; joint attack with {', '.join(others)}"
        for x in allies:
            x.lose(model.rng.binomial(x.manpower, p.clash_lethality * 0.2))
    model.log.add(model, kind, ev.acled_actor(A), ev.acled_actor(D), cell=defender.pos,
                  fatalities=lost_loser + lost_winner, notes=notes, assoc1=assoc)
    return allies


def _joint_partners(model, attacker, defender) -> list:
    """Units of cooperating jihadist groups within ``joint_reach_cells`` of the target join the attack
    (seed 000, 2017-2019)."""
    out = []
    r, c = defender.pos
    reach = model.params.territory.joint_reach_cells
    for name in ("JNIM", "ISGS"):
        if name == attacker.faction or model.relations.state(attacker.faction, name) != "cooperation":
            continue
        for x in model.units_of(name):
            if abs(x.pos[0] - r) <= reach and abs(x.pos[1] - c) <= reach and x.manpower > 0:
                out.append(x)
    return out
