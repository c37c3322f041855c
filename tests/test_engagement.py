"""Mechanism 1: civilian engagement strategy (seed 000)."""

import numpy as np
import pytest

from sim import engagement, territory
from sim.actors import INDEX

JNIM, ISGS, FAMA = INDEX["JNIM"], INDEX["ISGS"], INDEX["FAMa"]

ISGS_ONLY_EAST = [
    {"actor": "ISGS", "near": "Eastville", "manpower": 200, "count": 3, "ethnic": {"fulani": 1.0}},
    {"actor": "Niger army", "near": "Southpost", "manpower": 50},
]


def _isgs(tax, restraint):
    return {"treasury": 5.0, "strategy": {"tax_rate": tax, "restraint": restraint, "services": 0.1, "sharia_pace": 0.9}}


def _run(make_toy, steps, isgs, seed=3):
    m = make_toy(seed=seed, forces=ISGS_ONLY_EAST, factions={"ISGS": isgs, "Zarma self-defence": {}})
    mobilised = 0.0
    for _ in range(steps):
        m.step()
    mobilised = m.mobilised.sum()
    return m, mobilised


def test_isgs_coercion_raises_resistance_and_militia_mobilisation(make_toy):
    lenient, mob_lenient = _run(make_toy, 60, _isgs(0.05, 0.9))
    coercive, mob_coercive = _run(make_toy, 60, _isgs(0.35, 0.1))
    east = coercive.comm_region == 1
    assert coercive.grievance[east, ISGS].mean() > 2 * lenient.grievance[east, ISGS].mean()
    assert mob_coercive > mob_lenient + 50  # Zarma self-defence rises only against the coercive ruler


def test_coercion_buys_short_term_compliance(make_toy):
    """At equal grievance, a coercive ruler faces less refusal (Epstein's arrest probability)."""
    m = make_toy(forces=ISGS_ONLY_EAST, factions={"ISGS": _isgs(0.2, 0.9)})
    m.grievance[:, ISGS] = 1.0
    engagement.update_attitudes(m)
    lenient_refusal = m.refusal[m.ruler == ISGS].copy()
    m.restraint[ISGS] = 0.0
    m.grievance[:, ISGS] = 1.0 / (1 - m.params.engagement.grievance_decay)
    m.legitimacy[:] = 0.0
    engagement.update_attitudes(m)
    assert lenient_refusal.size and (m.refusal[m.ruler == ISGS] < lenient_refusal).all()


def test_services_and_restraint_win_support(make_toy):
    def support(services, restraint):
        forces = [{"actor": "JNIM", "near": "Westtown", "manpower": 200, "count": 3, "ethnic": {"fulani": 1.0}},
                  {"actor": "Niger army", "near": "Eastville", "manpower": 100}]
        m = make_toy(forces=forces, factions={"JNIM": {"treasury": 5.0, "strategy": {
            "services": services, "restraint": restraint, "tax_rate": 0.1}}})
        for _ in range(30):
            m.step()
        return m.community_population @ m.support[:, JNIM]

    assert support(0.9, 0.9) > 1.3 * support(0.0, 0.2)


def test_state_abuse_makes_jnim_the_protector_of_fulani(make_toy):
    m = make_toy()
    fulani = m.comm_fulani
    engagement.update_attitudes(m)
    before = m.legitimacy[fulani, JNIM].copy()
    m.civ_killed_last[fulani, FAMA] = 200.0  # an abusive state operation against Fulani, last step
    engagement.update_attitudes(m)
    control = make_toy()
    engagement.update_attitudes(control)
    engagement.update_attitudes(control)
    gained = m.legitimacy[fulani, JNIM] - before
    assert (m.legitimacy[fulani, JNIM] > control.legitimacy[fulani, JNIM] + 0.01).all()
    assert (gained > 0).all()
    assert (m.grievance[fulani, FAMA] > control.grievance[fulani, FAMA]).all()


