"""Mechanism 5: influence, control, contested cells, the Macina core, attacks on towns (seeds 000-003)."""

import numpy as np
import pytest

from sim import territory
from sim.actors import INDEX
from toyworld import toy_scenario

JNIM, ISGS, FAMA = INDEX["JNIM"], INDEX["ISGS"], INDEX["FAMa"]


def _settle(m, steps=15):
    for _ in range(steps):
        territory.update_influence(m)


def test_control_follows_armed_presence(make_toy):
    m = make_toy()
    _settle(m)
    unit = next(u for u in m.units if u.faction == "JNIM")
    r, c = unit.pos
    before = m.influence[JNIM, r, c]
    for u in m.units_of("JNIM"):
        u.manpower = 2000
    _settle(m)
    assert m.influence[JNIM, r, c] > 5 * before
    assert m.control[r, c] == JNIM
    for u in m.units_of("JNIM"):
        u.remove()
    _settle(m, 40)
    assert m.control[r, c] != JNIM


def test_equal_forces_make_contested_cells(make_toy):
    forces = [{"actor": "JNIM", "near": "Midpost", "manpower": 400, "ethnic": {"fulani": 1.0}},
              {"actor": "ISGS", "near": "Midpost", "manpower": 400, "ethnic": {"fulani": 1.0}},
              {"actor": "Niger army", "near": "Eastville", "manpower": 50}]
    m = make_toy(forces=forces)
    _settle(m)
    assert m.contested.any()
    r, c = m.units_of("JNIM")[0].pos
    assert m.contested[r, c]


