"""Mechanism 4: state counter-insurgency, abuses, coups and partners (seeds 000, 001, 002)."""

import datetime as dt

from sim import counterinsurgency, engagement, exogenous
from sim.actors import INDEX
from sim.params import Coup, PartnerArrival, PartnerExit

JNIM, FAMA = INDEX["JNIM"], INDEX["FAMa"]
FORCES = [
    {"actor": "JNIM", "near": "Westtown", "manpower": 200, "count": 3, "ethnic": {"fulani": 1.0}},
    {"actor": "FAMa", "near": "Westtown", "manpower": 400},
    {"actor": "Niger army", "near": "Eastville", "manpower": 100},
]


def _regime(discrimination, **kw):
    return {"regime": {"capacity": 2.0, "aggressiveness": 1.0, "discrimination": discrimination,
                       "anti_fulani_bias": 0.8, **kw}}


def _abuse_run(make_toy, discrimination, steps=25):
    m = make_toy(seed=2, forces=FORCES, states={"FAMa": _regime(discrimination), "Niger army": {}})
    killed = 0.0
    for _ in range(steps):
        m._new_step_accumulators()
        counterinsurgency.state_operations(m)
        killed += m.civ_killed[:, FAMA].sum()
        m._finish_step()
        engagement.update_attitudes(m)
    return m, killed


def test_indiscriminate_operations_kill_fulani_and_push_them_to_jnim(make_toy):
    careful, killed_careful = _abuse_run(make_toy, 0.95)
    brutal, killed_brutal = _abuse_run(make_toy, 0.05)
    assert killed_brutal > 5 * max(killed_careful, 1)
    fulani_west = brutal.comm_fulani & (brutal.comm_region == 0)
    assert (brutal.grievance[fulani_west, FAMA] > careful.grievance[fulani_west, FAMA]).all()
    assert (brutal.legitimacy[fulani_west, JNIM] > careful.legitimacy[fulani_west, JNIM]).all()
    victims = [r for r in brutal.log.rows if r["civilian_targeting"]]
    assert sum("Fulani" in r["assoc_actor_2"] for r in victims) > len(victims) / 2


def test_operations_kill_insurgents(make_toy):
    m = make_toy(forces=FORCES, states={"FAMa": _regime(0.9), "Niger army": {}})
    before = m.factions["JNIM"].manpower
    for _ in range(10):
        m._new_step_accumulators()
        counterinsurgency.state_operations(m)
    assert m.factions["JNIM"].manpower < before


def test_france_adds_capacity_and_precision_wagner_costs_precision(make_toy):
    m = make_toy(forces=FORCES + [{"actor": "France", "near": "Westtown", "manpower": 300}])
    state = m.factions["FAMa"]
    cap_fr, prec_fr = counterinsurgency.effective_capacity(m, state)
    exogenous._partner_leaves(m, "France", "MLI", "test")
    cap, prec = counterinsurgency.effective_capacity(m, state)
    assert cap_fr > cap and prec_fr > prec
    m.scenario  # partner arrival through a dated event
    arrival = PartnerArrival(id="w", date=dt.date(2019, 2, 1), type="partner_arrival", partner="Wagner",
                             country="MLI", bases=["Westtown"], manpower=500)
    exogenous._partner_arrival(m, arrival)
    cap_w, prec_w = counterinsurgency.effective_capacity(m, state)
    assert cap_w > cap and prec_w < prec
    assert any(u.faction == "Wagner" for u in m.units)
    exogenous._partner_exit(m, PartnerExit(id="x", date=dt.date(2019, 3, 1), type="partner_exit",
                                           partner="Wagner", country="MLI"))
    assert not any(u.faction == "Wagner" for u in m.units) and not m.factions["Wagner"].active


def test_coup_replaces_the_regime_and_can_expel_france(make_toy):
    m = make_toy(forces=FORCES + [{"actor": "France", "near": "Westtown", "manpower": 300}])
    coup = Coup(id="c", date=dt.date(2019, 2, 1), type="coup", country="MLI",
                regime={"label": "junta", "discrimination": 0.2, "admits_france": False})
    exogenous._coup(m, coup)
    assert m.factions["FAMa"].regime.label == "junta"
    assert not any(u.faction == "France" for u in m.units)


def test_dated_events_fire_on_their_step(make_toy):
    events = [{"id": "c", "date": "2019-02-01", "type": "coup", "country": "MLI", "regime": {"label": "junta"}}]
    m = make_toy(events=events)
    while m.date < dt.date(2019, 1, 31):
        m.step()
        assert m.factions["FAMa"].regime.label != "junta"
    m.step()
    assert m.factions["FAMa"].regime.label == "junta"
