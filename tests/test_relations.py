"""Mechanism 3: truce and pact logic (seed 000: cooperation, war, truce, renewed war; local pacts)."""

import numpy as np

from sim import relations
from sim.actors import INDEX

JNIM, ISGS = INDEX["JNIM"], INDEX["ISGS"]
NEIGHBOURS = [
    {"actor": "JNIM", "near": "Midpost", "manpower": 200, "count": 2, "ethnic": {"fulani": 1.0}},
    {"actor": "ISGS", "near": "Southpost", "manpower": 200, "count": 2, "ethnic": {"fulani": 1.0}},
    {"actor": "FAMa", "near": "Westtown", "manpower": 100},
    {"actor": "Niger army", "near": "Eastville", "manpower": 100},
]
COOPERATION = [{"pair": ["JNIM", "ISGS"], "state": "cooperation"}]


def _states(m, steps):
    seen = []
    for _ in range(steps):
        m.step()
        s = m.relations.state("JNIM", "ISGS")
        if not seen or seen[-1] != s:
            seen.append(s)
    return seen


def test_central_command_pressure_turns_cooperation_into_war(make_toy):
    # no militias form: both groups' offensives against one would bring them together and raise hostility
    quiet = {"engagement": {"mobilisation_rate": 0.0}}
    calm = make_toy(forces=NEIGHBOURS, relations=COOPERATION, mechanisms=quiet)
    assert _states(calm, 30) == ["cooperation"]
    pushed = make_toy(forces=NEIGHBOURS, relations=COOPERATION, factions={"ISGS": {"central_hostility": 1.0}},
                      mechanisms=quiet)
    seen = _states(pushed, 30)
    assert seen[0] == "tension" and "war" in seen


def test_mediation_lowers_hostility(make_toy):
    m = make_toy(forces=NEIGHBOURS, relations=COOPERATION, factions={"ISGS": {"central_hostility": 1.0}})
    relations.update(m)
    before = m.relations.hostility[JNIM, ISGS]
    m.relations.mediate("JNIM", "ISGS", 1.0)
    relations.update(m)
    assert m.relations.hostility[JNIM, ISGS] < before - 0.5


def test_strain_and_weariness_bring_a_truce(make_toy):
    war = [{"pair": ["JNIM", "ISGS"], "state": "war"}]
    rested = make_toy(forces=NEIGHBOURS, relations=war)
    for _ in range(20):
        relations.update(rested)
    assert rested.relations.state("JNIM", "ISGS") == "war"
    tired = make_toy(forces=NEIGHBOURS, relations=war)
    tired.relations.losses_total[JNIM, ISGS] = tired.relations.losses_total[ISGS, JNIM] = 400.0
    for f in ("JNIM", "ISGS"):
        tired.factions[f].strain = 1.0
    for _ in range(60):
        relations.update(tired)
        if tired.relations.state("JNIM", "ISGS") == "truce":
            break
    assert tired.relations.state("JNIM", "ISGS") == "truce"


def test_truce_breaks_on_an_attack_and_on_a_shift_in_power(make_toy):
    truce = [{"pair": ["JNIM", "ISGS"], "state": "truce"}]
    m = make_toy(forces=NEIGHBOURS, relations=truce)
    m.relations.incident("JNIM", "ISGS")
    relations.update(m)
    assert m.relations.state("JNIM", "ISGS") == "war"

    m = make_toy(forces=NEIGHBOURS, relations=truce)
    m.relations.truce_power[JNIM, ISGS] = m.relations.truce_power[ISGS, JNIM] = 0.0
    for u in m.units_of("JNIM"):
        u.manpower = 20  # ISGS now outnumbers JNIM ten to one
    for _ in range(40):
        relations.update(m)
    assert m.relations.state("JNIM", "ISGS") == "war"


def test_an_incident_in_tension_raises_hostility_but_only_hostility_makes_war(make_toy):
    tension = [{"pair": ["JNIM", "ISGS"], "state": "tension"}]
    m = make_toy(forces=NEIGHBOURS, relations=tension)
    m.relations.incident("JNIM", "ISGS")
    relations.update(m)
    assert m.relations.hostility[JNIM, ISGS] < m.params.relations.war_threshold
    assert m.relations.state("JNIM", "ISGS") != "war"
    pushed = make_toy(forces=NEIGHBOURS, relations=tension, factions={"ISGS": {"central_hostility": 1.0}},
                      mechanisms={"relations": {"central_weight": 3.0}})
    relations.update(pushed)
    assert pushed.relations.hostility[JNIM, ISGS] > pushed.params.relations.war_threshold
    assert pushed.relations.state("JNIM", "ISGS") == "war"


