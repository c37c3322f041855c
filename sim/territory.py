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
  toward the presence smoothed by a Gaussian of ``reach_cells``. States add an
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
  each step, with probability offensive_rate x ops_factor, a jihadist unit heads
  for the nearest unit of a rival jihadist group at war within ``offensive_range`` cells if its manpower
  is at least ``superiority_ratio`` times the target's.
- Two units of actors at war that are within one cell clash with a hazard that
  grows with the smaller force; the stronger side tends to win (strength =
  manpower x quality x momentum x leadership x infiltration bonus; quality 1
  for jihadists and armies, 2 for foreign partners, 0.5 for militias, an
  assumption); the loser loses a share of its manpower and the winner takes loot.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from sim import eventlog as ev
from sim.actors import CAST, INDEX, N_ACTORS, STATE_OF_COUNTRY
from sim.world import COUNTRY_CODES

JNIM = INDEX["JNIM"]
STATE_SIDE_KINDS = ("state", "partner", "militia")
QUALITY = {"jihadist": 1.0, "state": 1.0, "partner": 2.0, "militia": 0.5}  # fighter-equivalents; assumption
_COUNTRY_STATE = np.array([INDEX[STATE_OF_COUNTRY[c]] if c in STATE_OF_COUNTRY else -1 for c in COUNTRY_CODES])


def presence(model) -> np.ndarray:
    """Fighter-equivalents (manpower x quality) of each actor per cell; partners count for the host state."""
    A = N_ACTORS
    H, W = model.world.shape
    pres = np.zeros((A, H * W))
    idx, cells, men = [], [], []
    country = model.world.country.ravel()
    for u in model.units:
        a = INDEX[u.faction]
        cell = u.pos[0] * W + u.pos[1]
        if CAST[a].kind == "partner":
            a = _COUNTRY_STATE[country[cell]]
            if a < 0:
                continue
        idx.append(a)
        cells.append(cell)
        men.append(u.manpower * QUALITY[CAST[INDEX[u.faction]].kind])
    if idx:
        np.add.at(pres, (np.array(idx), np.array(cells)), np.array(men, dtype=float))
    return pres.reshape(A, H, W)


def update_influence(model) -> None:
    """Presence -> influence -> effective influence -> control, contested cells, shares, sieges."""
    p = model.params.territory
    w = model.world
    model.presence = presence(model)
    model.smoothed = _smooth(model.presence, p.reach_cells)  # also read by movement
    target = model.smoothed.copy()
    states = [f for f in model.factions.values() if f.kind == "state" and f.active and f.regime is not None]
    if states:
        garrisons = np.stack([(model.presence[f.index] > 0) & (w.town >= 0) for f in states]).astype(float)
        admin = _smooth(garrisons, p.state_admin_reach) * (2 * np.pi * p.state_admin_reach**2)  # ~1 at a garrison
        for k, f in enumerate(states):
            country_mask = w.country == COUNTRY_CODES.index(CAST[f.index].country)
            target[f.index] += p.state_admin_weight * f.regime.capacity * np.minimum(admin[k], 1.5) * country_mask
    model.influence += p.adapt_rate * (target - model.influence)
    _expel_from_core(model)

    sympathy = getattr(model, "sympathy_cell", None)
    eff = model.influence * (1.0 + p.support_weight * sympathy) if sympathy is not None else model.influence.copy()
    model.effective = eff
    top2 = np.partition(eff, -2, axis=0)[-2:]
    second, first = top2[0], top2[1]
    leader = eff.argmax(axis=0).astype(np.int8)
    strong = first >= p.control_threshold
    clear = first >= (1.0 + p.contest_margin) * second
    previous = model.control.copy()
    model.control = np.where(strong & clear, leader, -1).astype(np.int8)
    model.contested = strong & ~clear & (second >= p.control_threshold)
    model.leader = leader
    model.share = eff / (eff.sum(axis=0, keepdims=True) + p.control_threshold)
    if model.steps > 0:
        _log_town_changes(model, previous)
    _update_sieges(model)


