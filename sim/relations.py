"""Mechanism 3, truce and pact logic between any two actors.

What the seeds document (000_413828cd3477c8cc.txt unless noted):
- JNIM and ISGS cooperated until 2019 (joint attacks, shared commanders), drifted
  apart after ISGS's March 2019 induction into ISWAP as IS central leadership
  pushed confrontation, clashed from mid-2019 despite three failed mediations,
  fought an all-out war in 2020 (with al-Qaeda's Droukdel ordering JNIM to
  eradicate ISGS), agreed a truce in May 2022 and broke it on 3 November 2022
  after ISGS grew with its promotion and the Menaka offensive. Renewed war was
  less intense: financial strain and a bigger enemy in the juntas. A 2023
  mediation by a new group faded.
- JNIM made local pacts: the Niono agreement with Bambara/Dozo (2020), a
  non-aggression pact with the CSP and HCUA (2022-23), and an agreement with
  the FLA (2025, 001_714725a1b78083b0.txt).

States: cooperation, tension, war, truce, pact (non-aggression).

Assumptions of this module (after GeoContest's grim trigger, Cederman):
- Hostility H of a pair = base (fixed for jihadist vs state: 3; jihadist vs
  militia: 0.5 + ethnic_weight x polarisation of the militia's people against
  the Fulani; militia vs its state: grievance_weight x grievance of the
  militia's people against it - 0.5) + competition_weight x overlap of their
  influence shares (x 0.3 for pairs of different kinds) + central-command
  hostility (jihadist pairs; each group's felt pressure closes the gap to its
  central command's declared line by 1 - exp(-step / central_lag_days) per step)
  + recent defections and losses between them - shared-enemy pressure (losses
  both suffer from a common enemy, as a share of their manpower) - mediation.
- Truce desire D = accumulated losses (remembered with ``weariness_memory`` per
  step, so a truce made by weariness alone fades as the dead are forgotten) +
  mean strain + shared-enemy pressure + mediation + the jihadist's pact
  propensity (toward militias) + siege_weight when the jihadist besieges a town
  where the militia has units (Farabougou before the Niono agreement).
- cooperation -> tension when H > tension_threshold; tension -> cooperation
  when H < calm_threshold; tension -> war when H > war_threshold (an incident
  in tension, a clash, adds its dead to H but is not a war by itself: the 2019
  clashes came months before the all-out war); war -> truce with probability
  truce_rate when D - H > truce_threshold; truce -> war on a clash, or with
  probability break_rate x (shift / advantage_break) when the log power ratio
  has moved by more than ``advantage_break`` since the truce, or when H passes
  war_threshold + D; truce -> pact after ``pact_after_steps`` quiet steps with
  D > H, except between rival jihadist groups while a central command urges
  them to fight (the 2019 truces failed, the 2022 one broke); a pact breaks
  like a truce at half the rate. Pairs of pro-government forces keep their
  initial state, and so do a jihadist group and a state auxiliary (the VDP,
  armed and commanded by Burkina's army): it fights whom its state fights and
  makes no truce of its own (seed 000: JNIM attacked and kidnapped VDP
  members from 2020; seed 001: JNIM's 2025 Sourou campaign against the VDP).
- Incidents (clashes outside war) are rarer in a truce or pact: their hazard
  uses H - D there, so a truce both sides want stops clashes on all fronts, as
  the May 2022 one did.
- Two jihadist groups at war seek a share H / (H + D) of the engagements their
  war would otherwise bring (``will_to_fight``): the war wears itself down as
  losses accumulate, as the JNIM-ISGS war did after 2020.
"""

from __future__ import annotations

import numpy as np

from sim import eventlog as ev
from sim import kernels
from sim.actors import CAST, ETHNIC_GROUPS, FULANI, INDEX, N_ACTORS
from sim.agents import manpower_by_actor