def _clashes(make_toy, state, desire, steps=40):
    """Clashes between JNIM and ISGS companies sharing a cell, hostility pinned at twice the war
    threshold and truce desire at ``desire``."""
    from sim import territory
    close = [dict(u, near="Midpost") for u in NEIGHBOURS[:2]]
    m = make_toy(forces=close, relations=[{"pair": ["JNIM", "ISGS"], "state": state}],
                 mechanisms={"relations": {"incident_rate": 0.2}, "territory": {"clash_rate": 0.3}})
    book = m.relations
    clashes = 0
    for _ in range(steps):
        m._new_step_accumulators()
        book.hostility[JNIM, ISGS] = book.hostility[ISGS, JNIM] = 2 * m.params.relations.war_threshold
        book.desire[JNIM, ISGS] = book.desire[ISGS, JNIM] = desire
        territory.resolve_clashes(m)
        clashes += m.clashes[JNIM, ISGS] + m.clashes[ISGS, JNIM]
        book._incidents.clear()
    return clashes


def test_the_desire_behind_a_truce_holds_back_incidents(make_toy):
    assert _clashes(make_toy, "truce", desire=0.0) >= 5
    hostility = 2 * make_toy(forces=NEIGHBOURS).params.relations.war_threshold
    assert _clashes(make_toy, "truce", desire=hostility) == 0


def test_weariness_lowers_the_intensity_of_a_war_between_rival_jihadists(make_toy):
    hostility = 2 * make_toy(forces=NEIGHBOURS).params.relations.war_threshold
    fresh = _clashes(make_toy, "war", desire=0.0)
    worn = _clashes(make_toy, "war", desire=4 * hostility)  # will to fight 1/5
    assert fresh >= 12 and worn <= fresh / 2


def test_only_rival_jihadists_lose_the_will_to_fight(make_toy):
    m = make_toy(forces=NEIGHBOURS)
    book = m.relations
    book.hostility[:] = 1.0
    book.desire[:] = 3.0
    will = book.will_to_fight()
    assert will[JNIM, ISGS] == will[ISGS, JNIM] == 0.25
    assert will[JNIM, INDEX["FAMa"]] == will[INDEX["Dozo"], JNIM] == 1.0


def test_rival_jihadists_urged_on_by_a_central_command_keep_a_truce_without_a_pact(make_toy):
    truce = [{"pair": ["JNIM", "ISGS"], "state": "truce"}]
    m = make_toy(forces=NEIGHBOURS, relations=truce, factions={"ISGS": {"central_hostility": 0.2}})
    for f in ("JNIM", "ISGS"):
        m.factions[f].strain = 1.0
    m.relations.losses_total[JNIM, ISGS] = 500.0
    for _ in range(m.params.relations.pact_after_steps + 2):
        relations.update(m)
        assert m.relations.desire[JNIM, ISGS] > m.relations.hostility[JNIM, ISGS]
    assert m.relations.state("JNIM", "ISGS") == "truce"


def test_truce_settles_into_a_pact(make_toy):
    truce = [{"pair": ["JNIM", "ISGS"], "state": "truce"}]
    m = make_toy(forces=NEIGHBOURS, relations=truce)
    for f in ("JNIM", "ISGS"):
        m.factions[f].strain = 1.0
    m.relations.losses_total[JNIM, ISGS] = 500.0
    for _ in range(m.params.relations.pact_after_steps + 2):
        relations.update(m)
    assert m.relations.state("JNIM", "ISGS") == "pact"


def test_clashes_only_once_cooperation_has_ended(make_toy):
    close = [dict(u, near="Midpost") for u in NEIGHBOURS[:2]] + NEIGHBOURS[2:]
    m = make_toy(forces=close, relations=COOPERATION)
    war = make_toy(forces=close, relations=[{"pair": ["JNIM", "ISGS"], "state": "war"}])
    during_cooperation = at_war = 0
    for _ in range(15):
        cooperating = m.relations.state("JNIM", "ISGS") == "cooperation"
        m.step()
        war.step()
        if cooperating:
            during_cooperation += m.clashes[JNIM, ISGS] + m.clashes[ISGS, JNIM]
        at_war += war.clashes[JNIM, ISGS] + war.clashes[ISGS, JNIM]
    assert during_cooperation == 0 and at_war > 0


def _weeks_to_war_after_a_central_order(make_toy, lag_days):
    quiet = {"engagement": {"mobilisation_rate": 0.0}, "relations": {"central_lag_days": lag_days}}
    m = make_toy(forces=NEIGHBOURS, relations=COOPERATION, mechanisms=quiet)
    m.factions["ISGS"].central_hostility = 1.0  # what a status_change event does (the 2019 ISWAP induction)
    for week in range(1, 60):
        m.step()
        if m.relations.state("JNIM", "ISGS") == "war":
            return week, m
    return None, m


