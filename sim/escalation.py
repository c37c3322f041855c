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
  punishment (smaller events, half of them abductions). Both happen in a cell
  drawn among the community's by residents x the ruler's influence share.
- Militia units kill Fulani civilians near them with probability
  militia_reprisal_rate x polarisation of their base against the Fulani.
- All ruled communities draw at once, with the polarisation at the start of the
  phase (a massacre raises the others' odds from the next step on), each for a
  massacre and then for a killing of informers; the militias then all draw with
  the polarisation the rulers' killings left.
- Every civilian killed raises the polarisation of the victims' group against
  the perpetrator's ethnic base (see :func:`sim.counterinsurgency.kill_civilians`);
  polarisation decays slowly.
- Town focus of a jihadist group in a country is a logistic function of the log
  ratio of its manpower there to the state side's (half at ``town_focus_ratio``),
  times its ops_factor (a strained group cannot afford assaults).
"""

from __future__ import annotations

from itertools import compress

import numpy as np

from sim import eventlog as ev
from sim import kernels
from sim.actors import CAST, ETHNIC_GROUPS, FULANI
from sim.agents import positions
from sim.counterinsurgency import kill_civilians
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


def _ruler_reprisals(model) -> None:
    e = model.params.escalation
    ruled = np.flatnonzero(model.ruler >= 0)
    militia_support = np.zeros(len(ruled))
    for i in _MILITIAS:
        militia_support += model.support[ruled, i]
    ruler = model.ruler[ruled]
    refusal = model.refusal[ruled]
    groups = model.comm_group[ruled]
    ops = model.ops_factors()
    p_massacre = (e.reprisal_rate * np.minimum(1.0, refusal + 2.0 * militia_support) * (1.0 - model.restraint[ruler])
                  * (1.0 + against_fulani(model)[groups]) * ops[ruler])
    p_collab = e.collaboration_killing * model.informing[ruled] * model.punishment[ruler]
    rng = model.rng
    # each community draws for a massacre, then for a killing of informers; events follow in that order
    k, collab = np.nonzero(rng.random((len(ruled), 2)) < np.column_stack((p_massacre, p_collab)))
    if not len(k):
        return
    # a cell where the victims live, weighted by residents and the ruler's share
    cells = kernels.community_cells(model.comm_ptr, model.comm_cells, model.comm_group,
                                    model.counted_pop.reshape(len(model.pop), -1),
                                    model.share.reshape(len(CAST), -1), ruled[k], ruler[k], rng.random(len(k)))
    collab = collab.astype(bool)
    size = np.empty(len(k), dtype=np.int64)
    size[~collab] = np.minimum(rng.geometric(1.0 / e.massacre_size, (~collab).sum()), e.massacre_cap)
    size[collab] = rng.geometric(0.25, collab.sum())
    abduction = np.zeros(len(k), dtype=bool)
    abduction[collab] = rng.random(collab.sum()) < 0.5  # half the killings of informers are abductions
    W = model.world.shape[1]
    for i, informers, cell, victims, abducted in zip(k.tolist(), collab.tolist(), cells.tolist(), size.tolist(),
                                                     abduction.tolist()):
        if cell < 0:  # none of the community's residents live under the ruler's share
            continue
        name = CAST[ruler[i]].name
        if informers:
            kill_civilians(model, name, divmod(cell, W), int(groups[i]), victims,
                           notes=f"{name} punishes suspected informers",
                           kind=ev.ABDUCTION if abducted else ev.CIVILIAN_ATTACK)
        else:
            why = "tax refusal" if refusal[i] >= militia_support[i] else "support for a militia"
            kill_civilians(model, name, divmod(cell, W), int(groups[i]), victims,
                           notes=f"reprisal massacre by {name} after {why}")


def _militia_reprisals(model) -> None:
    e = model.params.escalation
    # by actor (militias only): its people's polarisation against the Fulani
    polar = np.where(_BASE_MASK[_MILITIAS], against_fulani(model)[None, :], -np.inf).max(axis=1)
    p_reprisal = np.zeros(len(CAST))
    p_reprisal[_MILITIAS] = e.militia_reprisal_rate * np.minimum(polar, 1.0)
    units = [u for u in model.unit_list() if _IS_MILITIA[u.actor] and u.manpower > 0]
    hits = model.rng.random(len(units)) < p_reprisal[[u.actor for u in units]]
    for u in compress(units, hits):
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