def _recruits_after_killings(make_toy, rally, perpetrator, group):
    """JNIM's recruits in one recruitment round after ``perpetrator`` killed 200 of ``group``'s people in Mopti
    at the last step."""
    from sim.actors import ETHNIC_GROUPS

    m = make_toy(mechanisms={"engagement": {"rally_recruits": rally}})
    territory.update_influence(m)
    m.factions["JNIM"].income_avg = 1e6  # income enough for any growth: recruitment is not capped by pay here
    victims = (m.comm_group == ETHNIC_GROUPS.index(group)) & (m.comm_region == 0)
    m.civ_killed_last[victims, INDEX[perpetrator]] = 200.0
    engagement.update_attitudes(m)
    before = sum(u.manpower for u in m.units_of("JNIM"))
    engagement._recruit(m)
    return sum(u.manpower for u in m.units_of("JNIM")) - before


def test_enemy_killings_rally_the_victims_kin_to_their_protector(make_toy):
    """Seeds 000 and 001: army and VDP killings of Fulani brought Fulani into JNIM. Killings of a group JNIM
    protects, by an actor at war with JNIM, add recruits; killings of a group outside its base, or by a group
    JNIM is not at war with, add none (the same draws as without the mechanism)."""
    quiet = _recruits_after_killings(make_toy, 0.0, "FAMa", "fulani")
    rallied = _recruits_after_killings(make_toy, 2.0, "FAMa", "fulani")
    assert rallied > quiet + 20
    assert _recruits_after_killings(make_toy, 2.0, "FAMa", "dogon") == _recruits_after_killings(make_toy, 0.0, "FAMa", "dogon")
    assert _recruits_after_killings(make_toy, 2.0, "JNIM", "fulani") == _recruits_after_killings(make_toy, 0.0, "JNIM", "fulani")


def test_window_rally_counts_the_share_of_victims_living_in_each_window(make_toy):
    from sim import kernels

    m = make_toy()
    C = len(m.comm_group)
    rng = np.random.default_rng(3)
    rallied = rng.random((C, m.share.shape[0]))
    units = m.unit_list()
    rows, cols = np.array([u.pos for u in units]).T
    actor = np.array([u.actor for u in units])
    H, W = m.world.shape
    got = kernels.window_rally(rows, cols, actor, 2, m._cell_ptr, m._cell_group, m._cell_comm,
                               m.pop.reshape(len(m.pop), -1), rallied, H, W)
    per_cell = np.zeros((m.share.shape[0], H, W))
    for e in range(len(m.pop)):
        ids = m.comm_id[e].reshape(H, W)
        per_cell += np.where(ids >= 0, m.pop[e] * rallied[np.maximum(ids, 0)].transpose(2, 0, 1), 0.0)
    want = [per_cell[a, max(r - 2, 0):r + 3, max(c - 2, 0):c + 3].sum() / 1000.0 for a, r, c in zip(actor, rows, cols)]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_support_shares_are_probabilities(make_toy):
    m = make_toy()
    for _ in range(10):
        m.step()
    assert (m.support >= 0).all() and (m.support.sum(axis=1) <= 1 + 1e-9).all()
    assert np.isfinite(m.support).all()


def test_fear_drives_displacement_and_population_is_conserved(make_toy):
    m = make_toy()
    total = m.pop.sum()
    m.fear[:] = 1.0
    m.danger[:] = 50.0
    engagement._displace(m)
    assert m.displaced_total > 0
    assert np.isclose(m.pop.sum(), total)


def test_killings_feed_back_into_fear_flight_and_grievance_at_the_next_step(make_toy):
    from sim.counterinsurgency import kill_civilians

    m = make_toy()
    m.step()
    fulani_cell = next(u.pos for u in m.units_of("FAMa"))
    kill_civilians(m, "FAMa", fulani_cell, 0, 300, notes="test massacre")  # during a step
    victims = m.comm_id[0, fulani_cell[0] * m.world.shape[1] + fulani_cell[1]]
    before = m.grievance[victims, FAMA]
    m._finish_step()
    m.step()
    assert m.fear[victims] > 0.05
    assert m.grievance[victims, FAMA] > before
    assert m.displaced_total > 0