def test_macina_core_expels_rivals(make_toy):
    """ISGS in the delta (the toy's Macina core) loses influence where JNIM leads there."""
    w = make_toy().world
    core = np.argwhere(w.macina_core)
    assert len(core)
    forces = [{"actor": "JNIM", "near": "Midpost", "manpower": 600, "ethnic": {"fulani": 1.0}},
              {"actor": "ISGS", "near": "Midpost", "manpower": 300, "ethnic": {"fulani": 1.0}},
              {"actor": "Niger army", "near": "Eastville", "manpower": 50}]
    r, c = map(int, core[len(core) // 2])

    def isgs_in_core(expulsion):
        m = make_toy(forces=forces, mechanisms={"territory": {"core_expulsion": expulsion}})
        for u in m.units:
            if u.faction in ("JNIM", "ISGS"):
                u.pos = (r, c)
        _settle(m)
        return m.influence[ISGS][w.macina_core].sum()

    assert isgs_in_core(0.6) < 0.5 * isgs_in_core(0.0)


def test_town_focus_brings_attacks_on_garrisons(make_toy):
    forces = [{"actor": "JNIM", "near": "Westtown", "manpower": 300, "count": 2, "ethnic": {"fulani": 1.0}},
              {"actor": "FAMa", "near": "Westtown", "manpower": 300},
              {"actor": "Niger army", "near": "Eastville", "manpower": 50}]

    def town_attacks(focus):
        m = make_toy(seed=4, forces=forces)
        attacks = 0
        for _ in range(60):
            m._new_step_accumulators()
            for u in m.units_of("JNIM") + m.units_of("FAMa"):
                u.pos, u.manpower = m.units_of("FAMa")[0].home, 300
            m.factions["JNIM"].town_focus[:] = focus
            territory.resolve_clashes(m)
            attacks += m.clashes[JNIM, FAMA]
        return attacks

    assert town_attacks(1.0) > town_attacks(0.0) + 3


def test_units_move_toward_people_and_stay_near_home(make_toy):
    m = make_toy()
    territory.update_influence(m)
    homes = {u.unique_id: u.home for u in m.units}
    for _ in range(10):
        territory.move_units(m)
    for u in m.units:
        if u.faction in ("JNIM", "ISGS"):
            dr, dc = u.pos[0] - homes[u.unique_id][0], u.pos[1] - homes[u.unique_id][1]
            assert np.hypot(dr, dc) <= 10 * m.params.territory.move_cells
    garrison = m.units_of("FAMa")[0]
    assert garrison.pos == garrison.home  # state garrisons hold their towns


def test_garrison_reach_limits_what_armies_hold(make_toy):
    """Armies' presence spreads with garrison_reach_cells: a shorter reach holds less countryside, while
    armed groups' influence does not depend on it."""
    forces = [{"actor": "FAMa", "near": "Westtown", "manpower": 3000},
              {"actor": "JNIM", "near": "Eastville", "manpower": 300, "ethnic": {"fulani": 1.0}},
              {"actor": "Niger army", "near": "Southpost", "manpower": 50}]

    def held(reach):
        m = make_toy(forces=forces, mechanisms={"territory": {"garrison_reach_cells": reach}})
        _settle(m, 30)
        return int((m.control == FAMA).sum()), m.influence[JNIM].sum()

    near_cells, jnim_near = held(0.7)
    far_cells, jnim_far = held(3.0)
    assert 0 < near_cells < far_cells
    assert jnim_near == pytest.approx(jnim_far)


def test_cooperating_units_join_attacks_within_joint_reach(make_toy):
    """An ISGS company four cells from a FAMa garrison joins JNIM's attack on it while the two groups
    cooperate, if joint_reach_cells reaches it (seed 000: joint attacks before 2019)."""
    from sim.relations import COOP

    def partners(reach):
        m = make_toy(mechanisms={"territory": {"joint_reach_cells": reach}})
        m.relations.set_state(JNIM, ISGS, COOP, "test")
        garrison = m.units_of("FAMa")[0]
        r, c = garrison.pos
        jnim, isgs = m.units_of("JNIM")[0], m.units_of("ISGS")[0]
        jnim.pos, isgs.pos = (r, c + 1), (r + 4, c)
        return territory._joint_partners(m, jnim, garrison)

    assert partners(2.0) == []
    assert [u.faction for u in partners(5.0)] == ["ISGS"]


def _goals(m, units):
    return territory._offensive_goals(m, np.array([INDEX[u.faction] for u in units]),
                                      np.array([u.manpower for u in units], dtype=float), np.array([u.pos for u in units]),
                                      np.array([u.home for u in units]))


def test_jihadist_offensives_seek_out_militias_at_war(make_toy):
    """A JNIM company goes after a weaker militia company at war with it within offensive range, and
    leaves it alone in a truce (seed 000: JNIM's attacks on the VDP; ISGS's Menaka offensive)."""
    from sim.relations import TRUCE, WAR

    def goal(state):
        m = make_toy(mechanisms={"territory": {"offensive_rate": 1.0, "offensive_range": 10}})
        m.relations.set_state(JNIM, ISGS, TRUCE, "test")  # no rival jihadist target
        militia = m.units_of("Dan Na Ambassagou")[0]
        m.relations.set_state(JNIM, INDEX["Dan Na Ambassagou"], state, "test")
        r, c = militia.pos
        units = [m.units_of("JNIM")[0], militia]
        units[0].pos, units[0].manpower = (r + 6, c), 400
        found = _goals(m, units).get(0)
        return None if found is None else tuple(map(int, found))

    militia_pos = make_toy().units_of("Dan Na Ambassagou")[0].pos
    assert goal(WAR) == tuple(militia_pos)
    assert goal(TRUCE) is None


def test_offensives_weigh_a_militia_against_a_rival_jihadist_by_militia_offset(make_toy):
    """With ISGS and a militia both in range and at war, a JNIM company attacks the nearer of the two,
    the militia counting as militia_offset_cells farther: at 0 the nearer, at the default 16 ISGS
    whenever it is in range (seed 000: the 2020 war between the groups came first, yet JNIM attacked
    the VDP to keep its ground in Burkina)."""
    from sim.relations import WAR

    def goal(militia_gap, isgs_gap, offset=None):
        territory_params = {"offensive_rate": 1.0, "offensive_range": 10}
        if offset is not None:
            territory_params["militia_offset_cells"] = offset
        m = make_toy(mechanisms={"territory": territory_params})
        m.relations.set_state(JNIM, INDEX["Dan Na Ambassagou"], WAR, "test")
        militia, jnim, isgs = m.units_of("Dan Na Ambassagou")[0], m.units_of("JNIM")[0], m.units_of("ISGS")[0]
        r, c = militia.pos
        jnim.pos, jnim.manpower = (r + militia_gap, c), 400
        isgs.pos, isgs.manpower = (r + militia_gap + isgs_gap, c), 100
        found = tuple(map(int, _goals(m, [jnim, militia, isgs])[0]))
        return {(r, c): "militia", (r + militia_gap + isgs_gap, c): "ISGS"}[found]

    assert goal(3, 5, offset=0.0) == "militia"
    assert goal(8, 2, offset=0.0) == "ISGS"
    assert goal(3, 5, offset=1.0) == "militia"
    assert goal(3, 5, offset=3.0) == "ISGS"
    assert goal(3, 5) == "ISGS"


def test_offensives_weigh_the_vdp_by_its_own_offset(make_toy):
    """A state auxiliary (the VDP) counts as auxiliary_offset_cells farther than a rival jihadist unit, the
    communal militias as militia_offset_cells (seed 000: JNIM attacked the VDP to hold its ground in
    Burkina while at war with ISGS; seed 001: its Sourou valley campaign against the VDP)."""
    from sim.relations import WAR

    def goal(auxiliary=None, militia=None):
        territory_params = {"offensive_rate": 1.0, "offensive_range": 10}
        if auxiliary is not None:
            territory_params["auxiliary_offset_cells"] = auxiliary
        if militia is not None:
            territory_params["militia_offset_cells"] = militia
        toy = toy_scenario().model_dump()
        m = make_toy(mechanisms={"territory": territory_params},
                     forces=toy["forces"] + [{"actor": "VDP", "near": "Westtown", "manpower": 80}],
                     factions={**toy["factions"], "VDP": {}})
        m.relations.set_state(JNIM, INDEX["Dan Na Ambassagou"], WAR, "test")
        assert m.relations.matrix[JNIM, INDEX["VDP"]] == WAR  # an auxiliary is at war with the jihadists from the start
        dna, vdp = m.units_of("Dan Na Ambassagou")[0], m.units_of("VDP")[0]
        jnim, isgs = m.units_of("JNIM")[0], m.units_of("ISGS")[0]
        r, c = 10, 10
        jnim.pos, jnim.manpower = (r, c), 400
        dna.pos, vdp.pos, isgs.pos = (r - 3, c), (r + 3, c), (r, c + 5)
        isgs.manpower = 100
        found = tuple(map(int, _goals(m, [jnim, dna, vdp, isgs])[0]))
        return {dna.pos: "Dan Na Ambassagou", vdp.pos: "VDP", isgs.pos: "ISGS"}[found]

    assert goal(auxiliary=0.0) == "VDP"
    assert goal(militia=0.0) == "Dan Na Ambassagou"
    assert goal(auxiliary=3.0) == "ISGS"
    assert goal() == "ISGS"


def test_a_campaign_sends_the_strongest_companies_after_the_nearest_rival_they_outmatch(make_toy):
    """At war, a campaigning group's campaign_share of units, its strongest apart from each region's
    strongest company (which keeps the region), head for the nearest rival unit they outmatch, beyond
    the range of ordinary offensives; none in a truce, without a campaign share, or for a group that
    does not campaign (seed 000: al-Qaeda's 2020 order to eradicate ISGS; JNIM's offensive on Ndaki,
    while it kept its hold on Burkina's regions)."""
    from sim.relations import TRUCE, WAR

    forces = [{"actor": "JNIM", "near": "Midpost", "manpower": 150, "count": 3, "ethnic": {"fulani": 1.0}},
              {"actor": "ISGS", "near": "Southpost", "manpower": 150, "count": 2, "ethnic": {"fulani": 1.0}}]

    def goals(share, state=WAR, isgs_campaigns=False):
        m = make_toy(forces=forces,
                     mechanisms={"territory": {"offensive_rate": 0.0, "offensive_range": 2, "campaign_share": share}})
        m.factions["JNIM"].campaigns = True
        m.factions["ISGS"].campaigns = isgs_campaigns
        m.relations.set_state(JNIM, ISGS, state, "test")
        garrison, big, small = m.units_of("JNIM")
        strong, weak = m.units_of("ISGS")
        for unit, pos, men in ((garrison, (9, 0), 600), (big, (9, 1), 400), (small, (9, 2), 100),
                               (strong, (15, 0), 1000),  # nearer than the weak one, but too strong for JNIM
                               (weak, (19, 0), 100)):
            unit.pos, unit.home, unit.manpower = pos, pos, men
        assert len({int(m.world.region[u.pos]) for u in (garrison, big, small, strong, weak)}) == 1
        return {k: tuple(map(int, g)) for k, g in _goals(m, [garrison, big, small, strong, weak]).items()}

    # one company of three: the 400, not the region's 600, go for the weak ISGS company past the strong one
    assert goals(0.2) == {1: (19, 0)}
    # every company but the region's strongest
    assert goals(1.0) == {1: (19, 0), 2: (19, 0)}
    # a campaigning ISGS keeps its 1,000 and sends its 100 after the JNIM company it outmatches
    assert goals(0.2, isgs_campaigns=True) == {1: (19, 0), 4: (9, 2)}
    assert goals(0.0) == {}
    assert goals(0.5, TRUCE) == {}


def test_companies_at_home_in_the_macina_core_stay_out_of_the_campaign(make_toy):
    """JNIM's companies whose home is the Macina core hold it rather than campaign elsewhere; the next
    strongest company goes instead (seed 000: Katiba Macina fought ISGS's defectors in the delta's own
    towns in 2020; seed 001: the Macina tolerates no other group)."""
    from sim.relations import WAR

    forces = [{"actor": "JNIM", "near": "Midpost", "manpower": 150, "count": 3, "ethnic": {"fulani": 1.0}},
              {"actor": "ISGS", "near": "Southpost", "manpower": 150, "ethnic": {"fulani": 1.0}}]

    def goals(big_at_home_in_core):
        m = make_toy(forces=forces,
                     mechanisms={"territory": {"offensive_rate": 0.0, "offensive_range": 2, "campaign_share": 0.2}})
        m.factions["JNIM"].campaigns = True
        m.relations.set_state(JNIM, ISGS, WAR, "test")
        garrison, big, small = m.units_of("JNIM")
        (weak,) = m.units_of("ISGS")
        for unit, pos, men in ((garrison, (9, 0), 600), (big, (9, 1), 400), (small, (9, 2), 300), (weak, (19, 0), 100)):
            unit.pos, unit.home, unit.manpower = pos, pos, men
        core = np.argwhere(m.world.macina_core)
        assert len(core) and not m.world.macina_core[9, :3].any()
        if big_at_home_in_core:
            big.home = tuple(int(x) for x in core[0])
        return {k: tuple(map(int, g)) for k, g in _goals(m, [garrison, big, small, weak]).items()}

    assert goals(False) == {1: (19, 0)}
    assert goals(True) == {2: (19, 0)}


def test_a_campaign_brings_distant_rivals_to_battle(make_toy):
    """Two groups at war whose companies sit far apart never clash unless one of them campaigns; the
    scenario's ``campaigns`` flag turns the campaign on."""
    from sim.relations import WAR

    def clashes(campaigns, seed):
        factions = {"JNIM": {"treasury": 3.0, "campaigns": campaigns}, "ISGS": {"treasury": 1.0},
                    "Dan Na Ambassagou": {}, "Zarma self-defence": {}}
        m = make_toy(seed=seed, factions=factions,
                     mechanisms={"territory": {"offensive_range": 2, "campaign_share": 0.5}})
        total = 0
        for _ in range(30):
            m.relations.set_state(JNIM, ISGS, WAR, "test")
            m._new_step_accumulators()
            territory.move_units(m)
            territory.resolve_clashes(m)
            total += m.clashes[JNIM, ISGS] + m.clashes[ISGS, JNIM]
        return total

    assert sum(clashes(False, seed) for seed in range(3)) == 0
    assert sum(clashes(True, seed) for seed in range(3)) >= 10
