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
    target = ndimage.gaussian_filter(model.presence, sigma=(0, p.reach_cells, p.reach_cells), truncate=3.0)
    for f in model.factions.values():
        if f.kind == "state" and f.active and f.regime is not None:
            garrisons = (model.presence[f.index] > 0) & (w.town >= 0)
            admin = ndimage.gaussian_filter(garrisons.astype(float), sigma=p.state_admin_reach, truncate=3.0)
            admin *= 2 * np.pi * p.state_admin_reach**2  # peak ~1 at an isolated garrison
            country_mask = w.country == COUNTRY_CODES.index(CAST[f.index].country)
            target[f.index] += p.state_admin_weight * f.regime.capacity * np.minimum(admin, 1.5) * country_mask
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
    H, W = w.shape
    held = {}
    for k, t in enumerate(w.geo.towns):
        if t.population < 15000:
            continue
        r, c = w.town_cells[k]
        ring = model.control[max(r - 2, 0): r + 3, max(c - 2, 0): c + 3]
        for j in (INDEX["JNIM"], INDEX["ISGS"]):
            if (ring == j).mean() >= p.siege_share and model.control[r, c] != j:
                held[k] = j
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
    p = model.params.territory
    w = model.world
    total = model.pop.sum(axis=0)
    people = np.log1p(total) / np.log1p(total.max() + 1)
    state_side = sum(model.presence[i] for i, a in enumerate(CAST) if a.kind in ("state", "partner"))
    state_risk = ndimage.gaussian_filter(state_side, 2.0) / 50.0
    garrison_towns = ndimage.maximum_filter(((state_side > 0) & (w.town >= 0)).astype(float), size=3)
    war = model.relations.war_matrix()
    fields = {}
    for f in model.factions.values():
        if f.kind not in ("jihadist", "militia") or not f.active:
            continue
        i = f.index
        hostile = np.nonzero(war[i])[0]
        rivals = [j for j in hostile if CAST[j].kind in ("jihadist", "militia")]
        enemies = model.presence[rivals].sum(axis=0) if rivals else np.zeros(w.shape)
        guarded = [j for j in hostile if CAST[j].kind in ("state", "partner")]
        enemy_share = model.share[guarded].sum(axis=0) if guarded else 0.0
        hunt = np.minimum(ndimage.gaussian_filter(enemies, 4.0) / 20.0, 1.0)  # non-state rivals within ~50 km
        crowding = ndimage.gaussian_filter(model.presence[i], 1.5) / 100.0
        focus = f.town_focus[w.country]
        score = (
            1.0 * people * (1.0 - enemy_share)
            + 0.6 * w.gold
            + 0.2 * w.road
            + 1.0 * hunt * model.ops_factor(f.name) * (1.0 - focus)
            - 0.8 * np.minimum(state_risk, 2.0) * (1.0 - focus)
            - 0.5 * crowding
            + (0.3 + 2.0 * focus) * garrison_towns
        )
        if i == JNIM:
            rivals = sum(model.presence[j] for j, a in enumerate(CAST) if a.kind in ("jihadist", "militia") and j != JNIM)
            score = score + p.core_ultimatum * w.macina_core * (ndimage.gaussian_filter(rivals, 2.0) > 1.0)
        fields[f.name] = score
    return fields


def move_units(model) -> None:
    """Non-state units go on the offensive against a weaker rival in range, or else move to the
    best cell within reach; state and partner units hold their garrisons."""
    p = model.params.territory
    fields = _score_fields(model)
    targets = _rival_positions(model)
    H, W = model.world.shape
    m = p.move_cells
    for u in model.units.shuffle():
        score = fields.get(u.faction)
        if score is None:
            continue
        r, c = u.pos
        goal = _offensive_goal(model, u, targets.get(u.faction))
        if goal is not None:
            dr, dc = np.clip(goal[0] - r, -m, m), np.clip(goal[1] - c, -m, m)
            u.pos = (int(r + dr), int(c + dc))
            continue
        r0, r1, c0, c1 = max(r - m, 0), min(r + m + 1, H), max(c - m, 0), min(c + m + 1, W)
        window = score[r0:r1, c0:c1]
        rr, cc = np.mgrid[r0:r1, c0:c1]
        tether = p.home_tether * np.hypot(rr - u.home[0], cc - u.home[1])
        noisy = window - tether + model.rng.gumbel(0.0, 0.05, window.shape)
        k = np.unravel_index(int(noisy.argmax()), window.shape)
        u.pos = (r0 + int(k[0]), c0 + int(k[1]))


def _rival_positions(model) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per jihadist faction, positions and manpower of the rival jihadist units it is at war with."""
    war = model.relations.war_matrix()
    units = [u for u in model.units if CAST[INDEX[u.faction]].kind == "jihadist" and u.manpower > 0]
    if not units:
        return {}
    pos = np.array([u.pos for u in units])
    men = np.array([u.manpower for u in units], dtype=float)
    owner = np.array([INDEX[u.faction] for u in units])
    out = {}
    for f in model.factions.values():
        if f.kind == "jihadist" and f.active:
            mask = war[f.index, owner] > 0
            if mask.any():
                out[f.name] = (pos[mask], men[mask])
    return out


def _offensive_goal(model, unit, rivals):
    """GeoContest-style attack: the nearest rival unit in range that this unit outmatches."""
    p = model.params.territory
    if rivals is None:
        return None
    pos, men = rivals
    dist = np.abs(pos - np.array(unit.pos)).max(axis=1)
    k = int(dist.argmin())
    if dist[k] > p.offensive_range or dist[k] == 0:
        return None
    if unit.manpower < p.superiority_ratio * men[k]:
        return None
    if model.rng.random() >= p.offensive_rate * model.ops_factor(unit.faction):
        return None
    return tuple(pos[k])


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