def test_a_split_company_founds_its_home_on_open_ground(make_toy):
    """The half that splits off settles within expansion_cells at the most promising cell: populated,
    sympathetic, held neither by the state nor by its own group (seed 000: growth into new regions)."""
    m = make_toy(mechanisms={"territory": {"expansion_cells": 6}})
    parent = m.units_of("JNIM")[0]
    parent.manpower = 600
    a = INDEX["JNIM"]
    r0, c0 = parent.pos
    before = {u.unique_id for u in m.units}
    engagement._split(m, parent)
    child = next(u for u in m.units if u.unique_id not in before)
    assert child.home == child.pos and child.manpower == 300 and parent.manpower == 300
    assert max(abs(child.pos[0] - r0), abs(child.pos[1] - c0)) <= 6
    H, W = m.world.shape
    rows, cols = slice(max(r0 - 6, 0), min(r0 + 6, H - 1) + 1), slice(max(c0 - 6, 0), min(c0 + 6, W - 1) + 1)
    total = m.pop.sum(axis=0)
    people = np.log1p(total) / np.log1p(total.max() + 1)
    state = m.share[engagement.STATE_SIDE].sum(axis=0)
    value = people * m.sympathy_cell[a] * (1 - state) * (1 - m.share[a]) + 0.6 * m.world.gold
    window = value[rows, cols]
    assert value[child.pos] >= np.quantile(window, 0.95)  # among the best cells, up to the choice's noise


def test_an_emptied_unit_recruits_nobody(make_toy):
    """A unit whose fighters all deserted earlier in the step takes no recruits (and the draw does not fail)."""
    m = make_toy()
    empty, other = m.units_of("JNIM")[:2]
    empty.manpower = 0
    other.pos = (0, 0)  # nobody of its own faction in the empty unit's window
    territory.update_influence(m)  # so its own presence there is zero too
    engagement._recruit(m)
    assert empty.manpower == 0


def _fulani_share_after_recruiting(make_toy, kin):
    """A 90% Fulani company takes as many recruits as it has fighters on a cell of equal numbers of equally
    sympathetic Fulani and Dogon."""
    from sim.actors import ETHNIC_GROUPS

    m = make_toy(mechanisms={"engagement": {"kin_recruitment": kin}})
    fulani, dogon = ETHNIC_GROUPS.index("fulani"), ETHNIC_GROUPS.index("dogon")
    W = m.world.shape[1]
    both = np.flatnonzero((m.comm_id[fulani] >= 0) & (m.comm_id[dogon] >= 0))
    r, c = divmod(int(both[0]), W)
    m.pop[:, r, c] = 0.0
    m.pop[[fulani, dogon], r, c] = 1000.0
    m.sympathy[[m.comm_id[fulani, both[0]], m.comm_id[dogon, both[0]]], JNIM] = 0.6
    unit = m.units_of("JNIM")[0]
    unit.ethnic = np.zeros(len(ETHNIC_GROUPS))
    unit.ethnic[[fulani, dogon]] = 0.9, 0.1
    unit.manpower = 100
    engagement._absorb_recruits(m, [unit], np.array([r]), np.array([c]), np.array([JNIM]), np.array([100]),
                                np.array([100]), np.array([0]))
    assert unit.manpower == 200 and unit.ethnic.sum() == pytest.approx(1.0)
    return unit.fulani_share


def test_companies_recruit_through_kin(make_toy):
    """Seed 000: the Fulani were the bulk of Katiba Macina on ground shared with Dogon. Without kinship the recruits
    mirror the residents (half Fulani); with it the company keeps most of its make-up."""
    assert _fulani_share_after_recruiting(make_toy, 0.0) == pytest.approx(0.7)  # (90 + 50) / 200
    assert _fulani_share_after_recruiting(make_toy, 0.9) == pytest.approx((90 + 100 * 0.91 / 1.1) / 200)


def test_absorb_group_equals_absorb_of_a_one_hot_make_up(make_toy):
    m = make_toy(seed=1)
    rng = np.random.default_rng(4)
    for u in m.unit_list()[:10]:
        g, n = int(rng.integers(0, len(u.ethnic))), int(rng.integers(1, 300))
        one_hot = np.zeros(len(u.ethnic))
        one_hot[g] = 1.0
        before = (u.ethnic.copy(), u.manpower)
        u.absorb(n, one_hot)
        expected = (u.ethnic, u.manpower)
        u.ethnic, u.manpower = before
        u.absorb_group(n, g)
        assert u.manpower == expected[1] and np.array_equal(u.ethnic, expected[0])