def _smooth(layers: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing of each non-empty 2-D layer of a stack (empty layers stay zero)."""
    out = np.zeros_like(layers)
    busy = np.nonzero(layers.reshape(len(layers), -1).any(axis=1))[0]
    if len(busy):
        out[busy] = ndimage.gaussian_filter(layers[busy], sigma=(0, sigma, sigma), truncate=3.0)
    return out


def _expel_from_core(model) -> None:
    """Where JNIM leads inside the Macina core, rival armed groups' influence is stripped (seed 001)."""
    p = model.params.territory
    core = model.world.macina_core
    if not model.factions["JNIM"].active or not core.any():
        return
    jnim = model.influence[JNIM]
    for a in CAST:
        i = INDEX[a.name]
        if i == JNIM or a.kind in ("state", "partner"):
            continue
        held = core & (jnim > model.influence[i])
        model.influence[i][held] *= 1.0 - p.core_expulsion


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
        ring = ndimage.uniform_filter((model.control == j).astype(float), size=5, mode="constant")[rows, cols]
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


def _score_fields(model) -> dict[str, np.ndarray]:
    """Per non-state faction, the attractiveness of every cell (see the module docstring)."""
    p = model.params.territory
    w = model.world
    total = model.pop.sum(axis=0)
    people = np.log1p(total) / np.log1p(total.max() + 1)
    kinds = np.array([a.kind for a in CAST])
    state_layers = np.isin(kinds, ("state", "partner"))
    state_risk = model.smoothed[state_layers].sum(axis=0) / 50.0
    garrison_towns = ndimage.maximum_filter(((model.presence[state_layers].sum(axis=0) > 0) & (w.town >= 0))
                                            .astype(float), size=3)
    base = people, 0.6 * w.gold + 0.2 * w.road, np.minimum(state_risk, 2.0)
    war = model.relations.war_matrix() > 0
    non_state = np.isin(kinds, ("jihadist", "militia"))
    # rivals sensed within ~50 km: two passes of a 9-cell box approximate a Gaussian of sigma ~3.7 cells
    far = np.zeros_like(model.presence)
    box = ndimage.uniform_filter(model.presence[non_state], size=(1, 9, 9), mode="constant")
    far[non_state] = ndimage.uniform_filter(box, size=(1, 9, 9), mode="constant") * 81
    state_share = model.share[state_layers].sum(axis=0)
    fields = {}
    for f in model.factions.values():
        if f.kind not in ("jihadist", "militia") or not f.active:
            continue
        i = f.index
        rivals = war[i] & non_state
        guarded = war[i] & state_layers
        if guarded.sum() == state_layers.sum():
            enemy_share = state_share
        else:
            enemy_share = model.share[guarded].sum(axis=0)
        hunt = np.minimum(far[rivals].sum(axis=0) / 20.0, 1.0)
        crowding = model.smoothed[i] / 100.0
        focus = f.town_focus[w.country]
        score = (
            base[0] * (1.0 - enemy_share)
            + base[1]
            + 1.0 * hunt * model.ops_factor(f.name) * (1.0 - focus)
            - 0.8 * base[2] * (1.0 - focus)
            - 0.5 * crowding
            + (0.3 + 2.0 * focus) * garrison_towns
        )
        if i == JNIM:
            others = non_state.copy()
            others[JNIM] = False
            score = score + p.core_ultimatum * w.macina_core * (model.smoothed[others].sum(axis=0) > 1.0)
        fields[f.name] = score
    return fields


def move_units(model) -> None:
    """Non-state units go on the offensive against a weaker rival in range, or else move to the
    best cell within reach; state and partner units hold their garrisons. All units decide at
    once from the fields of the start of the phase."""
    p = model.params.territory
    fields = _score_fields(model)
    units = [u for u in model.units if u.faction in fields]
    if not units:
        return
    H, W = model.world.shape
    m = p.move_cells
    names = list(fields)
    stack = np.stack([fields[n] for n in names])
    which = np.array([names.index(u.faction) for u in units])
    pos = np.array([u.pos for u in units])
    home = np.array([u.home for u in units])
    dr, dc = np.mgrid[-m:m + 1, -m:m + 1]
    rows = pos[:, 0, None] + dr.ravel()[None]
    cols = pos[:, 1, None] + dc.ravel()[None]
    inside = (rows >= 0) & (rows < H) & (cols >= 0) & (cols < W)
    rows, cols = np.clip(rows, 0, H - 1), np.clip(cols, 0, W - 1)
    value = stack[which[:, None], rows, cols]
    value -= p.home_tether * np.hypot(rows - home[:, 0, None], cols - home[:, 1, None])
    value += model.rng.gumbel(0.0, 0.05, value.shape)
    value[~inside] = -np.inf
    best = value.argmax(axis=1)
    new_rows, new_cols = rows[np.arange(len(units)), best], cols[np.arange(len(units)), best]
    goals = _offensive_goals(model, units, pos)
    for k, u in enumerate(units):
        goal = goals.get(k)
        if goal is not None:
            r, c = u.pos
            u.pos = (int(r + np.clip(goal[0] - r, -m, m)), int(c + np.clip(goal[1] - c, -m, m)))
        else:
            u.pos = (int(new_rows[k]), int(new_cols[k]))


def _offensive_goals(model, units, pos) -> dict[int, tuple[int, int]]:
    """GeoContest-style attacks: for each jihadist unit that goes on the offensive this step, the
    nearest unit of a rival jihadist group at war, within range, that it outmatches."""
    p = model.params.territory
    war = model.relations.war_matrix() > 0
    owner = np.array([INDEX[u.faction] for u in units])
    men = np.array([u.manpower for u in units], dtype=float)
    jihadist = np.array([CAST[o].kind == "jihadist" for o in owner])
    goals = {}
    if not jihadist.any():
        return goals
    for f in model.factions.values():
        if f.kind != "jihadist" or not f.active:
            continue
        mine = np.nonzero(owner == f.index)[0]
        targets = np.nonzero(jihadist & war[f.index, owner] & (men > 0))[0]
        if not len(mine) or not len(targets):
            continue
        dist = np.abs(pos[mine, None, :] - pos[None, targets, :]).max(axis=2)
        nearest = dist.argmin(axis=1)
        d = dist[np.arange(len(mine)), nearest]
        go = ((d > 0) & (d <= p.offensive_range) & (men[mine] >= p.superiority_ratio * men[targets[nearest]])
              & (model.rng.random(len(mine)) < p.offensive_rate * model.ops_factor(f.name)))
        for k in np.nonzero(go)[0]:
            goals[int(mine[k])] = tuple(pos[targets[nearest[k]]])
    return goals


# ---------------------------------------------------------------------- clashes


def _strength(model, u, enemy: str) -> float:
    f = model.factions[u.faction]
    bonus = 1.0 + 0.5 * f.infiltration.get(enemy, 0.0)
    quality = QUALITY[f.kind]
    return u.manpower * quality * (1.0 + 0.5 * np.tanh(f.momentum)) * (0.5 + 0.5 * f.leadership) * bonus


def resolve_clashes(model) -> None:
    """Clashes between units of actors at war (or, rarely, in tension), joint attacks, town attacks."""
    p = model.params.territory
    rel = model.relations
    units = [u for u in model.units if u.manpower > 0]
    by_cell: dict[tuple[int, int], list] = {}
    for u in units:
        by_cell.setdefault(u.pos, []).append(u)
    seen = set()
    for u in model.units.shuffle():
        if u.manpower <= 0 or CAST[INDEX[u.faction]].kind == "partner":
            continue
        r, c = u.pos
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                for v in by_cell.get((r + dr, c + dc), ()):
                    if v is u or v.faction == u.faction or v.manpower <= 0:
                        continue
                    key = (min(u.unique_id, v.unique_id), max(u.unique_id, v.unique_id))
                    if key in seen:
                        continue
                    seen.add(key)
                    _maybe_clash(model, u, v, rel, p)


def _maybe_clash(model, u, v, rel, p) -> None:
    a, b = u.faction, v.faction
    kinds = {CAST[INDEX[a]].kind, CAST[INDEX[b]].kind}
    if kinds <= {"state", "partner", "militia"} and "CSP" not in (a, b):
        return  # pro-government forces do not fight each other
    state = rel.state(a, b)
    if state == "cooperation":
        return
    ops = min(model.ops_factor(a), model.ops_factor(b))
    attacker, defender = (u, v) if CAST[INDEX[u.faction]].kind in ("jihadist", "militia") else (v, u)
    at_town = model.world.town[defender.pos] >= 0 and CAST[INDEX[defender.faction]].kind in ("state", "partner")
    if state != "war":
        # an incident: rare, likelier the more hostile the pair (it breaks truces and starts wars)
        rp = model.params.relations
        hostility = rel.hostility[INDEX[a], INDEX[b]]
        hazard = rp.incident_rate * float(np.clip(hostility / rp.war_threshold, 0.0, 2.0)) * ops
    elif at_town and CAST[INDEX[attacker.faction]].kind == "jihadist":
        # attacks on garrisoned towns need a group's town focus (seeds 002, 003)
        focus = model.factions[attacker.faction].town_focus[model.world.country[defender.pos]]
        hazard = p.town_attack_rate * (0.15 + focus) * ops
    else:
        hazard = (1.0 - np.exp(-p.clash_rate * min(u.manpower, v.manpower) / 100.0)) * ops
    if model.rng.random() >= hazard:
        return
    _fight(model, attacker, defender, at_town)
    if state != "war":
        rel.incident(a, b)


def _fight(model, attacker, defender, at_town: bool) -> None:
    p = model.params.territory
    A, D = attacker.faction, defender.faction
    allies = []
    if CAST[INDEX[A]].kind == "jihadist" and CAST[INDEX[D]].kind in ("state", "partner"):
        allies = _joint_partners(model, attacker, defender)
    s_att = _strength(model, attacker, D) + sum(_strength(model, x, D) for x in allies)
    s_def = _strength(model, defender, A) * (1.5 if at_town else 1.0)  # fortification (assumption)
    win = model.rng.random() < s_att / (s_att + s_def)
    winner, loser = (attacker, defender) if win else (defender, attacker)
    ratio = min(max(_strength(model, winner, loser.faction), 1) / max(_strength(model, loser, winner.faction), 1), 4.0)
    lost_loser = loser.lose(model.rng.binomial(loser.manpower, min(p.clash_lethality * (0.5 + 0.5 * ratio), 0.9)))
    lost_winner = winner.lose(model.rng.binomial(winner.manpower, p.clash_lethality * 0.3))
    i, j = INDEX[winner.faction], INDEX[loser.faction]
    model.fatalities[i, j] += lost_loser
    model.fatalities[j, i] += lost_winner
    ia, idf = INDEX[A], INDEX[D]
    model.clashes[ia, idf] += 1
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


def _joint_partners(model, attacker, defender) -> list:
    """Units of cooperating jihadist groups near the target join the attack (seed 000, 2017-2019)."""
    out = []
    r, c = defender.pos
    for name in ("JNIM", "ISGS"):
        if name == attacker.faction or model.relations.state(attacker.faction, name) != "cooperation":
            continue
        for x in model.units_of(name):
            if abs(x.pos[0] - r) <= 2 and abs(x.pos[1] - c) <= 2 and x.manpower > 0:
                out.append(x)
    return out
