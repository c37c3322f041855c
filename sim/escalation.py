"""Mechanism 7, escalation: reprisals, massacres, ethnic polarisation and the turn to towns.

What the seeds document:
- ISGS massacred villagers in western Niger who refused its taxes (Tchoma
  Bangou, Zaroumdareye: over 100 dead) and Tuareg in Tahoua; Zarma then
  attacked Fulani villages and Arab and Tuareg militias rose against ISGS and
  Fulani communities (000_413828cd3477c8cc.txt).
- JNIM attacked VDP and pro-government civilians (Solhan, Tadaryat: over 160
  dead) and in 2025 ran reprisal massacres against communities seen as
  government-aligned, feeding ethnic polarisation and its Fulani recruitment
  (000, 001_714725a1b78083b0.txt).
- In 2025 JNIM moved from rural raids to storming bases and provincial capitals
  (002_c8316128e727fa39.txt, 003_6d40cf173d77a7b0.txt).

Assumptions of this module:
- A jihadist ruler answers defiance (tax refusal, or support for a militia)
  with a massacre with probability reprisal_rate x defiance x (1 - restraint)
  x (1 + polarisation of the victims against the Fulani) x ops_factor; sizes
  are geometric with mean ``massacre_size``, capped at ``massacre_cap``.
- It kills informers with probability collaboration_killing x informing x
  punishment (smaller events, half of them abductions).
- Militia units kill Fulani civilians near them with probability
  militia_reprisal_rate x polarisation of their base against the Fulani.
- Every civilian killed raises the polarisation of the victims' group against
  the perpetrator's ethnic base (see :func:`sim.counterinsurgency.kill_civilians`);
  polarisation decays slowly.
- Town focus of a jihadist group in a country is a logistic function of the log
  ratio of its manpower there to the state side's (half at ``town_focus_ratio``),
  times its ops_factor (a strained group cannot afford assaults).
"""

from __future__ import annotations

import numpy as np

from sim import eventlog as ev
from sim.actors import CAST, ETHNIC_GROUPS, FULANI, INDEX
from sim.counterinsurgency import kill_civilians
from sim.world import COUNTRY_CODES

FULANI_IDX = [ETHNIC_GROUPS.index(g) for g in FULANI]


def reprisals(model) -> None:
    _ruler_reprisals(model)
    _militia_reprisals(model)
    model.polarisation *= 1.0 - model.params.escalation.polarisation_decay
    update_town_focus(model)


def _community_cell(model, c: int, actor: int):
    """A cell where community ``c`` lives, weighted by residents and the actor's share."""
    lo, hi = model.residents.indptr[c], model.residents.indptr[c + 1]
    cells = model.residents.indices[lo:hi]
    weights = model.residents.data[lo:hi] * model.share[actor].ravel()[cells]
    if weights.sum() <= 0:
        return None
    cell = int(model.rng.choice(cells, p=weights / weights.sum()))
    return divmod(cell, model.world.shape[1])


def _ruler_reprisals(model) -> None:
    e = model.params.escalation
    militia_support = np.zeros(len(model.ruler))
    for i, a in enumerate(CAST):
        if a.kind == "militia":
            militia_support += model.support[:, i]
    for c in np.nonzero(model.ruler >= 0)[0]:
        j = int(model.ruler[c])
        name = CAST[j].name
        defiance = min(1.0, model.refusal[c] + 2.0 * militia_support[c])
        polar = model.polarisation[model.comm_group[c], FULANI_IDX].max()
        p_massacre = e.reprisal_rate * defiance * (1.0 - model.restraint[j]) * (1.0 + polar) * model.ops_factor(name)
        if model.rng.random() < p_massacre:
            cell = _community_cell(model, c, j)
            if cell is not None:
                size = min(int(model.rng.geometric(1.0 / e.massacre_size)), e.massacre_cap)
                why = "tax refusal" if model.refusal[c] >= militia_support[c] else "support for a militia"
                kill_civilians(model, name, cell, int(model.comm_group[c]), size,
                               notes=f"reprisal massacre by {name} after {why}")
        p_collab = e.collaboration_killing * model.informing[c] * model.punishment[j]
        if model.rng.random() < p_collab:
            cell = _community_cell(model, c, j)
            if cell is not None:
                kind = ev.ABDUCTION if model.rng.random() < 0.5 else ev.CIVILIAN_ATTACK
                kill_civilians(model, name, cell, int(model.comm_group[c]), int(model.rng.geometric(0.25)),
                               notes=f"{name} punishes suspected informers", kind=kind)


def _militia_reprisals(model) -> None:
    e = model.params.escalation
    for u in model.units:
        a = CAST[INDEX[u.faction]]
        if a.kind != "militia" or u.manpower <= 0:
            continue
        base = [ETHNIC_GROUPS.index(g) for g in a.base]
        polar = model.polarisation[np.ix_(base, FULANI_IDX)].max()
        if model.rng.random() >= e.militia_reprisal_rate * min(polar, 1.0):
            continue
        r, c = u.pos
        fulani = model.pop[FULANI_IDX, r, c]
        if fulani.sum() < 1:
            continue
        group = FULANI_IDX[int(np.argmax(fulani))]
        size = min(int(model.rng.geometric(1.0 / (0.5 * e.massacre_size))), e.massacre_cap)
        kill_civilians(model, u.faction, (r, c), group, size,
                       notes=f"{u.faction} reprisal against Fulani civilians")


def update_town_focus(model) -> None:
    """Jihadist groups that outnumber the state side in a country turn to towns and bases."""
    e = model.params.escalation
    w = model.world
    K = len(COUNTRY_CODES)
    jih = {f.name: np.zeros(K) for f in model.factions.values() if f.kind == "jihadist"}
    state = np.zeros(K)
    for u in model.units:
        k = w.country[u.pos]
        kind = CAST[INDEX[u.faction]].kind
        if kind == "jihadist":
            jih[u.faction][k] += u.manpower
        elif kind in ("state", "partner"):
            state[k] += u.manpower
    for name, men in jih.items():
        ratio = (men + 1.0) / (state + 1.0)
        focus = 1.0 / (1.0 + np.exp(-e.town_focus_slope * (np.log(ratio) - np.log(e.town_focus_ratio))))
        model.factions[name].town_focus = focus * model.ops_factor(name)
