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
from sim import kernels
from sim.actors import CAST, ETHNIC_GROUPS, FULANI
from sim.agents import positions
from sim.counterinsurgency import kill_civilians
from sim.draws import choice_index, uniform_source
from sim.world import COUNTRY_CODES

FULANI_IDX = [ETHNIC_GROUPS.index(g) for g in FULANI]
_KIND = np.array([a.kind for a in CAST])
_STATE_SIDE = np.isin(_KIND, ("state", "partner"))
_MILITIAS = [i for i, a in enumerate(CAST) if a.kind == "militia"]
_IS_MILITIA = _KIND == "militia"
_BASE_MASK = np.array([[g in a.base for g in ETHNIC_GROUPS] for a in CAST])


def reprisals(model) -> None:
    _ruler_reprisals(model)
    _militia_reprisals(model)
    model.polarisation *= 1.0 - model.params.escalation.polarisation_decay
    update_town_focus(model)


def against_fulani(model) -> np.ndarray:
    """Polarisation of each ethnic group against the Fulani (the larger of the two Fulani groups)."""
    f, tolebe = FULANI_IDX  # a maximum of two columns: a reduction over an axis of two costs several times more
    return np.maximum(model.polarisation[:, f], model.polarisation[:, tolebe])


def _community_cell(model, c: int, actor: int):
    """A cell where community ``c`` lives, weighted by residents and the actor's share."""
    cells = model.comm_cells[model.comm_ptr[c]:model.comm_ptr[c + 1]]
    weights = model.counted_pop[model.comm_group[c]].ravel()[cells] * model.share[actor].ravel()[cells]
    total = weights.sum()
    if total <= 0:
        return None
    cell = int(cells[choice_index(model.rng, weights / total)])
    return divmod(cell, model.world.shape[1])


def _ruler_reprisals(model) -> None:
    e = model.params.escalation
    ruled = np.flatnonzero(model.ruler >= 0)
    militia_support = np.zeros(len(ruled))
    for i in _MILITIAS:
        militia_support += model.support[ruled, i]
    ruler = model.ruler[ruled]
    refusal = model.refusal[ruled]
    groups = model.comm_group[ruled]
    ops = np.array([model.ops_factor(a.name) for a in CAST])
    base_rate = (e.reprisal_rate * np.minimum(1.0, refusal + 2.0 * militia_support)
                 * (1.0 - model.restraint[ruler]))
    ruler_ops = ops[ruler]
    # polarisation rises with every massacre, so later communities see the new value; each
    # community's odds are taken when it draws, in the order the array expression multiplied them
    against = against_fulani(model)
    p_collab = e.collaboration_killing * model.informing[ruled] * model.punishment[ruler]
    rng = model.rng
    source = uniform_source(rng)  # the draws that kill nobody run in a kernel
    k, collab = 0, False
    while True:
        k, hit = kernels.next_reprisal(*source, k, collab, base_rate, against, groups, ruler_ops, p_collab)
        if k == len(ruled):
            break
        c, j = int(ruled[k]), int(ruler[k])
        name = CAST[j].name
        if hit == 0:
            cell = _community_cell(model, c, j)
            if cell is not None:
                size = min(int(rng.geometric(1.0 / e.massacre_size)), e.massacre_cap)
                why = "tax refusal" if refusal[k] >= militia_support[k] else "support for a militia"
                kill_civilians(model, name, cell, int(groups[k]), size,
                               notes=f"reprisal massacre by {name} after {why}")
                against = against_fulani(model)
            collab = True  # the same community's second draw
            continue
        cell = _community_cell(model, c, j)
        if cell is not None:
            kind = ev.ABDUCTION if rng.random() < 0.5 else ev.CIVILIAN_ATTACK
            kill_civilians(model, name, cell, int(groups[k]), int(rng.geometric(0.25)),
                           notes=f"{name} punishes suspected informers", kind=kind)
            against = against_fulani(model)
        k, collab = k + 1, False


def _militia_reprisals(model) -> None:
    e = model.params.escalation

    def odds() -> np.ndarray:
        # by actor (militias only): its people's polarisation against the Fulani
        polar = np.where(_BASE_MASK[_MILITIAS], against_fulani(model)[None, :], -np.inf).max(axis=1)
        out = np.zeros(len(CAST))
        out[_MILITIAS] = e.militia_reprisal_rate * np.minimum(polar, 1.0)
        return out

    p_reprisal = odds()
    units = model.unit_list()
    actor = np.array([u.actor for u in units], dtype=np.int64)
    men = np.array([u.manpower for u in units], dtype=np.int64)  # killing civilians changes no unit
    source = uniform_source(model.rng)  # the draws that kill nobody run in a kernel
    k = -1
    while True:
        k = kernels.next_draw_below(*source, k + 1, actor, men, p_reprisal, _IS_MILITIA)
        if k == len(units):
            break
        u = units[k]
        r, c = u.pos
        fulani = model.pop[FULANI_IDX, r, c]
        if fulani.sum() < 1:
            continue
        group = FULANI_IDX[int(np.argmax(fulani))]
        size = min(int(model.rng.geometric(1.0 / (0.5 * e.massacre_size))), e.massacre_cap)
        kill_civilians(model, u.faction, (r, c), group, size,
                       notes=f"{u.faction} reprisal against Fulani civilians")
        p_reprisal = odds()


def update_town_focus(model) -> None:
    """Jihadist groups that outnumber the state side in a country turn to towns and bases."""
    e = model.params.escalation
    w = model.world
    K = len(COUNTRY_CODES)
    units = model.unit_list()
    own = np.array([u.actor for u in units], dtype=np.int64)
    rows, cols = positions(units).T
    men = np.array([u.manpower for u in units], dtype=float)
    # manpower by actor and country; sums of whole numbers, so exact in any order
    by_country = np.bincount(own * K + w.country[rows, cols], weights=men, minlength=len(CAST) * K).reshape(-1, K)
    state = by_country[_STATE_SIDE].sum(axis=0)
    for f in model.factions.values():
        if f.kind != "jihadist":
            continue
        ratio = (by_country[f.index] + 1.0) / (state + 1.0)
        focus = 1.0 / (1.0 + np.exp(-e.town_focus_slope * (np.log(ratio) - np.log(e.town_focus_ratio))))
        f.town_focus = focus * model.ops_factor(f.name)
