"""Mechanism 2: defection drivers, both directions, whole units (seeds 000, 001)."""

import numpy as np

from sim import defection
from sim.actors import INDEX

JNIM, ISGS = INDEX["JNIM"], INDEX["ISGS"]

SIDE_BY_SIDE = [
    {"actor": "JNIM", "near": "Midpost", "manpower": 200, "count": 2, "ethnic": {"fulani": 1.0}, "hardline": 0.8},
    {"actor": "ISGS", "near": "Midpost", "manpower": 200, "count": 2, "ethnic": {"fulani": 1.0}, "hardline": 0.8},
    {"actor": "Niger army", "near": "Eastville", "manpower": 50},
]
TRUCE = [{"pair": ["JNIM", "ISGS"], "state": "pact"}]


def _flows(make_toy, steps=40, seed=5, **factions):
    m = make_toy(seed=seed, forces=SIDE_BY_SIDE, relations=TRUCE, factions=factions)
    flow = np.zeros(2)
    for _ in range(steps):
        m.step()
        flow += m.defected[JNIM, ISGS], m.defected[ISGS, JNIM]
    return m, flow


def test_pull_rises_with_each_documented_driver(make_toy):
    m = make_toy(forces=SIDE_BY_SIDE, relations=TRUCE)
    unit = next(u for u in m.units if u.faction == "JNIM")
    own, rival = m.factions["JNIM"], m.factions["ISGS"]
    base = defection.pull_logit(m, unit, own, rival)
    rival.central_pull = 1.0
    assert defection.pull_logit(m, unit, own, rival) > base  # IS central pull
    rival.central_pull = 0.0
    own.leadership = 0.2
    assert defection.pull_logit(m, unit, own, rival) > base  # leaders killed
    own.leadership = 1.0
    own.strain = 1.0
    assert defection.pull_logit(m, unit, own, rival) > base  # unpaid fighters
    own.strain = 0.0
    m.caste_tension[:] = 1.0
    assert defection.pull_logit(m, unit, own, rival) > base  # intra-Fulani caste conflict
    m.caste_tension[:] = 0.0
    m.relations.set_state(JNIM, INDEX["Dan Na Ambassagou"], 4, "test pact")
    assert defection.pull_logit(m, unit, own, rival) > base  # pact with Dogon alienates Fulani fighters
    unit.hardline = 0.0
    soft = defection.pull_logit(m, unit, own, rival)
    unit.hardline = 1.0
    assert defection.pull_logit(m, unit, own, rival) > soft  # hardliners leave a lax group


def test_a_pact_alienates_fulani_fighters_only_where_the_militias_people_live(make_toy):
    # the toy's Dogon live in Mopti (west), none in Tillaberi (east)
    m = make_toy(forces=SIDE_BY_SIDE, relations=TRUCE)
    unit = next(u for u in m.units if u.faction == "JNIM")
    own, rival = m.factions["JNIM"], m.factions["ISGS"]
    west, east = unit.pos, m.world.town_cells[m.world.town_names.index("Eastville")]
    before = {}
    for name, cell in (("west", west), ("east", east)):
        unit.pos = tuple(int(x) for x in cell)
        before[name] = defection.pull_logit(m, unit, own, rival)
    m.relations.set_state(JNIM, INDEX["Dan Na Ambassagou"], 4, "test pact")
    unit.pos = tuple(int(x) for x in east)
    assert defection.pull_logit(m, unit, own, rival) == before["east"]
    unit.pos = west
    assert defection.pull_logit(m, unit, own, rival) > before["west"] + 0.5


def test_central_pull_drives_net_defection_toward_isgs(make_toy):
    _, calm = _flows(make_toy, ISGS={"central_pull": 0.0})
    _, pulled = _flows(make_toy, ISGS={"central_pull": 1.0})
    assert pulled[0] > calm[0] + 20
    assert pulled[0] > pulled[1]


def test_defection_runs_the_other_way_with_infiltration_and_lost_leaders(make_toy):
    _, flow = _flows(make_toy, JNIM={"infiltration": {"ISGS": 1.0}}, ISGS={"leadership": 0.1})
    assert flow[1] > flow[0]


def test_whole_unit_changes_sides_when_loyalty_collapses(make_toy):
    m = make_toy(forces=SIDE_BY_SIDE, relations=TRUCE)
    unit = next(u for u in m.units if u.faction == "JNIM")
    unit.loyalty = 0.0
    men = unit.manpower
    defection.defections(m)
    assert unit.faction == "ISGS"
    assert m.defected[JNIM, ISGS] >= men
    assert any("whole unit" in r["notes"] for r in m.log.rows)


def test_no_defection_without_a_rival_nearby(make_toy):
    far = [dict(SIDE_BY_SIDE[0]), {"actor": "ISGS", "near": "Southpost", "manpower": 200, "ethnic": {"fulani": 1.0}}]
    far[0]["near"] = "Westtown"
    m = make_toy(forces=far, relations=TRUCE, factions={"ISGS": {"central_pull": 1.0}})
    defection.defections(m)
    assert m.defected.sum() == 0


def test_recruiters_reach_fighters_aggrieved_by_pacts_far_from_the_rival(make_toy):
    far = [dict(SIDE_BY_SIDE[0]), {"actor": "ISGS", "near": "Southpost", "manpower": 200, "ethnic": {"fulani": 1.0}}]
    far[0]["near"] = "Westtown"
    flows = []
    for pact in (False, True):
        m = make_toy(forces=far, relations=TRUCE, factions={"ISGS": {"central_pull": 1.0}})
        if pact:  # with the Dogon militia of the JNIM unit's own region
            m.relations.set_state(JNIM, INDEX["Dan Na Ambassagou"], 4, "test pact")
        for _ in range(20):
            defection.defections(m)
        flows.append(m.defected[JNIM, ISGS])
    assert flows[0] == 0
    assert flows[1] >= 20