STATES = ("cooperation", "tension", "war", "truce", "pact")
# the terms of truce desire D, in the order they are added (relations.csv has one column each)
DESIRE_PARTS = ("weariness", "strain", "enemy", "mediation", "pact")
COOP, TENSION, WAR, TRUCE, PACT = range(5)
FULANI_IDX = [ETHNIC_GROUPS.index(g) for g in FULANI]
_KIND = np.array([a.kind for a in CAST])
_MILITIA = _KIND == "militia"
_RIVAL_JIHADISTS = (_KIND[:, None] == "jihadist") & (_KIND[None, :] == "jihadist")
_BASE = {i: [ETHNIC_GROUPS.index(g) for g in a.base] for i, a in enumerate(CAST) if a.kind == "militia"}
_BASE_MASK = np.array([[g in a.base for g in ETHNIC_GROUPS] for a in CAST])
# kinds of pair with their own base hostility: jihadist-state, jihadist-militia, state-militia, jihadist-jihadist
_OTHER, _JS, _JM, _SM, _JJ = range(5)
_PAIR_KINDS = {frozenset(("jihadist", "state")): _JS, frozenset(("jihadist", "militia")): _JM,
               frozenset(("state", "militia")): _SM, frozenset(("jihadist",)): _JJ}


def default_state(a, b) -> int:
    kinds = {a.kind, b.kind}
    if kinds <= {"state", "partner", "militia"}:
        return COOP
    if a.kind == b.kind == "jihadist":
        return COOP
    return WAR


def dynamic(a, b) -> bool:
    """Pairs whose relation the mechanism evolves; pro-government pairs are fixed unless a separatist is involved,
    and a state auxiliary stays at war with the jihadist groups."""
    kinds = {a.kind, b.kind}
    if "jihadist" in kinds:
        return "partner" not in kinds and not (a.auxiliary or b.auxiliary)
    return kinds == {"state", "militia"} and (a.name == "CSP" or b.name == "CSP")


class RelationBook:
    """Relation state and its drivers for every pair of actors."""

    def __init__(self, model, initial=()):
        self.model = model
        A = N_ACTORS
        self.matrix = np.zeros((A, A), dtype=np.int8)
        for i, a in enumerate(CAST):
            for j, b in enumerate(CAST):
                if i != j:
                    self.matrix[i, j] = default_state(a, b)
        for r in initial:
            i, j = INDEX[r.pair[0]], INDEX[r.pair[1]]
            self.matrix[i, j] = self.matrix[j, i] = STATES.index(r.state)
        self.pairs = [(i, j) for i in range(A) for j in range(i + 1, A) if dynamic(CAST[i], CAST[j])]
        self._first = np.array([i for i, _ in self.pairs], dtype=np.int64)
        self._second = np.array([j for _, j in self.pairs], dtype=np.int64)
        self._kind = np.array([_PAIR_KINDS.get(frozenset((CAST[i].kind, CAST[j].kind)), _OTHER) for i, j in self.pairs])
        # communities of each militia's ethnic base, for its grievance against its state
        self.militia_comms = {m: np.flatnonzero(np.isin(model.comm_group, groups)) for m, groups in _BASE.items()}
        self.hostility = np.zeros((A, A))
        self.desire = np.zeros((A, A))
        self.desire_parts = np.zeros((len(DESIRE_PARTS), len(self.pairs)))  # per pair, D's terms (sum: desire)
        self.losses_recent = np.zeros((A, A))  # fatalities inflicted by row on column, EMA
        self.losses_total = np.zeros((A, A))  # slow memory of mutual losses
        self.defections_recent = np.zeros((A, A))
        self.mediation = np.zeros((A, A))
        self.since = np.zeros((A, A), dtype=int)
        self.truce_power = np.zeros((A, A))
        self._incidents: set[tuple[int, int]] = set()

    # queries -------------------------------------------------------------
    def state(self, a: str, b: str) -> str:
        return STATES[self.matrix[INDEX[a], INDEX[b]]]

    def war_matrix(self) -> np.ndarray:
        return (self.matrix == WAR).astype(float)

    def will_to_fight(self) -> np.ndarray:
        """Share of the engagements of their war a pair still seeks: H / (H + D) between rival jihadist
        groups (seed 000: the war wore both down, 2021 was fought less intensely than 2020 before the
        2022 truce), 1 for every other pair. Read by the movement and clash phases."""
        hostile = np.maximum(self.hostility, 0.0)
        total = hostile + self.desire
        will = np.divide(hostile, total, out=np.ones_like(total), where=total > 0)
        return np.where(_RIVAL_JIHADISTS, will, 1.0)

    # inputs from other mechanisms ----------------------------------------
    def incident(self, a: str, b: str) -> None:
        i, j = sorted((INDEX[a], INDEX[b]))
        self._incidents.add((i, j))

    def mediate(self, a: str, b: str, strength: float) -> None:
        i, j = INDEX[a], INDEX[b]
        self.mediation[i, j] = self.mediation[j, i] = strength

    def set_state(self, i: int, j: int, new: int, why: str) -> None:
        old = self.matrix[i, j]
        if old == new:
            return
        self.matrix[i, j] = self.matrix[j, i] = new
        self.since[i, j] = self.since[j, i] = 0
        m = self.model
        if new in (TRUCE, PACT):
            self.truce_power[i, j] = self.truce_power[j, i] = _log_power(m, i, j)
        kind = ev.AGREEMENT if new in (COOP, TRUCE, PACT) else ev.OTHER
        m.log.add(m, kind, ev.acled_actor(CAST[i].name), ev.acled_actor(CAST[j].name),
                  notes=f"relation {STATES[old]} -> {STATES[new]}: {why}")