def test_a_central_order_takes_hold_over_months_not_at_once(make_toy):
    fast, _ = _weeks_to_war_after_a_central_order(make_toy, 14.0)
    slow, m = _weeks_to_war_after_a_central_order(make_toy, 120.0)
    assert fast is not None and slow is not None
    assert slow >= fast + 4
    felt = m.factions["ISGS"].central_hostility_felt
    expected = 1.0 - np.exp(-slow * m.step_days / 120.0)
    assert abs(felt - expected) < 1e-9


def _truce_after_weeks(make_toy, weariness_memory, weeks=200):
    """A truce made by weariness alone (800 remembered deaths) while IS central still urges war."""
    tuned = {"relations": {"weariness_memory": weariness_memory, "weariness_weight": 0.01, "break_rate": 0.2}}
    m = make_toy(forces=NEIGHBOURS, relations=[{"pair": ["JNIM", "ISGS"], "state": "truce"}], mechanisms=tuned,
                 factions={"ISGS": {"central_hostility": 1.0}})
    m.relations.losses_total[JNIM, ISGS] = m.relations.losses_total[ISGS, JNIM] = 400.0
    for week in range(1, weeks + 1):
        relations.update(m)
        if m.relations.state("JNIM", "ISGS") == "war":
            return week, m
    return None, m


def test_a_truce_made_by_weariness_lasts_as_long_as_the_memory_of_the_dead(make_toy):
    held, m = _truce_after_weeks(make_toy, 0.999)
    assert held is None
    assert abs(m.relations.losses_total[JNIM, ISGS] - 400.0 * 0.999 ** 200) < 1e-9
    broke, m = _truce_after_weeks(make_toy, 0.98)
    assert broke is not None and broke > 60  # the desire fades first: 800 deaths x 0.01 start far above hostility
    assert "outweighs truce desire" in m.log.rows[-1]["notes"]


def test_a_state_auxiliary_makes_no_truce_of_its_own(make_toy):
    # seed 000: JNIM attacked the VDP from 2020 on, while it made local pacts with communal militias (Niono)
    militias = NEIGHBOURS + [{"actor": "VDP", "near": "Midpost", "manpower": 100},
                             {"actor": "Dozo", "near": "Midpost", "manpower": 100}]
    m = make_toy(forces=militias)
    book = m.relations
    vdp, dozo = INDEX["VDP"], INDEX["Dozo"]
    assert book.state("JNIM", "VDP") == book.state("JNIM", "Dozo") == "war"
    for militia in (vdp, dozo):
        book.losses_total[JNIM, militia] = book.losses_total[militia, JNIM] = 500.0
    for f in ("JNIM", "VDP", "Dozo"):
        m.factions[f].strain = 1.0
    for _ in range(60):
        relations.update(m)
    assert book.state("JNIM", "Dozo") in ("truce", "pact")
    assert book.state("JNIM", "VDP") == "war"
    assert all(vdp not in pair for pair in book.pairs)


def test_truce_desire_is_reported_term_by_term(make_toy):
    """relations.csv splits truce desire into its terms; they add up to it, and each moves with its own driver."""
    war = [{"pair": ["JNIM", "ISGS"], "state": "war"}]
    m = make_toy(forces=NEIGHBOURS, relations=war)
    book = m.relations
    pair = book.pairs.index((JNIM, ISGS))
    names = list(relations.DESIRE_PARTS)
    relations.update(m)
    rested = dict(zip(names, book.desire_parts[:, pair]))
    book.losses_total[JNIM, ISGS] = 300.0
    m.factions["ISGS"].strain = 1.0
    m.relations.mediate("JNIM", "ISGS", 1.0)
    relations.update(m)
    tired = dict(zip(names, book.desire_parts[:, pair]))
    rp = m.params.relations
    assert tired["weariness"] - rested["weariness"] > 0.9 * rp.weariness_weight * 300.0
    assert np.isclose(tired["strain"] - rested["strain"], rp.strain_weight * 0.5)
    assert tired["mediation"] > rested["mediation"]
    assert book.desire_parts[:, pair].sum() == book.desire[JNIM, ISGS]
    m.step()
    row = [r for r in m.relation_history if {r["actor_a"], r["actor_b"]} == {"JNIM", "ISGS"}][-1]
    parts = [row[f"desire_{n}"] for n in names]
    assert abs(sum(parts) - row["truce_desire"]) <= 5e-4 and row["desire_weariness"] > 0