def _log_power(model, i, j, manpower=None) -> float:
    men = manpower_by_actor(model.unit_list(), N_ACTORS) if manpower is None else manpower
    return float(np.log((men[i] + 1.0) / (men[j] + 1.0)))


def _siege_cells(model) -> dict[int, np.ndarray]:
    """Cells of the towns each jihadist group besieges, by actor index."""
    towns: dict[int, list[int]] = {}
    for k, actor in model.besieged.items():
        towns.setdefault(actor, []).append(k)
    return {actor: model.world.town_cells[ks] for actor, ks in towns.items()}


def _besieges(model, cells: np.ndarray, militia: str) -> float:
    """1 when a unit of ``militia`` is within 3 cells of a town in ``cells`` (those a jihadist besieges)."""
    units = model.units_of(militia)
    if not units:
        return 0.0
    pos = np.array([u.pos for u in units])
    return float((np.abs(pos[:, None, :] - cells[None, :, :]).max(axis=2) <= 3).any())


def _base_hostility(model, first, second, kind) -> np.ndarray:
    """Fixed part of hostility for pairs of each kind (see the module docstring)."""
    rp = model.params.relations
    # polarisation of each actor's people against the Fulani (-inf without a base)
    vs_fulani = model.polarisation[:, FULANI_IDX].max(axis=1)
    polar = np.where(_BASE_MASK, vs_fulani[None, :], -np.inf).max(axis=1)
    base = np.zeros(len(first))
    base[kind == _JS] = 3.0
    jm = np.flatnonzero(kind == _JM)
    mil = np.where(_MILITIA[first[jm]], first[jm], second[jm])
    base[jm] = 0.5 + rp.ethnic_weight * np.minimum(polar[mil], 1.0)
    for p in np.flatnonzero(kind == _SM):
        m, s = (first[p], second[p]) if _MILITIA[first[p]] else (second[p], first[p])
        idx = model.relations.militia_comms[m]
        grievance = model.grievance[idx, s].mean() if len(idx) else 0.0
        base[p] = rp.grievance_weight * grievance - 0.5
    return base


def _shared_pressure(book, pressure, first, second) -> np.ndarray:
    """Per pair, sum over common enemies k of min(pressure[k, i], pressure[k, j])."""
    cols = np.arange(len(first))
    common = book.matrix[:, first] == WAR
    common &= book.matrix[:, second] == WAR
    common[first, cols] = False
    common[second, cols] = False
    both = np.minimum(pressure[:, first], pressure[:, second])
    shared = np.where(common, both, 0.0).sum(axis=0)
    # with three or more terms the rounding depends on the order of addition: keep numpy's 1-D sum
    for p in np.flatnonzero(common.sum(axis=0) >= 3):
        shared[p] = both[common[:, p], p].sum()
    return shared


def update(model) -> None:
    rp = model.params.relations
    book = model.relations
    mem = rp.memory
    # fatalities[k, i] = fighters of i killed by k this step
    book.losses_recent = book.losses_recent * mem + model.fatalities
    book.losses_total = book.losses_total * rp.weariness_memory + model.fatalities
    book.defections_recent = book.defections_recent * mem + model.defected
    book.mediation *= 0.8
    factions = [model.factions[a.name] for a in CAST]
    active = np.array([f.active for f in factions])
    live = [p for p, (i, j) in enumerate(book.pairs) if active[i] and active[j]]
    first, second = book._first[live], book._second[live]
    kind = book._kind[live]
    men = manpower_by_actor(model.unit_list(), N_ACTORS)  # nothing in this phase changes it
    manpower = men + 50.0
    pressure = book.losses_recent / manpower[None, :]  # recent losses of column inflicted by row, share of its men
    shared = _shared_pressure(book, pressure, first, second)
    # a central command's new line takes hold over months, not at once (seed 000: first clash claims right
    # after the March 2019 ISWAP induction, the war from July 2019, all-out in 2020)
    closing = 1.0 - np.exp(-model.step_days / rp.central_lag_days)
    for f in factions:
        f.central_hostility_felt += closing * (f.central_hostility - f.central_hostility_felt)
    central_hostility = np.array([f.central_hostility_felt for f in factions])
    central = np.where(kind == _JJ, central_hostility[first] + central_hostility[second], 0.0)
    overlap = kernels.pair_overlaps(model.share.reshape(N_ACTORS, -1), first, second)
    mutual_losses = book.losses_recent[first, second] + book.losses_recent[second, first]
    mediation = book.mediation[first, second]
    H = (
        _base_hostility(model, first, second, kind)
        + rp.competition_weight * overlap * np.where(_KIND[first] == _KIND[second], 1.0, 0.3)
        + rp.central_weight * central
        + rp.defection_weight * (book.defections_recent[first, second] + book.defections_recent[second, first])
        + rp.loss_weight * mutual_losses
        - rp.enemy_weight * shared
        - rp.mediation_weight * mediation
    )
    pact_bent = np.zeros(len(live))
    sieges = _siege_cells(model)
    for p in np.flatnonzero(kind == _JM):
        j, m = (first[p], second[p]) if _KIND[first[p]] == "jihadist" else (second[p], first[p])
        strategy = factions[j].strategy
        pact_bent[p] = strategy.pact_propensity if strategy else 0.0
        if j in sieges:
            pact_bent[p] += rp.siege_weight * _besieges(model, sieges[j], CAST[m].name)
    strain = np.array([f.strain for f in factions])
    parts = (
        rp.weariness_weight * (book.losses_total[first, second] + book.losses_total[second, first]),
        rp.strain_weight * 0.5 * (strain[first] + strain[second]),
        rp.enemy_weight * shared,
        rp.mediation_weight * mediation,
        pact_bent,
    )
    D = parts[0] + parts[1] + parts[2] + parts[3] + parts[4]
    book.desire_parts[:, live] = parts
    book.hostility[first, second] = book.hostility[second, first] = H
    book.desire[first, second] = book.desire[second, first] = D
    book.since[first, second] += 1
    book.since[second, first] = book.since[first, second]
    # rival jihadist groups settle into no pact while a central command urges them to fight (seed 000:
    # the 2019 truces failed and the 2022 one broke)
    settles = (kind != _JJ) | (central == 0)
    for i, j, h, d, can_settle in zip(first.tolist(), second.tolist(), H.tolist(), D.tolist(), settles.tolist()):
        _transition(model, book, i, j, h, d, (i, j) in book._incidents, men, can_settle)
    book._incidents.clear()


def _transition(model, book, i, j, H, D, incident, manpower, can_settle) -> None:
    rp = model.params.relations
    s = book.matrix[i, j]
    rng = model.rng
    if s == COOP:
        if H > rp.tension_threshold:
            book.set_state(i, j, TENSION, f"hostility {H:.2f} above {rp.tension_threshold}")
    elif s == TENSION:
        if H > rp.war_threshold:
            book.set_state(i, j, WAR, f"hostility {H:.2f} above {rp.war_threshold}")
        elif H < rp.calm_threshold:
            book.set_state(i, j, COOP, f"hostility {H:.2f} below {rp.calm_threshold}")
    elif s == WAR:
        if D - H > rp.truce_threshold and rng.random() < rp.truce_rate:
            book.set_state(i, j, TRUCE, f"truce desire {D:.2f} exceeds hostility {H:.2f}")
    else:
        rate = rp.break_rate * (0.5 if s == PACT else 1.0)
        shift = abs(_log_power(model, i, j, manpower) - book.truce_power[i, j])
        if incident:
            book.set_state(i, j, WAR, "truce broken by an attack")
        elif shift > rp.advantage_break and rng.random() < rate * shift / rp.advantage_break:
            book.set_state(i, j, WAR, f"balance of power shifted by {shift:.2f} (log ratio)")
        elif H > rp.war_threshold + D and rng.random() < rate:
            book.set_state(i, j, WAR, f"hostility {H:.2f} outweighs truce desire {D:.2f}")
        elif s == TRUCE and can_settle and book.since[i, j] >= rp.pact_after_steps and D > H:
            book.set_state(i, j, PACT, "truce held; settled into a non-aggression pact")
